#ifndef MG_PROGRESS_H
#define MG_PROGRESS_H

#include <stdio.h>

#include "mg_banned.h"

/*
 * Progress on stderr for long transfers and runs.
 *
 * On a terminal a one-line status (label, bar when the total is known,
 * bytes, rate, ETA) is redrawn in place with '\r' at most every 100 ms;
 * otherwise (a log file, CI) a plain line is printed every 5 s. Silent
 * when mg_verbosity() is MG_QUIET. The bar is coloured on a terminal
 * unless NO_COLOR is set (to any value) or TERM is "dumb".
 *
 * Sizes print in binary units (KiB, MiB, GiB); rates per second; the ETA
 * as h:mm:ss. Usage:
 *
 *   struct mg_progress p;
 *   mg_progress_init(&p, "model.safetensors", total);
 *   ... mg_progress_update(&p, done); ...
 *   mg_progress_end(&p);
 *
 * The struct holds no allocated memory: nothing to release.
 */
struct mg_progress {
  FILE *out; /* borrowed; stderr by default */
  int tty;   /* redraw in place */
  int quiet; /* print nothing */
  int color; /* colour the bar */
  char label[64];
  long long total;       /* bytes expected; 0: unknown */
  long long done;        /* bytes so far */
  long long t0_ns;       /* start (mg_time_now_ns clock) */
  long long last_ns;     /* last print */
  long long interval_ns; /* minimum time between prints */
  int width;             /* columns of the line on a terminal */
  int drawn;             /* a status line is on screen (tty) */
  int ended;
  int status_mode; /* mg_progress_status was used */
};

/* Starts progress on stderr, deciding tty, colour and quiet from the
 * process (isatty(2), NO_COLOR, TERM, mg_verbosity()). total 0: unknown.
 * label is copied (truncated to 63 bytes). Cannot fail. */
void mg_progress_init(struct mg_progress *p, const char *label,
                      long long total);
/* The same on out (borrowed) with is_tty given, for tests and for callers
 * that print elsewhere. NO_COLOR, TERM and quiet are still read. */
void mg_progress_init_stream(struct mg_progress *p, const char *label,
                             long long total, FILE *out, int is_tty);

/* Records done bytes; prints when the interval has passed. */
void mg_progress_update(struct mg_progress *p, long long done);
/* As mg_progress_update at the given mg_time_now_ns time (for tests). */
void mg_progress_update_at(struct mg_progress *p, long long done,
                           long long now_ns);
/* Prints the final line "label: N bytes in T s (R/s)" and ends the line
 * on a terminal. A second call does nothing. */
void mg_progress_end(struct mg_progress *p);
void mg_progress_end_at(struct mg_progress *p, long long now_ns);

/*
 * A free-form status line instead of the byte counter (a load generator's
 * "12.0 s, 96 sent, 8 in flight"): drawn in place on a terminal at most
 * every 100 ms, printed as a line every 5 s otherwise, nothing when quiet.
 * force prints now regardless of the interval. text should not hold a
 * newline. mg_progress_end after a status line only ends the line (tty)
 * and prints nothing else.
 */
void mg_progress_status(struct mg_progress *p, const char *text, int force);
void mg_progress_status_at(struct mg_progress *p, const char *text, int force,
                           long long now_ns);

/* Formats n bytes as "512 B", "1.5 KiB", "12.3 MiB", ... into out. */
void mg_progress_format_bytes(char *out, size_t n, double bytes);
/* Formats seconds as "m:ss" or "h:mm:ss", "--:--" if negative. */
void mg_progress_format_eta(char *out, size_t n, double seconds);

#endif

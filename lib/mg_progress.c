#include "mg_progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_cli.h"
#include "mg_time.h"

#define TTY_INTERVAL_NS 100000000LL    /* 100 ms */
#define PLAIN_INTERVAL_NS 5000000000LL /* 5 s */
#define BAR_WIDTH 24

void mg_progress_format_bytes(char *out, size_t n, double bytes)
{
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
  int u = 0;

  while (bytes >= 1024.0 && u < 5) {
    bytes /= 1024.0;
    u++;
  }
  if (u == 0)
    (void)snprintf(out, n, "%.0f B", bytes);
  else
    (void)snprintf(out, n, "%.1f %s", bytes, units[u]);
}

void mg_progress_format_eta(char *out, size_t n, double seconds)
{
  long s;

  if (seconds < 0 || seconds > 360000.0) {
    (void)snprintf(out, n, "--:--");
    return;
  }
  s = (long)(seconds + 0.5);
  if (s >= 3600)
    (void)snprintf(out, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    (void)snprintf(out, n, "%ld:%02ld", s / 60, s % 60);
}

void mg_progress_init_stream(struct mg_progress *p, const char *label,
                             long long total, FILE *out, int is_tty)
{
  const char *term = getenv("TERM");
  const char *nc = getenv("NO_COLOR");

  memset(p, 0, sizeof(*p));
  p->out = out;
  p->tty = is_tty;
  p->quiet = mg_verbosity() == MG_QUIET;
  p->color = is_tty && !nc && !(term && strcmp(term, "dumb") == 0);
  (void)snprintf(p->label, sizeof(p->label), "%s", label ? label : "");
  p->total = total > 0 ? total : 0;
  p->t0_ns = mg_time_now_ns();
  p->last_ns = p->t0_ns;
  p->interval_ns = is_tty ? TTY_INTERVAL_NS : PLAIN_INTERVAL_NS;
  p->width = 79;
}

void mg_progress_init(struct mg_progress *p, const char *label, long long total)
{
  mg_progress_init_stream(p, label, total, stderr, isatty(2));
}

/* Builds the status text (without line control) into line. */
static void status_text(const struct mg_progress *p, long long now_ns,
                        char *line, size_t n, int bar)
{
  char done[32], total[32], rate[32], eta[32];
  double secs = (double)(now_ns - p->t0_ns) / 1e9;
  double bps = secs > 0 ? (double)p->done / secs : 0;
  size_t len;

  mg_progress_format_bytes(done, sizeof(done), (double)p->done);
  mg_progress_format_bytes(rate, sizeof(rate), bps);
  len = (size_t)snprintf(line, n, "%s: ", p->label);
  if (len >= n)
    return;
  if (p->total > 0) {
    double frac = (double)p->done / (double)p->total;
    if (frac > 1)
      frac = 1;
    mg_progress_format_bytes(total, sizeof(total), (double)p->total);
    mg_progress_format_eta(eta, sizeof(eta),
                           bps > 0 ? (double)(p->total - p->done) / bps : -1);
    if (bar) {
      int fill = (int)(frac * BAR_WIDTH + 0.5);
      len += (size_t)snprintf(line + len, n - len, "%s[",
                              p->color ? "\033[32m" : "");
      for (int i = 0; i < BAR_WIDTH && len + 1 < n; i++)
        line[len++] = i < fill ? '#' : '.';
      line[len] = '\0';
      if (len < n)
        len += (size_t)snprintf(line + len, n - len, "]%s ",
                                p->color ? "\033[0m" : "");
    }
    if (len < n)
      (void)snprintf(line + len, n - len, "%3.0f%% %s / %s, %s/s, ETA %s",
                     frac * 100, done, total, rate, eta);
  } else {
    (void)snprintf(line + len, n - len, "%s, %s/s", done, rate);
  }
}

static void draw(struct mg_progress *p, long long now_ns)
{
  char line[256];

  status_text(p, now_ns, line, sizeof(line), p->tty);
  if (p->tty) {
    /* \033[K clears what a longer previous line left behind. */
    fprintf(p->out, "\r%s\033[K", line);
    p->drawn = 1;
  } else {
    fprintf(p->out, "%s\n", line);
  }
  fflush(p->out);
  p->last_ns = now_ns;
}

void mg_progress_update_at(struct mg_progress *p, long long done,
                           long long now_ns)
{
  p->done = done;
  if (p->quiet || p->ended)
    return;
  if (now_ns - p->last_ns < p->interval_ns)
    return;
  draw(p, now_ns);
}

void mg_progress_update(struct mg_progress *p, long long done)
{
  mg_progress_update_at(p, done, mg_time_now_ns());
}

void mg_progress_status_at(struct mg_progress *p, const char *text, int force,
                           long long now_ns)
{
  p->status_mode = 1;
  if (p->quiet || p->ended)
    return;
  if (!force && now_ns - p->last_ns < p->interval_ns)
    return;
  if (p->tty) {
    fprintf(p->out, "\r%s: %s\033[K", p->label, text);
    p->drawn = 1;
  } else {
    fprintf(p->out, "%s: %s\n", p->label, text);
  }
  fflush(p->out);
  p->last_ns = now_ns;
}

void mg_progress_status(struct mg_progress *p, const char *text, int force)
{
  mg_progress_status_at(p, text, force, mg_time_now_ns());
}

void mg_progress_end_at(struct mg_progress *p, long long now_ns)
{
  char done[32], rate[32];
  double secs = (double)(now_ns - p->t0_ns) / 1e9;

  if (p->ended)
    return;
  p->ended = 1;
  if (p->quiet)
    return;
  if (p->status_mode) {
    if (p->tty && p->drawn) {
      fprintf(p->out, "\n");
      fflush(p->out);
    }
    return;
  }
  mg_progress_format_bytes(done, sizeof(done), (double)p->done);
  mg_progress_format_bytes(rate, sizeof(rate),
                           secs > 0 ? (double)p->done / secs : 0);
  if (p->tty && p->drawn)
    fprintf(p->out, "\r\033[K");
  fprintf(p->out, "%s: %s in %.1f s (%s/s)\n", p->label, done, secs, rate);
  fflush(p->out);
}

void mg_progress_end(struct mg_progress *p)
{
  mg_progress_end_at(p, mg_time_now_ns());
}

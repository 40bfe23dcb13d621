#ifndef MG_NOTE_H
#define MG_NOTE_H

#include "mg_banned.h"

/*
 * Where a library module sends what a person may want to read while it
 * works ("resuming 'x' at byte 123"): the library never prints, so the
 * tool that called it decides where notes go (mg_cli_note prints them at
 * -v). One line per note, without the program name.
 */
struct mg_note {
  void (*fn)(void *arg, const char *msg); /* NULL: notes are dropped */
  void *arg;
};

/* clang-format off */
#define MG_NOTE_NONE { NULL, NULL }
/* clang-format on */

/* Formats one note and hands it to n->fn (n may be NULL). */
void mg_note_send(const struct mg_note *n, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

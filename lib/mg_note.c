#include "mg_note.h"

#include <stdarg.h>
#include <stdio.h>

void mg_note_send(const struct mg_note *n, const char *fmt, ...)
{
  char line[512];
  va_list ap;

  if (!n || !n->fn)
    return;
  va_start(ap, fmt);
  (void)vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  n->fn(n->arg, line);
}

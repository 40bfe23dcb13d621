#ifndef MG_TIME_H
#define MG_TIME_H

#include <stddef.h>

#include "mg_banned.h"

/* Clocks: the monotonic one for measuring, the wall one for records. */

/* Monotonic clock (CLOCK_MONOTONIC) in nanoseconds. */
long long mg_time_now_ns(void);

/* The monotonic time (mg_time_now_ns) at which the wall clock will read
 * (or read) unix_s seconds since the epoch: for processes that start
 * together at a wall-clock instant. */
long long mg_time_mono_at(double unix_s);

/* Writes the wall clock as RFC 3339 UTC text, "2026-11-28T04:05:06.123Z",
 * into out (at least 32 bytes). */
void mg_time_rfc3339(char *out, size_t n);

#endif

#include "mg_time.h"

#include <stdio.h>
#include <time.h>

long long mg_time_now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long mg_time_mono_at(double unix_s)
{
  struct timespec ts;
  long long mono = mg_time_now_ns();

  clock_gettime(CLOCK_REALTIME, &ts);
  return mono
         + (long long)((unix_s - (double)ts.tv_sec) * 1e9 - (double)ts.tv_nsec);
}

void mg_time_rfc3339(char *out, size_t n)
{
  struct timespec ts;
  struct tm tm;
  char base[32];

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  (void)snprintf(out, n, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

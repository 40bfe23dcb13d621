/* Unit tests for mg_progress: what reaches the stream, and when. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg_cli.h"
#include "mg_progress.h"

#define SEC 1000000000LL

static char text[4096];

/* Everything written to f so far. */
static const char *contents(FILE *f)
{
  size_t n;

  fflush(f);
  rewind(f);
  n = fread(text, 1, sizeof(text) - 1, f);
  text[n] = '\0';
  return text;
}

static int count(const char *s, char c)
{
  int n = 0;
  for (; *s; s++)
    n += *s == c;
  return n;
}

static int reset_env(void **state)
{
  (void)state;
  unsetenv("NO_COLOR");
  setenv("TERM", "xterm", 1);
  mg_set_verbosity(MG_NORMAL);
  return 0;
}

static void test_format(void **state)
{
  char b[32];

  (void)state;
  mg_progress_format_bytes(b, sizeof(b), 0);
  assert_string_equal(b, "0 B");
  mg_progress_format_bytes(b, sizeof(b), 1023);
  assert_string_equal(b, "1023 B");
  mg_progress_format_bytes(b, sizeof(b), 1536);
  assert_string_equal(b, "1.5 KiB");
  mg_progress_format_bytes(b, sizeof(b), 10.0 * 1048576);
  assert_string_equal(b, "10.0 MiB");
  mg_progress_format_bytes(b, sizeof(b), 3.0 * 1073741824.0);
  assert_string_equal(b, "3.0 GiB");
  mg_progress_format_eta(b, sizeof(b), 65);
  assert_string_equal(b, "1:05");
  mg_progress_format_eta(b, sizeof(b), 3725);
  assert_string_equal(b, "1:02:05");
  mg_progress_format_eta(b, sizeof(b), -1);
  assert_string_equal(b, "--:--");
}

static void test_plain_lines_every_5s(void **state)
{
  FILE *f = tmpfile();
  struct mg_progress p;
  long long t0;

  (void)state;
  mg_progress_init_stream(&p, "weights.bin", 1000, f, 0);
  t0 = p.t0_ns;
  mg_progress_update_at(&p, 100, t0 + 1 * SEC);
  mg_progress_update_at(&p, 200, t0 + 4 * SEC);
  assert_string_equal(contents(f), "");
  mg_progress_update_at(&p, 500, t0 + 5 * SEC);
  assert_string_equal(contents(f),
                      "weights.bin:  50% 500 B / 1000 B, 100 B/s, ETA 0:05\n");
  mg_progress_update_at(&p, 600, t0 + 6 * SEC);
  assert_int_equal(count(contents(f), '\n'), 1);
  mg_progress_update_at(&p, 1000, t0 + 10 * SEC);
  assert_int_equal(count(contents(f), '\n'), 2);
  mg_progress_end_at(&p, t0 + 10 * SEC);
  mg_progress_end_at(&p, t0 + 11 * SEC);
  contents(f);
  assert_int_equal(count(text, '\n'), 3);
  assert_int_equal(count(text, '\r'), 0);
  assert_null(strchr(text, '\033'));
  assert_non_null(strstr(text, "weights.bin: 1000 B in 10.0 s (100 B/s)\n"));
  fclose(f);
}

static void test_tty_redraw_with_color(void **state)
{
  FILE *f = tmpfile();
  struct mg_progress p;
  long long t0;

  (void)state;
  mg_progress_init_stream(&p, "x", 2048, f, 1);
  t0 = p.t0_ns;
  mg_progress_update_at(&p, 1024, t0 + SEC / 20);
  assert_string_equal(contents(f), "");
  mg_progress_update_at(&p, 1024, t0 + SEC);
  contents(f);
  assert_true(text[0] == '\r');
  assert_non_null(strstr(text, "\033[32m[############............]\033[0m"));
  assert_non_null(strstr(text, "50% 1.0 KiB / 2.0 KiB, 1.0 KiB/s, ETA 0:01"));
  assert_null(strchr(text, '\n'));
  mg_progress_update_at(&p, 2048, t0 + 2 * SEC);
  assert_int_equal(count(contents(f), '\r'), 2);
  mg_progress_end_at(&p, t0 + 2 * SEC);
  contents(f);
  /* The status line is cleared, then the summary ends the line. */
  assert_non_null(strstr(text, "\r\033[Kx: 2.0 KiB in 2.0 s (1.0 KiB/s)\n"));
  fclose(f);
}

static void test_no_color_and_unknown_total(void **state)
{
  FILE *f = tmpfile();
  struct mg_progress p;

  (void)state;
  setenv("NO_COLOR", "", 1);
  mg_progress_init_stream(&p, "stream", 0, f, 1);
  mg_progress_update_at(&p, 3 * 1048576LL, p.t0_ns + 2 * SEC);
  contents(f);
  assert_null(strstr(text, "\033[32m"));
  assert_null(strchr(text, ']'));
  assert_non_null(strstr(text, "\rstream: 3.0 MiB, 1.5 MiB/s"));
  fclose(f);
}

static void test_quiet(void **state)
{
  FILE *f = tmpfile();
  struct mg_progress p;

  (void)state;
  mg_set_verbosity(MG_QUIET);
  mg_progress_init_stream(&p, "q", 10, f, 1);
  mg_progress_update_at(&p, 5, p.t0_ns + 10 * SEC);
  mg_progress_end_at(&p, p.t0_ns + 10 * SEC);
  assert_string_equal(contents(f), "");
  assert_int_equal(p.done, 5);
  fclose(f);
}

static void test_default_stream(void **state)
{
  struct mg_progress p;

  (void)state;
  mg_set_verbosity(MG_QUIET);
  mg_progress_init(&p,
                   "a-very-long-label-that-goes-on-and-on-and-on-beyond-"
                   "the-sixty-four-byte-limit",
                   0);
  assert_ptr_equal(p.out, stderr);
  assert_int_equal(strlen(p.label), 63);
  mg_progress_update(&p, 1);
  mg_progress_end(&p);
}

static void test_status_line(void **state)
{
  FILE *f = tmpfile();
  struct mg_progress p;
  long long t0;

  (void)state;
  mg_progress_init_stream(&p, "perf-run", 0, f, 0);
  t0 = p.t0_ns;
  mg_progress_status_at(&p, "1 sent", 0, t0 + SEC);
  assert_string_equal(contents(f), "");
  mg_progress_status_at(&p, "2 sent", 1, t0 + SEC);
  mg_progress_status_at(&p, "3 sent", 0, t0 + 7 * SEC);
  mg_progress_end_at(&p, t0 + 8 * SEC);
  assert_string_equal(contents(f), "perf-run: 2 sent\nperf-run: 3 sent\n");
  fclose(f);

  f = tmpfile();
  mg_progress_init_stream(&p, "perf-run", 0, f, 1);
  mg_progress_status_at(&p, "a", 1, p.t0_ns);
  mg_progress_end_at(&p, p.t0_ns + SEC);
  assert_string_equal(contents(f), "\rperf-run: a\033[K\n");
  fclose(f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup(test_format, reset_env),
    cmocka_unit_test_setup(test_plain_lines_every_5s, reset_env),
    cmocka_unit_test_setup(test_tty_redraw_with_color, reset_env),
    cmocka_unit_test_setup(test_no_color_and_unknown_total, reset_env),
    cmocka_unit_test_setup(test_quiet, reset_env),
    cmocka_unit_test_setup(test_default_stream, reset_env),
    cmocka_unit_test_setup(test_status_line, reset_env),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}

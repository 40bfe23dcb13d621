#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_cli.h"
#include "mg_err.h"
#include "mg_io.h"

static void test_parse_uint(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  uint64_t v = 0;

  (void)state;
  assert_int_equal(mg_parse_uint("42", 0, 100, &v, "--n", &err), 0);
  assert_int_equal(v, 42);
  assert_int_equal(mg_parse_uint("0", 0, 100, &v, "--n", &err), 0);
  assert_int_equal(v, 0);
  assert_int_equal(
      mg_parse_uint("18446744073709551615", 0, UINT64_MAX, &v, "--n", &err), 0);
  assert_true(v == UINT64_MAX);
  static const char *bad[] = { "",     "-1",  "+1",
                               " 1",   "1 ",  "1x",
                               "0x10", "1e3", "18446744073709551616" };
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
    mg_err_clear(&err);
    if (mg_parse_uint(bad[i], 0, UINT64_MAX, &v, "--n", &err) != -1)
      fail_msg("'%s' accepted", bad[i]);
    assert_int_equal(err.cat, MG_ERR_USAGE);
  }
  assert_int_equal(mg_parse_uint("101", 0, 100, &v, "--port", &err), -1);
  assert_string_equal(err.msg,
                      "invalid value '101' for --port: must be from 0 to 100");
  assert_int_equal(mg_parse_uint("4", 5, 100, &v, "--port", &err), -1);
  assert_int_equal(mg_parse_uint("abc", 0, 9, &v, "--port", &err), -1);
  assert_string_equal(err.msg,
                      "invalid value 'abc' for --port: not a whole number");
}

static void test_parse_double(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  double v = 0;

  (void)state;
  assert_int_equal(mg_parse_double("0.25", 0, 1, &v, "--p", &err), 0);
  assert_true(v == 0.25);
  assert_int_equal(mg_parse_double("-3e2", -1000, 0, &v, "--p", &err), 0);
  assert_true(v == -300);
  static const char *bad[] = { "", "x", "1.5x", "nan", "inf", " 1", "1e999" };
  for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
    if (mg_parse_double(bad[i], -1e300, 1e300, &v, "--p", &err) != -1)
      fail_msg("'%s' accepted", bad[i]);
  assert_int_equal(mg_parse_double("1.5", 0, 1, &v, "--p", &err), -1);
  assert_string_equal(err.msg, "invalid value '1.5' for --p: must be from 0 "
                               "to 1");
}

/* Runs fn in a child with stderr (and stdout) captured; returns its exit
 * status and fills out with what it wrote on stderr. */
static int run_child(void (*fn)(void), struct mg_buf *errout,
                     const char *stdout_path)
{
  int pfd[2];
  pid_t pid;
  int status;
  struct mg_err err = MG_ERR_INIT;

  assert_int_equal(pipe(pfd), 0);
  pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(pfd[0]);
    dup2(pfd[1], 2);
    if (stdout_path) {
      int fd = open(stdout_path, O_WRONLY);
      dup2(fd, 1);
    }
    mg_init("/usr/bin/mytool");
    fn();
    _exit(77);
  }
  close(pfd[1]);
  assert_int_equal(mg_io_read_fd(pfd[0], "pipe", errout, &err), 0);
  close(pfd[0]);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  return WEXITSTATUS(status);
}

static void die_data(void)
{
  mg_die(MG_EXIT_DATA, "cannot parse '%s'", "x.json");
}

static void usage_err(void)
{
  mg_usage_error("unknown option '%s'", "--bogus");
}

static void die_from_err(void)
{
  struct mg_err err = MG_ERR_INIT;

  mg_err_set(&err, MG_ERR_REMOTE, "cannot reach '%s'", "http://h");
  mg_die_err(&err);
}

static void quiet_warn_then_finish(void)
{
  mg_set_verbosity(MG_QUIET);
  mg_warn("hidden");
  mg_set_verbosity(MG_NORMAL);
  mg_warn("shown %d", 1);
  exit(mg_finish(MG_EXIT_OK));
}

static void write_to_full_stdout(void)
{
  printf("some output that cannot be written\n");
  exit(mg_finish(MG_EXIT_OK));
}

static void test_messages_and_codes(void **state)
{
  struct mg_buf b = MG_BUF_INIT(4096);

  (void)state;
  assert_int_equal(run_child(die_data, &b, NULL), MG_EXIT_DATA);
  assert_string_equal(b.data, "mytool: error: cannot parse 'x.json'\n");
  mg_buf_reset(&b);
  assert_int_equal(run_child(usage_err, &b, NULL), MG_EXIT_USAGE);
  assert_string_equal(b.data, "mytool: error: unknown option '--bogus'\n"
                              "Try 'mytool --help'.\n");
  mg_buf_reset(&b);
  assert_int_equal(run_child(die_from_err, &b, NULL), MG_EXIT_REMOTE);
  assert_string_equal(b.data, "mytool: error: cannot reach 'http://h'\n");
  mg_buf_reset(&b);
  assert_int_equal(run_child(quiet_warn_then_finish, &b, NULL), MG_EXIT_OK);
  assert_string_equal(b.data, "mytool: warning: shown 1\n");
  mg_buf_reset(&b);
  if (access("/dev/full", W_OK) == 0) {
    assert_int_equal(run_child(write_to_full_stdout, &b, "/dev/full"),
                     MG_EXIT_IO);
    assert_non_null(strstr(b.data, "mytool: error: cannot write '<stdout>'"));
  }
  mg_buf_release(&b);
}

static void bad_max_input(void)
{
  struct mg_cli_std std = MG_CLI_STD_INIT;

  mg_cli_std_option(MG_CLI_OPT_MAX_INPUT, "0", "usage: mytool\n", &std);
}

/* The standard options mean the same in every tool (STYLE.md rule 12). */
static void test_std_options(void **state)
{
  struct mg_cli_std std = MG_CLI_STD_INIT;
  struct mg_buf b = MG_BUF_INIT(4096);

  (void)state;
  assert_string_equal(std.input, "-");
  assert_string_equal(std.output, "-");
  assert_int_equal(std.max_input, (size_t)64 << 20);
  assert_int_equal(std.pretty, 0);
  assert_int_equal(mg_cli_std_option('i', "in.json", "", &std), 1);
  assert_int_equal(mg_cli_std_option('o', "out.json", "", &std), 1);
  assert_int_equal(mg_cli_std_option(MG_CLI_OPT_PRETTY, NULL, "", &std), 1);
  assert_int_equal(mg_cli_std_option(MG_CLI_OPT_MAX_INPUT, "1024", "", &std),
                   1);
  assert_string_equal(std.input, "in.json");
  assert_string_equal(std.output, "out.json");
  assert_int_equal(std.pretty, 1);
  assert_int_equal(std.max_input, 1024);
  /* -v once is verbose, twice debug (the HTTP exchange), and stays there */
  mg_set_verbosity(MG_NORMAL);
  assert_int_equal(mg_cli_std_option('v', NULL, "", &std), 1);
  assert_int_equal(mg_verbosity(), MG_VERBOSE);
  assert_int_equal(mg_cli_std_option('v', NULL, "", &std), 1);
  assert_int_equal(mg_verbosity(), MG_DEBUG);
  assert_int_equal(mg_cli_std_option('v', NULL, "", &std), 1);
  assert_int_equal(mg_verbosity(), MG_DEBUG);
  assert_int_equal(mg_cli_std_option('q', NULL, "", &std), 1);
  assert_int_equal(mg_verbosity(), MG_QUIET);
  mg_set_verbosity(MG_NORMAL);
  /* not standard: the tool's own */
  assert_int_equal(mg_cli_std_option('j', "2", "", &std), 0);
  assert_int_equal(mg_cli_std_option(256, NULL, "", &std), 0);
  assert_int_equal(run_child(bad_max_input, &b, NULL), MG_EXIT_USAGE);
  assert_non_null(strstr(b.data, "invalid value '0' for --max-input"));
  mg_buf_release(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_uint),
    cmocka_unit_test(test_parse_double),
    cmocka_unit_test(test_messages_and_codes),
    cmocka_unit_test(test_std_options),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}

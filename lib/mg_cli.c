#include "mg_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_err.h"
#include "mg_version.h"

static const char *progname = "modelgate";
static int verbosity = MG_NORMAL;

static void check_fds(void)
{
  /* A closed 0-2 would make our first open() become stdout. */
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
      if (nfd < 0)
        abort();
      if (nfd != fd) {
        dup2(nfd, fd);
        close(nfd);
      }
    }
}

void mg_init(const char *argv0)
{
  const char *slash;

  check_fds();
  signal(SIGPIPE, SIG_IGN);
  if (argv0 && *argv0) {
    slash = strrchr(argv0, '/');
    progname = slash ? slash + 1 : argv0;
  }
}

const char *mg_progname(void)
{
  return progname;
}

void mg_set_verbosity(int v)
{
  verbosity = v;
}

int mg_verbosity(void)
{
  return verbosity;
}

__attribute__((format(printf, 2, 0))) static void
vmsg(const char *level, const char *fmt, va_list ap, int with_errno, int e)
{
  char line[1024];
  int n;

  n = level ? snprintf(line, sizeof(line), "%s: %s: ", progname, level)
            : snprintf(line, sizeof(line), "%s: ", progname);
  if (n < 0 || (size_t)n >= sizeof(line))
    n = 0;
  (void)vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
  if (with_errno) {
    size_t len = strlen(line);
    (void)snprintf(line + len, sizeof(line) - len, ": %s", strerror(e));
  }
  fprintf(stderr, "%s\n", line);
}

void mg_die(int code, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vmsg("error", fmt, ap, 0, 0);
  va_end(ap);
  exit(code);
}

void mg_die_errno(int code, const char *fmt, ...)
{
  int e = errno;
  va_list ap;

  va_start(ap, fmt);
  vmsg("error", fmt, ap, 1, e);
  va_end(ap);
  exit(code);
}

int mg_report_err(const struct mg_err *err)
{
  int code = err->cat == MG_ERR_NONE ? MG_EXIT_IO : (int)err->cat;

  fprintf(stderr, "%s: error: %s\n", progname,
          err->msg[0] ? err->msg : "unknown error");
  return code;
}

void mg_die_err(const struct mg_err *err)
{
  exit(mg_report_err(err));
}

void mg_usage_error(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vmsg("error", fmt, ap, 0, 0);
  va_end(ap);
  fprintf(stderr, "Try '%s --help'.\n", progname);
  exit(MG_EXIT_USAGE);
}

void mg_warn(const char *fmt, ...)
{
  va_list ap;

  if (verbosity < MG_NORMAL)
    return;
  va_start(ap, fmt);
  vmsg("warning", fmt, ap, 0, 0);
  va_end(ap);
}

void mg_warn_errno(const char *fmt, ...)
{
  int e = errno;
  va_list ap;

  if (verbosity < MG_NORMAL)
    return;
  va_start(ap, fmt);
  vmsg("warning", fmt, ap, 1, e);
  va_end(ap);
}

void mg_info(const char *fmt, ...)
{
  va_list ap;

  if (verbosity < MG_NORMAL)
    return;
  va_start(ap, fmt);
  vmsg(NULL, fmt, ap, 0, 0);
  va_end(ap);
}

void mg_verbose(const char *fmt, ...)
{
  va_list ap;

  if (verbosity < MG_VERBOSE)
    return;
  va_start(ap, fmt);
  vmsg(NULL, fmt, ap, 0, 0);
  va_end(ap);
}

int mg_finish(int rc)
{
  int bad = ferror(stdout);

  if (fflush(stdout) != 0)
    bad = 1;
  if (fclose(stdout) != 0)
    bad = 1;
  if (!bad)
    return rc;
  if (errno != EPIPE)
    fprintf(stderr, "%s: error: cannot write '<stdout>': %s\n", progname,
            strerror(errno));
  return rc == MG_EXIT_OK || rc == MG_EXIT_FAIL ? MG_EXIT_IO : rc;
}

void mg_print_version(void)
{
  printf("%s (modelgate) %s\n", progname, MG_VERSION);
  exit(mg_finish(MG_EXIT_OK));
}

void mg_print_usage(const char *text)
{
  fputs(text, stdout);
  exit(mg_finish(MG_EXIT_OK));
}

int mg_parse_uint(const char *arg, uint64_t min, uint64_t max, uint64_t *out,
                  const char *name, struct mg_err *err)
{
  unsigned long long v;
  char *end;

  if (!arg || !*arg || *arg == '-' || *arg == '+' || *arg == ' ')
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for %s: not a whole number",
                      arg ? arg : "", name);
  errno = 0;
  v = strtoull(arg, &end, 10);
  if (*end)
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for %s: not a whole number", arg,
                      name);
  if (errno == ERANGE || v < min || v > max)
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for %s: must be from %llu to %llu",
                      arg, name, (unsigned long long)min,
                      (unsigned long long)max);
  *out = v;
  return 0;
}

int mg_parse_double(const char *arg, double min, double max, double *out,
                    const char *name, struct mg_err *err)
{
  double v;
  char *end;

  if (!arg || !*arg || *arg == ' ')
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for %s: not a number", arg ? arg : "",
                      name);
  errno = 0;
  v = strtod(arg, &end);
  if (*end || !isfinite(v))
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for %s: not a number", arg, name);
  if (errno == ERANGE || v < min || v > max)
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for %s: must be from %g to %g", arg,
                      name, min, max);
  *out = v;
  return 0;
}

uint64_t mg_opt_uint(const char *arg, uint64_t min, uint64_t max,
                     const char *name)
{
  struct mg_err err = MG_ERR_INIT;
  uint64_t v = 0;

  if (mg_parse_uint(arg, min, max, &v, name, &err) < 0)
    mg_usage_error("%s", err.msg);
  return v;
}

double mg_opt_double(const char *arg, double min, double max, const char *name)
{
  struct mg_err err = MG_ERR_INIT;
  double v = 0;

  if (mg_parse_double(arg, min, max, &v, name, &err) < 0)
    mg_usage_error("%s", err.msg);
  return v;
}

void mg_cli_note(void *arg, const char *msg)
{
  (void)arg;
  mg_verbose("%s", msg);
}

int mg_cli_std_option(int c, const char *arg, const char *usage,
                      struct mg_cli_std *std)
{
  switch (c) {
  case 'h':
    mg_print_usage(usage);
  case 'i':
    std->input = arg;
    return 1;
  case 'o':
    std->output = arg;
    return 1;
  case 'q':
    mg_set_verbosity(MG_QUIET);
    return 1;
  case 'v':
    mg_set_verbosity(verbosity < MG_VERBOSE ? MG_VERBOSE : MG_DEBUG);
    return 1;
  case MG_CLI_OPT_MAX_INPUT:
    std->max_input =
        (size_t)mg_opt_uint(arg, 1, (uint64_t)1 << 40, "--max-input");
    return 1;
  case MG_CLI_OPT_PRETTY:
    std->pretty = 1;
    return 1;
  case MG_CLI_OPT_VERSION:
    mg_print_version();
  }
  return 0;
}

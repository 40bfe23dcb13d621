#ifndef MG_CLI_H
#define MG_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;

/*
 * The tool side: program name, messages, exit codes, number parsing. This
 * is the only module allowed to exit.
 *
 * One exit-code table for every program (copied into README.md).
 */
enum mg_exit {
  MG_EXIT_OK = 0,     /* success; the output document was written */
  MG_EXIT_FAIL = 1,   /* ran fine, the verdict is negative */
  MG_EXIT_USAGE = 2,  /* bad options or operands */
  MG_EXIT_DATA = 3,   /* input unusable: malformed, wrong schema, missing */
  MG_EXIT_IO = 4,     /* local system failure, including stdout errors */
  MG_EXIT_REMOTE = 5, /* network, HTTP or registry failure */
};

enum mg_verbosity {
  MG_QUIET = 0,
  MG_NORMAL = 1,
  MG_VERBOSE = 2,
  MG_DEBUG = 3,
};

/*
 * Call first in main(): remembers the program name (basename of argv0),
 * makes sure fds 0-2 are open, ignores SIGPIPE.
 */
void mg_init(const char *argv0);
/* Borrowed; valid for the whole run. */
const char *mg_progname(void);

void mg_set_verbosity(int v);
int mg_verbosity(void);

/*
 * Flushes and closes stdout; a failure becomes MG_EXIT_IO with a message
 * (EPIPE quietly). Returns the code main() should return: rc, or
 * MG_EXIT_IO if stdout could not be written.
 */
int mg_finish(int rc);

/* "<prog>: error: <msg>" on stderr, then exit(code). */
void mg_die(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* Same with ": <strerror(errno)>" appended. */
void mg_die_errno(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
/* Dies with err->msg and the exit code matching err->cat. */
void mg_die_err(const struct mg_err *err) __attribute__((noreturn));
/* Prints err as an error line and returns its exit code (for run()). */
int mg_report_err(const struct mg_err *err);
/* "<prog>: error: <msg>" + "Try '<prog> --help'." then exit(MG_EXIT_USAGE). */
void mg_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* "<prog>: warning: <msg>" unless quiet. */
void mg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mg_warn_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<prog>: <msg>" at normal verbosity and above (progress-like notes). */
void mg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<prog>: <msg>" only with -v. */
void mg_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A struct mg_note sink (mg_note.h) that prints the library's notes as
 * mg_verbose does; arg is unused. */
void mg_cli_note(void *arg, const char *msg);

/* Prints "<prog> (modelgate) <version>" to stdout and exits 0. */
void mg_print_version(void) __attribute__((noreturn));
/* Prints text to stdout and exits 0 (for --help). */
void mg_print_usage(const char *text) __attribute__((noreturn));

/*
 * Strict number parsing for option values: the whole string must be a
 * number within [min, max]; no sign for unsigned, no trailing junk, no
 * empty string. On failure err says "invalid value 'arg' for name: reason"
 * with MG_ERR_USAGE.
 */
int mg_parse_uint(const char *arg, uint64_t min, uint64_t max, uint64_t *out,
                  const char *name, struct mg_err *err);
int mg_parse_double(const char *arg, double min, double max, double *out,
                    const char *name, struct mg_err *err);
/* As mg_parse_uint but dies with a usage error: for parse_args(). */
uint64_t mg_opt_uint(const char *arg, uint64_t min, uint64_t max,
                     const char *name);
double mg_opt_double(const char *arg, double min, double max, const char *name);

/*
 * The standard options every tool has (STYLE.md rule 12), with one
 * meaning everywhere:
 *
 *   -h, --help            usage on stdout, exit 0
 *   -i, --input FILE      the input document ("-": standard input)
 *   -o, --output FILE     the output document ("-": standard output)
 *   -q, --quiet           no messages but errors
 *   -v, --verbose         more messages; given twice, the HTTP exchange
 *                         too (secrets redacted): mg_verbosity() >= MG_DEBUG
 *       --version         "<prog> (modelgate) <version>" on stdout, exit 0
 *       --pretty          indent the output document
 *       --max-input BYTES cap on the input document (default 64 MiB)
 *
 * A tool splices MG_CLI_STD_LONGOPTS (which needs <getopt.h>) at the top
 * of its longopts[], then its own options sorted, and
 * MG_CLI_STD_SHORTOPTS into its short-option string, handles its own
 * options in its switch, and passes everything else to mg_cli_std_option()
 * in the default branch. A tool that gives a standard letter an extra
 * reading (results-merge's repeatable -i) handles that case itself first.
 */
struct mg_cli_std {
  const char *input;  /* borrowed from argv; "-" by default */
  const char *output; /* borrowed from argv; "-" by default */
  size_t max_input;   /* bytes */
  int pretty;
};

#define MG_CLI_DEFAULT_MAX_INPUT ((size_t)64 << 20)
/* clang-format off */
#define MG_CLI_STD_INIT { "-", "-", MG_CLI_DEFAULT_MAX_INPUT, 0 }
/* clang-format on */

/* getopt values of the long-only standard options (tools use 256 and up). */
enum {
  MG_CLI_OPT_MAX_INPUT = 240,
  MG_CLI_OPT_PRETTY,
  MG_CLI_OPT_VERSION,
};

#define MG_CLI_STD_SHORTOPTS "hi:o:qv"
/* clang-format off */
#define MG_CLI_STD_LONGOPTS                                           \
  { "help", no_argument, NULL, 'h' },                                 \
  { "input", required_argument, NULL, 'i' },                          \
  { "max-input", required_argument, NULL, MG_CLI_OPT_MAX_INPUT },     \
  { "output", required_argument, NULL, 'o' },                         \
  { "pretty", no_argument, NULL, MG_CLI_OPT_PRETTY },                 \
  { "quiet", no_argument, NULL, 'q' },                                \
  { "verbose", no_argument, NULL, 'v' },                              \
  { "version", no_argument, NULL, MG_CLI_OPT_VERSION }
/* clang-format on */

/* The usage lines of the standard options but -i and -o, which each tool
 * describes in its own words (what its input and output are). */
#define MG_CLI_STD_USAGE                                                       \
  "      --max-input BYTES   cap on the input document (default: 64 MiB)\n"    \
  "      --pretty            indent the output document\n"                     \
  "  -q, --quiet             no messages but errors\n"                         \
  "  -v, --verbose           more messages; twice: the HTTP exchange too,\n"   \
  "                          secrets redacted\n"                               \
  "  -h, --help              show this help\n"                                 \
  "      --version           show the version\n"

/*
 * Handles getopt's result c when it is a standard option and returns 1;
 * returns 0 for anything else (the caller's usage error). -h prints usage
 * and --version the version, and both exit 0; a bad --max-input is a
 * usage error.
 */
int mg_cli_std_option(int c, const char *arg, const char *usage,
                      struct mg_cli_std *std);

#endif

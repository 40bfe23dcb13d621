/*
 * results-merge - merge and compare results; JSON, Markdown, CSV and a
 * self-contained HTML report with charts.
 *
 * Input:  records, as file operands or -i FILE (repeatable; default:
 *         stdin). Merge mode unites them (sections side by side, perf
 *         from several load generators merged run by run, eval tasks
 *         united); --compare sets them side by side instead.
 * Output: the merged record, or with --compare a record whose
 *         "comparison" holds the entries and the rows with deltas; and
 *         the reports asked for with --markdown, --csv and --html.
 * Exit:   0 ok, 2 usage, 3 bad input or a conflict between inputs, 4
 *         local I/O.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_cli.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_record.h"
#include "mg_time.h"
#include "publish/mg_merge.h"
#include "publish/mg_report.h"
#include "publish/mg_results.h"

static const char usage_text[] =
    "usage: results-merge [-hqv] [--compare] [--pretty] [-i FILE]...\n"
    "                     [-o FILE] [--allow SECTION=first|last]...\n"
    "                     [--label LABEL]... [--title TEXT]\n"
    "                     [--markdown FILE] [--csv FILE] [--html FILE]\n"
    "                     [--max-input BYTES] [FILE...]\n"
    "\n"
    "Merges records into one (default) or compares them (--compare), and\n"
    "writes reports. Inputs are the FILE operands and -i FILE options, in\n"
    "that order; none: standard input.\n"
    "\n"
    "  -i, --input FILE        an input record (repeatable)\n"
    "  -o, --output FILE       where the record goes (default: stdout)\n"
    "      --compare           compare the inputs side by side, the first\n"
    "                          as reference, instead of merging them\n"
    "      --allow SECTION=first|last\n"
    "                          resolve a conflict in SECTION (or '*' for\n"
    "                          all) by keeping the first or last input's\n"
    "      --label LABEL       dataset label of the next input (--compare)\n"
    "                          or of the merged result\n"
    "      --title TEXT        report title\n"
    "      --markdown FILE     write a Markdown report\n"
    "      --csv FILE          write a CSV report (long format)\n"
    "      --html FILE         write a self-contained HTML report with "
    "charts\n" MG_CLI_STD_USAGE;

struct merge_opts {
  const char **inputs;
  size_t ninputs;
  struct mg_cli_std std; /* -i -o --max-input --pretty */
  const char *title;
  const char *markdown;
  const char *csv;
  const char *html;
  struct mg_json *allow;  /* section -> "first" | "last" */
  struct mg_json *labels; /* array of strings */
  int compare;
  int argc;
  char **argv;
};

enum {
  OPT_ALLOW = 256,
  OPT_COMPARE,
  OPT_CSV,
  OPT_HTML,
  OPT_LABEL,
  OPT_MARKDOWN,
  OPT_TITLE,
};

static const char shortopts[] = MG_CLI_STD_SHORTOPTS;

static const struct option longopts[] = {
  MG_CLI_STD_LONGOPTS,
  { "allow", required_argument, NULL, OPT_ALLOW },
  { "compare", no_argument, NULL, OPT_COMPARE },
  { "csv", required_argument, NULL, OPT_CSV },
  { "html", required_argument, NULL, OPT_HTML },
  { "label", required_argument, NULL, OPT_LABEL },
  { "markdown", required_argument, NULL, OPT_MARKDOWN },
  { "title", required_argument, NULL, OPT_TITLE },
  { NULL, 0, NULL, 0 },
};

static void add_input(struct merge_opts *o, const char *path)
{
  o->inputs = mg_xreallocarray(o->inputs, o->ninputs + 1, sizeof(*o->inputs));
  o->inputs[o->ninputs++] = path;
}

static void add_allow(struct merge_opts *o, const char *arg)
{
  const char *eq = strchr(arg, '=');
  char *sec;

  if (!eq || eq == arg
      || (strcmp(eq + 1, "first") != 0 && strcmp(eq + 1, "last") != 0))
    mg_usage_error("invalid value '%s' for --allow: expected "
                   "SECTION=first|last",
                   arg);
  sec = mg_xstrndup(arg, (size_t)(eq - arg));
  mg_json_set_string(o->allow, sec, eq + 1);
  free(sec);
}

static void parse_args(int argc, char **argv, struct merge_opts *o)
{
  int c;
  const char **dash_i = NULL;
  size_t ndash_i = 0;

  o->argc = argc;
  o->argv = argv;
  while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case OPT_ALLOW:
      add_allow(o, optarg);
      break;
    case OPT_COMPARE:
      o->compare = 1;
      break;
    case OPT_CSV:
      o->csv = optarg;
      break;
    case OPT_HTML:
      o->html = optarg;
      break;
    case OPT_LABEL:
      if (!*optarg)
        mg_usage_error("invalid value '' for --label: empty");
      mg_json_append(o->labels, mg_json_new_string(optarg));
      break;
    case OPT_MARKDOWN:
      o->markdown = optarg;
      break;
    case OPT_TITLE:
      o->title = optarg;
      break;
    case 'i': /* repeatable here: each names one input record */
      dash_i = mg_xreallocarray(dash_i, ndash_i + 1, sizeof(*dash_i));
      dash_i[ndash_i++] = optarg;
      break;
    default:
      if (!mg_cli_std_option(c, optarg, usage_text, &o->std))
        mg_usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  for (int i = optind; i < argc; i++)
    add_input(o, argv[i]);
  for (size_t i = 0; i < ndash_i; i++)
    add_input(o, dash_i[i]);
  free(dash_i);
  if (!o->ninputs)
    add_input(o, "-");
  if (o->compare && mg_json_size(o->labels) > o->ninputs)
    mg_usage_error("more --label options (%zu) than inputs (%zu)",
                   mg_json_size(o->labels), o->ninputs);
  if (!o->compare && mg_json_size(o->labels) > 1)
    mg_usage_error("only one --label when merging");
  {
    size_t stdin_uses = 0;

    for (size_t i = 0; i < o->ninputs; i++)
      stdin_uses += strcmp(o->inputs[i], "-") == 0;
    if (stdin_uses > 1)
      mg_usage_error("standard input given more than once");
  }
}

static char *default_title(const struct mg_json *sums, int compare)
{
  const char *model = mg_json_string(mg_json_get(mg_json_at(sums, 0), "model"));

  if (compare && mg_json_size(sums) > 1) {
    const struct mg_json *a = mg_json_at(sums, 0), *b = mg_json_at(sums, 1);
    int one_model = model != NULL;

    /* one model on several datasets: name it; several models: their
     * labels say which is which */
    for (struct mg_json *s = mg_json_first(sums); s && one_model;
         s = mg_json_next(s)) {
      const char *m = mg_json_string(mg_json_get(s, "model"));

      one_model = m && strcmp(m, model) == 0;
    }
    return mg_xasprintf("Comparison%s%s: %s vs %s%s", one_model ? " of " : "",
                        one_model ? model : "",
                        mg_json_string(mg_json_get(a, "label")),
                        mg_json_string(mg_json_get(b, "label")),
                        mg_json_size(sums) > 2 ? " and others" : "");
  }
  return mg_xasprintf("Results: %s", model ? model : "model");
}

/* Writes the reports asked for; adds side-file references to report. */
static int write_reports(const struct merge_opts *o,
                         const struct mg_report_in *in, struct mg_json *report,
                         struct mg_err *err)
{
  static const char *const kinds[] = { "markdown", "csv", "html" };
  const char *paths[] = { o->markdown, o->csv, o->html };
  int (*fns[])(const struct mg_report_in *, struct mg_buf *,
               struct mg_err *) = { mg_report_markdown, mg_report_csv,
                                    mg_report_html };

  for (size_t i = 0; i < 3; i++) {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
    struct mg_json *ref;
    int rc;

    if (!paths[i])
      continue;
    if (strcmp(paths[i], "-") == 0)
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value '-' for --%s: reports go to files",
                        kinds[i]);
    rc = fns[i](in, &b, err);
    if (rc == 0)
      rc = mg_io_write_atomic(paths[i], b.data ? b.data : "", b.len, 0644, err);
    mg_buf_release(&b);
    if (rc < 0)
      return -1;
    if (mg_record_sidefile(paths[i], &ref, err) < 0)
      return -1;
    mg_json_set(report, kinds[i], ref);
    mg_info("wrote %s report '%s'", kinds[i], paths[i]);
  }
  return 0;
}

static int run(const struct merge_opts *o)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_merge_input *in = mg_xcalloc(o->ninputs, sizeof(*in));
  struct mg_json **recs = mg_xcalloc(o->ninputs, sizeof(*recs));
  struct mg_json *out = NULL, *notes = mg_json_new_array();
  struct mg_json *sums = mg_json_new_array(), *cmp = NULL;
  struct mg_json *report = mg_json_new_object();
  struct mg_report_in rin;
  char started[40];
  char *title = NULL;
  int rc = MG_EXIT_OK;

  mg_time_rfc3339(started, sizeof(started));
  for (size_t i = 0; i < o->ninputs; i++) {
    if (mg_record_read(o->inputs[i], o->std.max_input, &recs[i], &err) < 0)
      goto fail;
    /* our own output section: replaced, never merged */
    mg_json_remove(recs[i], "report");
    in[i].rec = recs[i];
    in[i].name = mg_io_name(o->inputs[i]);
  }
  if (o->compare) {
    for (size_t i = 0; i < o->ninputs; i++)
      if (mg_results_summarize(recs[i], in[i].name,
                               mg_json_string(mg_json_at(o->labels, i)), sums,
                               &err)
          < 0) {
        mg_err_prefix(&err, "cannot read results of '%s'", in[i].name);
        goto fail;
      }
  } else {
    if (mg_merge_records(in, o->ninputs, o->allow, &out, notes, &err) < 0)
      goto fail;
    if (mg_results_summarize(out, o->ninputs == 1 ? in[0].name : "merged",
                             mg_json_string(mg_json_at(o->labels, 0)), sums,
                             &err)
        < 0)
      goto fail;
  }
  for (struct mg_json *n = mg_json_first(notes); n; n = mg_json_next(n))
    mg_warn("%s", mg_json_string(n));
  if (mg_merge_compare(sums, &cmp, &err) < 0)
    goto fail;
  title = o->title ? mg_xstrdup(o->title) : default_title(sums, o->compare);
  rin.summaries = sums;
  rin.comparison = cmp;
  rin.title = title;
  rin.generated = started;
  if (write_reports(o, &rin, report, &err) < 0)
    goto fail;
  if (o->compare) {
    out = mg_record_new();
    mg_json_set(cmp, "summaries", sums);
    sums = NULL;
    mg_json_set(out, "comparison", cmp);
    cmp = NULL;
  }
  if (mg_json_size(report)) {
    mg_record_set_section(out, "report", report);
    report = NULL;
  }
  mg_record_add_provenance(out, started, o->argc, o->argv);
  if (mg_record_write(out, o->std.output, o->std.pretty, &err) < 0)
    goto fail;
  goto out;
fail:
  rc = mg_report_err(&err);
out:
  free(title);
  mg_json_free(report);
  mg_json_free(cmp);
  mg_json_free(sums);
  mg_json_free(notes);
  mg_json_free(out);
  for (size_t i = 0; i < o->ninputs; i++)
    mg_json_free(recs[i]);
  free(recs);
  free(in);
  return rc;
}

int main(int argc, char **argv)
{
  struct merge_opts opts = { .std = MG_CLI_STD_INIT };
  int rc;

  mg_init(argv[0]);
  opts.allow = mg_json_new_object();
  opts.labels = mg_json_new_array();
  parse_args(argc, argv, &opts);
  rc = run(&opts);
  mg_json_free(opts.allow);
  mg_json_free(opts.labels);
  free(opts.inputs);
  return mg_finish(rc);
}

/*
 * perf-run - load-test an OpenAI-compatible endpoint and add the results
 * to the record's "perf" section.
 *
 * Input:  a record on stdin or -i FILE (optional: a terminal or an empty
 *         stdin starts a new record).
 * Output: the record with "endpoint" and "perf" set, on stdout or -o FILE;
 *         per-request samples in a JSONL side file with --samples, a
 *         GuideLLM-shaped benchmarks.json with --guidellm-json.
 * Exit:   0 measured, 1 interrupted or a benchmark with no successful
 *         request (the record is still written), 2 usage, 3 bad input
 *         data, 4 local I/O, 5 endpoint unreachable or refusing.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_cli.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_progress.h"
#include "mg_record.h"
#include "mg_time.h"
#include "mg_version.h"
#include "perf/mg_perf_bench.h"
#include "perf/mg_perf_cfg.h"
#include "perf/mg_perf_data.h"
#include "perf/mg_perf_guidellm.h"
#include "perf/mg_perf_metrics.h"
#include "perf/mg_perf_plan.h"
#include "perf/mg_perf_report.h"
#include "tok/mg_tok_proc.h"

static const char usage_text[] =
    "usage: perf-run --target URL [options] [-i record] [-o record]\n"
    "\n"
    "Endpoint:\n"
    "  --target URL            server base URL (a trailing /v1 is dropped)\n"
    "  --endpoint E            chat (default), completions, or a path\n"
    "  --model NAME            default: the first id of /v1/models\n"
    "  --api-key-file FILE     bearer token (else $MG_API_KEY, "
    "$OPENAI_API_KEY)\n"
    "  --header 'K: V'         extra request header (repeatable)\n"
    "  --extra-body JSON       members merged into every request body\n"
    "  --cacert FILE, --insecure, --http2\n"
    "  --request-timeout S     error a request that receives nothing for S\n"
    "                          seconds (default 300, as GuideLLM)\n"
    "  --connect-timeout S, --check-timeout S   (defaults 10, 30)\n"
    "  --no-ignore-eos, --max-tokens-field F, --chat-content text|parts,\n"
    "  --no-unique-prefix, --no-warm-connections, --skip-check\n"
    "Load:\n"
    "  --profile KIND          synchronous, concurrent, throughput, "
    "constant,\n"
    "                          poisson, gamma, replay, sweep (default sweep)\n"
    "  --rate LIST             req/s (constant/poisson/gamma), streams\n"
    "                          (concurrent), or the sweep size (default 10)\n"
    "  --max-concurrency N, --rampup S, --burstiness B, --seed N,\n"
    "  --time-scale X, --sweep-type constant|poisson\n"
    "  --max-seconds S, --max-requests N, --max-errors N, "
    "--max-error-rate F,\n"
    "  --max-global-error-rate F\n"
    "  --start-at UNIX_TIME    start the first benchmark at this wall-clock\n"
    "                          instant (several load generators together)\n"
    "  --warmup X, --cooldown X  fraction (< 1), seconds or requests\n"
    "  --over-saturation SPEC  stop when the server is over-saturated\n"
    "                          (mode=enforce|monitor,min_seconds=30,...);\n"
    "                          --detect-saturation: with the defaults\n"
    "Data:\n"
    "  --data SPEC|FILE        prompt_tokens=N,output_tokens=N,... or\n"
    "                          .txt/.jsonl/.json/.csv\n"
    "                          (default prompt_tokens=128,output_tokens=64)\n"
    "  --data-samples N        use the first N prompts\n"
    "  --processor P           tokenizer: a model directory, a "
    "tokenizer.json,\n"
    "                          a server URL or 'server' (the target): exact\n"
    "                          prompt lengths, output counted from the text\n"
    "  --add-special-tokens    count the tokenizer's special tokens too\n"
    "  --tokenize | --detokenize --processor P [-i in] [-o out]\n"
    "                          text to {\"ids\",\"count\"} or back, and exit\n"
    "Output:\n"
    "  -i, --input FILE        record to extend (default: stdin)\n"
    "  -o, --output FILE       default: stdout\n"
    "  --samples FILE          per-request samples (JSONL side file)\n"
    "  --csv FILE              one summary row per benchmark\n"
    "  --guidellm-json FILE    GuideLLM's benchmarks.json report\n"
    "  --sample-requests N     requests per status in that report\n"
    "  --slo ttft=MS,itl=MS,e2e=MS   goodput objectives\n"
    "  --percentile-method nearest-rank|linear\n"
    "  --allow-unverified      measure a model that did not pass\n"
    "                          model-verify (else: exit 1, record passed on)\n"
    "  --label NAME            dataset label the results are filed under\n"
    "                          (baseline, or the use case); K=V adds a\n"
    "                          GuideLLM metadata label\n" MG_CLI_STD_USAGE
    "GuideLLM flags (docs/tools/perf-run.md): v0.3 --rate-type,\n"
    "  --backend-type, --backend-args, --warmup-percent, --cooldown-percent,\n"
    "  --random-seed, --output-path, --output-sampling, --disable-progress;\n"
    "  v0.4-0.6 --backend, --backend-kwargs, --request-format, --outputs,\n"
    "  --output-dir, --disable-console[-interactive]; v0.7 --backend,\n"
    "  --profile, --constraint, --data kind=..., --tokenizer, --seed,\n"
    "  --output, --metrics, --data-loader, --label; an optional leading\n"
    "  'benchmark', 'benchmark run' or 'run' is ignored\n";

struct perf_opts {
  struct mg_cli_std std; /* -i -o --max-input --pretty */
  struct mg_perf_config cfg;
  char **argv;
  int argc;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
  (void)sig;
  interrupted = 1;
}

/* getopt value of row i of mg_perf_cfg_options. */
#define OPT_CFG 256

static const char shortopts[] = MG_CLI_STD_SHORTOPTS;

/* The standard options, then perf-run's table (lib/perf/mg_perf_cfg.c),
 * both sorted. caller frees the result. */
static struct option *build_longopts(void)
{
  static const struct option std[] = { MG_CLI_STD_LONGOPTS };
  size_t nstd = sizeof(std) / sizeof(std[0]);
  struct option *lo = mg_xcalloc(nstd + mg_perf_cfg_noptions + 1, sizeof(*lo));

  memcpy(lo, std, sizeof(std));
  for (size_t i = 0; i < mg_perf_cfg_noptions; i++) {
    lo[nstd + i].name = mg_perf_cfg_options[i].name;
    lo[nstd + i].has_arg =
        mg_perf_cfg_options[i].has_arg ? required_argument : no_argument;
    lo[nstd + i].val = OPT_CFG + (int)i;
  }
  return lo;
}

static void parse_args(int argc, char **argv, struct perf_opts *o)
{
  struct mg_perf_config *c = &o->cfg;
  struct mg_err err = MG_ERR_INIT;
  struct option *longopts = build_longopts();
  int ch;

  while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    if (ch >= OPT_CFG && (size_t)(ch - OPT_CFG) < mg_perf_cfg_noptions) {
      if (mg_perf_cfg_apply(c, &mg_perf_cfg_options[ch - OPT_CFG], optarg, &err)
          < 0)
        mg_usage_error("%s", err.msg);
    } else if (ch == 'o'
               && (strncmp(optarg, "kind=", 5) == 0
                   || strncmp(optarg, "{\"kind\"", 7) == 0)) {
      /* GuideLLM v0.7's --output kind=...,path=... shares the name. */
      if (mg_perf_cfg_output(c, optarg, &err) < 0)
        mg_usage_error("%s", err.msg);
    } else if (!mg_cli_std_option(ch, optarg, usage_text, &o->std)) {
      mg_usage_error("unknown option");
    }
  }
  free(longopts);
  /* GuideLLM's subcommand words, so its command lines run unchanged. */
  if (optind < argc && strcmp(argv[optind], "benchmark") == 0)
    optind++;
  if (optind < argc && strcmp(argv[optind], "run") == 0)
    optind++;
  if (optind < argc)
    mg_usage_error("unexpected operand '%s'", argv[optind]);
  if (c->tokenize && !c->processor)
    mg_usage_error("--%s needs --processor",
                   c->tokenize == 1 ? "tokenize" : "detokenize");
  if (!c->tokenize && mg_perf_cfg_finish(c, &err) < 0)
    mg_usage_error("%s", err.msg);
  o->argc = argc;
  o->argv = argv;
}

struct status_ctx {
  struct mg_progress prog;
  const char *label;
};

static void show_status(void *arg, const struct mg_perf_bench *b, int inflight,
                        long long now)
{
  struct status_ctx *s = arg;
  char line[200];

  mg_perf_report_status_text(b, s->label, inflight, now, line, sizeof(line));
  mg_progress_status_at(&s->prog, line, 0, now);
}

static int tokenize(const struct perf_opts *o)
{
  const struct mg_perf_config *c = &o->cfg;
  struct mg_err err = MG_ERR_INIT;
  char *base = c->target ? mg_perf_report_base_url(c->target) : NULL;
  int rc = MG_EXIT_OK;

  if (mg_http_global_init(&err) < 0
      || mg_tok_proc_cli(c->processor, base, c->tokenize == 2, c->add_special,
                         o->std.input, o->std.output, &err)
             < 0)
    rc = mg_report_err(&err);
  free(base);
  mg_http_global_cleanup();
  return rc;
}

static int run(const struct perf_opts *o)
{
  const struct mg_perf_config *c = &o->cfg;
  struct mg_perf_data data;
  struct mg_perf_target t;
  struct mg_perf_limits lim;
  struct mg_perf_metrics_opts mo;
  struct mg_perf_guidellm_opts go;
  struct mg_perf_plan plan = { 0 };
  const struct mg_perf_profile *prof;
  struct mg_json *rec = NULL, *perf = NULL, *runs = NULL, *ep;
  struct mg_json *gl = NULL, *report = NULL;
  struct mg_tok_proc *tp = NULL;
  struct mg_buf samples = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct status_ctx sc;
  struct mg_err err = MG_ERR_INIT;
  struct sigaction sa;
  char *base = NULL, *url = NULL, *warm_url = NULL, *token = NULL;
  char *model = NULL, *shown;
  char started[40], finished[40], run_id[64], why[sizeof(err.msg)];
  int rc = MG_EXIT_OK, all_ok = 1;
  long long n_all = 0, n_err = 0;

  mg_time_rfc3339(started, sizeof(started));
  (void)snprintf(run_id, sizeof(run_id), "perf-run-%s", started);
  mg_perf_data_init(&data);
  if (mg_record_read_or_new(o->std.input, o->std.max_input, &rec, &err) < 0)
    goto fail;
  if (mg_record_gate(rec, &err) < 0) {
    if (!c->allow_unverified)
      goto refuse;
    mg_warn("--allow-unverified: measuring anyway: %s", err.msg);
    err = (struct mg_err)MG_ERR_INIT;
  }
  if (mg_perf_cfg_load_data(c, &data, &err) < 0)
    goto fail;
  if (mg_http_global_init(&err) < 0
      || mg_http_secret_load(c->api_key_file, "MG_API_KEY", &token, &err) < 0)
    goto fail;
  if (!token && mg_http_secret_load(NULL, "OPENAI_API_KEY", &token, &err) < 0)
    goto fail;
  base = mg_perf_report_base_url(c->target);
  mg_perf_cfg_target(c, base, token, mg_verbosity() >= MG_DEBUG, &t, &url,
                     &warm_url);
  if (c->model)
    model = mg_xstrdup(c->model);
  if (mg_perf_report_preflight(&t, base, &data, c->skip_check, &model, &err)
      < 0)
    goto fail;
  t.body.model = model;
  switch (mg_perf_cfg_open_processor(c, base, model, &t.http, &tp, &err)) {
  case -1:
    goto fail;
  case 1:
    mg_warn("tokenizer '%s' is not a local path: prompts are built from "
            "words and output is counted from the stream",
            c->processor);
  }
  if (tp && mg_perf_data_exact(&data, tp, c->add_special, &err) < 0)
    goto fail;
  if (tp) {
    t.collect_text = 1;
    if (data.synthetic)
      t.body.unique_prefix = 0; /* every prompt starts with its number */
  }

  memset(&lim, 0, sizeof(lim));
  lim.osd = c->osd_on ? &c->osd : NULL;
  lim.max_seconds = c->max_seconds;
  lim.max_requests = c->max_requests;
  lim.max_errors = c->max_errors;
  lim.max_error_rate = c->max_error_rate;
  lim.error_window = c->error_window;
  lim.max_global_error_rate = c->max_global_error_rate;
  lim.global_min = c->global_error_min;
  memset(&mo, 0, sizeof(mo));
  mo.method = c->method;
  mo.phase.warmup = c->warmup;
  mo.phase.cooldown = c->cooldown;
  mo.phase.max_seconds = c->max_seconds;
  mo.phase.max_requests = c->max_requests;
  mo.slo = c->slo;
  mo.hist = 1;
  mo.chat = t.body.chat;
  shown = mg_http_redact_url(base);
  memset(&go, 0, sizeof(go));
  go.phase = &mo.phase;
  go.sample_size = c->sample_size;
  go.run_id = run_id;
  go.target = shown;
  go.model = model;
  go.api = t.body.chat ? "chat" : "completions";
  if (c->report)
    gl = mg_json_new_array();

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  perf = mg_json_new_object();
  mg_json_set_string(perf, "tool", "perf-run");
  mg_json_set_string(perf, "version", MG_VERSION);
  mg_json_set_string(perf, "started", started);
  if (mg_json_string(mg_json_get(c->labels, "dataset")))
    mg_json_set_string(perf, "label",
                       mg_json_string(mg_json_get(c->labels, "dataset")));
  mg_json_set(perf, "config", mg_perf_cfg_json(c, url, model, &data));
  runs = mg_json_new_array();
  mg_perf_plan_init(&plan, c);
  while (!interrupted && (prof = mg_perf_plan_next(&plan))) {
    int i = plan.next - 1;
    struct mg_perf_bench b;
    struct mg_json *rj;
    char label[64], line[512];

    mg_perf_report_profile_label(prof, label, sizeof(label));
    sc.label = label;
    mg_progress_init(&sc.prog, "perf-run", 0);
    if (!c->progress)
      sc.prog.quiet = 1;
    lim.start_ns = 0;
    if (i == 0 && c->start_at > 0) {
      lim.start_ns = mg_time_mono_at(c->start_at);
      if (lim.start_ns < mg_time_now_ns())
        mg_warn("--start-at %.3f has passed: starting now", c->start_at);
    }
    if (mg_perf_bench_run(&t, &data, prof, &lim, &interrupted, show_status, &sc,
                          &b, &err)
        < 0) {
      free(shown);
      goto fail;
    }
    mg_progress_end(&sc.prog);
    if (tp && mg_perf_bench_count_text(&b, tp, &err) < 0) {
      mg_perf_bench_release(&b);
      free(shown);
      goto fail;
    }
    rj = mg_perf_metrics_json(&b, i, &mo);
    if (c->samples)
      (void)mg_perf_metrics_samples_jsonl(&b, i, &mo.phase, &samples);
    if (gl)
      mg_json_append(gl, mg_perf_guidellm_benchmark(&b, i, &go));
    if (b.successful == 0)
      all_ok = 0;
    n_all += b.successful + b.errored + b.incomplete;
    n_err += b.errored;
    mg_perf_report_summary_text(rj, line, sizeof(line));
    mg_info("%s", line);
    mg_perf_plan_done(&plan, mg_perf_report_figure(rj, "requests_per_s"));
    mg_json_append(runs, rj);
    mg_perf_bench_release(&b);
  }
  free(shown);
  mg_json_set(perf, "runs", runs);
  mg_time_rfc3339(finished, sizeof(finished));
  mg_json_set_string(perf, "finished", finished);
  mg_json_set_bool(perf, "interrupted", interrupted != 0);
  /* More than half of the requests errored: the run measured a failing
   * endpoint, not its performance (a negative verdict). */
  if (2 * n_err > n_all)
    all_ok = 0;
  mg_json_set_bool(perf, "ok", !interrupted && all_ok);
  if (c->samples) {
    struct mg_json *ref = NULL;
    if (mg_io_write_atomic(c->samples, samples.data ? samples.data : "",
                           samples.len, 0644, &err)
            < 0
        || mg_record_sidefile(c->samples, &ref, &err) < 0)
      goto fail;
    mg_json_set(perf, "samples", ref);
  }
  if (gl) {
    struct mg_json *spec = mg_perf_cfg_gl_spec(c, base, model);
    report = mg_perf_guidellm_report(gl, spec, c->labels);
    gl = NULL;
    mg_json_free(spec);
  }
  if (mg_perf_cfg_write_outputs(c, runs, report, o->std.pretty, &err) < 0)
    goto fail;
  ep = mg_json_new_object();
  shown = mg_http_redact_url(base);
  mg_json_set_string(ep, "url", shown);
  free(shown);
  mg_json_set_string(ep, "model", model);
  mg_json_set_string(ep, "api", t.body.chat ? "chat" : "completions");
  mg_record_set_section(rec, "endpoint", ep);
  mg_record_set_section(rec, "perf", perf);
  perf = NULL;
  mg_record_add_provenance(rec, started, o->argc, o->argv);
  if (mg_record_write(rec, o->std.output, o->std.pretty, &err) < 0)
    goto fail;
  if (interrupted) {
    mg_warn("interrupted: the record holds what was measured");
    rc = MG_EXIT_FAIL;
  } else if (2 * n_err > n_all) {
    mg_warn("%lld of %lld requests failed", n_err, n_all);
    rc = MG_EXIT_FAIL;
  } else if (!all_ok) {
    mg_warn("a benchmark had no successful request");
    rc = MG_EXIT_FAIL;
  }
  goto out;
refuse:
  /* The gate holds: say why, pass the record on unchanged, verdict 1. */
  (void)snprintf(why, sizeof(why), "%s", err.msg);
  mg_err_set(&err, MG_ERR_FAIL, "%s (--allow-unverified overrides)", why);
  rc = mg_report_err(&err);
  if (mg_record_write(rec, o->std.output, o->std.pretty, &err) < 0)
    rc = mg_report_err(&err);
  goto out;
fail:
  if (perf && !mg_json_get(perf, "runs"))
    mg_json_free(runs);
  rc = mg_report_err(&err);
out:
  mg_json_free(perf);
  mg_json_free(gl);
  mg_json_free(report);
  mg_json_free(rec);
  mg_buf_release(&samples);
  mg_perf_plan_release(&plan);
  mg_perf_data_release(&data);
  mg_tok_proc_free(tp);
  mg_http_secret_free(token);
  free(base);
  free(url);
  free(warm_url);
  free(model);
  mg_http_global_cleanup();
  return rc;
}

int main(int argc, char **argv)
{
  struct perf_opts opts;
  int rc;

  memset(&opts, 0, sizeof(opts));
  opts.std = (struct mg_cli_std)MG_CLI_STD_INIT;
  mg_perf_cfg_init(&opts.cfg);

  mg_init(argv[0]);
  parse_args(argc, argv, &opts);
  rc = opts.cfg.tokenize ? tokenize(&opts) : run(&opts);
  mg_perf_cfg_release(&opts.cfg);
  return mg_finish(rc);
}

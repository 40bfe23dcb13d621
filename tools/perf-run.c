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
#include "perf/mg_perf_bench.h"
#include "perf/mg_perf_cfg.h"
#include "perf/mg_perf_data.h"
#include "perf/mg_perf_guidellm.h"
#include "perf/mg_perf_metrics.h"
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
  int tokenize;          /* 1 --tokenize, 2 --detokenize */
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

enum {
  OPT_ADD_SPECIAL_TOKENS = 256,
  OPT_API_KEY_FILE,
  OPT_BACKEND,
  OPT_BACKEND_ARGS,
  OPT_BURSTINESS,
  OPT_CACERT,
  OPT_CHAT_CONTENT,
  OPT_CHECK_TIMEOUT,
  OPT_CONNECT_TIMEOUT,
  OPT_CONSTRAINT,
  OPT_COOLDOWN,
  OPT_COOLDOWN_PERCENT,
  OPT_CSV,
  OPT_DATA,
  OPT_DATA_LOADER,
  OPT_DATA_SAMPLES,
  OPT_DETECT_SATURATION,
  OPT_DETOKENIZE,
  OPT_DISABLE_PROGRESS,
  OPT_ENDPOINT,
  OPT_EXTRA_BODY,
  OPT_GUIDELLM_JSON,
  OPT_HEADER,
  OPT_HTTP2,
  OPT_IGNORED,
  OPT_INSECURE,
  OPT_LABEL,
  OPT_MAX_CONCURRENCY,
  OPT_MAX_ERROR_RATE,
  OPT_MAX_ERRORS,
  OPT_MAX_GLOBAL_ERROR_RATE,
  OPT_MAX_REQUESTS,
  OPT_MAX_SECONDS,
  OPT_MAX_TOKENS_FIELD,
  OPT_METRICS,
  OPT_MODEL,
  OPT_NO_IGNORE_EOS,
  OPT_NO_UNIQUE_PREFIX,
  OPT_NO_WARM,
  OPT_OUTPUT_DIR,
  OPT_OUTPUT_PATH,
  OPT_OUTPUTS,
  OPT_OVER_SATURATION,
  OPT_PERCENTILE_METHOD,
  OPT_PROCESSOR,
  OPT_PROFILE,
  OPT_RAMPUP,
  OPT_RATE,
  OPT_REQUEST_TIMEOUT,
  OPT_SAMPLE_REQUESTS,
  OPT_SAMPLES,
  OPT_SEED,
  OPT_SKIP_CHECK,
  OPT_SLO,
  OPT_START_AT,
  OPT_SWEEP_TYPE,
  OPT_TARGET,
  OPT_TIME_SCALE,
  OPT_TOKENIZE,
  OPT_TOKENIZER,
  OPT_UNSUPPORTED,
  OPT_WARMUP,
  OPT_WARMUP_PERCENT,
};

static const char shortopts[] = MG_CLI_STD_SHORTOPTS;

static const struct option longopts[] = {
  MG_CLI_STD_LONGOPTS,
  { "add-special-tokens", no_argument, NULL, OPT_ADD_SPECIAL_TOKENS },
  { "api-key-file", required_argument, NULL, OPT_API_KEY_FILE },
  { "backend", required_argument, NULL, OPT_BACKEND },
  { "backend-args", required_argument, NULL, OPT_BACKEND_ARGS },
  { "backend-kwargs", required_argument, NULL, OPT_BACKEND_ARGS },
  { "backend-type", required_argument, NULL, OPT_BACKEND },
  { "burstiness", required_argument, NULL, OPT_BURSTINESS },
  { "cacert", required_argument, NULL, OPT_CACERT },
  { "chat-content", required_argument, NULL, OPT_CHAT_CONTENT },
  { "check-timeout", required_argument, NULL, OPT_CHECK_TIMEOUT },
  { "config", required_argument, NULL, OPT_UNSUPPORTED },
  { "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
  { "constraint", required_argument, NULL, OPT_CONSTRAINT },
  { "cooldown", required_argument, NULL, OPT_COOLDOWN },
  { "cooldown-percent", required_argument, NULL, OPT_COOLDOWN_PERCENT },
  { "csv", required_argument, NULL, OPT_CSV },
  { "data", required_argument, NULL, OPT_DATA },
  { "data-args", required_argument, NULL, OPT_UNSUPPORTED },
  { "data-column-mapper", required_argument, NULL, OPT_UNSUPPORTED },
  { "data-loader", required_argument, NULL, OPT_DATA_LOADER },
  { "data-samples", required_argument, NULL, OPT_DATA_SAMPLES },
  { "detect-saturation", no_argument, NULL, OPT_DETECT_SATURATION },
  { "detokenize", no_argument, NULL, OPT_DETOKENIZE },
  { "disable-console", no_argument, NULL, OPT_DISABLE_PROGRESS },
  { "disable-console-interactive", no_argument, NULL, OPT_DISABLE_PROGRESS },
  { "disable-console-outputs", no_argument, NULL, OPT_IGNORED },
  { "disable-progress", no_argument, NULL, OPT_DISABLE_PROGRESS },
  { "display-scheduler-stats", no_argument, NULL, OPT_IGNORED },
  { "endpoint", required_argument, NULL, OPT_ENDPOINT },
  { "extra-body", required_argument, NULL, OPT_EXTRA_BODY },
  { "guidellm-json", required_argument, NULL, OPT_GUIDELLM_JSON },
  { "header", required_argument, NULL, OPT_HEADER },
  { "http2", no_argument, NULL, OPT_HTTP2 },
  { "insecure", no_argument, NULL, OPT_INSECURE },
  { "label", required_argument, NULL, OPT_LABEL },
  { "max-concurrency", required_argument, NULL, OPT_MAX_CONCURRENCY },
  { "max-error-rate", required_argument, NULL, OPT_MAX_ERROR_RATE },
  { "max-errors", required_argument, NULL, OPT_MAX_ERRORS },
  { "max-global-error-rate", required_argument, NULL,
    OPT_MAX_GLOBAL_ERROR_RATE },
  { "max-requests", required_argument, NULL, OPT_MAX_REQUESTS },
  { "max-seconds", required_argument, NULL, OPT_MAX_SECONDS },
  { "max-tokens-field", required_argument, NULL, OPT_MAX_TOKENS_FIELD },
  { "metrics", required_argument, NULL, OPT_METRICS },
  { "model", required_argument, NULL, OPT_MODEL },
  { "no-ignore-eos", no_argument, NULL, OPT_NO_IGNORE_EOS },
  { "no-unique-prefix", no_argument, NULL, OPT_NO_UNIQUE_PREFIX },
  { "no-warm-connections", no_argument, NULL, OPT_NO_WARM },
  { "output-dir", required_argument, NULL, OPT_OUTPUT_DIR },
  { "output-extras", required_argument, NULL, OPT_UNSUPPORTED },
  { "output-path", required_argument, NULL, OPT_OUTPUT_PATH },
  { "output-sampling", required_argument, NULL, OPT_SAMPLE_REQUESTS },
  { "outputs", required_argument, NULL, OPT_OUTPUTS },
  { "over-saturation", required_argument, NULL, OPT_OVER_SATURATION },
  { "override", required_argument, NULL, OPT_UNSUPPORTED },
  { "percentile-method", required_argument, NULL, OPT_PERCENTILE_METHOD },
  { "prefer-response-metrics", no_argument, NULL, OPT_IGNORED },
  { "processor", required_argument, NULL, OPT_PROCESSOR },
  { "processor-args", required_argument, NULL, OPT_UNSUPPORTED },
  { "profile", required_argument, NULL, OPT_PROFILE },
  { "rampup", required_argument, NULL, OPT_RAMPUP },
  { "random-seed", required_argument, NULL, OPT_SEED },
  { "rate", required_argument, NULL, OPT_RATE },
  { "rate-type", required_argument, NULL, OPT_PROFILE },
  { "request-format", required_argument, NULL, OPT_ENDPOINT },
  { "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
  { "request-type", required_argument, NULL, OPT_ENDPOINT },
  { "sample-requests", required_argument, NULL, OPT_SAMPLE_REQUESTS },
  { "samples", required_argument, NULL, OPT_SAMPLES },
  { "scenario", required_argument, NULL, OPT_UNSUPPORTED },
  { "seed", required_argument, NULL, OPT_SEED },
  { "skip-check", no_argument, NULL, OPT_SKIP_CHECK },
  { "slo", required_argument, NULL, OPT_SLO },
  { "start-at", required_argument, NULL, OPT_START_AT },
  { "sweep-type", required_argument, NULL, OPT_SWEEP_TYPE },
  { "target", required_argument, NULL, OPT_TARGET },
  { "time-scale", required_argument, NULL, OPT_TIME_SCALE },
  { "tokenize", no_argument, NULL, OPT_TOKENIZE },
  { "tokenizer", required_argument, NULL, OPT_TOKENIZER },
  { "warmup", required_argument, NULL, OPT_WARMUP },
  { "warmup-percent", required_argument, NULL, OPT_WARMUP_PERCENT },
  { NULL, 0, NULL, 0 },
};

/* A configuration call that failed is a usage error. */
static void check(int rc, const struct mg_err *err)
{
  if (rc < 0)
    mg_usage_error("%s", err->msg);
}

static void parse_args(int argc, char **argv, struct perf_opts *o)
{
  struct mg_perf_config *c = &o->cfg;
  struct mg_err err = MG_ERR_INIT;
  int ch, li = 0;

  while ((ch = getopt_long(argc, argv, shortopts, longopts, &li)) != -1) {
    switch (ch) {
    case OPT_ADD_SPECIAL_TOKENS:
      c->add_special = 1;
      break;
    case OPT_API_KEY_FILE:
      c->api_key_file = optarg;
      break;
    case OPT_BACKEND:
      check(mg_perf_cfg_backend(c, optarg, &err), &err);
      break;
    case OPT_BACKEND_ARGS:
      check(mg_perf_cfg_backend_args(c, optarg, &err), &err);
      break;
    case OPT_BURSTINESS:
      c->burstiness = mg_opt_double(optarg, 1e-6, 1e6, "--burstiness");
      break;
    case OPT_CACERT:
      c->cacert = optarg;
      break;
    case OPT_CHAT_CONTENT:
      if (strcmp(optarg, "text") && strcmp(optarg, "parts"))
        mg_usage_error("invalid value '%s' for --chat-content: expected "
                       "text or parts",
                       optarg);
      c->content_parts = strcmp(optarg, "parts") == 0;
      break;
    case OPT_CHECK_TIMEOUT:
      c->check_timeout = mg_opt_double(optarg, 1e-3, 1e6, "--check-timeout");
      break;
    case OPT_CONNECT_TIMEOUT:
      c->connect_timeout =
          mg_opt_double(optarg, 1e-3, 1e6, "--connect-timeout");
      break;
    case OPT_CONSTRAINT:
      check(mg_perf_cfg_constraint(c, optarg, &err), &err);
      break;
    case OPT_COOLDOWN:
      check(mg_perf_cfg_phase(&c->cooldown, optarg, "--cooldown", &err), &err);
      break;
    case OPT_COOLDOWN_PERCENT:
      c->cooldown = mg_opt_double(optarg, 0, 0.999999, "--cooldown-percent");
      break;
    case OPT_CSV:
      c->csv = optarg;
      break;
    case OPT_DATA:
      check(mg_perf_cfg_data(c, optarg, &err), &err);
      break;
    case OPT_DATA_LOADER:
      check(mg_perf_cfg_data_loader(c, optarg, &err), &err);
      break;
    case OPT_DATA_SAMPLES:
      c->data_samples =
          (long long)mg_opt_uint(optarg, 1, UINT32_MAX, "--data-samples");
      break;
    case OPT_DETECT_SATURATION:
      check(mg_perf_cfg_over_saturation(c, NULL, &err), &err);
      break;
    case OPT_DETOKENIZE:
      o->tokenize = 2;
      break;
    case OPT_DISABLE_PROGRESS:
      c->progress = 0;
      break;
    case OPT_ENDPOINT:
      check(mg_perf_cfg_endpoint(c, optarg, &err), &err);
      break;
    case OPT_EXTRA_BODY:
      c->extra_body = optarg;
      break;
    case OPT_GUIDELLM_JSON:
      c->report = optarg;
      break;
    case OPT_HEADER:
      check(mg_perf_cfg_header(c, optarg, &err), &err);
      break;
    case OPT_HTTP2:
      c->http2 = 1;
      break;
    case OPT_IGNORED:
      break;
    case OPT_INSECURE:
      c->insecure = 1;
      break;
    case OPT_LABEL:
      check(mg_perf_cfg_label(c, optarg, &err), &err);
      break;
    case OPT_MAX_CONCURRENCY:
      c->max_concurrency =
          (int)mg_opt_uint(optarg, 1, 1000000, "--max-concurrency");
      break;
    case OPT_MAX_ERROR_RATE:
      c->max_error_rate = mg_opt_double(optarg, 1e-9, 1, "--max-error-rate");
      break;
    case OPT_MAX_ERRORS:
      c->max_errors =
          (long long)mg_opt_uint(optarg, 1, UINT32_MAX, "--max-errors");
      break;
    case OPT_MAX_GLOBAL_ERROR_RATE:
      c->max_global_error_rate =
          mg_opt_double(optarg, 1e-9, 1, "--max-global-error-rate");
      break;
    case OPT_MAX_REQUESTS:
      c->max_requests =
          (long long)mg_opt_uint(optarg, 1, UINT32_MAX, "--max-requests");
      break;
    case OPT_MAX_SECONDS:
      c->max_seconds = mg_opt_double(optarg, 1e-3, 1e7, "--max-seconds");
      break;
    case OPT_MAX_TOKENS_FIELD:
      if (strcmp(optarg, "max_tokens") == 0)
        c->max_field = MG_PERF_MAX_TOKENS;
      else if (strcmp(optarg, "max_completion_tokens") == 0)
        c->max_field = MG_PERF_MAX_COMPLETION;
      else if (strcmp(optarg, "both") == 0)
        c->max_field = MG_PERF_MAX_BOTH;
      else
        mg_usage_error("invalid value '%s' for --max-tokens-field: "
                       "expected max_tokens, max_completion_tokens or "
                       "both",
                       optarg);
      break;
    case OPT_METRICS:
      check(mg_perf_cfg_metrics(c, optarg, &err), &err);
      break;
    case OPT_MODEL:
      c->model = optarg;
      break;
    case OPT_NO_IGNORE_EOS:
      c->ignore_eos = 0;
      break;
    case OPT_NO_UNIQUE_PREFIX:
      c->unique_prefix = 0;
      break;
    case OPT_NO_WARM:
      c->warm = 0;
      break;
    case OPT_OUTPUT_DIR:
      c->output_dir = optarg;
      break;
    case OPT_OUTPUT_PATH:
      check(mg_perf_cfg_output_path(c, optarg, &err), &err);
      break;
    case OPT_OUTPUTS:
      c->outputs = optarg;
      break;
    case OPT_OVER_SATURATION:
      check(mg_perf_cfg_over_saturation(c, optarg, &err), &err);
      break;
    case OPT_PERCENTILE_METHOD:
      if (strcmp(optarg, "nearest-rank") == 0)
        c->method = MG_STATS_PCT_NEAREST_RANK;
      else if (strcmp(optarg, "linear") == 0)
        c->method = MG_STATS_PCT_LINEAR;
      else
        mg_usage_error("invalid value '%s' for --percentile-method: "
                       "expected nearest-rank or linear",
                       optarg);
      break;
    case OPT_PROCESSOR:
      c->processor = optarg;
      break;
    case OPT_PROFILE:
      check(mg_perf_cfg_profile(c, optarg, &err), &err);
      break;
    case OPT_RAMPUP:
      c->rampup = mg_opt_double(optarg, 0, 1e6, "--rampup");
      break;
    case OPT_RATE:
      c->rate_arg = optarg;
      break;
    case OPT_REQUEST_TIMEOUT:
      c->request_timeout =
          mg_opt_double(optarg, 1e-3, 1e6, "--request-timeout");
      break;
    case OPT_SAMPLE_REQUESTS:
      c->sample_size =
          (long long)mg_opt_uint(optarg, 0, UINT32_MAX, "--sample-requests");
      break;
    case OPT_SAMPLES:
      c->samples = optarg;
      break;
    case OPT_SEED:
      check(mg_perf_cfg_seed(c, optarg, &err), &err);
      break;
    case OPT_SKIP_CHECK:
      c->skip_check = 1;
      break;
    case OPT_SLO:
      check(mg_perf_cfg_slo(c, optarg, &err), &err);
      break;
    case OPT_START_AT:
      c->start_at = mg_opt_double(optarg, 0, 1e11, "--start-at");
      break;
    case OPT_SWEEP_TYPE:
      c->sweep_kind = mg_perf_sched_kind_parse(optarg);
      if (c->sweep_kind != MG_PERF_CONSTANT && c->sweep_kind != MG_PERF_POISSON)
        mg_usage_error("invalid value '%s' for --sweep-type: expected "
                       "constant or poisson",
                       optarg);
      break;
    case OPT_TARGET:
      c->target = optarg;
      break;
    case OPT_TIME_SCALE:
      c->time_scale = mg_opt_double(optarg, 1e-9, 1e9, "--time-scale");
      break;
    case OPT_TOKENIZE:
      o->tokenize = 1;
      break;
    case OPT_TOKENIZER:
      check(mg_perf_cfg_tokenizer(c, optarg, &err), &err);
      break;
    case OPT_UNSUPPORTED:
      mg_usage_error("option '--%s' is not supported by perf-run",
                     longopts[li].name);
    case OPT_WARMUP:
      check(mg_perf_cfg_phase(&c->warmup, optarg, "--warmup", &err), &err);
      break;
    case OPT_WARMUP_PERCENT:
      c->warmup = mg_opt_double(optarg, 0, 0.999999, "--warmup-percent");
      break;
    case 'o':
      /* GuideLLM v0.7's --output kind=...,path=... shares the name. */
      if (strncmp(optarg, "kind=", 5) == 0
          || strncmp(optarg, "{\"kind\"", 7) == 0)
        check(mg_perf_cfg_output(c, optarg, &err), &err);
      else
        o->std.output = optarg;
      break;
    default:
      if (!mg_cli_std_option(ch, optarg, usage_text, &o->std))
        mg_usage_error("unknown option");
    }
  }
  /* GuideLLM's subcommand words, so its command lines run unchanged. */
  if (optind < argc && strcmp(argv[optind], "benchmark") == 0)
    optind++;
  if (optind < argc && strcmp(argv[optind], "run") == 0)
    optind++;
  if (optind < argc)
    mg_usage_error("unexpected operand '%s'", argv[optind]);
  if (o->tokenize && !c->processor)
    mg_usage_error("--%s needs --processor",
                   o->tokenize == 1 ? "tokenize" : "detokenize");
  if (!o->tokenize)
    check(mg_perf_cfg_finish(c, &err), &err);
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
      || mg_tok_proc_cli(c->processor, base, o->tokenize == 2, c->add_special,
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
  struct mg_perf_profile prof[MG_PERF_MAX_RATES + 2];
  struct mg_json *rec = NULL, *perf = NULL, *runs = NULL, *ep;
  struct mg_json *gl = NULL, *report = NULL;
  struct mg_tok_proc *tp = NULL;
  struct mg_buf samples = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct status_ctx sc;
  struct mg_err err = MG_ERR_INIT;
  struct sigaction sa;
  char *base = NULL, *url = NULL, *warm_url = NULL, *token = NULL;
  char *model = NULL, *shown;
  char started[40], finished[40], run_id[64];
  int rc = MG_EXIT_OK, nprof, all_ok = 1;
  long long n_all = 0, n_err = 0;

  mg_time_rfc3339(started, sizeof(started));
  (void)snprintf(run_id, sizeof(run_id), "perf-run-%s", started);
  mg_perf_data_init(&data);
  if (mg_record_read_or_new(o->std.input, o->std.max_input, &rec, &err) < 0
      || mg_perf_cfg_load_data(c, &data, &err) < 0)
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
  nprof = mg_perf_cfg_plan(c, prof);
  for (int i = 0; i < nprof && !interrupted; i++) {
    struct mg_perf_bench b;
    struct mg_json *rj;
    char label[64], line[512];

    mg_perf_report_profile_label(&prof[i], label, sizeof(label));
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
    if (mg_perf_bench_run(&t, &data, &prof[i], &lim, &interrupted, show_status,
                          &sc, &b, &err)
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
    /* Sweep: after synchronous and throughput, GuideLLM's rates. */
    if (c->kind == MG_PERF_SWEEP && i == 1) {
      double r_sync =
          mg_perf_report_figure(mg_json_at(runs, 0), "requests_per_s");
      double r_thr = mg_perf_report_figure(rj, "requests_per_s");
      double rates[MG_PERF_MAX_RATES];
      int nr =
          mg_perf_sched_sweep_rates(r_sync, r_thr, (int)c->rates[0], rates);
      for (int k = 0; k < nr && r_sync > 0 && r_thr > 0; k++) {
        if (rates[k] <= 0)
          break;
        prof[nprof] = prof[0];
        prof[nprof].kind = (enum mg_perf_kind)c->sweep_kind;
        prof[nprof].rate = rates[k];
        prof[nprof].max_concurrency = c->max_concurrency;
        nprof++;
      }
    }
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
  rc = opts.tokenize ? tokenize(&opts) : run(&opts);
  mg_perf_cfg_release(&opts.cfg);
  return mg_finish(rc);
}

/*
 * perf-run - load-test an OpenAI-compatible endpoint and add the results
 * to the record's "perf" section.
 *
 * Input:  a record on stdin or -i FILE (optional: a terminal or an empty
 *         stdin starts a new record).
 * Output: the record with "endpoint" and "perf" set, on stdout or -o FILE;
 *         per-request samples in a JSONL side file with --samples.
 * Exit:   0 measured, 1 interrupted or a benchmark with no successful
 *         request (the record is still written), 2 usage, 3 bad input
 *         data, 4 local I/O, 5 endpoint unreachable or refusing.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_cli.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_perf_data.h"
#include "mg_perf_metrics.h"
#include "mg_perf_report.h"
#include "mg_perf_run.h"
#include "mg_progress.h"
#include "mg_record.h"

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
  "  --cacert FILE, --insecure, --http2, --request-timeout S\n"
  "  --no-ignore-eos, --max-tokens-field F, --chat-content text|parts,\n"
  "  --no-unique-prefix, --skip-check\n"
  "Load:\n"
  "  --profile KIND          synchronous, concurrent, throughput, "
  "constant,\n"
  "                          poisson, gamma, replay, sweep (default sweep)\n"
  "  --rate LIST             req/s (constant/poisson/gamma), streams\n"
  "                          (concurrent), or the sweep size (default 10)\n"
  "  --max-concurrency N, --rampup S, --burstiness B, --seed N,\n"
  "  --time-scale X, --sweep-type constant|poisson\n"
  "  --max-seconds S, --max-requests N, --max-errors N, "
  "--max-error-rate F\n"
  "  --warmup X, --cooldown X  fraction (< 1), seconds or requests\n"
  "Data:\n"
  "  --data SPEC|FILE        prompt_tokens=N,output_tokens=N,... or\n"
  "                          .txt/.jsonl/.json/.csv "
  "(default prompt_tokens=128,output_tokens=64)\n"
  "Output:\n"
  "  -i, --input FILE        record to extend (default: stdin)\n"
  "  -o, --output FILE       default: stdout\n"
  "  --samples FILE          per-request samples (JSONL side file)\n"
  "  --csv FILE              one summary row per benchmark\n"
  "  --slo ttft=MS,itl=MS,e2e=MS   goodput objectives\n"
  "  --percentile-method nearest-rank|linear\n"
  "  --pretty, -q, -v, -h, --version\n"
  "GuideLLM <= v0.3 flags: --rate-type, --warmup-percent, "
  "--cooldown-percent,\n"
  "  --random-seed, --output-path, --processor, --backend-type,\n"
  "  --disable-progress\n";

#define MAX_RATES 64
#define MAX_HEADERS 32

struct perf_opts {
  const char *input;
  const char *output;
  const char *target;
  const char *endpoint;
  const char *model;
  const char *api_key_file;
  const char *headers[MAX_HEADERS + 1];
  int nheaders;
  const char *extra_body;
  const char *cacert;
  int insecure, http2, skip_check, pretty, progress;
  double request_timeout;
  int ignore_eos, unique_prefix, content_parts;
  enum mg_perf_max_field max_field;
  int kind;
  int sweep_kind;
  double rates[MAX_RATES];
  int nrates;
  int max_concurrency;
  double rampup, burstiness, time_scale;
  uint64_t seed;
  double max_seconds, max_error_rate;
  long long max_requests, max_errors;
  double warmup, cooldown;
  const char *data;
  const char *samples;
  const char *csv;
  struct mg_perf_slo slo;
  enum mg_perf_pct method;
  char **argv;
  int argc;
};

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
  (void)sig;
  interrupted = 1;
}

static int
parse_rates(const char *arg, struct perf_opts *o)
{
  const char *p = arg;

  o->nrates = 0;
  while (*p) {
    char buf[64];
    size_t n = strcspn(p, ",");
    if (n == 0 || n >= sizeof(buf) || o->nrates == MAX_RATES)
      return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    o->rates[o->nrates++] = mg_opt_double(buf, 1e-9, 1e9, "--rate");
    p += n;
    if (*p == ',')
      p++;
  }
  return o->nrates ? 0 : -1;
}

static void
parse_slo(const char *arg, struct mg_perf_slo *s)
{
  const char *p = arg;

  while (*p) {
    char key[16], val[64];
    size_t n = strcspn(p, ",");
    const char *eq = memchr(p, '=', n);
    double v;
    if (!eq || (size_t)(eq - p) >= sizeof(key) ||
        n - (size_t)(eq - p) - 1 >= sizeof(val))
      mg_usage_error("invalid value '%s' for --slo: expected "
                     "ttft=MS,itl=MS,e2e=MS", arg);
    memcpy(key, p, (size_t)(eq - p));
    key[eq - p] = '\0';
    memcpy(val, eq + 1, n - (size_t)(eq - p) - 1);
    val[n - (size_t)(eq - p) - 1] = '\0';
    v = mg_opt_double(val, 1e-9, 1e9, "--slo");
    if (strcmp(key, "ttft") == 0)
      s->ttft_ms = v;
    else if (strcmp(key, "itl") == 0 || strcmp(key, "tpot") == 0)
      s->itl_ms = v;
    else if (strcmp(key, "e2e") == 0 || strcmp(key, "e2el") == 0)
      s->e2e_ms = v;
    else
      mg_usage_error("invalid value '%s' for --slo: unknown objective "
                     "'%s'", arg, key);
    p += n;
    if (*p == ',')
      p++;
  }
}

enum {
  OPT_API_KEY_FILE = 256,
  OPT_BACKEND_TYPE,
  OPT_BURSTINESS,
  OPT_CACERT,
  OPT_CHAT_CONTENT,
  OPT_COOLDOWN,
  OPT_COOLDOWN_PERCENT,
  OPT_CSV,
  OPT_DATA,
  OPT_DISABLE_PROGRESS,
  OPT_ENDPOINT,
  OPT_EXTRA_BODY,
  OPT_HEADER,
  OPT_HTTP2,
  OPT_INSECURE,
  OPT_MAX_CONCURRENCY,
  OPT_MAX_ERROR_RATE,
  OPT_MAX_ERRORS,
  OPT_MAX_REQUESTS,
  OPT_MAX_SECONDS,
  OPT_MAX_TOKENS_FIELD,
  OPT_MODEL,
  OPT_NO_IGNORE_EOS,
  OPT_NO_UNIQUE_PREFIX,
  OPT_OUTPUT_PATH,
  OPT_PERCENTILE_METHOD,
  OPT_PRETTY,
  OPT_PROCESSOR,
  OPT_PROFILE,
  OPT_RAMPUP,
  OPT_RATE,
  OPT_REQUEST_TIMEOUT,
  OPT_SAMPLES,
  OPT_SEED,
  OPT_SKIP_CHECK,
  OPT_SLO,
  OPT_SWEEP_TYPE,
  OPT_TARGET,
  OPT_TIME_SCALE,
  OPT_VERSION,
  OPT_WARMUP,
  OPT_WARMUP_PERCENT,
};

static void
parse_args(int argc, char **argv, struct perf_opts *o)
{
  static const struct option longopts[] = {
    { "api-key-file", required_argument, NULL, OPT_API_KEY_FILE },
    { "backend-type", required_argument, NULL, OPT_BACKEND_TYPE },
    { "burstiness", required_argument, NULL, OPT_BURSTINESS },
    { "cacert", required_argument, NULL, OPT_CACERT },
    { "chat-content", required_argument, NULL, OPT_CHAT_CONTENT },
    { "cooldown", required_argument, NULL, OPT_COOLDOWN },
    { "cooldown-percent", required_argument, NULL, OPT_COOLDOWN_PERCENT },
    { "csv", required_argument, NULL, OPT_CSV },
    { "data", required_argument, NULL, OPT_DATA },
    { "disable-progress", no_argument, NULL, OPT_DISABLE_PROGRESS },
    { "endpoint", required_argument, NULL, OPT_ENDPOINT },
    { "extra-body", required_argument, NULL, OPT_EXTRA_BODY },
    { "header", required_argument, NULL, OPT_HEADER },
    { "help", no_argument, NULL, 'h' },
    { "http2", no_argument, NULL, OPT_HTTP2 },
    { "input", required_argument, NULL, 'i' },
    { "insecure", no_argument, NULL, OPT_INSECURE },
    { "max-concurrency", required_argument, NULL, OPT_MAX_CONCURRENCY },
    { "max-error-rate", required_argument, NULL, OPT_MAX_ERROR_RATE },
    { "max-errors", required_argument, NULL, OPT_MAX_ERRORS },
    { "max-requests", required_argument, NULL, OPT_MAX_REQUESTS },
    { "max-seconds", required_argument, NULL, OPT_MAX_SECONDS },
    { "max-tokens-field", required_argument, NULL, OPT_MAX_TOKENS_FIELD },
    { "model", required_argument, NULL, OPT_MODEL },
    { "no-ignore-eos", no_argument, NULL, OPT_NO_IGNORE_EOS },
    { "no-unique-prefix", no_argument, NULL, OPT_NO_UNIQUE_PREFIX },
    { "output", required_argument, NULL, 'o' },
    { "output-path", required_argument, NULL, OPT_OUTPUT_PATH },
    { "percentile-method", required_argument, NULL, OPT_PERCENTILE_METHOD },
    { "pretty", no_argument, NULL, OPT_PRETTY },
    { "processor", required_argument, NULL, OPT_PROCESSOR },
    { "profile", required_argument, NULL, OPT_PROFILE },
    { "quiet", no_argument, NULL, 'q' },
    { "rampup", required_argument, NULL, OPT_RAMPUP },
    { "random-seed", required_argument, NULL, OPT_SEED },
    { "rate", required_argument, NULL, OPT_RATE },
    { "rate-type", required_argument, NULL, OPT_PROFILE },
    { "request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT },
    { "samples", required_argument, NULL, OPT_SAMPLES },
    { "seed", required_argument, NULL, OPT_SEED },
    { "skip-check", no_argument, NULL, OPT_SKIP_CHECK },
    { "slo", required_argument, NULL, OPT_SLO },
    { "sweep-type", required_argument, NULL, OPT_SWEEP_TYPE },
    { "target", required_argument, NULL, OPT_TARGET },
    { "time-scale", required_argument, NULL, OPT_TIME_SCALE },
    { "verbose", no_argument, NULL, 'v' },
    { "version", no_argument, NULL, OPT_VERSION },
    { "warmup", required_argument, NULL, OPT_WARMUP },
    { "warmup-percent", required_argument, NULL, OPT_WARMUP_PERCENT },
    { NULL, 0, NULL, 0 },
  };
  const char *rate_arg = NULL;
  int c;

  while ((c = getopt_long(argc, argv, "hi:o:qv", longopts, NULL)) != -1) {
    switch (c) {
    case 'h':
      mg_print_usage(usage_text);
    case 'i':
      o->input = optarg;
      break;
    case 'o':
    case OPT_OUTPUT_PATH:
      o->output = optarg;
      break;
    case 'q':
      mg_set_verbosity(MG_QUIET);
      break;
    case 'v':
      mg_set_verbosity(mg_verbosity() + 1);
      break;
    case OPT_API_KEY_FILE:
      o->api_key_file = optarg;
      break;
    case OPT_BACKEND_TYPE:
      if (strcmp(optarg, "openai_http") != 0)
        mg_usage_error("invalid value '%s' for --backend-type: only "
                       "'openai_http' is supported", optarg);
      break;
    case OPT_BURSTINESS:
      o->burstiness = mg_opt_double(optarg, 1e-6, 1e6, "--burstiness");
      break;
    case OPT_CACERT:
      o->cacert = optarg;
      break;
    case OPT_CHAT_CONTENT:
      if (strcmp(optarg, "text") && strcmp(optarg, "parts"))
        mg_usage_error("invalid value '%s' for --chat-content: expected "
                       "text or parts", optarg);
      o->content_parts = strcmp(optarg, "parts") == 0;
      break;
    case OPT_COOLDOWN:
      o->cooldown = mg_opt_double(optarg, 0, 1e9, "--cooldown");
      break;
    case OPT_COOLDOWN_PERCENT:
      o->cooldown = mg_opt_double(optarg, 0, 0.999999, "--cooldown-percent");
      break;
    case OPT_CSV:
      o->csv = optarg;
      break;
    case OPT_DATA:
      o->data = optarg;
      break;
    case OPT_DISABLE_PROGRESS:
      o->progress = 0;
      break;
    case OPT_ENDPOINT:
      o->endpoint = optarg;
      break;
    case OPT_EXTRA_BODY:
      o->extra_body = optarg;
      break;
    case OPT_HEADER:
      if (o->nheaders == MAX_HEADERS)
        mg_usage_error("too many --header options (at most %d)",
                       MAX_HEADERS);
      if (!strchr(optarg, ':'))
        mg_usage_error("invalid value for --header: expected 'Name: "
                       "value'");
      o->headers[o->nheaders++] = optarg;
      break;
    case OPT_HTTP2:
      o->http2 = 1;
      break;
    case OPT_INSECURE:
      o->insecure = 1;
      break;
    case OPT_MAX_CONCURRENCY:
      o->max_concurrency = (int)mg_opt_uint(optarg, 1, 1000000,
                                            "--max-concurrency");
      break;
    case OPT_MAX_ERROR_RATE:
      o->max_error_rate = mg_opt_double(optarg, 1e-9, 1,
                                        "--max-error-rate");
      break;
    case OPT_MAX_ERRORS:
      o->max_errors = (long long)mg_opt_uint(optarg, 1, UINT32_MAX,
                                             "--max-errors");
      break;
    case OPT_MAX_REQUESTS:
      o->max_requests = (long long)mg_opt_uint(optarg, 1, UINT32_MAX,
                                               "--max-requests");
      break;
    case OPT_MAX_SECONDS:
      o->max_seconds = mg_opt_double(optarg, 1e-3, 1e7, "--max-seconds");
      break;
    case OPT_MAX_TOKENS_FIELD:
      if (strcmp(optarg, "max_tokens") == 0)
        o->max_field = MG_PERF_MAX_TOKENS;
      else if (strcmp(optarg, "max_completion_tokens") == 0)
        o->max_field = MG_PERF_MAX_COMPLETION;
      else if (strcmp(optarg, "both") == 0)
        o->max_field = MG_PERF_MAX_BOTH;
      else
        mg_usage_error("invalid value '%s' for --max-tokens-field: "
                       "expected max_tokens, max_completion_tokens or "
                       "both", optarg);
      break;
    case OPT_MODEL:
      o->model = optarg;
      break;
    case OPT_NO_IGNORE_EOS:
      o->ignore_eos = 0;
      break;
    case OPT_NO_UNIQUE_PREFIX:
      o->unique_prefix = 0;
      break;
    case OPT_PERCENTILE_METHOD:
      if (strcmp(optarg, "nearest-rank") == 0)
        o->method = MG_PERF_PCT_NEAREST_RANK;
      else if (strcmp(optarg, "linear") == 0)
        o->method = MG_PERF_PCT_LINEAR;
      else
        mg_usage_error("invalid value '%s' for --percentile-method: "
                       "expected nearest-rank or linear", optarg);
      break;
    case OPT_PRETTY:
      o->pretty = 1;
      break;
    case OPT_PROCESSOR:
      break; /* GuideLLM's tokenizer: prompts are built from words */
    case OPT_PROFILE:
      o->kind = mg_perf_kind_parse(optarg);
      if (o->kind < 0)
        mg_usage_error("invalid value '%s' for --profile", optarg);
      break;
    case OPT_RAMPUP:
      o->rampup = mg_opt_double(optarg, 0, 1e6, "--rampup");
      break;
    case OPT_RATE:
      rate_arg = optarg;
      break;
    case OPT_REQUEST_TIMEOUT:
      o->request_timeout = mg_opt_double(optarg, 1e-3, 1e6,
                                         "--request-timeout");
      break;
    case OPT_SAMPLES:
      o->samples = optarg;
      break;
    case OPT_SEED:
      o->seed = mg_opt_uint(optarg, 0, UINT64_MAX / 2, "--seed");
      break;
    case OPT_SKIP_CHECK:
      o->skip_check = 1;
      break;
    case OPT_SLO:
      parse_slo(optarg, &o->slo);
      break;
    case OPT_SWEEP_TYPE:
      o->sweep_kind = mg_perf_kind_parse(optarg);
      if (o->sweep_kind != MG_PERF_CONSTANT &&
          o->sweep_kind != MG_PERF_POISSON)
        mg_usage_error("invalid value '%s' for --sweep-type: expected "
                       "constant or poisson", optarg);
      break;
    case OPT_TARGET:
      o->target = optarg;
      break;
    case OPT_TIME_SCALE:
      o->time_scale = mg_opt_double(optarg, 1e-9, 1e9, "--time-scale");
      break;
    case OPT_VERSION:
      mg_print_version();
    case OPT_WARMUP:
      o->warmup = mg_opt_double(optarg, 0, 1e9, "--warmup");
      break;
    case OPT_WARMUP_PERCENT:
      o->warmup = mg_opt_double(optarg, 0, 0.999999, "--warmup-percent");
      break;
    default:
      mg_usage_error("unknown option");
    }
  }
  if (optind < argc)
    mg_usage_error("unexpected operand '%s'", argv[optind]);
  if (!o->target)
    mg_usage_error("missing --target URL");
  if (strncmp(o->target, "http://", 7) && strncmp(o->target, "https://", 8))
    mg_usage_error("invalid value '%s' for --target: expected an http:// "
                   "or https:// URL", o->target);
  if (rate_arg && parse_rates(rate_arg, o) < 0)
    mg_usage_error("invalid value '%s' for --rate: expected numbers "
                   "separated by commas", rate_arg);
  switch (o->kind) {
  case MG_PERF_CONSTANT:
  case MG_PERF_POISSON:
  case MG_PERF_GAMMA:
  case MG_PERF_CONCURRENT:
    if (!o->nrates)
      mg_usage_error("--profile %s needs --rate", mg_perf_kind_name(o->kind));
    if (o->kind == MG_PERF_CONCURRENT)
      for (int i = 0; i < o->nrates; i++)
        if (o->rates[i] != floor(o->rates[i]))
          mg_usage_error("invalid value for --rate: concurrent takes whole "
                         "numbers of streams");
    break;
  case MG_PERF_SWEEP:
    if (!o->nrates) {
      o->rates[0] = 10;
      o->nrates = 1;
    }
    if (o->nrates != 1 || o->rates[0] < 3 || o->rates[0] > 100 ||
        o->rates[0] != floor(o->rates[0]))
      mg_usage_error("invalid value for --rate: a sweep takes one whole "
                     "number of benchmarks from 3 to 100");
    break;
  default:
    if (o->nrates)
      mg_usage_error("--rate does not apply to --profile %s",
                     mg_perf_kind_name(o->kind));
  }
  if (o->kind == MG_PERF_SWEEP && !o->max_seconds && !o->max_requests)
    mg_usage_error("a sweep needs --max-seconds or --max-requests");
  o->argc = argc;
  o->argv = argv;
}

/* Reads the input record; a terminal or empty stdin gives a new one. */
static int
read_input(const char *path, struct mg_json **out, struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(MG_JSON_DEFAULT_MAX);
  size_t i;
  int rc = -1;

  if (strcmp(path, "-") != 0 || isatty(0))
    return mg_record_read_or_new(path, MG_JSON_DEFAULT_MAX, out, err);
  if (mg_io_read_fd(0, "<stdin>", &b, err) < 0)
    goto out;
  for (i = 0; i < b.len && strchr(" \t\r\n", b.data[i]); i++)
    ;
  if (i == b.len) {
    *out = mg_record_new();
    rc = 0;
    goto out;
  }
  if (mg_json_parse(b.data, b.len, "<stdin>", out, err) < 0)
    goto out;
  if (mg_record_check(*out, "<stdin>", err) < 0) {
    mg_json_free(*out);
    *out = NULL;
    goto out;
  }
  rc = 0;
out:
  mg_buf_release(&b);
  return rc;
}


struct status_ctx {
  struct mg_progress prog;
  const char *label;
};

static void
show_status(void *arg, const struct mg_perf_bench *b, int inflight,
            long long now)
{
  struct status_ctx *s = arg;
  char line[200];
  double el = now > b->t_start ? (double)(now - b->t_start) / 1e9 : 0;

  (void)snprintf(line, sizeof(line),
                 "%s %.1f s, %lld sent, %d in flight, %lld ok, %lld errors, "
                 "%lld incomplete, %.1f req/s",
                 s->label, el, b->n, inflight, b->successful, b->errored,
                 b->incomplete, el > 0 ? (double)b->successful / el : 0);
  mg_progress_status_at(&s->prog, line, 0, now);
}

/* The profiles to run, in order; a sweep adds its rates after two runs. */
static int
plan(const struct perf_opts *o, struct mg_perf_profile *out)
{
  struct mg_perf_profile p;
  int n = 0;

  memset(&p, 0, sizeof(p));
  p.kind = (enum mg_perf_kind)o->kind;
  p.max_concurrency = o->max_concurrency;
  p.rampup_s = o->rampup;
  p.burstiness = o->burstiness;
  p.time_scale = o->time_scale;
  p.seed = o->seed;
  if (p.kind == MG_PERF_SWEEP) {
    out[n] = p;
    out[n++].kind = MG_PERF_SYNCHRONOUS;
    out[n] = p;
    out[n].kind = MG_PERF_THROUGHPUT;
    if (!out[n].max_concurrency)
      out[n].max_concurrency = 512;
    n++;
    return n;
  }
  if (p.kind == MG_PERF_THROUGHPUT && !p.max_concurrency)
    p.max_concurrency = 512;
  if (!o->nrates) {
    out[n++] = p;
    return n;
  }
  for (int i = 0; i < o->nrates; i++) {
    out[n] = p;
    if (p.kind == MG_PERF_CONCURRENT)
      out[n].streams = (int)o->rates[i];
    else
      out[n].rate = o->rates[i];
    n++;
  }
  return n;
}

static struct mg_json *
config_json(const struct perf_opts *o, const char *url, const char *model,
            const struct mg_perf_data *data)
{
  struct mg_json *c = mg_json_new_object(), *lim, *d;
  char *shown = mg_http_redact_url(url);

  mg_json_set_string(c, "url", shown);
  mg_json_set_string(c, "api", o->endpoint && strstr(o->endpoint,
                                                     "completions") &&
                                   !strstr(o->endpoint, "chat")
                                 ? "completions"
                                 : "chat");
  mg_json_set_string(c, "model", model);
  mg_json_set_string(c, "profile", mg_perf_kind_name(o->kind));
  if (o->kind == MG_PERF_SWEEP)
    mg_json_set_string(c, "sweep_type", mg_perf_kind_name(o->sweep_kind));
  lim = mg_json_new_object();
  if (o->max_seconds > 0)
    mg_json_set_number(lim, "max_seconds", o->max_seconds);
  if (o->max_requests > 0)
    mg_json_set_number(lim, "max_requests", (double)o->max_requests);
  if (o->max_errors > 0)
    mg_json_set_number(lim, "max_errors", (double)o->max_errors);
  if (o->max_error_rate > 0)
    mg_json_set_number(lim, "max_error_rate", o->max_error_rate);
  if (o->warmup > 0)
    mg_json_set_number(lim, "warmup", o->warmup);
  if (o->cooldown > 0)
    mg_json_set_number(lim, "cooldown", o->cooldown);
  mg_json_set(c, "limits", lim);
  d = mg_json_new_object();
  mg_json_set_string(d, "source", data->synthetic ? "synthetic"
                                                  : data->source);
  if (!data->synthetic)
    mg_json_set_string(d, "columns", data->columns);
  else
    mg_json_set_string(d, "spec", o->data ? o->data
                                          : "prompt_tokens=128,"
                                            "output_tokens=64");
  mg_json_set_number(d, "items", (double)data->n);
  mg_json_set(c, "data", d);
  mg_json_set_number(c, "seed", (double)o->seed);
  mg_json_set_bool(c, "stream", 1);
  mg_json_set_bool(c, "ignore_eos", o->ignore_eos);
  mg_json_set_bool(c, "unique_prefix", o->unique_prefix);
  mg_json_set_bool(c, "http2", o->http2);
  mg_json_set_string(c, "percentile_method",
                     o->method == MG_PERF_PCT_LINEAR ? "linear"
                                                     : "nearest-rank");
  mg_json_set_string(c, "token_source", "usage, else token-bearing events");
  if (o->slo.ttft_ms > 0 || o->slo.itl_ms > 0 || o->slo.e2e_ms > 0) {
    struct mg_json *s = mg_json_new_object();
    if (o->slo.ttft_ms > 0)
      mg_json_set_number(s, "ttft_ms", o->slo.ttft_ms);
    if (o->slo.itl_ms > 0)
      mg_json_set_number(s, "itl_ms", o->slo.itl_ms);
    if (o->slo.e2e_ms > 0)
      mg_json_set_number(s, "e2e_ms", o->slo.e2e_ms);
    mg_json_set(c, "slo", s);
  }
  free(shown);
  return c;
}

/* The options for provenance, with header values hidden. */
static struct mg_json *
args_json(const struct perf_opts *o)
{
  struct mg_json *a = mg_json_new_array();

  for (int i = 1; i < o->argc; i++) {
    const char *s = o->argv[i];
    if (strncmp(s, "--header", 8) == 0) {
      mg_json_append(a, mg_json_new_string("--header"));
      if (s[8] == '\0')
        i++;
      mg_json_append(a, mg_json_new_string("<redacted>"));
      continue;
    }
    mg_json_append(a, mg_json_new_string(s));
  }
  return a;
}

static int
run(const struct perf_opts *o)
{
  struct mg_perf_data data;
  struct mg_perf_target t;
  struct mg_perf_limits lim;
  struct mg_perf_metrics_opts mo;
  struct mg_perf_profile prof[MAX_RATES + 2];
  struct mg_json *rec = NULL, *perf, *runs, *ep, *prov;
  struct mg_buf samples = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct status_ctx sc;
  struct mg_err err = MG_ERR_INIT;
  struct sigaction sa;
  char *base = NULL, *url = NULL, *token = NULL, *model = NULL, *bearer;
  char started[40], finished[40];
  int rc = MG_EXIT_OK, nprof, all_ok = 1;

  mg_time_rfc3339(started, sizeof(started));
  mg_perf_data_init(&data);
  if (read_input(o->input, &rec, &err) < 0)
    goto fail;
  if (!o->data || mg_perf_synth_is_spec(o->data)) {
    struct mg_perf_synth spec;
    if (mg_perf_synth_parse(o->data ? o->data
                                    : "prompt_tokens=128,output_tokens=64",
                            &spec, &err) < 0)
      goto fail;
    if (o->seed != 42 || !o->data || !strstr(o->data, "seed"))
      spec.seed = o->seed;
    mg_perf_data_synth(&data, &spec);
  } else if (mg_perf_data_load(&data, o->data, o->seed, &err) < 0) {
    goto fail;
  }
  if (mg_http_global_init(&err) < 0)
    goto fail;
  if (mg_http_secret_load(o->api_key_file, "MG_API_KEY", &token, &err) < 0)
    goto fail;
  if (!token &&
      mg_http_secret_load(NULL, "OPENAI_API_KEY", &token, &err) < 0)
    goto fail;
  bearer = token;
  base = mg_perf_base_url(o->target);
  if (o->endpoint && o->endpoint[0] == '/')
    url = mg_xasprintf("%s%s", base, o->endpoint);
  else if (o->endpoint && strcmp(o->endpoint, "completions") == 0)
    url = mg_xasprintf("%s/v1/completions", base);
  else if (!o->endpoint || strcmp(o->endpoint, "chat") == 0)
    url = mg_xasprintf("%s/v1/chat/completions", base);
  else
    mg_usage_error("invalid value '%s' for --endpoint: expected chat, "
                   "completions or a path", o->endpoint);
  memset(&t, 0, sizeof(t));
  t.url = url;
  t.headers = o->headers;
  mg_http_opts_init(&t.http);
  t.http.retries = 0;
  t.http.cacert = o->cacert;
  t.http.insecure = o->insecure;
  t.http.http2 = o->http2;
  t.http.bearer = bearer;
  t.http.verbose = mg_verbosity() >= MG_DEBUG;
  if (o->request_timeout > 0)
    t.http.timeout_ms = (long)(o->request_timeout * 1000);
  mg_perf_body_opts_init(&t.body);
  t.body.chat = strstr(url, "chat") != NULL;
  t.body.ignore_eos = o->ignore_eos;
  t.body.unique_prefix = o->unique_prefix;
  t.body.content_parts = o->content_parts;
  t.body.max_field = o->max_field;
  t.body.extra_body = o->extra_body;
  if (o->model)
    model = mg_xstrdup(o->model);
  if (mg_perf_preflight(&t, base, &data, o->skip_check, &model, &err) < 0)
    goto fail;
  t.body.model = model;

  memset(&lim, 0, sizeof(lim));
  lim.max_seconds = o->max_seconds;
  lim.max_requests = o->max_requests;
  lim.max_errors = o->max_errors;
  lim.max_error_rate = o->max_error_rate;
  lim.error_window = 30;
  memset(&mo, 0, sizeof(mo));
  mo.method = o->method;
  mo.phase.warmup = o->warmup;
  mo.phase.cooldown = o->cooldown;
  mo.phase.max_seconds = o->max_seconds;
  mo.phase.max_requests = o->max_requests;
  mo.slo = o->slo;
  mo.hist = 1;
  mo.chat = t.body.chat;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);

  perf = mg_json_new_object();
  mg_json_set_string(perf, "tool", "perf-run");
  mg_json_set_string(perf, "version", MG_VERSION);
  mg_json_set_string(perf, "started", started);
  mg_json_set(perf, "config", config_json(o, url, model, &data));
  runs = mg_json_new_array();
  nprof = plan(o, prof);
  for (int i = 0; i < nprof && !interrupted; i++) {
    struct mg_perf_bench b;
    struct mg_json *rj;
    char label[64];

    if (prof[i].kind == MG_PERF_CONSTANT || prof[i].kind == MG_PERF_POISSON ||
        prof[i].kind == MG_PERF_GAMMA)
      (void)snprintf(label, sizeof(label), "%s@%g",
                     mg_perf_kind_name(prof[i].kind), prof[i].rate);
    else if (prof[i].kind == MG_PERF_CONCURRENT)
      (void)snprintf(label, sizeof(label), "concurrent@%d",
                     prof[i].streams);
    else
      (void)snprintf(label, sizeof(label), "%s",
                     mg_perf_kind_name(prof[i].kind));
    sc.label = label;
    mg_progress_init(&sc.prog, "perf-run", 0);
    if (!o->progress)
      sc.prog.quiet = 1;
    if (mg_perf_bench_run(&t, &data, &prof[i], &lim, &interrupted,
                          show_status, &sc, &b, &err) < 0) {
      mg_json_free(runs);
      mg_json_free(perf);
      goto fail;
    }
    mg_progress_end(&sc.prog);
    rj = mg_perf_metrics_json(&b, i, &mo);
    if (o->samples)
      (void)mg_perf_samples_jsonl(&b, i, &mo.phase, &samples);
    if (b.successful == 0)
      all_ok = 0;
    {
      char line[512];
      mg_perf_summary_text(rj, line, sizeof(line));
      mg_info("%s", line);
    }
    /* Sweep: after synchronous and throughput, GuideLLM's rates. */
    if (o->kind == MG_PERF_SWEEP && i == 1) {
      double r_sync = mg_perf_figure(mg_json_at(runs, 0), "requests_per_s");
      double r_thr = mg_perf_figure(rj, "requests_per_s");
      double rates[MAX_RATES];
      int nr = mg_perf_sweep_rates(r_sync, r_thr, (int)o->rates[0], rates);
      for (int k = 0; k < nr && r_sync > 0 && r_thr > 0; k++) {
        if (rates[k] <= 0)
          break;
        prof[nprof] = prof[0];
        prof[nprof].kind = (enum mg_perf_kind)o->sweep_kind;
        prof[nprof].rate = rates[k];
        prof[nprof].max_concurrency = o->max_concurrency;
        nprof++;
      }
    }
    mg_json_append(runs, rj);
    mg_perf_bench_release(&b);
  }
  mg_json_set(perf, "runs", runs);
  mg_time_rfc3339(finished, sizeof(finished));
  mg_json_set_string(perf, "finished", finished);
  mg_json_set_bool(perf, "interrupted", interrupted != 0);
  mg_json_set_bool(perf, "ok", !interrupted && all_ok);
  if (o->samples) {
    struct mg_json *ref = NULL;
    if (mg_io_write_atomic(o->samples, samples.data ? samples.data : "",
                           samples.len, 0644, &err) < 0 ||
        mg_record_sidefile(o->samples, &ref, &err) < 0) {
      mg_json_free(perf);
      goto fail;
    }
    mg_json_set(perf, "samples", ref);
  }
  ep = mg_json_new_object();
  {
    char *shown = mg_http_redact_url(base);
    mg_json_set_string(ep, "url", shown);
    free(shown);
  }
  mg_json_set_string(ep, "model", model);
  mg_json_set_string(ep, "api", t.body.chat ? "chat" : "completions");
  mg_record_set_section(rec, "endpoint", ep);
  mg_record_set_section(rec, "perf", perf);
  prov = mg_json_get(rec, "provenance");
  if (!mg_json_is_array(prov)) {
    prov = mg_json_new_array();
    mg_json_set(rec, "provenance", prov);
  }
  {
    struct mg_json *e = mg_json_new_object();
    char host[256] = "";
    (void)gethostname(host, sizeof(host) - 1);
    mg_json_set_string(e, "program", "perf-run");
    mg_json_set_string(e, "version", MG_VERSION);
    mg_json_set_string(e, "started", started);
    mg_json_set_string(e, "finished", finished);
    mg_json_set_string(e, "host", host);
    mg_json_set(e, "args", args_json(o));
    mg_json_append(prov, e);
  }
  if (o->csv) {
    struct mg_buf csv = MG_BUF_INIT(MG_BUF_UNLIMITED);
    mg_perf_csv(runs, &csv);
    rc = mg_io_write_atomic(o->csv, csv.data ? csv.data : "", csv.len, 0644,
                            &err);
    mg_buf_release(&csv);
    if (rc < 0)
      goto fail;
    rc = MG_EXIT_OK;
  }
  if (mg_record_write(rec, o->output, o->pretty, &err) < 0)
    goto fail;
  if (interrupted) {
    mg_warn("interrupted: the record holds what was measured");
    rc = MG_EXIT_FAIL;
  } else if (!all_ok) {
    mg_warn("a benchmark had no successful request");
    rc = MG_EXIT_FAIL;
  }
  goto out;
fail:
  rc = mg_report_err(&err);
out:
  mg_json_free(rec);
  mg_buf_release(&samples);
  mg_perf_data_release(&data);
  mg_http_secret_free(token);
  free(base);
  free(url);
  free(model);
  mg_http_global_cleanup();
  return rc;
}

int
main(int argc, char **argv)
{
  struct perf_opts opts;

  memset(&opts, 0, sizeof(opts));
  opts.input = "-";
  opts.output = "-";
  opts.kind = MG_PERF_SWEEP;
  opts.sweep_kind = MG_PERF_CONSTANT;
  opts.seed = 42;
  opts.burstiness = 1.0;
  opts.time_scale = 1.0;
  opts.ignore_eos = 1;
  opts.unique_prefix = 1;
  opts.content_parts = 1;
  opts.progress = 1;
  opts.max_field = MG_PERF_MAX_DEFAULT;
  opts.method = MG_PERF_PCT_NEAREST_RANK;

  mg_init(argv[0]);
  parse_args(argc, argv, &opts);
  return mg_finish(run(&opts));
}

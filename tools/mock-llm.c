/*
 * mock-llm - an OpenAI-compatible LLM server with a fake model, for tests,
 * demos and dry runs: controllable timing and capacity, logprobs, an
 * answer key with a known accuracy, and fault injection.
 *
 * Input:  none while serving; an answer key (JSON Lines) with -i or
 *         --answer-key.
 * Output: none while serving (logs on stderr); with --answer-expect, one
 *         JSON document on stdout or -o FILE.
 * Exit:   0 ok (also after SIGINT/SIGTERM), 2 usage, 3 bad answer key
 *         (or a TLS file too large),
 *         4 local I/O (cannot listen, cannot read the TLS files or serve
 *         HTTPS, cannot write a file).
 */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_cli.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mock/mg_mock.h"
#include "mock/mg_mock_key.h"

static const char usage_text[] =
    "usage: mock-llm [--host HOST] [--port N] [--port-file FILE] [options]\n"
    "       mock-llm --answer-key FILE [--answer-accuracy P] --answer-expect\n"
    "\n"
    "Serves /health, /v1/models, /v1/completions, /v1/chat/completions,\n"
    "/tokenize and /detokenize with a fake model until SIGINT or SIGTERM.\n"
    "\n"
    "Server:\n"
    "      --host HOST             address to listen on (127.0.0.1)\n"
    "      --port N                port; 0 picks a free one (8000)\n"
    "      --port-file FILE        write the bound port to FILE\n"
    "      --arrival-log FILE      one JSON line per request with arrival,\n"
    "                              first-byte and last-byte times\n"
    "      --max-body BYTES        largest request body (16777216)\n"
    "      --max-connections N     concurrent connections (20000)\n"
    "      --tls-cert FILE         serve HTTPS with this PEM certificate\n"
    "                              (chain); needs --tls-key\n"
    "      --tls-key FILE          its PEM private key (a secret: read from\n"
    "                              the file, never logged)\n"
    "Model:\n"
    "      --model NAME            model id (llama-3.1-8b-instruct)\n"
    "      --max-model-len N       prompt + output token limit (131072)\n"
    "      --output-tokens N       mean output length without max_tokens "
    "(128)\n"
    "      --output-tokens-std N   its standard deviation (0)\n"
    "      --seed N                seed for every random choice (0)\n"
    "Timing and capacity:\n"
    "      --ttft-ms MS            time to first token (150)\n"
    "      --ttft-ms-std MS        its standard deviation (0)\n"
    "      --itl-ms MS             inter-token latency (10)\n"
    "      --itl-ms-std MS         its standard deviation (0)\n"
    "      --prefill-ms-per-token MS  extra time to first token per prompt\n"
    "                              token (0)\n"
    "      --request-latency S     a non-streamed reply takes S seconds\n"
    "      --slots N               concurrent generations, the rest queue;\n"
    "                              0 = unlimited (0)\n"
    "Answer key:\n"
    "  -i, --answer-key FILE       (also --input) JSON Lines of {\"context\", "
    "\"continuation\"}\n"
    "      --answer-accuracy P     fraction of contexts the mock knows (1)\n"
    "      --answer-expect         print {\"contexts\", \"known\"} and exit\n"
    "  -o, --output FILE           where --answer-expect writes "
    "(-)\n"
    "Faults (fractions of generation requests, 0..1; deterministic per seed):\n"
    "      --fail-429 F            answer 429 (with Retry-After)\n"
    "      --fail-500 F            answer 500\n"
    "      --fail-503 F            answer 503 (with Retry-After)\n"
    "      --retry-after S         Retry-After seconds (1)\n"
    "      --cut-rate F            close the connection mid-way\n"
    "      --stall-rate F          pause mid-way for --stall-ms\n"
    "      --stall-ms MS           length of a stall (2000)\n"
    "      --malformed-rate F      send one malformed SSE line mid-way\n"
    "      --stream-error-rate F   send an {\"error\": ...} event mid-way\n"
    "Common (-v logs every request; --max-input caps the answer key, 256 "
    "MiB):\n" MG_CLI_STD_USAGE;

enum {
  OPT_ACCURACY = 256,
  OPT_EXPECT,
  OPT_ARRIVAL,
  OPT_CUT,
  OPT_F429,
  OPT_F500,
  OPT_F503,
  OPT_HOST,
  OPT_ITL,
  OPT_ITL_STD,
  OPT_MALFORMED,
  OPT_MAX_BODY,
  OPT_MAX_CONN,
  OPT_MAX_LEN,
  OPT_MODEL,
  OPT_OUT_TOKENS,
  OPT_OUT_STD,
  OPT_PORT,
  OPT_PORT_FILE,
  OPT_PREFILL,
  OPT_LATENCY,
  OPT_RETRY_AFTER,
  OPT_SEED,
  OPT_SLOTS,
  OPT_STALL_MS,
  OPT_STALL,
  OPT_STREAM_ERROR,
  OPT_TLS_CERT,
  OPT_TLS_KEY,
  OPT_TTFT,
  OPT_TTFT_STD,
};

static const char shortopts[] = MG_CLI_STD_SHORTOPTS;

static const struct option longopts[] = {
  MG_CLI_STD_LONGOPTS,
  { "answer-accuracy", required_argument, NULL, OPT_ACCURACY },
  { "answer-expect", no_argument, NULL, OPT_EXPECT },
  { "answer-key", required_argument, NULL, 'i' },
  { "arrival-log", required_argument, NULL, OPT_ARRIVAL },
  { "cut-rate", required_argument, NULL, OPT_CUT },
  { "fail-429", required_argument, NULL, OPT_F429 },
  { "fail-500", required_argument, NULL, OPT_F500 },
  { "fail-503", required_argument, NULL, OPT_F503 },
  { "host", required_argument, NULL, OPT_HOST },
  { "itl-ms", required_argument, NULL, OPT_ITL },
  { "itl-ms-std", required_argument, NULL, OPT_ITL_STD },
  { "malformed-rate", required_argument, NULL, OPT_MALFORMED },
  { "max-body", required_argument, NULL, OPT_MAX_BODY },
  { "max-connections", required_argument, NULL, OPT_MAX_CONN },
  { "max-model-len", required_argument, NULL, OPT_MAX_LEN },
  { "model", required_argument, NULL, OPT_MODEL },
  { "output-tokens", required_argument, NULL, OPT_OUT_TOKENS },
  { "output-tokens-std", required_argument, NULL, OPT_OUT_STD },
  { "port", required_argument, NULL, OPT_PORT },
  { "port-file", required_argument, NULL, OPT_PORT_FILE },
  { "prefill-ms-per-token", required_argument, NULL, OPT_PREFILL },
  { "request-latency", required_argument, NULL, OPT_LATENCY },
  { "retry-after", required_argument, NULL, OPT_RETRY_AFTER },
  { "seed", required_argument, NULL, OPT_SEED },
  { "slots", required_argument, NULL, OPT_SLOTS },
  { "stall-ms", required_argument, NULL, OPT_STALL_MS },
  { "stall-rate", required_argument, NULL, OPT_STALL },
  { "stream-error-rate", required_argument, NULL, OPT_STREAM_ERROR },
  { "tls-cert", required_argument, NULL, OPT_TLS_CERT },
  { "tls-key", required_argument, NULL, OPT_TLS_KEY },
  { "ttft-ms", required_argument, NULL, OPT_TTFT },
  { "ttft-ms-std", required_argument, NULL, OPT_TTFT_STD },
  { NULL, 0, NULL, 0 },
};

struct mock_opts {
  struct mg_mock_opts srv;
  const char *answer_key;
  double accuracy;
  int expect;
  struct mg_cli_std std; /* -i -o --max-input --pretty */
  const char *port_file;
  const char *arrival_log;
  const char *tls_cert;
  const char *tls_key;
};

/*
 * The largest --tls-cert and --tls-key files. mg_io_read_fd reads at most
 * 64 KiB at a time, so the key buffer is allocated once and never moved:
 * wiping it at the end leaves no copy of the key in freed memory.
 */
#define TLS_CERT_MAX ((size_t)1 << 20)
#define TLS_KEY_MAX ((size_t)64 << 10)

/* Set from the signal handler only; the one mutable global the loop
 * needs, since a handler cannot reach main's state. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
  (void)sig;
  stop_requested = 1;
}

static double frac(const char *arg, const char *name)
{
  return mg_opt_double(arg, 0, 1, name);
}

/* The defaults are GuideLLM mock-server's where it has the option. */
static void set_defaults(struct mock_opts *o)
{
  memset(o, 0, sizeof(*o));
  mg_mock_opts_init(&o->srv);
  o->srv.port = 8000;
  o->srv.model.name = "llama-3.1-8b-instruct";
  o->srv.model.output_tokens = 128;
  o->srv.model.max_model_len = 131072;
  o->srv.timing.ttft_ms = 150;
  o->srv.timing.itl_ms = 10;
  o->srv.faults.stall_ms = 2000;
  o->srv.faults.retry_after_s = 1;
  o->accuracy = 1;
  o->std = (struct mg_cli_std)MG_CLI_STD_INIT;
  o->std.max_input = 4 * MG_CLI_DEFAULT_MAX_INPUT; /* answer keys are big */
}

static void parse_args(int argc, char **argv, struct mock_opts *o)
{
  struct mg_mock_faults *f = &o->srv.faults;
  struct mg_mock_timing *t = &o->srv.timing;
  int c;

  set_defaults(o);

  while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case OPT_ACCURACY:
      o->accuracy = frac(optarg, "--answer-accuracy");
      break;
    case OPT_EXPECT:
      o->expect = 1;
      break;
    case OPT_ARRIVAL:
      o->arrival_log = optarg;
      break;
    case OPT_CUT:
      f->cut = frac(optarg, "--cut-rate");
      break;
    case OPT_F429:
      f->p429 = frac(optarg, "--fail-429");
      break;
    case OPT_F500:
      f->p500 = frac(optarg, "--fail-500");
      break;
    case OPT_F503:
      f->p503 = frac(optarg, "--fail-503");
      break;
    case OPT_HOST:
      o->srv.host = optarg;
      break;
    case OPT_ITL:
      t->itl_ms = mg_opt_double(optarg, 0, 3.6e6, "--itl-ms");
      break;
    case OPT_ITL_STD:
      t->itl_std_ms = mg_opt_double(optarg, 0, 3.6e6, "--itl-ms-std");
      break;
    case OPT_MALFORMED:
      f->malformed = frac(optarg, "--malformed-rate");
      break;
    case OPT_MAX_BODY:
      o->srv.max_body =
          (size_t)mg_opt_uint(optarg, 1024, (uint64_t)1 << 32, "--max-body");
      break;
    case OPT_MAX_CONN:
      o->srv.max_connections =
          (unsigned)mg_opt_uint(optarg, 1, 1000000, "--max-connections");
      break;
    case OPT_MAX_LEN:
      o->srv.model.max_model_len = (long long)mg_opt_uint(
          optarg, 1, (uint64_t)1 << 31, "--max-model-len");
      break;
    case OPT_MODEL:
      if (!*optarg)
        mg_usage_error("invalid value '' for --model: empty");
      o->srv.model.name = optarg;
      break;
    case OPT_OUT_TOKENS:
      o->srv.model.output_tokens =
          mg_opt_double(optarg, 1, 1e7, "--output-tokens");
      break;
    case OPT_OUT_STD:
      o->srv.model.output_tokens_std =
          mg_opt_double(optarg, 0, 1e7, "--output-tokens-std");
      break;
    case OPT_PORT:
      o->srv.port = (unsigned)mg_opt_uint(optarg, 0, 65535, "--port");
      break;
    case OPT_PORT_FILE:
      o->port_file = optarg;
      break;
    case OPT_PREFILL:
      t->prefill_ms_per_token =
          mg_opt_double(optarg, 0, 1e4, "--prefill-ms-per-token");
      break;
    case OPT_LATENCY:
      t->request_latency_s =
          mg_opt_double(optarg, 0, 86400, "--request-latency");
      break;
    case OPT_RETRY_AFTER:
      f->retry_after_s =
          (unsigned)mg_opt_uint(optarg, 0, 86400, "--retry-after");
      break;
    case OPT_SEED:
      o->srv.model.seed = mg_opt_uint(optarg, 0, UINT64_MAX, "--seed");
      break;
    case OPT_SLOTS:
      o->srv.slots = (unsigned)mg_opt_uint(optarg, 0, 1000000, "--slots");
      break;
    case OPT_STALL_MS:
      f->stall_ms = mg_opt_double(optarg, 0, 3.6e6, "--stall-ms");
      break;
    case OPT_STALL:
      f->stall = frac(optarg, "--stall-rate");
      break;
    case OPT_STREAM_ERROR:
      f->stream_error = frac(optarg, "--stream-error-rate");
      break;
    case OPT_TLS_CERT:
      o->tls_cert = optarg;
      break;
    case OPT_TLS_KEY:
      o->tls_key = optarg;
      break;
    case OPT_TTFT:
      t->ttft_ms = mg_opt_double(optarg, 0, 3.6e6, "--ttft-ms");
      break;
    case OPT_TTFT_STD:
      t->ttft_std_ms = mg_opt_double(optarg, 0, 3.6e6, "--ttft-ms-std");
      break;
    case 'i': /* the input document of mock-llm is its answer key */
      o->answer_key = optarg;
      break;
    default:
      if (!mg_cli_std_option(c, optarg, usage_text, &o->std))
        mg_usage_error("unknown option");
    }
  }
  if (optind < argc)
    mg_usage_error("unexpected operand '%s'", argv[optind]);
  if (f->p429 + f->p500 + f->p503 > 1)
    mg_usage_error("--fail-429, --fail-500 and --fail-503 add up to more "
                   "than 1");
  if (f->cut + f->stall + f->malformed + f->stream_error > 1)
    mg_usage_error("--cut-rate, --stall-rate, --malformed-rate and "
                   "--stream-error-rate add up to more than 1");
  if (o->expect && !o->answer_key)
    mg_usage_error("--answer-expect needs --answer-key");
  if (!o->tls_cert != !o->tls_key)
    mg_usage_error("--tls-cert and --tls-key go together");
}

static int answer_expect(const struct mock_opts *o,
                         const struct mg_mock_key *key)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j = mg_json_new_object();
  struct mg_buf out = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t n = mg_mock_key_count(key), k = mg_mock_key_known(key);
  unsigned flags = MG_JSON_NEWLINE | (o->std.pretty ? MG_JSON_PRETTY : 0);
  char *s;
  int rc = MG_EXIT_OK;

  mg_json_set_number(j, "contexts", (double)n);
  mg_json_set_number(j, "known", (double)k);
  mg_json_set_number(j, "expected_accuracy", n ? (double)k / (double)n : 0);
  s = mg_json_print(j, flags);
  mg_buf_addstr(&out, s, NULL);
  free(s);
  mg_json_free(j);
  /* -v: one line per context, after the summary (JSON Lines). */
  for (size_t i = 0; mg_verbosity() >= MG_VERBOSE && i < n; i++) {
    const struct mg_mock_key_entry *e = mg_mock_key_at(key, i);

    j = mg_json_new_object();
    mg_json_set_number(j, "line", (double)e->line);
    mg_json_set_bool(j, "known", e->known);
    mg_json_set(j, "context", mg_json_new_stringn(e->context, e->context_len));
    s = mg_json_print(j, MG_JSON_NEWLINE);
    mg_buf_addstr(&out, s, NULL);
    free(s);
    mg_json_free(j);
  }
  if (mg_io_write_atomic(o->std.output, out.data, out.len, 0644, &err) < 0)
    rc = mg_report_err(&err);
  mg_buf_release(&out);
  return rc;
}

static void log_line(void *arg, const char *line)
{
  (void)arg;
  mg_verbose("%s", line);
}

/* A server holds a descriptor per connection; use what the hard limit
 * allows. */
static void raise_nofile(void)
{
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static int serve(struct mock_opts *o)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_mock_server *srv = NULL;
  struct mg_mock_stats st;
  struct sigaction sa;
  sigset_t block, waitmask;
  struct mg_buf cert = MG_BUF_INIT(TLS_CERT_MAX);
  struct mg_buf key = MG_BUF_INIT(TLS_KEY_MAX);
  char port[16];
  int rc = MG_EXIT_OK, fd = -1;

  /* libmicrohttpd keeps pointers to both until the daemon stops. */
  if (o->tls_cert
      && (mg_io_read_file(o->tls_cert, &cert, &err) < 0
          || mg_io_read_file(o->tls_key, &key, &err) < 0)) {
    rc = mg_report_err(&err);
    goto out_tls;
  }
  o->srv.tls_cert = cert.data;
  o->srv.tls_key = key.data;
  if (o->arrival_log) {
    fd = open(o->arrival_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      mg_err_errno(&err, MG_ERR_IO, "cannot open '%s'", o->arrival_log);
      rc = mg_report_err(&err);
      goto out_tls;
    }
  }
  o->srv.arrival_fd = fd;
  if (mg_verbosity() >= MG_VERBOSE)
    o->srv.log = log_line;
  raise_nofile();
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, &waitmask);
  sigdelset(&waitmask, SIGINT);
  sigdelset(&waitmask, SIGTERM);
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if (mg_mock_server_new(&o->srv, &srv, &err) < 0) {
    rc = mg_report_err(&err);
    goto out;
  }
  (void)snprintf(port, sizeof(port), "%u\n", mg_mock_server_port(srv));
  if (o->port_file
      && mg_io_write_atomic(o->port_file, port, strlen(port), 0644, &err) < 0) {
    rc = mg_report_err(&err);
    goto out;
  }
  mg_info("serving '%s' on %s://%s:%u", o->srv.model.name,
          o->tls_cert ? "https" : "http", o->srv.host,
          mg_mock_server_port(srv));
  if (mg_mock_server_run(srv, &stop_requested, &waitmask, &err) < 0)
    rc = mg_report_err(&err);
  mg_mock_server_stats(srv, &st);
  mg_verbose("stopped after %llu requests, %llu tokens", st.requests,
             st.tokens);
out:
  mg_mock_server_free(srv);
  if (fd >= 0 && close(fd) < 0 && rc == MG_EXIT_OK) {
    mg_err_errno(&err, MG_ERR_IO, "cannot write '%s'", o->arrival_log);
    rc = mg_report_err(&err);
  }
out_tls:
  if (key.data)
    mg_wipe(key.data, key.cap);
  mg_buf_release(&key);
  mg_buf_release(&cert);
  return rc;
}

static int run(struct mock_opts *o)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_mock_key *key = NULL;
  int rc;

  if (o->answer_key
      && mg_mock_key_load(o->answer_key, o->std.max_input, o->srv.model.seed,
                          o->accuracy, &key, &err)
             < 0)
    return mg_report_err(&err);
  o->srv.model.key = key;
  if (o->expect)
    rc = answer_expect(o, key);
  else
    rc = serve(o);
  mg_mock_key_free(key);
  return rc;
}

int main(int argc, char **argv)
{
  struct mock_opts opts;

  mg_init(argv[0]);
  parse_args(argc, argv, &opts);
  return mg_finish(run(&opts));
}

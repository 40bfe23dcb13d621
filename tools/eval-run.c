/*
 * eval-run - accuracy evaluation of an OpenAI-compatible endpoint on
 * lm-evaluation-harness tasks (built-in MMLU, GSM8K, ARC, HellaSwag and
 * user YAML tasks), with lm-eval's prompts, requests, metrics and output.
 *
 * Input:  a record on stdin or -i FILE (optional) whose "endpoint" names
 *         the server and model; flags override it.
 * Output: the record with its "eval" section on stdout or -o FILE; lm-eval
 *         results JSON (--output-lm-eval, --output-path) and per-task
 *         samples JSONL side files (--log-samples).
 * Exit:   0 evaluated, 2 usage, 3 bad task/data/input, 4 local I/O or
 *         interrupted (partial results kept), 5 endpoint failure.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/mg_chat.h"
#include "eval/mg_eval.h"
#include "eval/mg_eval_out.h"
#include "eval/mg_task.h"
#include "mg_buf.h"
#include "mg_cli.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_progress.h"
#include "mg_record.h"
#include "mg_time.h"
#include "py/mg_pv.h"
#include "tok/mg_tok_find.h"
#include "tok/mg_tok_proc.h"

static const char usage_text[] =
    "usage: eval-run --tasks LIST [options] [-i record] [-o record]\n"
    "\n"
    "Endpoint (flags override the input record's \"endpoint\"):\n"
    "  --base-url URL          server (http://h:8000), /v1 or the full\n"
    "                          .../v1/completions URL\n"
    "  --model NAME            model name sent in every request\n"
    "  --model KIND            local-completions (default) or\n"
    "                          local-chat-completions (lm-eval style)\n"
    "  --model-args K=V,...    lm-eval's model_args: base_url, model,\n"
    "                          num_concurrent, max_retries, timeout,\n"
    "                          tokenized_requests, tokenizer, max_length,\n"
    "                          max_gen_toks, seed, custom_prefix_token_id,\n"
    "                          eos_string\n"
    "  --api-key-file FILE     bearer token (else $OPENAI_API_KEY or the\n"
    "                          variable named by --api-key-env)\n"
    "  --cacert FILE, --insecure\n"
    "  --tokenizer SRC         remote (server /tokenize, default), offsets\n"
    "                          (echoed text_offset), a tokenizer.json file\n"
    "                          or model directory, or a Hub id (HF cache,\n"
    "                          --processor-dir, then the server)\n"
    "  --processor-dir DIR     mirror of tokenizers: DIR/ORG/NAME (':'-list;\n"
    "                          also $MG_TOKENIZERS)\n"
    "  --string-prompts        send text, not token ids (tokenized_requests\n"
    "                          False)\n"
    "  --num-concurrent N      requests in flight (default 1)\n"
    "  --max-retries N         attempts per request (default 3)\n"
    "  --timeout S             per attempt (default 300)\n"
    "  --retry-wait MS         first backoff before a retry (1000; doubles\n"
    "                          up to 10 s, as lm-eval's tenacity)\n"
    "Tasks:\n"
    "  --tasks LIST            task, group or tag names, or YAML files\n"
    "  --include-path DIR      more task YAMLs (repeatable)\n"
    "  --data-dir DIR          local mirror of built-in datasets (else\n"
    "                          $MG_EVAL_DATA)\n"
    "  --num-fewshot N, --limit N|F, --seed N (few-shot sampler, 1234)\n"
    "  --system-instruction S, --apply-chat-template,\n"
    "  --fewshot-as-multiturn, --gen-kwargs K=V,...\n"
    "  --list-tasks            print the known names and exit\n"
    "Output:\n"
    "  --output-lm-eval FILE   lm-eval results JSON\n"
    "  --output-path DIR       lm-eval layout: DIR/<model>/results_<ts>.json\n"
    "  --log-samples           per-task samples JSONL (in --output-path or\n"
    "                          --samples-dir)\n"
    "  --samples-dir DIR       where samples_<task>.jsonl go\n"
    "  --cache FILE            append every answer; a rerun resumes\n"
    "  --write-answer-key FILE the correct continuation of every request\n"
    "                          (for mock-llm --answer-key), then exit\n"
    "  --bootstrap-iters N     for f1/mcc/perplexity stderr (100000)\n"
    "  --label NAME            dataset label of the results (eval.label)\n"
    "  --allow-unverified      evaluate a model that did not pass\n"
    "                          model-verify (else: exit 1, record passed on)\n"
    "  -i, --input FILE        input record (default: stdin if not a tty)\n"
    "  -o, --output FILE       output record (default: "
    "stdout)\n" MG_CLI_STD_USAGE
    "lm-eval spellings are accepted: --model_args, --include_path,\n"
    "--num_fewshot, --log_samples, --output_path, --batch_size, --gen_kwargs,\n"
    "--apply_chat_template, --system_instruction, --fewshot_as_multiturn.\n";

struct eval_opts {
  struct mg_cli_std std; /* -i -o --max-input --pretty */
  int allow_unverified;
  const char *base_url;
  const char *model;
  const char *model_kind;
  const char *model_args;
  const char *api_key_file;
  const char *api_key_env;
  const char *cacert;
  int insecure;
  const char *tokenizer;
  const char *processor_dir;
  int string_prompts;
  long num_concurrent;
  long max_retries;
  long retry_wait_ms;
  double timeout_s;
  long max_length;
  long max_gen_toks;
  char *tasks;
  const char *includes[32];
  size_t ninclude;
  const char *data_dir;
  long num_fewshot;
  double limit;
  long long seed;
  const char *system_instruction;
  int apply_chat_template;
  int fewshot_as_multiturn;
  const char *gen_kwargs;
  int list_tasks;
  const char *label;
  const char *output_lm_eval;
  const char *output_path;
  int log_samples;
  const char *samples_dir;
  const char *cache;
  const char *answer_key;
  long bootstrap_iters;
  long batch_size;
  const char *batch_size_arg;
  int argc;
  char **argv;
};

enum {
  OPT_ALLOW_UNVERIFIED = 256,
  OPT_API_KEY_ENV,
  OPT_API_KEY_FILE,
  OPT_APPLY_CHAT,
  OPT_BASE_URL,
  OPT_BATCH_SIZE,
  OPT_BOOTSTRAP,
  OPT_CACERT,
  OPT_CACHE,
  OPT_DATA_DIR,
  OPT_FS_MULTITURN,
  OPT_GEN_KWARGS,
  OPT_INCLUDE,
  OPT_INSECURE,
  OPT_LABEL,
  OPT_LIMIT,
  OPT_LIST_TASKS,
  OPT_LOG_SAMPLES,
  OPT_MAX_GEN_TOKS,
  OPT_MAX_LENGTH,
  OPT_MAX_RETRIES,
  OPT_MODEL,
  OPT_MODEL_ARGS,
  OPT_NUM_CONCURRENT,
  OPT_NUM_FEWSHOT,
  OPT_OUTPUT_LM_EVAL,
  OPT_OUTPUT_PATH,
  OPT_PROCESSOR_DIR,
  OPT_RETRY_WAIT,
  OPT_SAMPLES_DIR,
  OPT_SEED,
  OPT_STRING_PROMPTS,
  OPT_SYSTEM,
  OPT_TASKS,
  OPT_TIMEOUT,
  OPT_TOKENIZER,
  OPT_ANSWER_KEY,
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
  (void)sig;
  stop_flag = 1;
}

/* "k=v,k=v" into a dict (values typed like lm-eval's handle_arg_string). */
static struct mg_pv *parse_kv(const char *s, const char *what)
{
  struct mg_pv *d = mg_pv_dict();
  char *copy = mg_xstrdup(s), *p = copy;

  while (p && *p) {
    char *comma = strchr(p, ','), *eq;
    struct mg_pv *v;
    struct mg_err err = MG_ERR_INIT;

    if (comma)
      *comma = '\0';
    eq = strchr(p, '=');
    if (!eq || eq == p) {
      free(copy);
      mg_pv_unref(d);
      mg_usage_error("invalid value '%s' for %s: expected key=value,...", s,
                     what);
    }
    *eq = '\0';
    if (!strcmp(eq + 1, "True") || !strcmp(eq + 1, "true"))
      v = mg_pv_bool(1);
    else if (!strcmp(eq + 1, "False") || !strcmp(eq + 1, "false"))
      v = mg_pv_bool(0);
    else if (!strcmp(eq + 1, "None"))
      v = mg_pv_none();
    else if (mg_pv_parse(eq + 1, strlen(eq + 1), MG_PV_JSON, what, &v, &err) < 0
             || (v->type != MG_PV_INT && v->type != MG_PV_FLOAT)) {
      mg_pv_unref(v);
      v = mg_pv_str(eq + 1);
    }
    mg_pv_dict_sets(d, p, v);
    p = comma ? comma + 1 : NULL;
  }
  free(copy);
  return d;
}

static void parse_args(int argc, char **argv, struct eval_opts *o)
{
  static const char shortopts[] = MG_CLI_STD_SHORTOPTS;

  static const struct option longopts[] = {
    MG_CLI_STD_LONGOPTS,
    { "allow-unverified", no_argument, NULL, OPT_ALLOW_UNVERIFIED },
    { "api-key-env", required_argument, NULL, OPT_API_KEY_ENV },
    { "api-key-file", required_argument, NULL, OPT_API_KEY_FILE },
    { "apply-chat-template", no_argument, NULL, OPT_APPLY_CHAT },
    { "apply_chat_template", no_argument, NULL, OPT_APPLY_CHAT },
    { "base-url", required_argument, NULL, OPT_BASE_URL },
    { "batch-size", required_argument, NULL, OPT_BATCH_SIZE },
    { "batch_size", required_argument, NULL, OPT_BATCH_SIZE },
    { "bootstrap-iters", required_argument, NULL, OPT_BOOTSTRAP },
    { "cacert", required_argument, NULL, OPT_CACERT },
    { "cache", required_argument, NULL, OPT_CACHE },
    { "data-dir", required_argument, NULL, OPT_DATA_DIR },
    { "fewshot-as-multiturn", no_argument, NULL, OPT_FS_MULTITURN },
    { "fewshot_as_multiturn", no_argument, NULL, OPT_FS_MULTITURN },
    { "gen-kwargs", required_argument, NULL, OPT_GEN_KWARGS },
    { "gen_kwargs", required_argument, NULL, OPT_GEN_KWARGS },
    { "include-path", required_argument, NULL, OPT_INCLUDE },
    { "include_path", required_argument, NULL, OPT_INCLUDE },
    { "insecure", no_argument, NULL, OPT_INSECURE },
    { "label", required_argument, NULL, OPT_LABEL },
    { "limit", required_argument, NULL, OPT_LIMIT },
    { "list-tasks", no_argument, NULL, OPT_LIST_TASKS },
    { "log-samples", no_argument, NULL, OPT_LOG_SAMPLES },
    { "log_samples", no_argument, NULL, OPT_LOG_SAMPLES },
    { "max-gen-toks", required_argument, NULL, OPT_MAX_GEN_TOKS },
    { "max-length", required_argument, NULL, OPT_MAX_LENGTH },
    { "max-retries", required_argument, NULL, OPT_MAX_RETRIES },
    { "model", required_argument, NULL, OPT_MODEL },
    { "model-args", required_argument, NULL, OPT_MODEL_ARGS },
    { "model_args", required_argument, NULL, OPT_MODEL_ARGS },
    { "num-concurrent", required_argument, NULL, OPT_NUM_CONCURRENT },
    { "num-fewshot", required_argument, NULL, OPT_NUM_FEWSHOT },
    { "num_fewshot", required_argument, NULL, OPT_NUM_FEWSHOT },
    { "output-lm-eval", required_argument, NULL, OPT_OUTPUT_LM_EVAL },
    { "output-path", required_argument, NULL, OPT_OUTPUT_PATH },
    { "output_path", required_argument, NULL, OPT_OUTPUT_PATH },
    { "processor-dir", required_argument, NULL, OPT_PROCESSOR_DIR },
    { "retry-wait", required_argument, NULL, OPT_RETRY_WAIT },
    { "samples-dir", required_argument, NULL, OPT_SAMPLES_DIR },
    { "seed", required_argument, NULL, OPT_SEED },
    { "string-prompts", no_argument, NULL, OPT_STRING_PROMPTS },
    { "system-instruction", required_argument, NULL, OPT_SYSTEM },
    { "system_instruction", required_argument, NULL, OPT_SYSTEM },
    { "tasks", required_argument, NULL, OPT_TASKS },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "tokenizer", required_argument, NULL, OPT_TOKENIZER },
    { "write-answer-key", required_argument, NULL, OPT_ANSWER_KEY },
    { NULL, 0, NULL, 0 },
  };
  int c;

  while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case OPT_ALLOW_UNVERIFIED:
      o->allow_unverified = 1;
      break;
    case OPT_API_KEY_ENV:
      o->api_key_env = optarg;
      break;
    case OPT_API_KEY_FILE:
      o->api_key_file = optarg;
      break;
    case OPT_APPLY_CHAT:
      o->apply_chat_template = 1;
      break;
    case OPT_BASE_URL:
      o->base_url = optarg;
      break;
    case OPT_BATCH_SIZE:
      o->batch_size_arg = optarg;
      if (strcmp(optarg, "auto") != 0)
        o->batch_size = (long)mg_opt_uint(optarg, 1, 1 << 20, "--batch-size");
      break;
    case OPT_BOOTSTRAP:
      o->bootstrap_iters =
          (long)mg_opt_uint(optarg, 0, 10000000, "--bootstrap-iters");
      break;
    case OPT_CACERT:
      o->cacert = optarg;
      break;
    case OPT_CACHE:
      o->cache = optarg;
      break;
    case OPT_DATA_DIR:
      o->data_dir = optarg;
      break;
    case OPT_FS_MULTITURN:
      o->fewshot_as_multiturn = 1;
      break;
    case OPT_GEN_KWARGS:
      o->gen_kwargs = optarg;
      break;
    case OPT_INCLUDE:
      if (o->ninclude >= sizeof(o->includes) / sizeof(*o->includes))
        mg_usage_error("too many --include-path options");
      o->includes[o->ninclude++] = optarg;
      break;
    case OPT_INSECURE:
      o->insecure = 1;
      break;
    case OPT_LABEL:
      o->label = optarg;
      break;
    case OPT_LIMIT:
      o->limit = mg_opt_double(optarg, 0, 1e12, "--limit");
      if (o->limit == 0 || (o->limit > 1 && o->limit != (long long)o->limit))
        mg_usage_error("invalid value '%s' for --limit: give a count or a "
                       "fraction below 1",
                       optarg);
      break;
    case OPT_LIST_TASKS:
      o->list_tasks = 1;
      break;
    case OPT_LOG_SAMPLES:
      o->log_samples = 1;
      break;
    case OPT_MAX_GEN_TOKS:
      o->max_gen_toks = (long)mg_opt_uint(optarg, 1, 1 << 24, "--max-gen-toks");
      break;
    case OPT_MAX_LENGTH:
      o->max_length = (long)mg_opt_uint(optarg, 2, 1 << 26, "--max-length");
      break;
    case OPT_MAX_RETRIES:
      o->max_retries = (long)mg_opt_uint(optarg, 1, 100, "--max-retries");
      break;
    case OPT_MODEL:
      if (!strcmp(optarg, "local-completions")
          || !strcmp(optarg, "local-chat-completions")
          || !strcmp(optarg, "openai-completions")
          || !strcmp(optarg, "openai-chat-completions"))
        o->model_kind = optarg;
      else
        o->model = optarg;
      break;
    case OPT_MODEL_ARGS:
      o->model_args = optarg;
      break;
    case OPT_NUM_CONCURRENT:
      o->num_concurrent =
          (long)mg_opt_uint(optarg, 1, 4096, "--num-concurrent");
      break;
    case OPT_NUM_FEWSHOT:
      o->num_fewshot = (long)mg_opt_uint(optarg, 0, 1000, "--num-fewshot");
      break;
    case OPT_OUTPUT_LM_EVAL:
      o->output_lm_eval = optarg;
      break;
    case OPT_OUTPUT_PATH:
      o->output_path = optarg;
      break;
    case OPT_PROCESSOR_DIR:
      o->processor_dir = optarg;
      break;
    case OPT_RETRY_WAIT:
      o->retry_wait_ms = (long)mg_opt_uint(optarg, 1, 600000, "--retry-wait");
      break;
    case OPT_SAMPLES_DIR:
      o->samples_dir = optarg;
      break;
    case OPT_SEED:
      /* lm-eval: one int sets every seed, or "a,b,c,d" (the 4th is the
       * few-shot sampler's) */
      if (strchr(optarg, ',')) {
        const char *last = strrchr(optarg, ',') + 1;

        o->seed = (long long)mg_opt_uint(last, 0, UINT32_MAX, "--seed");
      } else {
        o->seed = (long long)mg_opt_uint(optarg, 0, UINT32_MAX, "--seed");
      }
      break;
    case OPT_STRING_PROMPTS:
      o->string_prompts = 1;
      break;
    case OPT_SYSTEM:
      o->system_instruction = optarg;
      break;
    case OPT_TASKS:
      free(o->tasks);
      o->tasks = mg_xstrdup(optarg);
      break;
    case OPT_TIMEOUT:
      o->timeout_s = mg_opt_double(optarg, 0.001, 86400, "--timeout");
      break;
    case OPT_TOKENIZER:
      o->tokenizer = optarg;
      break;
    case OPT_ANSWER_KEY:
      o->answer_key = optarg;
      break;
    default:
      if (!mg_cli_std_option(c, optarg, usage_text, &o->std))
        mg_usage_error("unknown option");
    }
  }
  if (optind < argc)
    mg_usage_error("unexpected argument '%s'", argv[optind]);
  if (!o->tasks && !o->list_tasks)
    mg_usage_error("no tasks: give --tasks NAME[,NAME...]");
  if (o->log_samples && !o->output_path && !o->samples_dir)
    mg_usage_error("--log-samples needs --output-path or --samples-dir");
  if (o->fewshot_as_multiturn && !o->apply_chat_template)
    mg_usage_error("--fewshot-as-multiturn needs --apply-chat-template");
  o->argc = argc;
  o->argv = argv;
}

/* ---- endpoint resolution ---- */

struct endpoint {
  const char *url;
  const char *model;
  int chat;
  char *api_key;
};

static void apply_model_args(const struct eval_opts *o, struct mg_pv *ma,
                             struct mg_eval_opts *eo, struct endpoint *ep)
{
  for (size_t i = 0; ma && i < ma->u.dict.n; i++) {
    const char *k = mg_pv_cstr(ma->u.dict.k[i]);
    const struct mg_pv *v = ma->u.dict.v[i];
    const char *s = mg_pv_cstr(v);
    long n = (long)mg_pv_num(v);

    if (!strcmp(k, "base_url") && s)
      ep->url = s;
    else if ((!strcmp(k, "model") || !strcmp(k, "pretrained")) && s)
      ep->model = s;
    else if (!strcmp(k, "num_concurrent") && n > 0)
      eo->num_concurrent = (int)n;
    else if (!strcmp(k, "max_retries") && n > 0)
      eo->max_retries = (int)n;
    else if (!strcmp(k, "timeout") && mg_pv_num(v) > 0)
      eo->timeout_ms = (long)(mg_pv_num(v) * 1000);
    else if (!strcmp(k, "tokenized_requests"))
      eo->tokenized_requests = mg_pv_truthy(v);
    else if (!strcmp(k, "tokenizer") && s)
      eo->tokenizer = s;
    else if (!strcmp(k, "tokenizer_backend") && s && !strcmp(s, "remote"))
      eo->tokenizer = "remote";
    else if (!strcmp(k, "max_length") && n > 1)
      eo->max_length = n;
    else if (!strcmp(k, "max_gen_toks") && n > 0)
      eo->max_gen_toks = n;
    else if (!strcmp(k, "seed") && mg_pv_is_number(v))
      eo->seed = (uint64_t)n;
    else if (!strcmp(k, "verify_certificate"))
      eo->insecure = !mg_pv_truthy(v);
    else if (!strcmp(k, "ca_cert_path") && s)
      eo->cacert = s;
    else if (!strcmp(k, "custom_prefix_token_id") && v->type == MG_PV_INT
             && v->u.i >= 0 && v->u.i <= UINT32_MAX)
      eo->prefix_token_id = v->u.i;
    else if (!strcmp(k, "eos_string") && s)
      eo->eos_string = s;
    else if (!strcmp(k, "batch_size") || !strcmp(k, "add_bos_token")
             || !strcmp(k, "tokenizer_backend")
             || !strcmp(k, "trust_remote_code"))
      ; /* accepted; batch 1 and no BOS are eval-run's behaviour */
    else
      mg_warn("model_args '%s' is not used by eval-run", k);
  }
  (void)o;
}

static int load_secret(const struct eval_opts *o, struct endpoint *ep,
                       struct mg_err *err)
{
  return mg_http_secret_load(o->api_key_file,
                             o->api_key_env ? o->api_key_env : "OPENAI_API_KEY",
                             &ep->api_key, err);
}

/*
 * tokenizer= or --tokenizer as a path or Hub id (issue 12 items 6, 13): the
 * local copy (the path, the HF cache, --processor-dir and $MG_TOKENIZERS),
 * else the server's /tokenize (when probe), else the echoed text_offset.
 * *use is what the engine's tokenizer option gets; caller frees it.
 */
static int resolve_tokenizer(const struct eval_opts *o, const char *name,
                             const struct endpoint *ep, int probe, char **use,
                             struct mg_err *err)
{
  struct mg_tok_resolve_opts ro;
  struct mg_tok_find w = MG_TOK_FIND_INIT;
  struct mg_http_opts ho;
  const char *envm = getenv("MG_TOKENIZERS");
  char *mirrors;
  int rc;

  mirrors = mg_xasprintf("%s%s%s", o->processor_dir ? o->processor_dir : "",
                         o->processor_dir && envm ? ":" : "", envm ? envm : "");
  memset(&ro, 0, sizeof(ro));
  mg_http_opts_init(&ho);
  ho.bearer = ep->api_key;
  ho.cacert = o->cacert;
  ho.insecure = o->insecure;
  ho.retries = 0;
  ro.mirrors = mirrors;
  ro.server_url = probe ? ep->url : NULL;
  ro.model = ep->model;
  ro.http = &ho;
  *use = NULL;
  rc = mg_tok_proc_resolve(name, &ro, NULL, &w, err);
  if (rc < 0)
    goto out;
  switch (w.found) {
  case MG_TOK_FIND_PATH:
  case MG_TOK_FIND_HF_CACHE:
  case MG_TOK_FIND_MIRROR:
    *use = mg_xstrdup(w.path);
    if (w.found != MG_TOK_FIND_PATH)
      mg_info("tokenizer '%s': '%s' (%s)", name, w.path,
              mg_tok_find_how_name(w.found));
    break;
  case MG_TOK_FIND_SERVER:
    *use = mg_xstrdup("remote");
    mg_warn("tokenizer '%s' is not here (%s): ctxlen comes from the "
            "server's /tokenize, string prompts from its /detokenize",
            name, w.tried);
    break;
  default:
    if (!mg_tok_find_is_hub_id(name)) {
      rc = mg_err_set(err, MG_ERR_IO, "cannot find tokenizer '%s': %s", name,
                      w.tried);
      goto out;
    }
    *use = mg_xstrdup("offsets");
    if (probe)
      mg_warn("tokenizer '%s' is not here (%s): ctxlen comes from the "
              "echoed text_offset, which counts a token spanning the "
              "context/continuation boundary in the continuation (scores "
              "differ from lm-eval's only for such tokens), and string "
              "prompts are sent as the text, not cut to max_length",
              name, w.tried);
  }
  rc = 0;
out:
  mg_tok_find_release(&w);
  free(mirrors);
  return rc;
}

/* ---- progress (tqdm-shaped, for people and TrustyAI's parser) ---- */

/* The task being drawn (mg_progress: redrawn on a terminal, every 5 s
 * otherwise, nothing with -q). */
struct prog {
  struct mg_progress p;
  int active;
};

static void fmt_hms(char *out, size_t n, double s)
{
  long t = s < 0 ? 0 : (long)(s + 0.5);

  if (t >= 3600)
    (void)snprintf(out, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else
    (void)snprintf(out, n, "%02ld:%02ld", t / 60, t % 60);
}

/* tqdm's line: "task:  45%|####      | 450/1000 [00:30<00:36, 15.00it/s]",
 * ended at 100% */
static void on_progress(void *arg, const char *task, size_t done, size_t total,
                        long long t0_ns, int final)
{
  struct prog *p = arg;
  double el = (double)(mg_time_now_ns() - t0_ns) / 1e9, rate, eta;
  char bar[11], a[48], b[48], text[200];
  int pct, fill;

  (void) final;
  if (p->active && strcmp(p->p.label, task)) {
    mg_progress_end(&p->p);
    p->active = 0;
  }
  if (!p->active) {
    mg_progress_init(&p->p, task, 0);
    p->active = 1;
  }
  rate = el > 0 ? (double)done / el : 0;
  eta = rate > 0 ? (double)(total - done) / rate : 0;
  pct = (int)(100.0 * (double)done / (double)total);
  fill = (int)(10.0 * (double)done / (double)total);
  for (int i = 0; i < 10; i++)
    bar[i] = i < fill ? '#' : ' ';
  bar[10] = '\0';
  fmt_hms(a, sizeof(a), el);
  fmt_hms(b, sizeof(b), eta);
  (void)snprintf(text, sizeof(text), "%3d%%|%s| %zu/%zu [%s<%s, %.2fit/s]", pct,
                 bar, done, total, a, b, rate);
  mg_progress_status(&p->p, text, done == total);
  if (done == total) {
    mg_progress_end(&p->p);
    p->active = 0;
  }
}

/* ---- outputs ---- */

/* lm-eval's closing summary line and results table: on stdout when the
 * record goes to a file, else on stderr (not with -q); a failed run keeps
 * stdout empty. */
static void print_table(const struct eval_opts *o, const struct mg_eval_run *r,
                        const struct mg_eval_meta *meta, int ok)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  int to_stdout = ok && strcmp(o->std.output, "-") != 0;

  if (!to_stdout && mg_verbosity() <= MG_QUIET)
    return;
  mg_eval_out_table(r, meta, &b);
  if (!r->complete)
    mg_buf_addstr(&b, "(partial results: see n-samples)\n", NULL);
  if (b.data)
    fputs(b.data, to_stdout ? stdout : stderr);
  mg_buf_release(&b);
}

static int write_outputs(const struct eval_opts *o, const struct mg_eval_run *r,
                         const struct mg_eval_meta *meta, struct mg_json *rec,
                         struct mg_err *err)
{
  struct mg_eval_files f;
  struct mg_json *section;

  memset(&f, 0, sizeof(f));
  f.output_path = o->output_path;
  f.results_file = o->output_lm_eval;
  f.samples_dir = o->samples_dir;
  f.log_samples = o->log_samples;
  if (mg_eval_out_write(r, meta, &f, &section, err) < 0)
    return -1;
  mg_record_set_section(rec, "eval", section);
  return 0;
}

static int run(const struct eval_opts *o)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *rec = NULL;
  struct mg_pv *gk = NULL, *ma = NULL, *list = NULL;
  struct mg_task_opts to;
  struct mg_eval_opts eo;
  struct mg_task_set *ts = NULL;
  struct mg_eval_run *r = NULL;
  struct mg_eval_meta meta;
  struct mg_chat *chat = NULL;
  struct endpoint ep;
  struct prog prog;
  const char **names = NULL;
  size_t nnames = 0;
  char *tasks = NULL, *tokpath = NULL, started[40], why[sizeof(err.msg)];
  int rc = MG_EXIT_OK, http = 0;

  memset(&ep, 0, sizeof(ep));
  memset(&prog, 0, sizeof(prog));
  mg_time_rfc3339(started, sizeof(started));
  {
    struct sigaction sa;

    /* SIGINT/SIGTERM end the run with partial results */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
  }
  mg_task_opts_init(&to);
  to.data_dir = o->data_dir ? o->data_dir : getenv("MG_EVAL_DATA");
  to.include_paths = o->includes;
  to.ninclude = o->ninclude;
  to.num_fewshot = o->num_fewshot;
  to.limit = o->limit;
  to.system_instruction = o->system_instruction;
  to.apply_chat_template = o->apply_chat_template;
  to.fewshot_as_multiturn = o->fewshot_as_multiturn;
  to.fewshot_seed = o->seed >= 0 ? (uint64_t)o->seed : 1234;
  if (o->gen_kwargs) {
    gk = parse_kv(o->gen_kwargs, "--gen-kwargs");
    to.gen_kwargs = gk;
  }
  if (o->list_tasks) {
    if (mg_task_list_all(&to, &list, &err) < 0)
      goto fail;
    for (size_t i = 0; i < list->u.list.n; i++)
      printf("%s\n", list->u.list.v[i]->u.str.s);
    goto out;
  }
  tasks = mg_xstrdup(o->tasks);
  for (char *p = tasks; p && *p;) {
    char *comma = strchr(p, ',');

    if (comma)
      *comma = '\0';
    if (*p) {
      names = mg_xreallocarray(names, nnames + 1, sizeof(*names));
      names[nnames++] = p;
    }
    p = comma ? comma + 1 : NULL;
  }
  if (!nnames) {
    mg_err_set(&err, MG_ERR_USAGE, "no tasks in '%s'", o->tasks);
    goto fail;
  }
  if (!o->answer_key
      && mg_record_read_or_new(o->std.input, o->std.max_input, &rec, &err) < 0)
    goto fail;
  if (rec && mg_record_gate(rec, &err) < 0) {
    if (!o->allow_unverified)
      goto refuse;
    mg_warn("--allow-unverified: evaluating anyway: %s", err.msg);
    err = (struct mg_err)MG_ERR_INIT;
  }
  /* endpoint: record, then model_args, then flags */
  mg_eval_opts_init(&eo);
  {
    const struct mg_json *e = mg_json_get(rec, "endpoint");
    const char *api = mg_json_string(mg_json_get(e, "api"));

    ep.url = mg_json_string(mg_json_get(e, "url"));
    if (!ep.url)
      ep.url = mg_json_string(mg_json_get(e, "base_url"));
    ep.model = mg_json_string(mg_json_get(e, "model"));
    if (!ep.model)
      ep.model = mg_json_string(mg_json_get_path(rec, "model.name"));
    ep.chat = api && !strcmp(api, "chat") && o->apply_chat_template;
  }
  if (o->model_args) {
    ma = parse_kv(o->model_args, "--model-args");
    apply_model_args(o, ma, &eo, &ep);
  }
  if (o->base_url)
    ep.url = o->base_url;
  if (o->model)
    ep.model = o->model;
  if (o->model_kind)
    ep.chat = strstr(o->model_kind, "chat") != NULL;
  if (o->tokenizer)
    eo.tokenizer = o->tokenizer;
  if (!o->answer_key) {
    if (load_secret(o, &ep, &err) < 0)
      goto fail;
    if (mg_http_global_init(&err) < 0)
      goto fail;
    http = 1;
  }
  if (eo.tokenizer && strcmp(eo.tokenizer, "remote")
      && strcmp(eo.tokenizer, "offsets")) {
    if (resolve_tokenizer(o, eo.tokenizer, &ep, http && ep.url && !ep.chat,
                          &tokpath, &err)
        < 0)
      goto fail;
    eo.tokenizer = tokpath;
  }
  if (ep.chat && !o->apply_chat_template) {
    mg_err_set(&err, MG_ERR_USAGE,
               "local-chat-completions needs --apply-chat-template (the "
               "server renders the messages)");
    goto fail;
  }
  /* a local tokenizer: its special tokens, and its chat template for
   * local-completions with --apply-chat-template */
  if (eo.tokenizer && strcmp(eo.tokenizer, "remote")
      && strcmp(eo.tokenizer, "offsets")) {
    if (mg_chat_load(eo.tokenizer, &chat, &err) < 0)
      goto fail;
    eo.special = chat;
  }
  if (!ep.chat && o->apply_chat_template) {
    if (!chat && !o->answer_key) {
      mg_err_set(&err, MG_ERR_USAGE,
                 "--apply-chat-template with local-completions renders the "
                 "model's chat template locally: give --tokenizer DIR (with "
                 "tokenizer_config.json), or use --model "
                 "local-chat-completions");
      goto fail;
    }
    if (chat && !mg_chat_template(chat)) {
      mg_err_set(&err, MG_ERR_USAGE,
                 "--apply-chat-template: the tokenizer '%s' has no chat "
                 "template (tokenizer_config.json chat_template)",
                 eo.tokenizer);
      goto fail;
    }
    if (chat && mg_chat_ready(chat, &err) < 0)
      goto fail;
    to.chat = chat;
  }
  if (mg_task_set_load(names, nnames, &to, &ts, &err) < 0)
    goto fail;
  for (size_t i = 0; i < ts->nwarnings; i++)
    mg_warn("%s", ts->warnings[i]);
  if (o->answer_key) {
    size_t n;

    if (mg_eval_write_answer_key(ts, &to, o->answer_key, &n, &err) < 0)
      goto fail;
    mg_info("wrote %zu contexts to '%s'", n, o->answer_key);
    goto out;
  }
  eo.url = ep.url;
  eo.model = ep.model;
  eo.chat = ep.chat;
  eo.api_key = ep.api_key;
  if (o->string_prompts)
    eo.tokenized_requests = 0;
  if (o->num_concurrent)
    eo.num_concurrent = (int)o->num_concurrent;
  if (o->max_retries)
    eo.max_retries = (int)o->max_retries;
  if (o->retry_wait_ms) {
    eo.backoff_min_ms = o->retry_wait_ms;
    if (eo.backoff_max_ms < o->retry_wait_ms)
      eo.backoff_max_ms = o->retry_wait_ms;
  }
  if (o->timeout_s > 0)
    eo.timeout_ms = (long)(o->timeout_s * 1000);
  if (o->max_length)
    eo.max_length = o->max_length;
  if (o->max_gen_toks)
    eo.max_gen_toks = o->max_gen_toks;
  if (o->cacert)
    eo.cacert = o->cacert;
  if (o->insecure)
    eo.insecure = 1;
  if (o->bootstrap_iters >= 0)
    eo.bootstrap_iters = o->bootstrap_iters;
  eo.cache_path = o->cache;
  eo.log_samples = o->log_samples;
  eo.stop = &stop_flag;
  eo.verbose = mg_verbosity();
  eo.progress = on_progress;
  eo.progress_arg = &prog;
  if (mg_eval_run(ts, &to, &eo, &r, &err) < 0)
    goto fail;
  memset(&meta, 0, sizeof(meta));
  meta.model_args = o->model_args;
  meta.model_kind = ep.chat ? "local-chat-completions" : "local-completions";
  meta.limit = o->limit;
  meta.num_fewshot = o->num_fewshot;
  meta.seed = to.fewshot_seed;
  meta.fewshot_seed = to.fewshot_seed;
  meta.system_instruction = o->system_instruction;
  meta.apply_chat_template = o->apply_chat_template;
  meta.fewshot_as_multiturn = o->fewshot_as_multiturn;
  meta.gen_kwargs = gk;
  meta.batch_size = o->batch_size ? o->batch_size : 1;
  meta.batch_size_arg = o->batch_size_arg;
  meta.gen_kwargs_arg = o->gen_kwargs;
  meta.label = o->label;
  meta.chat_template = to.chat ? mg_chat_template(to.chat) : NULL;
  if (write_outputs(o, r, &meta, rec, &err) < 0)
    goto fail;
  mg_record_add_provenance(rec, started, o->argc, o->argv);
  if (r->retokenized)
    mg_warn("%zu loglikelihood replies echoed another number of prompt "
            "tokens than the tokenizer gives (the server tokenizes string "
            "prompts its own way): scored as lm-eval does, from "
            "token_logprobs[ctxlen:-1]",
            r->retokenized);
  if (!r->complete) {
    /* partial results: kept in the files, the cache and -o FILE; a
     * failing run writes nothing to stdout */
    err = r->failure;
    if (err.cat == MG_ERR_NONE)
      mg_err_set(&err, MG_ERR_REMOTE, "the run did not complete");
    if (strcmp(o->std.output, "-") != 0) {
      struct mg_err e2 = MG_ERR_INIT;

      if (mg_record_write(rec, o->std.output, o->std.pretty, &e2) < 0)
        mg_report_err(&e2);
    }
    print_table(o, r, &meta, 0);
    mg_warn("partial results (complete: false): %zu of %zu requests "
            "answered",
            r->requests_sent + r->requests_cached, r->requests_total);
    goto fail;
  }
  if (mg_record_write(rec, o->std.output, o->std.pretty, &err) < 0)
    goto fail;
  print_table(o, r, &meta, 1);
  mg_verbose("%zu requests (%zu sent, %zu cached, %zu tokenize calls) in "
             "%.2f s, %.1f in flight on average",
             r->requests_total, r->requests_sent, r->requests_cached,
             r->tokenize_calls, (double)(r->t1_ns - r->t0_ns) / 1e9,
             r->mean_inflight);
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
  rc = mg_report_err(&err);
out:
  mg_eval_run_free(r);
  mg_task_set_free(ts);
  mg_chat_free(chat);
  mg_pv_unref(gk);
  mg_pv_unref(ma);
  mg_pv_unref(list);
  mg_json_free(rec);
  mg_http_secret_free(ep.api_key);
  if (prog.active)
    mg_progress_end(&prog.p);
  free(names);
  free(tasks);
  free(tokpath);
  free(o->tasks);
  if (http)
    mg_http_global_cleanup();
  return rc;
}

int main(int argc, char **argv)
{
  struct eval_opts opts = { .std = MG_CLI_STD_INIT,
                            .num_fewshot = -1,
                            .limit = -1,
                            .seed = -1,
                            .bootstrap_iters = -1 };

  mg_init(argv[0]);
  parse_args(argc, argv, &opts);
  return mg_finish(run(&opts));
}

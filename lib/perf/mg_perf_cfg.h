#ifndef MG_PERF_CFG_H
#define MG_PERF_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"
#include "perf/mg_perf_metrics.h"
#include "perf/mg_perf_osd.h"
#include "perf/mg_perf_req.h"
#include "perf/mg_perf_sched.h"

struct mg_err;
struct mg_json;
struct mg_perf_data;
struct mg_perf_target;

/*
 * perf-run's configuration and the option grammars of the three GuideLLM
 * command-line generations (anchors §1.1), so that tools/perf-run.c keeps
 * only getopt and the run:
 *
 *   <= v0.3  guidellm benchmark --target --rate-type --rate --data k=v,...
 *            --backend-type --backend-args JSON --warmup-percent
 *            --output-path x.json|x.yaml|x.csv|DIR
 *   v0.4-0.6 guidellm benchmark run --profile --backend --backend-kwargs
 *            --warmup --cooldown --rampup --max-global-error-rate
 *            --over-saturation JSON --detect-saturation --request-format
 *            --sample-requests --data-samples --output-dir --outputs
 *   v0.7     guidellm run --backend kind=openai_http,target=...
 *            --profile kind=constant,rate=[1,4] --constraint kind=...
 *            --data kind=synthetic_text,prompt_tokens=... --tokenizer
 *            --seed --output kind=json,path=... --metrics --label k=v
 *            --data-loader samples=N
 *
 * "Registry" values (v0.7) are "key=value,..." (a value may be a JSON
 * array or object, [1,4,8] or {"x": 1}; true/false/null and numbers are
 * typed, anything else is a string) or one JSON object. Every function
 * below returns 0, or -1 with MG_ERR_USAGE and a one-line message naming
 * the option and the value.
 */
#define MG_PERF_MAX_RATES 64
#define MG_PERF_MAX_HEADERS 32

struct mg_perf_config {
  /* Endpoint. */
  const char *target;
  const char *endpoint; /* chat, completions, or a path */
  const char *model;
  const char *api_key_file;
  const char *headers[MG_PERF_MAX_HEADERS + 1]; /* "Name: value" */
  int nheaders;
  const char *extra_body; /* JSON object text */
  const char *cacert;
  int insecure, http2, skip_check, no_follow;
  int warm; /* open the streams' connections first (1) */
  double request_timeout, connect_timeout; /* seconds, 0: default; request
                                              < 0: none */
  double check_timeout;                    /* seconds, 0: 30 */
  double start_at;                         /* Unix time, 0: now */
  int ignore_eos, unique_prefix, content_parts;
  enum mg_perf_max_field max_field;
  long long default_max_tokens; /* output length for rows without one */
  /* Load. */
  int kind; /* enum mg_perf_kind */
  int sweep_kind;
  const char *rate_arg; /* --rate, checked by mg_perf_cfg_finish */
  double rates[MG_PERF_MAX_RATES];
  int nrates;
  int max_concurrency;
  double rampup, burstiness, time_scale;
  uint64_t seed;
  double max_seconds, max_error_rate, max_global_error_rate;
  long long max_requests, max_errors;
  int error_window, global_error_min;
  double warmup, cooldown;
  int osd_on;
  struct mg_perf_osd_opts osd;
  /* Data. */
  const char *data;
  long long data_samples; /* 0: all */
  const char *processor;  /* tokenizer: a directory or tokenizer.json */
  int add_special;        /* prompts encoded with special tokens */
  /* Output. */
  const char *samples; /* per-request JSONL side file */
  const char *csv;
  const char *report;  /* GuideLLM benchmarks.json */
  const char *outputs; /* v0.4 --outputs list, with output_dir */
  const char *output_dir;
  long long sample_size; /* requests per status in the report, -1 all */
  struct mg_perf_slo slo;
  enum mg_stats_pct method;
  int progress;
  int tokenize;           /* 1 --tokenize, 2 --detokenize: nothing runs */
  int allow_unverified;   /* measure a model the gate refuses */
  struct mg_json *labels; /* --label k=v, an object */
  /* Strings this configuration allocated. */
  char **owned;
  size_t nowned, capowned;
};

/* perf-run's defaults (sweep, seed 42, GuideLLM bodies). Cannot fail. */
void mg_perf_cfg_init(struct mg_perf_config *c);
void mg_perf_cfg_release(struct mg_perf_config *c);

/*
 * Parses a registry value into a JSON object (caller owns *out; free with
 * mg_json_free). what names the option in messages.
 */
int mg_perf_cfg_regopt_parse(const char *spec, const char *what,
                             struct mg_json **out, struct mg_err *err);

/* --profile / --rate-type: a kind name, or kind=...,rate=,streams=,
 * max_concurrency=,rampup_duration=,sweep_size=,strategy_type=,
 * random_seed=,time_scale=,burstiness=. */
int mg_perf_cfg_profile(struct mg_perf_config *c, const char *arg,
                        struct mg_err *err);
/* --backend / --backend-type: "openai_http", or kind=openai_http,target=,
 * model=,request_format=,timeout=,timeout_connect=,http2=,verify=,
 * follow_redirects=,validate_backend=,stream=true,max_tokens=,headers={},
 * extras={"body":{},"headers":{}}. api_key is refused (use
 * --api-key-file or $OPENAI_API_KEY: secrets never on the command line). */
int mg_perf_cfg_backend(struct mg_perf_config *c, const char *arg,
                        struct mg_err *err);
/* --backend-args (v0.3) / --backend-kwargs (v0.4): a JSON object with the
 * fields of --backend (without kind). */
int mg_perf_cfg_backend_args(struct mg_perf_config *c, const char *arg,
                             struct mg_err *err);
/* --constraint kind=max_duration,seconds= | max_requests,count= |
 * max_errors,count= | max_error_rate,rate=,window= |
 * max_global_error_rate,rate=,minimum= | over_saturation,... */
int mg_perf_cfg_constraint(struct mg_perf_config *c, const char *arg,
                           struct mg_err *err);
/* --over-saturation SPEC (v0.4 JSON, or key=value,...); NULL: defaults
 * (--detect-saturation). */
int mg_perf_cfg_over_saturation(struct mg_perf_config *c, const char *arg,
                                struct mg_err *err);
/* --data: kind=synthetic_text,... (the synthetic keys), kind=json_file|
 * jsonl_file|csv_file|text_file|file,path= ; anything else is kept as the
 * v0.3 spec or path. */
int mg_perf_cfg_data(struct mg_perf_config *c, const char *arg,
                     struct mg_err *err);
/* --output kind=json|yaml|csv|console,path= (v0.7). */
int mg_perf_cfg_output(struct mg_perf_config *c, const char *arg,
                       struct mg_err *err);
/* --output-path (v0.3): .json, .yaml/.yml: the GuideLLM report; .csv: the
 * CSV; an existing directory: DIR/benchmarks.json. */
int mg_perf_cfg_output_path(struct mg_perf_config *c, const char *arg,
                            struct mg_err *err);
/* --seed / --random-seed: N, or kind=static,value=N. */
int mg_perf_cfg_seed(struct mg_perf_config *c, const char *arg,
                     struct mg_err *err);
/* --tokenizer kind=huggingface_auto,model=PATH (v0.7). */
int mg_perf_cfg_tokenizer(struct mg_perf_config *c, const char *arg,
                          struct mg_err *err);
/* --metrics kind=generative,sample_size=N,prefer_response_metrics=. */
int mg_perf_cfg_metrics(struct mg_perf_config *c, const char *arg,
                        struct mg_err *err);
/* --data-loader samples=N (kind=pytorch, num_workers, shuffle=false). */
int mg_perf_cfg_data_loader(struct mg_perf_config *c, const char *arg,
                            struct mg_err *err);
/* --label key=value. */
int mg_perf_cfg_label(struct mg_perf_config *c, const char *arg,
                      struct mg_err *err);
/* --request-format / --request-type / --endpoint: chat, completions,
 * chat_completions, text_completions, or a path. */
int mg_perf_cfg_endpoint(struct mg_perf_config *c, const char *arg,
                         struct mg_err *err);
/* --warmup / --cooldown: a number (< 1 fraction, else seconds or
 * requests) or {"percent": F} / {"value": N}. */
int mg_perf_cfg_phase(double *out, const char *arg, const char *what,
                      struct mg_err *err);
/* --slo ttft=MS,itl=MS,e2e=MS. */
int mg_perf_cfg_slo(struct mg_perf_config *c, const char *arg,
                    struct mg_err *err);
/* --header 'Name: value'. */
int mg_perf_cfg_header(struct mg_perf_config *c, const char *arg,
                       struct mg_err *err);

/*
 * perf-run's options as one table, sorted by long name (the standard
 * options of lib/mg_cli.h are not in it). A row either stores its value
 * in a field of struct mg_perf_config (offset) or calls a setter; the tool
 * builds its getopt table from these rows and hands every match to
 * mg_perf_cfg_apply. To add an option, add a row.
 */
enum mg_perf_cfg_opt_type {
  MG_PERF_CFG_FLAG,        /* int field = lo (no argument) */
  MG_PERF_CFG_STRING,      /* const char * field = the argument (borrowed) */
  MG_PERF_CFG_DOUBLE,      /* double field, within [lo, hi] */
  MG_PERF_CFG_INT,         /* int field, a whole number within [lo, hi] */
  MG_PERF_CFG_COUNT,       /* long long field, a whole number in [lo, hi] */
  MG_PERF_CFG_SET,         /* set(c, arg, err); arg NULL without argument */
  MG_PERF_CFG_IGNORED,     /* accepted for GuideLLM, no effect */
  MG_PERF_CFG_UNSUPPORTED, /* a usage error saying so */
};

struct mg_perf_cfg_option {
  const char *name; /* long name without "--" */
  int has_arg;      /* 0 or 1, as getopt's no_argument/required_argument */
  enum mg_perf_cfg_opt_type type;
  size_t offset; /* offsetof(struct mg_perf_config, field) */
  double lo, hi;
  int (*set)(struct mg_perf_config *c, const char *arg, struct mg_err *err);
};

extern const struct mg_perf_cfg_option mg_perf_cfg_options[];
extern const size_t mg_perf_cfg_noptions;

/* Applies one option (a row of mg_perf_cfg_options) with its argument
 * (NULL for has_arg 0). */
int mg_perf_cfg_apply(struct mg_perf_config *c,
                      const struct mg_perf_cfg_option *o, const char *arg,
                      struct mg_err *err);
/* The row named name (without "--"), or NULL. */
const struct mg_perf_cfg_option *mg_perf_cfg_option_find(const char *name);

/* After all options: --rate against --profile, sweep needs a limit,
 * --outputs/--output-dir. */
int mg_perf_cfg_finish(struct mg_perf_config *c, struct mg_err *err);

/* The benchmarks to run, in order (a sweep: synchronous and throughput;
 * its rates are added after them). out holds MG_PERF_MAX_RATES + 2.
 * Returns the count. */
int mg_perf_cfg_plan(const struct mg_perf_config *c,
                     struct mg_perf_profile *out);

/* The record's perf.config. caller owns the result. */
struct mg_json *mg_perf_cfg_json(const struct mg_perf_config *c,
                                 const char *url, const char *model,
                                 const struct mg_perf_data *data);

/* The report's config.spec in GuideLLM's v0.7 terms (backend, profile,
 * constraints, data, seed, outputs, metrics). caller owns the result. */
struct mg_json *mg_perf_cfg_gl_spec(const struct mg_perf_config *c,
                                    const char *url, const char *model);

/* Loads --data (synthetic spec or file), then --data-samples and the
 * backend's max_tokens. */
int mg_perf_cfg_load_data(const struct mg_perf_config *c,
                          struct mg_perf_data *data, struct mg_err *err);
/* The endpoint URL and the warm-up URL (caller owns *url and *warm_url,
 * NULL when c->warm is 0; t points into them and into c) and the HTTP
 * and body options. bearer is borrowed. */
void mg_perf_cfg_target(const struct mg_perf_config *c, const char *base,
                        const char *bearer, int verbose,
                        struct mg_perf_target *t, char **url, char **warm_url);
/* Writes --csv (from runs) and the GuideLLM report (when report is not
 * NULL), atomically. */
int mg_perf_cfg_write_outputs(const struct mg_perf_config *c,
                              const struct mg_json *runs,
                              const struct mg_json *report, int pretty,
                              struct mg_err *err);

struct mg_http_opts;
struct mg_tok_proc;
/*
 * Opens --processor: a URL, "server" (base) or a local path. Returns 0
 * (*tp NULL without --processor), 1 with *tp NULL when the processor is
 * none of those (a Hugging Face model id, as GuideLLM takes: perf-run
 * cannot fetch it and builds prompts from words), -1 on failure. caller
 * owns *tp.
 */
int mg_perf_cfg_open_processor(const struct mg_perf_config *c, const char *base,
                               const char *model,
                               const struct mg_http_opts *http,
                               struct mg_tok_proc **tp, struct mg_err *err);

#endif

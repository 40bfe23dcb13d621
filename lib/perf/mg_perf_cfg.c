#include "perf/mg_perf_cfg.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_cli.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_record.h"
#include "perf/mg_perf_bench.h"
#include "perf/mg_perf_data.h"
#include "perf/mg_perf_report.h"
#include "tok/mg_tok_proc.h"

void mg_perf_cfg_init(struct mg_perf_config *c)
{
  memset(c, 0, sizeof(*c));
  c->kind = MG_PERF_SWEEP;
  c->sweep_kind = MG_PERF_CONSTANT;
  c->seed = 42;
  c->burstiness = 1.0;
  c->time_scale = 1.0;
  c->ignore_eos = 1;
  c->unique_prefix = 1;
  c->content_parts = 1;
  c->progress = 1;
  c->max_field = MG_PERF_MAX_DEFAULT;
  c->method = MG_STATS_PCT_NEAREST_RANK;
  c->error_window = 30;
  c->global_error_min = 30;
  c->sample_size = -1;
  c->warm = 1;
  mg_perf_osd_opts_init(&c->osd);
}

void mg_perf_cfg_release(struct mg_perf_config *c)
{
  for (size_t i = 0; i < c->nowned; i++)
    free(c->owned[i]);
  free(c->owned);
  mg_json_free(c->labels);
  c->owned = NULL;
  c->nowned = c->capowned = 0;
  c->labels = NULL;
}

/* Keeps s (malloc'd) until release and returns it. */
static const char *own(struct mg_perf_config *c, char *s)
{
  if (c->nowned == c->capowned) {
    c->capowned = c->capowned ? c->capowned * 2 : 8;
    c->owned = mg_xreallocarray(c->owned, c->capowned, sizeof(*c->owned));
  }
  c->owned[c->nowned++] = s;
  return s;
}

/* Registry values. */

static struct mg_json *typed_value(const char *v, size_t n)
{
  char *s = mg_xstrndup(v, n), *end;
  struct mg_json *j = NULL;
  double d;

  if (n && (v[0] == '[' || v[0] == '{' || v[0] == '"')) {
    if (mg_json_parse(s, n, "value", &j, NULL) < 0)
      j = NULL;
  } else if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0) {
    j = mg_json_new_bool(1);
  } else if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0) {
    j = mg_json_new_bool(0);
  } else if (strcmp(s, "null") == 0 || strcmp(s, "None") == 0) {
    j = mg_json_new_null();
  } else {
    d = n ? strtod(s, &end) : 0;
    if (n && !*end && isfinite(d))
      j = mg_json_new_number(d);
    else
      j = mg_json_new_string(s);
  }
  free(s);
  return j;
}

int mg_perf_cfg_regopt_parse(const char *spec, const char *what,
                             struct mg_json **out, struct mg_err *err)
{
  struct mg_json *o;
  const char *p = spec;

  *out = NULL;
  while (*p == ' ')
    p++;
  if (*p == '{') {
    if (mg_json_parse(spec, strlen(spec), what, &o, NULL) < 0
        || !mg_json_is_object(o)) {
      mg_json_free(o);
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value '%s' for %s: not a JSON object", spec,
                        what);
    }
    *out = o;
    return 0;
  }
  o = mg_json_new_object();
  while (*p) {
    const char *start = p, *eq = NULL;
    int depth = 0, quoted = 0;
    struct mg_json *v;
    char key[64];

    for (; *p; p++) {
      if (quoted) {
        if (*p == '\\' && p[1])
          p++;
        else if (*p == '"')
          quoted = 0;
      } else if (*p == '"') {
        quoted = 1;
      } else if (*p == '[' || *p == '{') {
        depth++;
      } else if (*p == ']' || *p == '}') {
        depth--;
      } else if (*p == '=' && !eq && depth == 0) {
        eq = p;
      } else if (*p == ',' && depth == 0) {
        break;
      }
    }
    if (!eq || eq == start || (size_t)(eq - start) >= sizeof(key)) {
      mg_json_free(o);
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value '%s' for %s: expected key=value "
                        "items ('%.*s')",
                        spec, what, (int)(p - start), start);
    }
    memcpy(key, start, (size_t)(eq - start));
    key[eq - start] = '\0';
    v = typed_value(eq + 1, (size_t)(p - eq - 1));
    if (!v) {
      mg_json_free(o);
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value '%s' for %s: bad JSON in '%s'", spec,
                        what, key);
    }
    mg_json_set(o, key, v);
    if (*p == ',')
      p++;
  }
  *out = o;
  return 0;
}

/* Typed field readers; each fails with "invalid value ... for OPT". */

static int bad_field(const char *what, const char *key, const char *expect,
                     struct mg_err *err)
{
  return mg_err_set(err, MG_ERR_USAGE, "invalid value for %s: '%s' %s", what,
                    key, expect);
}

static int field_number(const struct mg_json *x, double lo, double hi,
                        double *out, const char *what, struct mg_err *err)
{
  double v;

  if (!mg_json_is_number(x))
    return bad_field(what, mg_json_key(x), "must be a number", err);
  v = mg_json_number(x);
  if (!(v >= lo && v <= hi)) {
    mg_err_set(err, MG_ERR_USAGE,
               "invalid value for %s: '%s' must be from %g to %g", what,
               mg_json_key(x), lo, hi);
    return -1;
  }
  *out = v;
  return 0;
}

static int field_count(const struct mg_json *x, long long lo, long long *out,
                       const char *what, struct mg_err *err)
{
  double v;

  if (field_number(x, (double)lo, 4294967295.0, &v, what, err) < 0)
    return -1;
  if (v != floor(v))
    return bad_field(what, mg_json_key(x), "must be a whole number", err);
  *out = (long long)v;
  return 0;
}

static int field_bool(const struct mg_json *x, int *out, const char *what,
                      struct mg_err *err)
{
  if (!mg_json_is_bool(x))
    return bad_field(what, mg_json_key(x), "must be true or false", err);
  *out = mg_json_bool(x);
  return 0;
}

static int field_string(const struct mg_json *x, const char **out,
                        const char *what, struct mg_err *err)
{
  if (!mg_json_is_string(x))
    return bad_field(what, mg_json_key(x), "must be a string", err);
  *out = mg_json_string(x);
  return 0;
}

/* A number or an array of numbers into c->rates. */
static int field_rates(struct mg_perf_config *c, const struct mg_json *x,
                       const char *what, struct mg_err *err)
{
  size_t n = mg_json_is_array(x) ? mg_json_size(x) : 1;

  if (n == 0 || n > MG_PERF_MAX_RATES)
    return bad_field(what, mg_json_key(x), "needs 1 to 64 numbers", err);
  c->nrates = 0;
  for (size_t i = 0; i < n; i++) {
    const struct mg_json *v = mg_json_is_array(x) ? mg_json_at(x, i) : x;
    if (!mg_json_is_number(v) || !(mg_json_number(v) > 0)
        || mg_json_number(v) > 1e9)
      return bad_field(what, mg_json_key(x), "must be numbers > 0", err);
    c->rates[c->nrates++] = mg_json_number(v);
  }
  c->rate_arg = NULL;
  return 0;
}

static int unknown_field(const char *what, const struct mg_json *x,
                         struct mg_err *err)
{
  return mg_err_set(err, MG_ERR_USAGE,
                    "invalid value for %s: unknown field '%s'", what,
                    mg_json_key(x));
}

static int kind_is(const struct mg_json *o, const char *want)
{
  const struct mg_json *k = mg_json_get(o, "kind");

  return !k || (mg_json_is_string(k) && strcmp(mg_json_string(k), want) == 0);
}

/* Profiles. */

int mg_perf_cfg_profile(struct mg_perf_config *c, const char *arg,
                        struct mg_err *err)
{
  struct mg_json *o = NULL, *k;
  int rc = -1;

  if (!strchr(arg, '=') && arg[0] != '{') {
    c->kind = mg_perf_sched_kind_parse(arg);
    if (c->kind < 0)
      return mg_err_set(err, MG_ERR_USAGE, "invalid value '%s' for --profile",
                        arg);
    return 0;
  }
  if (mg_perf_cfg_regopt_parse(arg, "--profile", &o, err) < 0)
    return -1;
  k = mg_json_get(o, "kind");
  if (!mg_json_is_string(k)
      || mg_perf_sched_kind_parse(mg_json_string(k)) < 0) {
    mg_err_set(err, MG_ERR_USAGE,
               "invalid value '%s' for --profile: needs kind=synchronous|"
               "concurrent|throughput|constant|poisson|gamma|replay|sweep",
               arg);
    goto out;
  }
  c->kind = mg_perf_sched_kind_parse(mg_json_string(k));
  for (struct mg_json *x = mg_json_first(o); x; x = mg_json_next(x)) {
    const char *key = mg_json_key(x);
    double v;
    if (strcmp(key, "kind") == 0)
      continue;
    if (strcmp(key, "rate") == 0 || strcmp(key, "streams") == 0) {
      if (field_rates(c, x, "--profile", err) < 0)
        goto out;
    } else if (strcmp(key, "sweep_size") == 0) {
      if (field_number(x, 3, 100, &v, "--profile", err) < 0)
        goto out;
      c->rates[0] = v;
      c->nrates = 1;
      c->rate_arg = NULL;
    } else if (strcmp(key, "max_concurrency") == 0) {
      long long n;
      if (field_count(x, 1, &n, "--profile", err) < 0)
        goto out;
      c->max_concurrency = (int)n;
    } else if (strcmp(key, "rampup_duration") == 0
               || strcmp(key, "rampup") == 0) {
      if (field_number(x, 0, 1e6, &c->rampup, "--profile", err) < 0)
        goto out;
    } else if (strcmp(key, "strategy_type") == 0) {
      const char *s = NULL;
      if (field_string(x, &s, "--profile", err) < 0)
        goto out;
      c->sweep_kind = mg_perf_sched_kind_parse(s);
      if (c->sweep_kind != MG_PERF_CONSTANT
          && c->sweep_kind != MG_PERF_POISSON) {
        bad_field("--profile", key, "must be constant or poisson", err);
        goto out;
      }
    } else if (strcmp(key, "random_seed") == 0 || strcmp(key, "seed") == 0) {
      long long n;
      if (field_count(x, 0, &n, "--profile", err) < 0)
        goto out;
      c->seed = (uint64_t)n;
    } else if (strcmp(key, "time_scale") == 0) {
      if (field_number(x, 1e-9, 1e9, &c->time_scale, "--profile", err) < 0)
        goto out;
    } else if (strcmp(key, "burstiness") == 0) {
      if (field_number(x, 1e-6, 1e6, &c->burstiness, "--profile", err) < 0)
        goto out;
    } else {
      unknown_field("--profile", x, err);
      goto out;
    }
  }
  rc = 0;
out:
  mg_json_free(o);
  return rc;
}

/* Backend. */

static int add_header_kv(struct mg_perf_config *c, const char *name,
                         const char *value, struct mg_err *err)
{
  if (c->nheaders == MG_PERF_MAX_HEADERS)
    return mg_err_set(err, MG_ERR_USAGE, "too many headers (at most %d)",
                      MG_PERF_MAX_HEADERS);
  c->headers[c->nheaders++] = own(c, mg_xasprintf("%s: %s", name, value));
  return 0;
}

static int headers_object(struct mg_perf_config *c, const struct mg_json *h,
                          const char *what, struct mg_err *err)
{
  if (!mg_json_is_object(h))
    return bad_field(what, mg_json_key(h), "must be an object", err);
  for (struct mg_json *x = mg_json_first(h); x; x = mg_json_next(x)) {
    if (!mg_json_is_string(x))
      return bad_field(what, mg_json_key(x), "must be a string", err);
    if (strcasecmp(mg_json_key(x), "authorization") == 0)
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value for %s: no Authorization header on "
                        "the command line (use --api-key-file or "
                        "$OPENAI_API_KEY)",
                        what);
    if (add_header_kv(c, mg_json_key(x), mg_json_string(x), err) < 0)
      return -1;
  }
  return 0;
}

/* The fields shared by --backend and --backend-args. */
static int backend_fields(struct mg_perf_config *c, const struct mg_json *o,
                          const char *what, struct mg_err *err)
{
  for (struct mg_json *x = mg_json_first(o); x; x = mg_json_next(x)) {
    const char *key = mg_json_key(x);
    int b = 0;
    if (strcmp(key, "kind") == 0 || strcmp(key, "type") == 0
        || strcmp(key, "type_") == 0) {
      if (!mg_json_is_string(x)
          || strcmp(mg_json_string(x), "openai_http") != 0)
        return bad_field(what, key, "must be openai_http", err);
    } else if (strcmp(key, "target") == 0 || strcmp(key, "model") == 0) {
      const char *s = NULL;
      if (field_string(x, &s, what, err) < 0)
        return -1;
      *(strcmp(key, "target") == 0 ? &c->target : &c->model) =
          own(c, mg_xstrdup(s));
    } else if (strcmp(key, "request_format") == 0
               || strcmp(key, "request_type") == 0) {
      const char *s = NULL;
      if (field_string(x, &s, what, err) < 0
          || mg_perf_cfg_endpoint(c, own(c, mg_xstrdup(s)), err) < 0)
        return -1;
    } else if (strcmp(key, "api_key") == 0) {
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value for %s: no api_key on the command "
                        "line (use --api-key-file or $OPENAI_API_KEY)",
                        what);
    } else if (strcmp(key, "timeout") == 0) {
      if (mg_json_is_null(x))
        c->request_timeout = -1;
      else if (field_number(x, 1e-3, 1e6, &c->request_timeout, what, err) < 0)
        return -1;
    } else if (strcmp(key, "timeout_connect") == 0) {
      if (field_number(x, 1e-3, 1e6, &c->connect_timeout, what, err) < 0)
        return -1;
    } else if (strcmp(key, "http2") == 0) {
      if (field_bool(x, &c->http2, what, err) < 0)
        return -1;
    } else if (strcmp(key, "verify") == 0) {
      if (field_bool(x, &b, what, err) < 0)
        return -1;
      c->insecure = !b;
    } else if (strcmp(key, "follow_redirects") == 0) {
      if (field_bool(x, &b, what, err) < 0)
        return -1;
      c->no_follow = !b;
    } else if (strcmp(key, "validate_backend") == 0) {
      if (field_bool(x, &b, what, err) < 0)
        return -1;
      c->skip_check = !b;
    } else if (strcmp(key, "stream") == 0) {
      if (field_bool(x, &b, what, err) < 0)
        return -1;
      if (!b)
        return bad_field(what, key, "must be true (perf-run streams)", err);
    } else if (strcmp(key, "max_tokens") == 0
               || strcmp(key, "max_output_tokens") == 0) {
      if (field_count(x, 1, &c->default_max_tokens, what, err) < 0)
        return -1;
    } else if (strcmp(key, "headers") == 0) {
      if (headers_object(c, x, what, err) < 0)
        return -1;
    } else if (strcmp(key, "extras") == 0 || strcmp(key, "extra_body") == 0) {
      const struct mg_json *body = x;
      if (!mg_json_is_object(x))
        return bad_field(what, key, "must be an object", err);
      if (strcmp(key, "extras") == 0) {
        for (struct mg_json *e = mg_json_first(x); e; e = mg_json_next(e)) {
          const char *ek = mg_json_key(e);
          if (strcmp(ek, "headers") == 0) {
            if (headers_object(c, e, what, err) < 0)
              return -1;
          } else if (strcmp(ek, "body") != 0) {
            return mg_err_set(err, MG_ERR_USAGE,
                              "invalid value for %s: extras.%s is not "
                              "supported (body and headers are)",
                              what, ek);
          }
        }
        body = mg_json_get(x, "body");
        if (body && !mg_json_is_object(body))
          return bad_field(what, "extras.body", "must be an object", err);
      }
      if (body)
        c->extra_body = own(c, mg_json_print(body, 0));
    } else {
      return unknown_field(what, x, err);
    }
  }
  return 0;
}

int mg_perf_cfg_backend(struct mg_perf_config *c, const char *arg,
                        struct mg_err *err)
{
  struct mg_json *o;
  int rc;

  if (!strchr(arg, '=') && arg[0] != '{') {
    if (strcmp(arg, "openai_http") != 0)
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value '%s' for --backend: only "
                        "'openai_http' is supported",
                        arg);
    return 0;
  }
  if (mg_perf_cfg_regopt_parse(arg, "--backend", &o, err) < 0)
    return -1;
  rc = backend_fields(c, o, "--backend", err);
  mg_json_free(o);
  return rc;
}

int mg_perf_cfg_backend_args(struct mg_perf_config *c, const char *arg,
                             struct mg_err *err)
{
  struct mg_json *o = NULL;
  int rc;

  if (mg_json_parse(arg, strlen(arg), "--backend-args", &o, NULL) < 0
      || !mg_json_is_object(o)) {
    mg_json_free(o);
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for --backend-args: not a JSON "
                      "object",
                      arg);
  }
  rc = backend_fields(c, o, "--backend-args", err);
  mg_json_free(o);
  return rc;
}

/* Constraints. */

int mg_perf_cfg_over_saturation(struct mg_perf_config *c, const char *arg,
                                struct mg_err *err)
{
  c->osd_on = 1;
  if (!arg)
    return 0;
  return mg_perf_osd_opts_parse(arg, &c->osd, err);
}

int mg_perf_cfg_constraint(struct mg_perf_config *c, const char *arg,
                           struct mg_err *err)
{
  struct mg_json *o = NULL, *k;
  const char *kind;
  int rc = -1;

  if (mg_perf_cfg_regopt_parse(arg, "--constraint", &o, err) < 0)
    return -1;
  k = mg_json_get(o, "kind");
  if (!mg_json_is_string(k)) {
    mg_err_set(err, MG_ERR_USAGE,
               "invalid value '%s' for --constraint: needs kind=", arg);
    goto out;
  }
  kind = mg_json_string(k);
  if (strcmp(kind, "over_saturation") == 0) {
    struct mg_json *rest = mg_json_dup(o);
    char *s;
    mg_json_remove(rest, "kind");
    s = mg_json_print(rest, 0);
    mg_json_free(rest);
    rc = mg_perf_cfg_over_saturation(c, s, err);
    free(s);
    goto out;
  }
  for (struct mg_json *x = mg_json_first(o); x; x = mg_json_next(x)) {
    const char *key = mg_json_key(x);
    long long n;
    if (strcmp(key, "kind") == 0)
      continue;
    if (strcmp(key, "stopping_scope") == 0) {
      if (!mg_json_is_string(x) || strcmp(mg_json_string(x), "current")) {
        bad_field("--constraint", key, "must be current", err);
        goto out;
      }
    } else if (strcmp(kind, "max_duration") == 0
               && strcmp(key, "seconds") == 0) {
      if (field_number(x, 1e-3, 1e7, &c->max_seconds, "--constraint", err) < 0)
        goto out;
    } else if (strcmp(kind, "max_requests") == 0 && strcmp(key, "count") == 0) {
      if (field_count(x, 1, &c->max_requests, "--constraint", err) < 0)
        goto out;
    } else if (strcmp(kind, "max_errors") == 0 && strcmp(key, "count") == 0) {
      if (field_count(x, 1, &c->max_errors, "--constraint", err) < 0)
        goto out;
    } else if (strcmp(kind, "max_error_rate") == 0
               && strcmp(key, "rate") == 0) {
      if (field_number(x, 1e-9, 1, &c->max_error_rate, "--constraint", err) < 0)
        goto out;
    } else if (strcmp(kind, "max_error_rate") == 0
               && strcmp(key, "window") == 0) {
      if (field_count(x, 1, &n, "--constraint", err) < 0)
        goto out;
      c->error_window = (int)n;
    } else if (strcmp(kind, "max_global_error_rate") == 0
               && strcmp(key, "rate") == 0) {
      if (field_number(x, 1e-9, 1, &c->max_global_error_rate, "--constraint",
                       err)
          < 0)
        goto out;
    } else if (strcmp(kind, "max_global_error_rate") == 0
               && strcmp(key, "minimum") == 0) {
      if (field_count(x, 1, &n, "--constraint", err) < 0)
        goto out;
      c->global_error_min = (int)n;
    } else if (strcmp(kind, "max_duration") && strcmp(kind, "max_requests")
               && strcmp(kind, "max_errors") && strcmp(kind, "max_error_rate")
               && strcmp(kind, "max_global_error_rate")) {
      mg_err_set(err, MG_ERR_USAGE,
                 "invalid value '%s' for --constraint: unknown kind '%s'", arg,
                 kind);
      goto out;
    } else {
      unknown_field("--constraint", x, err);
      goto out;
    }
  }
  rc = 0;
out:
  mg_json_free(o);
  return rc;
}

/* Data and tokenizer. */

int mg_perf_cfg_data(struct mg_perf_config *c, const char *arg,
                     struct mg_err *err)
{
  struct mg_json *o = NULL, *k;
  const char *kind;
  int rc = -1;

  if (strncmp(arg, "kind=", 5) != 0
      && !(arg[0] == '{' && strstr(arg, "\"kind\""))) {
    c->data = arg;
    return 0;
  }
  if (mg_perf_cfg_regopt_parse(arg, "--data", &o, err) < 0)
    return -1;
  k = mg_json_get(o, "kind");
  kind = mg_json_is_string(k) ? mg_json_string(k) : "";
  if (strcmp(kind, "synthetic_text") == 0 || strcmp(kind, "synthetic") == 0) {
    mg_json_remove(o, "kind");
    c->data = own(c, mg_json_print(o, 0));
    rc = 0;
  } else if (strcmp(kind, "json_file") == 0 || strcmp(kind, "jsonl_file") == 0
             || strcmp(kind, "csv_file") == 0 || strcmp(kind, "text_file") == 0
             || strcmp(kind, "file") == 0) {
    const struct mg_json *path = mg_json_get(o, "path");
    if (!path)
      path = mg_json_get(o, "source");
    if (!mg_json_is_string(path) || mg_json_size(o) != 2) {
      mg_err_set(err, MG_ERR_USAGE,
                 "invalid value '%s' for --data: kind=%s takes path= only", arg,
                 kind);
      goto out;
    }
    c->data = own(c, mg_xstrdup(mg_json_string(path)));
    rc = 0;
  } else {
    mg_err_set(err, MG_ERR_USAGE,
               "invalid value '%s' for --data: kind '%s' is not supported "
               "(synthetic_text, json_file, jsonl_file, csv_file, text_file)",
               arg, kind);
  }
out:
  mg_json_free(o);
  return rc;
}

int mg_perf_cfg_tokenizer(struct mg_perf_config *c, const char *arg,
                          struct mg_err *err)
{
  struct mg_json *o = NULL;
  int rc = -1;

  if (!strchr(arg, '=') && arg[0] != '{') {
    c->processor = arg;
    return 0;
  }
  if (mg_perf_cfg_regopt_parse(arg, "--tokenizer", &o, err) < 0)
    return -1;
  for (struct mg_json *x = mg_json_first(o); x; x = mg_json_next(x)) {
    const char *key = mg_json_key(x);
    if (strcmp(key, "kind") == 0) {
      if (!mg_json_is_string(x)
          || (strcmp(mg_json_string(x), "huggingface_auto")
              && strcmp(mg_json_string(x), "huggingface"))) {
        bad_field("--tokenizer", key, "must be huggingface_auto", err);
        goto out;
      }
    } else if (strcmp(key, "model") == 0 || strcmp(key, "path") == 0) {
      if (!mg_json_is_string(x)) {
        bad_field("--tokenizer", key, "must be a path", err);
        goto out;
      }
      c->processor = own(c, mg_xstrdup(mg_json_string(x)));
    } else if (strcmp(key, "load_kwargs") != 0) {
      unknown_field("--tokenizer", x, err);
      goto out;
    }
  }
  rc = 0;
out:
  mg_json_free(o);
  return rc;
}

int mg_perf_cfg_seed(struct mg_perf_config *c, const char *arg,
                     struct mg_err *err)
{
  struct mg_json *o = NULL, *v;
  uint64_t n;
  int rc = -1;

  if (!strchr(arg, '=') && arg[0] != '{')
    return mg_parse_uint(arg, 0, UINT64_MAX / 2, &c->seed, "--seed", err);
  if (mg_perf_cfg_regopt_parse(arg, "--seed", &o, err) < 0)
    return -1;
  v = mg_json_get(o, "value");
  if (!kind_is(o, "static") || !mg_json_is_number(v) || mg_json_number(v) < 0
      || mg_json_number(v) != floor(mg_json_number(v))) {
    mg_err_set(err, MG_ERR_USAGE,
               "invalid value '%s' for --seed: expected N or "
               "kind=static,value=N",
               arg);
    goto out;
  }
  n = (uint64_t)mg_json_number(v);
  c->seed = n;
  rc = 0;
out:
  mg_json_free(o);
  return rc;
}

int mg_perf_cfg_data_loader(struct mg_perf_config *c, const char *arg,
                            struct mg_err *err)
{
  struct mg_json *o;
  int rc = -1;

  if (mg_perf_cfg_regopt_parse(arg, "--data-loader", &o, err) < 0)
    return -1;
  for (struct mg_json *x = mg_json_first(o); x; x = mg_json_next(x)) {
    const char *key = mg_json_key(x);
    int b = 0;
    if (strcmp(key, "kind") == 0 || strcmp(key, "num_workers") == 0) {
      continue;
    } else if (strcmp(key, "samples") == 0) {
      double v;
      if (field_number(x, -1, 4294967295.0, &v, "--data-loader", err) < 0)
        goto out;
      c->data_samples = v < 0 ? 0 : (long long)v;
    } else if (strcmp(key, "shuffle") == 0) {
      if (field_bool(x, &b, "--data-loader", err) < 0)
        goto out;
      if (b) {
        bad_field("--data-loader", key, "true is not supported", err);
        goto out;
      }
    } else {
      unknown_field("--data-loader", x, err);
      goto out;
    }
  }
  rc = 0;
out:
  mg_json_free(o);
  return rc;
}

/* Outputs. */

static int is_dir(const char *p)
{
  struct stat st;

  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
  size_t n = strlen(s), k = strlen(suffix);

  return n >= k && strcmp(s + n - k, suffix) == 0;
}

int mg_perf_cfg_output_path(struct mg_perf_config *c, const char *arg,
                            struct mg_err *err)
{
  if (ends_with(arg, ".json") || ends_with(arg, ".yaml")
      || ends_with(arg, ".yml")) {
    c->report = arg;
  } else if (ends_with(arg, ".csv")) {
    c->csv = arg;
  } else if (is_dir(arg)) {
    c->report = own(c, mg_xasprintf("%s/benchmarks.json", arg));
  } else {
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for --output-path: expected a "
                      ".json, .yaml or .csv file or a directory",
                      arg);
  }
  return 0;
}

int mg_perf_cfg_output(struct mg_perf_config *c, const char *arg,
                       struct mg_err *err)
{
  struct mg_json *o = NULL, *k, *p;
  const char *kind, *path = NULL;
  int rc = -1;

  if (mg_perf_cfg_regopt_parse(arg, "--output", &o, err) < 0)
    return -1;
  k = mg_json_get(o, "kind");
  p = mg_json_get(o, "path");
  kind = mg_json_is_string(k) ? mg_json_string(k) : "";
  for (struct mg_json *x = mg_json_first(o); x; x = mg_json_next(x))
    if (strcmp(mg_json_key(x), "kind") && strcmp(mg_json_key(x), "path")) {
      unknown_field("--output", x, err);
      goto out;
    }
  if (p && !mg_json_is_string(p)) {
    bad_field("--output", "path", "must be a string", err);
    goto out;
  }
  if (p)
    path = own(c, mg_xstrdup(mg_json_string(p)));
  if (path && is_dir(path))
    path = own(c, mg_xasprintf("%s/benchmarks.%s", path,
                               strcmp(kind, "csv") == 0 ? "csv" : kind));
  if (strcmp(kind, "json") == 0 || strcmp(kind, "yaml") == 0) {
    c->report = path                        ? path
                : strcmp(kind, "json") == 0 ? "benchmarks.json"
                                            : "benchmarks.yaml";
  } else if (strcmp(kind, "csv") == 0) {
    c->csv = path ? path : "benchmarks.csv";
  } else if (strcmp(kind, "console") == 0) {
    /* The summary on stderr is always there (unless -q). */
  } else {
    mg_err_set(err, MG_ERR_USAGE,
               "invalid value '%s' for --output: kind '%s' is not supported "
               "(json, yaml, csv, console)",
               arg, kind);
    goto out;
  }
  rc = 0;
out:
  mg_json_free(o);
  return rc;
}

int mg_perf_cfg_metrics(struct mg_perf_config *c, const char *arg,
                        struct mg_err *err)
{
  struct mg_json *o;
  int rc = -1;

  if (mg_perf_cfg_regopt_parse(arg, "--metrics", &o, err) < 0)
    return -1;
  for (struct mg_json *x = mg_json_first(o); x; x = mg_json_next(x)) {
    const char *key = mg_json_key(x);
    int b = 0;
    if (strcmp(key, "kind") == 0) {
      if (!mg_json_is_string(x) || strcmp(mg_json_string(x), "generative")) {
        bad_field("--metrics", key, "must be generative", err);
        goto out;
      }
    } else if (strcmp(key, "sample_size") == 0) {
      if (mg_json_is_null(x))
        c->sample_size = -1;
      else if (field_count(x, 0, &c->sample_size, "--metrics", err) < 0)
        goto out;
    } else if (strcmp(key, "prefer_response_metrics") == 0) {
      if (field_bool(x, &b, "--metrics", err) < 0)
        goto out;
      if (!b) {
        bad_field("--metrics", key,
                  "false is not supported (server usage always wins)", err);
        goto out;
      }
    } else {
      unknown_field("--metrics", x, err);
      goto out;
    }
  }
  rc = 0;
out:
  mg_json_free(o);
  return rc;
}

int mg_perf_cfg_label(struct mg_perf_config *c, const char *arg,
                      struct mg_err *err)
{
  const char *eq = strchr(arg, '=');
  char *k;

  if (!c->labels)
    c->labels = mg_json_new_object();
  /* A bare word is the dataset label ("baseline", a use case's name) that
   * results-merge and registry-push file the results under; K=V is
   * GuideLLM v0.7's metadata label. */
  if (!eq) {
    if (!*arg)
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value '' for --label: empty label");
    mg_json_set_string(c->labels, "dataset", arg);
    return 0;
  }
  if (eq == arg)
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for --label: expected key=value "
                      "or a dataset label",
                      arg);
  k = mg_xstrndup(arg, (size_t)(eq - arg));
  mg_json_set_string(c->labels, k, eq + 1);
  free(k);
  return 0;
}

int mg_perf_cfg_endpoint(struct mg_perf_config *c, const char *arg,
                         struct mg_err *err)
{
  if (strcmp(arg, "chat") == 0 || strcmp(arg, "chat_completions") == 0)
    c->endpoint = "chat";
  else if (strcmp(arg, "completions") == 0
           || strcmp(arg, "text_completions") == 0)
    c->endpoint = "completions";
  else if (arg[0] == '/')
    c->endpoint = arg;
  else
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for --endpoint: expected chat, "
                      "completions or a path",
                      arg);
  return 0;
}

int mg_perf_cfg_phase(double *out, const char *arg, const char *what,
                      struct mg_err *err)
{
  struct mg_json *o = NULL, *v;
  int rc = -1;

  if (arg[0] != '{')
    return mg_parse_double(arg, 0, 1e9, out, what, err);
  if (mg_json_parse(arg, strlen(arg), what, &o, NULL) < 0
      || !mg_json_is_object(o))
    goto bad;
  v = mg_json_get(o, "percent");
  if (mg_json_is_number(v) && mg_json_number(v) >= 0 && mg_json_number(v) < 1) {
    *out = mg_json_number(v);
    rc = 0;
    goto out;
  }
  v = mg_json_get(o, "value");
  if (mg_json_is_number(v) && mg_json_number(v) >= 1) {
    *out = mg_json_number(v);
    rc = 0;
    goto out;
  }
bad:
  mg_err_set(err, MG_ERR_USAGE,
             "invalid value '%s' for %s: expected a number, "
             "{\"percent\": F < 1} or {\"value\": N >= 1}",
             arg, what);
out:
  mg_json_free(o);
  return rc;
}

int mg_perf_cfg_slo(struct mg_perf_config *c, const char *arg,
                    struct mg_err *err)
{
  const char *p = arg;

  while (*p) {
    char key[16], val[64];
    size_t n = strcspn(p, ",");
    const char *eq = memchr(p, '=', n);
    double v;
    if (!eq || (size_t)(eq - p) >= sizeof(key)
        || n - (size_t)(eq - p) - 1 >= sizeof(val))
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value '%s' for --slo: expected "
                        "ttft=MS,itl=MS,e2e=MS",
                        arg);
    memcpy(key, p, (size_t)(eq - p));
    key[eq - p] = '\0';
    memcpy(val, eq + 1, n - (size_t)(eq - p) - 1);
    val[n - (size_t)(eq - p) - 1] = '\0';
    if (mg_parse_double(val, 1e-9, 1e9, &v, "--slo", err) < 0)
      return -1;
    if (strcmp(key, "ttft") == 0 || strcmp(key, "ttft_ms") == 0)
      c->slo.ttft_ms = v;
    else if (strcmp(key, "itl") == 0 || strcmp(key, "tpot") == 0
             || strcmp(key, "tpot_ms") == 0)
      c->slo.itl_ms = v;
    else if (strcmp(key, "e2e") == 0 || strcmp(key, "e2el") == 0
             || strcmp(key, "e2el_ms") == 0)
      c->slo.e2e_ms = v;
    else
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value '%s' for --slo: unknown objective "
                        "'%s'",
                        arg, key);
    p += n;
    if (*p == ',')
      p++;
  }
  return 0;
}

int mg_perf_cfg_header(struct mg_perf_config *c, const char *arg,
                       struct mg_err *err)
{
  if (c->nheaders == MG_PERF_MAX_HEADERS)
    return mg_err_set(err, MG_ERR_USAGE,
                      "too many --header options (at most %d)",
                      MG_PERF_MAX_HEADERS);
  if (!strchr(arg, ':'))
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value for --header: expected 'Name: value'");
  c->headers[c->nheaders++] = arg;
  return 0;
}

/* The option table. */

static int set_chat_content(struct mg_perf_config *c, const char *arg,
                            struct mg_err *err)
{
  if (strcmp(arg, "text") && strcmp(arg, "parts"))
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for --chat-content: expected "
                      "text or parts",
                      arg);
  c->content_parts = strcmp(arg, "parts") == 0;
  return 0;
}

static int set_cooldown(struct mg_perf_config *c, const char *arg,
                        struct mg_err *err)
{
  return mg_perf_cfg_phase(&c->cooldown, arg, "--cooldown", err);
}

static int set_warmup(struct mg_perf_config *c, const char *arg,
                      struct mg_err *err)
{
  return mg_perf_cfg_phase(&c->warmup, arg, "--warmup", err);
}

static int set_detect_saturation(struct mg_perf_config *c, const char *arg,
                                 struct mg_err *err)
{
  (void)arg;
  return mg_perf_cfg_over_saturation(c, NULL, err);
}

static int set_max_tokens_field(struct mg_perf_config *c, const char *arg,
                                struct mg_err *err)
{
  if (strcmp(arg, "max_tokens") == 0)
    c->max_field = MG_PERF_MAX_TOKENS;
  else if (strcmp(arg, "max_completion_tokens") == 0)
    c->max_field = MG_PERF_MAX_COMPLETION;
  else if (strcmp(arg, "both") == 0)
    c->max_field = MG_PERF_MAX_BOTH;
  else
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for --max-tokens-field: "
                      "expected max_tokens, max_completion_tokens or "
                      "both",
                      arg);
  return 0;
}

static int set_percentile_method(struct mg_perf_config *c, const char *arg,
                                 struct mg_err *err)
{
  if (strcmp(arg, "nearest-rank") == 0)
    c->method = MG_STATS_PCT_NEAREST_RANK;
  else if (strcmp(arg, "linear") == 0)
    c->method = MG_STATS_PCT_LINEAR;
  else
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for --percentile-method: "
                      "expected nearest-rank or linear",
                      arg);
  return 0;
}

static int set_sweep_type(struct mg_perf_config *c, const char *arg,
                          struct mg_err *err)
{
  c->sweep_kind = mg_perf_sched_kind_parse(arg);
  if (c->sweep_kind != MG_PERF_CONSTANT && c->sweep_kind != MG_PERF_POISSON)
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for --sweep-type: expected "
                      "constant or poisson",
                      arg);
  return 0;
}

#define F(field) offsetof(struct mg_perf_config, field)
#define FLAG(name, field, v)                                                   \
  {                                                                            \
    name, 0, MG_PERF_CFG_FLAG, F(field), v, 0, NULL                            \
  }
#define STR(name, field)                                                       \
  {                                                                            \
    name, 1, MG_PERF_CFG_STRING, F(field), 0, 0, NULL                          \
  }
#define NUM(name, type, field, lo, hi)                                         \
  {                                                                            \
    name, 1, MG_PERF_CFG_##type, F(field), lo, hi, NULL                        \
  }
#define SET(name, fn)                                                          \
  {                                                                            \
    name, 1, MG_PERF_CFG_SET, 0, 0, 0, fn                                      \
  }
#define SET0(name, fn)                                                         \
  {                                                                            \
    name, 0, MG_PERF_CFG_SET, 0, 0, 0, fn                                      \
  }
#define IGNORED(name, arg)                                                     \
  {                                                                            \
    name, arg, MG_PERF_CFG_IGNORED, 0, 0, 0, NULL                              \
  }
#define UNSUPPORTED(name)                                                      \
  {                                                                            \
    name, 1, MG_PERF_CFG_UNSUPPORTED, 0, 0, 0, NULL                            \
  }

/* clang-format off */
const struct mg_perf_cfg_option mg_perf_cfg_options[] = {
  FLAG("add-special-tokens", add_special, 1),
  FLAG("allow-unverified", allow_unverified, 1),
  STR("api-key-file", api_key_file),
  SET("backend", mg_perf_cfg_backend),
  SET("backend-args", mg_perf_cfg_backend_args),
  SET("backend-kwargs", mg_perf_cfg_backend_args),
  SET("backend-type", mg_perf_cfg_backend),
  NUM("burstiness", DOUBLE, burstiness, 1e-6, 1e6),
  STR("cacert", cacert),
  SET("chat-content", set_chat_content),
  NUM("check-timeout", DOUBLE, check_timeout, 1e-3, 1e6),
  UNSUPPORTED("config"),
  NUM("connect-timeout", DOUBLE, connect_timeout, 1e-3, 1e6),
  SET("constraint", mg_perf_cfg_constraint),
  SET("cooldown", set_cooldown),
  NUM("cooldown-percent", DOUBLE, cooldown, 0, 0.999999),
  STR("csv", csv),
  SET("data", mg_perf_cfg_data),
  UNSUPPORTED("data-args"),
  UNSUPPORTED("data-column-mapper"),
  SET("data-loader", mg_perf_cfg_data_loader),
  NUM("data-samples", COUNT, data_samples, 1, 4294967295.0),
  SET0("detect-saturation", set_detect_saturation),
  FLAG("detokenize", tokenize, 2),
  FLAG("disable-console", progress, 0),
  FLAG("disable-console-interactive", progress, 0),
  IGNORED("disable-console-outputs", 0),
  FLAG("disable-progress", progress, 0),
  IGNORED("display-scheduler-stats", 0),
  SET("endpoint", mg_perf_cfg_endpoint),
  STR("extra-body", extra_body),
  STR("guidellm-json", report),
  SET("header", mg_perf_cfg_header),
  FLAG("http2", http2, 1),
  FLAG("insecure", insecure, 1),
  SET("label", mg_perf_cfg_label),
  NUM("max-concurrency", INT, max_concurrency, 1, 1000000),
  NUM("max-error-rate", DOUBLE, max_error_rate, 1e-9, 1),
  NUM("max-errors", COUNT, max_errors, 1, 4294967295.0),
  NUM("max-global-error-rate", DOUBLE, max_global_error_rate, 1e-9, 1),
  NUM("max-requests", COUNT, max_requests, 1, 4294967295.0),
  NUM("max-seconds", DOUBLE, max_seconds, 1e-3, 1e7),
  SET("max-tokens-field", set_max_tokens_field),
  SET("metrics", mg_perf_cfg_metrics),
  STR("model", model),
  FLAG("no-ignore-eos", ignore_eos, 0),
  FLAG("no-unique-prefix", unique_prefix, 0),
  FLAG("no-warm-connections", warm, 0),
  STR("output-dir", output_dir),
  UNSUPPORTED("output-extras"),
  SET("output-path", mg_perf_cfg_output_path),
  NUM("output-sampling", COUNT, sample_size, 0, 4294967295.0),
  STR("outputs", outputs),
  SET("over-saturation", mg_perf_cfg_over_saturation),
  UNSUPPORTED("override"),
  SET("percentile-method", set_percentile_method),
  IGNORED("prefer-response-metrics", 0),
  STR("processor", processor),
  UNSUPPORTED("processor-args"),
  SET("profile", mg_perf_cfg_profile),
  NUM("rampup", DOUBLE, rampup, 0, 1e6),
  SET("random-seed", mg_perf_cfg_seed),
  STR("rate", rate_arg),
  SET("rate-type", mg_perf_cfg_profile),
  SET("request-format", mg_perf_cfg_endpoint),
  NUM("request-timeout", DOUBLE, request_timeout, 1e-3, 1e6),
  SET("request-type", mg_perf_cfg_endpoint),
  NUM("sample-requests", COUNT, sample_size, 0, 4294967295.0),
  STR("samples", samples),
  UNSUPPORTED("scenario"),
  SET("seed", mg_perf_cfg_seed),
  FLAG("skip-check", skip_check, 1),
  SET("slo", mg_perf_cfg_slo),
  NUM("start-at", DOUBLE, start_at, 0, 1e11),
  SET("sweep-type", set_sweep_type),
  STR("target", target),
  NUM("time-scale", DOUBLE, time_scale, 1e-9, 1e9),
  FLAG("tokenize", tokenize, 1),
  SET("tokenizer", mg_perf_cfg_tokenizer),
  SET("warmup", set_warmup),
  NUM("warmup-percent", DOUBLE, warmup, 0, 0.999999),
};
/* clang-format on */

#undef F
#undef FLAG
#undef STR
#undef NUM
#undef SET
#undef SET0
#undef IGNORED
#undef UNSUPPORTED

const size_t mg_perf_cfg_noptions =
    sizeof(mg_perf_cfg_options) / sizeof(mg_perf_cfg_options[0]);

const struct mg_perf_cfg_option *mg_perf_cfg_option_find(const char *name)
{
  size_t lo = 0, hi = mg_perf_cfg_noptions;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int d = strcmp(name, mg_perf_cfg_options[mid].name);
    if (d == 0)
      return &mg_perf_cfg_options[mid];
    if (d < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

int mg_perf_cfg_apply(struct mg_perf_config *c,
                      const struct mg_perf_cfg_option *o, const char *arg,
                      struct mg_err *err)
{
  char *field = (char *)c + o->offset;
  char name[64];
  uint64_t u;
  double d;

  (void)snprintf(name, sizeof(name), "--%s", o->name);
  switch (o->type) {
  case MG_PERF_CFG_FLAG:
    *(int *)(void *)field = (int)o->lo;
    return 0;
  case MG_PERF_CFG_STRING:
    *(const char **)(void *)field = arg;
    return 0;
  case MG_PERF_CFG_DOUBLE:
    if (mg_parse_double(arg, o->lo, o->hi, &d, name, err) < 0)
      return -1;
    *(double *)(void *)field = d;
    return 0;
  case MG_PERF_CFG_INT:
  case MG_PERF_CFG_COUNT:
    if (mg_parse_uint(arg, (uint64_t)o->lo, (uint64_t)o->hi, &u, name, err) < 0)
      return -1;
    if (o->type == MG_PERF_CFG_INT)
      *(int *)(void *)field = (int)u;
    else
      *(long long *)(void *)field = (long long)u;
    return 0;
  case MG_PERF_CFG_SET:
    return o->set(c, arg, err);
  case MG_PERF_CFG_IGNORED:
    return 0;
  case MG_PERF_CFG_UNSUPPORTED:
    break;
  }
  return mg_err_set(err, MG_ERR_USAGE,
                    "option '%s' is not supported by perf-run", name);
}

/* After parsing. */

static int parse_rate_list(struct mg_perf_config *c, const char *arg,
                           struct mg_err *err)
{
  const char *p = arg;

  c->nrates = 0;
  while (*p) {
    char buf[64];
    size_t n = strcspn(p, ",");
    if (n == 0 || n >= sizeof(buf) || c->nrates == MG_PERF_MAX_RATES)
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value '%s' for --rate: expected numbers "
                        "separated by commas",
                        arg);
    memcpy(buf, p, n);
    buf[n] = '\0';
    if (mg_parse_double(buf, 1e-9, 1e9, &c->rates[c->nrates++], "--rate", err)
        < 0)
      return -1;
    p += n;
    if (*p == ',')
      p++;
  }
  if (!c->nrates)
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for --rate: expected numbers "
                      "separated by commas",
                      arg);
  return 0;
}

int mg_perf_cfg_finish(struct mg_perf_config *c, struct mg_err *err)
{
  if (!c->target)
    return mg_err_set(err, MG_ERR_USAGE, "missing --target URL");
  if (strncmp(c->target, "http://", 7) && strncmp(c->target, "https://", 8))
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid value '%s' for --target: expected an "
                      "http:// or https:// URL",
                      c->target);
  if (c->rate_arg && parse_rate_list(c, c->rate_arg, err) < 0)
    return -1;
  switch (c->kind) {
  case MG_PERF_CONSTANT:
  case MG_PERF_POISSON:
  case MG_PERF_GAMMA:
  case MG_PERF_CONCURRENT:
    if (!c->nrates)
      return mg_err_set(err, MG_ERR_USAGE, "--profile %s needs --rate",
                        mg_perf_sched_kind_name((enum mg_perf_kind)c->kind));
    if (c->kind == MG_PERF_CONCURRENT)
      for (int i = 0; i < c->nrates; i++)
        if (c->rates[i] != floor(c->rates[i]))
          return mg_err_set(err, MG_ERR_USAGE,
                            "invalid value for --rate: concurrent takes "
                            "whole numbers of streams");
    break;
  case MG_PERF_SWEEP:
    if (!c->nrates) {
      c->rates[0] = 10;
      c->nrates = 1;
    }
    if (c->nrates != 1 || c->rates[0] < 3 || c->rates[0] > 100
        || c->rates[0] != floor(c->rates[0]))
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid value for --rate: a sweep takes one whole "
                        "number of benchmarks from 3 to 100");
    break;
  default:
    if (c->nrates)
      return mg_err_set(err, MG_ERR_USAGE,
                        "--rate does not apply to --profile %s",
                        mg_perf_sched_kind_name((enum mg_perf_kind)c->kind));
  }
  if (c->kind == MG_PERF_SWEEP && !c->max_seconds && !c->max_requests)
    return mg_err_set(err, MG_ERR_USAGE,
                      "a sweep needs --max-seconds or --max-requests");
  if (c->outputs) {
    const char *p = c->outputs;
    const char *dir = c->output_dir ? c->output_dir : ".";
    while (*p) {
      size_t n = strcspn(p, ",");
      if (n == 4 && strncmp(p, "json", 4) == 0)
        c->report = own(c, mg_xasprintf("%s/benchmarks.json", dir));
      else if (n == 4 && strncmp(p, "yaml", 4) == 0)
        c->report = own(c, mg_xasprintf("%s/benchmarks.yaml", dir));
      else if (n == 3 && strncmp(p, "csv", 3) == 0)
        c->csv = own(c, mg_xasprintf("%s/benchmarks.csv", dir));
      else if (!(n == 7 && strncmp(p, "console", 7) == 0))
        return mg_err_set(err, MG_ERR_USAGE,
                          "invalid value '%s' for --outputs: '%.*s' is not "
                          "supported (json, yaml, csv, console)",
                          c->outputs, (int)n, p);
      p += n;
      if (*p == ',')
        p++;
    }
  } else if (c->output_dir) {
    c->report = own(c, mg_xasprintf("%s/benchmarks.json", c->output_dir));
    c->csv = own(c, mg_xasprintf("%s/benchmarks.csv", c->output_dir));
  }
  return 0;
}

int mg_perf_cfg_plan(const struct mg_perf_config *c,
                     struct mg_perf_profile *out)
{
  struct mg_perf_profile p;
  int n = 0;

  memset(&p, 0, sizeof(p));
  p.kind = (enum mg_perf_kind)c->kind;
  p.max_concurrency = c->max_concurrency;
  p.rampup_s = c->rampup;
  p.burstiness = c->burstiness;
  p.time_scale = c->time_scale;
  p.seed = c->seed;
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
  if (!c->nrates) {
    out[n++] = p;
    return n;
  }
  for (int i = 0; i < c->nrates; i++) {
    out[n] = p;
    if (p.kind == MG_PERF_CONCURRENT)
      out[n].streams = (int)c->rates[i];
    else
      out[n].rate = c->rates[i];
    n++;
  }
  return n;
}

struct mg_json *mg_perf_cfg_json(const struct mg_perf_config *c,
                                 const char *url, const char *model,
                                 const struct mg_perf_data *data)
{
  struct mg_json *j = mg_json_new_object(), *lim, *d;
  char *shown = mg_http_redact_url(url);
  const char *ep = c->endpoint;

  mg_json_set_string(j, "url", shown);
  mg_json_set_string(j, "api",
                     ep && strstr(ep, "completions") && !strstr(ep, "chat")
                         ? "completions"
                         : "chat");
  mg_json_set_string(j, "model", model);
  mg_json_set_string(j, "profile",
                     mg_perf_sched_kind_name((enum mg_perf_kind)c->kind));
  if (c->kind == MG_PERF_SWEEP)
    mg_json_set_string(
        j, "sweep_type",
        mg_perf_sched_kind_name((enum mg_perf_kind)c->sweep_kind));
  lim = mg_json_new_object();
  if (c->max_seconds > 0)
    mg_json_set_number(lim, "max_seconds", c->max_seconds);
  if (c->max_requests > 0)
    mg_json_set_number(lim, "max_requests", (double)c->max_requests);
  if (c->max_errors > 0)
    mg_json_set_number(lim, "max_errors", (double)c->max_errors);
  if (c->max_error_rate > 0)
    mg_json_set_number(lim, "max_error_rate", c->max_error_rate);
  if (c->max_global_error_rate > 0)
    mg_json_set_number(lim, "max_global_error_rate", c->max_global_error_rate);
  if (c->warmup > 0)
    mg_json_set_number(lim, "warmup", c->warmup);
  if (c->cooldown > 0)
    mg_json_set_number(lim, "cooldown", c->cooldown);
  if (c->osd_on) {
    struct mg_json *s = mg_json_new_object();
    mg_json_set_string(s, "mode", c->osd.enforce ? "enforce" : "monitor");
    mg_json_set_number(s, "min_seconds", c->osd.min_seconds);
    mg_json_set_number(s, "max_window_seconds", c->osd.max_window_seconds);
    mg_json_set_number(s, "moe_threshold", c->osd.moe_threshold);
    mg_json_set_number(s, "minimum_ttft", c->osd.minimum_ttft);
    mg_json_set_number(s, "maximum_window_ratio", c->osd.max_window_ratio);
    mg_json_set_number(s, "minimum_window_size", c->osd.min_window_size);
    mg_json_set_number(s, "confidence", c->osd.confidence);
    mg_json_set(lim, "over_saturation", s);
  }
  mg_json_set(j, "limits", lim);
  d = mg_json_new_object();
  mg_json_set_string(d, "source", data->synthetic ? "synthetic" : data->source);
  if (!data->synthetic)
    mg_json_set_string(d, "columns", data->columns);
  else
    mg_json_set_string(d, "spec",
                       c->data ? c->data
                               : "prompt_tokens=128,"
                                 "output_tokens=64");
  mg_json_set_number(d, "items", (double)data->n);
  if (c->processor)
    mg_json_set_string(d, "processor", c->processor);
  mg_json_set_bool(d, "exact_lengths", data->exact);
  mg_json_set(j, "data", d);
  mg_json_set_number(j, "seed", (double)c->seed);
  mg_json_set_bool(j, "stream", 1);
  mg_json_set_bool(j, "ignore_eos", c->ignore_eos);
  mg_json_set_bool(j, "unique_prefix", c->unique_prefix);
  mg_json_set_bool(j, "http2", c->http2);
  mg_json_set_bool(j, "warm_connections", c->warm);
  mg_json_set_string(j, "percentile_method",
                     c->method == MG_STATS_PCT_LINEAR ? "linear"
                                                      : "nearest-rank");
  mg_json_set_string(j, "token_source",
                     data->exact ? "usage, else counted from the text"
                                 : "usage, else token-bearing events");
  if (c->slo.ttft_ms > 0 || c->slo.itl_ms > 0 || c->slo.e2e_ms > 0) {
    struct mg_json *s = mg_json_new_object();
    if (c->slo.ttft_ms > 0)
      mg_json_set_number(s, "ttft_ms", c->slo.ttft_ms);
    if (c->slo.itl_ms > 0)
      mg_json_set_number(s, "itl_ms", c->slo.itl_ms);
    if (c->slo.e2e_ms > 0)
      mg_json_set_number(s, "e2e_ms", c->slo.e2e_ms);
    mg_json_set(j, "slo", s);
  }
  if (c->labels)
    mg_json_set(j, "labels", mg_json_dup(c->labels));
  free(shown);
  return j;
}

static void constraint(struct mg_json *a, const char *kind, const char *key,
                       double v)
{
  struct mg_json *o = mg_json_new_object();

  mg_json_set_string(o, "kind", kind);
  mg_json_set_number(o, key, v);
  mg_json_append(a, o);
}

struct mg_json *mg_perf_cfg_gl_spec(const struct mg_perf_config *c,
                                    const char *url, const char *model)
{
  struct mg_json *s = mg_json_new_object(), *o, *a;
  char *shown = mg_http_redact_url(url);

  o = mg_json_new_object();
  mg_json_set_string(o, "kind", "openai_http");
  mg_json_set_string(o, "target", shown);
  mg_json_set_string(o, "model", model);
  mg_json_set(s, "backend", o);
  o = mg_json_new_object();
  mg_json_set_string(o, "kind",
                     mg_perf_sched_kind_name((enum mg_perf_kind)c->kind));
  if (c->nrates) {
    a = mg_json_new_array();
    for (int i = 0; i < c->nrates; i++)
      mg_json_append(a, mg_json_new_number(c->rates[i]));
    mg_json_set(o,
                c->kind == MG_PERF_CONCURRENT ? "streams"
                : c->kind == MG_PERF_SWEEP    ? "sweep_size"
                                              : "rate",
                c->kind == MG_PERF_SWEEP ? mg_json_new_number(c->rates[0]) : a);
    if (c->kind == MG_PERF_SWEEP)
      mg_json_free(a);
  }
  if (c->max_concurrency > 0)
    mg_json_set_number(o, "max_concurrency", c->max_concurrency);
  if (c->rampup > 0)
    mg_json_set_number(o, "rampup_duration", c->rampup);
  mg_json_set(s, "profile", o);
  a = mg_json_new_array();
  if (c->max_seconds > 0)
    constraint(a, "max_duration", "seconds", c->max_seconds);
  if (c->max_requests > 0)
    constraint(a, "max_requests", "count", (double)c->max_requests);
  if (c->max_errors > 0)
    constraint(a, "max_errors", "count", (double)c->max_errors);
  if (c->max_error_rate > 0)
    constraint(a, "max_error_rate", "rate", c->max_error_rate);
  if (c->max_global_error_rate > 0)
    constraint(a, "max_global_error_rate", "rate", c->max_global_error_rate);
  if (c->osd_on)
    constraint(a, "over_saturation", "min_seconds", c->osd.min_seconds);
  mg_json_set(s, "constraints", a);
  a = mg_json_new_array();
  mg_json_append(a, mg_json_new_string(c->data ? c->data
                                               : "prompt_tokens=128,"
                                                 "output_tokens=64"));
  mg_json_set(s, "data", a);
  o = mg_json_new_object();
  mg_json_set_string(o, "kind", "static");
  mg_json_set_number(o, "value", (double)c->seed);
  mg_json_set(s, "seed", o);
  free(shown);
  return s;
}

/* Running. */

int mg_perf_cfg_load_data(const struct mg_perf_config *c,
                          struct mg_perf_data *data, struct mg_err *err)
{
  if (!c->data || mg_perf_data_synth_is_spec(c->data)) {
    struct mg_perf_data_synth spec;
    if (mg_perf_data_synth_parse(c->data ? c->data
                                         : "prompt_tokens=128,output_tokens=64",
                                 &spec, err)
        < 0)
      return -1;
    if (c->seed != 42 || !c->data || !strstr(c->data, "seed"))
      spec.seed = c->seed;
    mg_perf_data_synth(data, &spec);
  } else if (mg_perf_data_load(data, c->data, c->seed, err) < 0) {
    return -1;
  }
  mg_perf_data_limit(data, c->data_samples, c->default_max_tokens);
  return 0;
}

void mg_perf_cfg_target(const struct mg_perf_config *c, const char *base,
                        const char *bearer, int verbose,
                        struct mg_perf_target *t, char **url, char **warm_url)
{
  if (c->endpoint && c->endpoint[0] == '/')
    *url = mg_xasprintf("%s%s", base, c->endpoint);
  else if (c->endpoint && strcmp(c->endpoint, "completions") == 0)
    *url = mg_xasprintf("%s/v1/completions", base);
  else
    *url = mg_xasprintf("%s/v1/chat/completions", base);
  memset(t, 0, sizeof(*t));
  t->url = *url;
  *warm_url = c->warm ? mg_xasprintf("%s/v1/models", base) : NULL;
  t->warm_url = *warm_url;
  t->headers = c->headers;
  mg_http_opts_init(&t->http);
  t->http.retries = 0;
  t->http.cacert = c->cacert;
  t->http.insecure = c->insecure;
  t->http.http2 = c->http2;
  t->http.no_follow = c->no_follow;
  t->http.bearer = bearer;
  t->http.verbose = verbose;
  /* GuideLLM's request timeout (httpx's, per connect and per read):
   * a request that receives nothing for that long is errored "timeout".
   * 0: its default, 300 s; < 0 (timeout null): none. */
  if (c->request_timeout >= 0)
    t->http.idle_timeout_ms =
        (long)((c->request_timeout > 0 ? c->request_timeout : 300.0) * 1000);
  if (c->connect_timeout > 0)
    t->http.connect_timeout_ms = (long)(c->connect_timeout * 1000);
  t->check_timeout_ms =
      (long)((c->check_timeout > 0 ? c->check_timeout : 30.0) * 1000);
  mg_perf_req_body_opts_init(&t->body);
  t->body.chat = strstr(*url, "chat") != NULL;
  t->body.ignore_eos = c->ignore_eos;
  t->body.unique_prefix = c->unique_prefix;
  t->body.content_parts = c->content_parts;
  t->body.max_field = c->max_field;
  t->body.extra_body = c->extra_body;
}

int mg_perf_cfg_write_outputs(const struct mg_perf_config *c,
                              const struct mg_json *runs,
                              const struct mg_json *report, int pretty,
                              struct mg_err *err)
{
  int rc = 0;

  if (c->csv) {
    struct mg_buf csv = MG_BUF_INIT(MG_BUF_UNLIMITED);
    mg_perf_report_csv(runs, &csv);
    rc = mg_io_write_atomic(c->csv, csv.data ? csv.data : "", csv.len, 0644,
                            err);
    mg_buf_release(&csv);
  }
  if (rc == 0 && report) {
    char *s = mg_json_print(report, pretty);
    size_t n = strlen(s);
    s = mg_xrealloc(s, n + 2);
    s[n] = '\n';
    rc = mg_io_write_atomic(c->report, s, n + 1, 0644, err);
    free(s);
  }
  return rc;
}

int mg_perf_cfg_open_processor(const struct mg_perf_config *c, const char *base,
                               const char *model,
                               const struct mg_http_opts *http,
                               struct mg_tok_proc **tp, struct mg_err *err)
{
  const char *p = c->processor;

  *tp = NULL;
  if (!p)
    return 0;
  if (strncmp(p, "http://", 7) && strncmp(p, "https://", 8)
      && strcmp(p, "server") && access(p, F_OK) != 0)
    return 1;
  return mg_tok_proc_open(p, base, model, http, tp, err);
}

#include "perf/mg_perf_data.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "perf/mg_perf_rand.h"
#include "tok/mg_tok_proc.h"

#define DATA_MAX ((size_t)256 << 20)

/* Common English words, each a single token in GPT-2, Llama and similar
 * BPE vocabularies when preceded by a space. */
static const char *const words[] = {
  "the",    "of",    "and",     "to",    "in",      "is",      "was",
  "that",   "for",   "it",      "with",  "as",      "his",     "on",
  "be",     "at",    "by",      "had",   "are",     "but",     "from",
  "or",     "have",  "an",      "they",  "which",   "one",     "you",
  "were",   "her",   "all",     "she",   "there",   "would",   "their",
  "we",     "him",   "been",    "has",   "when",    "who",     "will",
  "more",   "no",    "if",      "out",   "so",      "said",    "what",
  "up",     "its",   "about",   "into",  "than",    "them",    "can",
  "only",   "other", "new",     "some",  "could",   "time",    "these",
  "two",    "may",   "then",    "do",    "first",   "any",     "my",
  "now",    "such",  "like",    "our",   "over",    "man",     "me",
  "even",   "most",  "made",    "after", "also",    "did",     "many",
  "before", "must",  "through", "back",  "years",   "where",   "much",
  "your",   "way",   "well",    "down",  "should",  "because", "each",
  "just",   "those", "people",  "how",   "too",     "little",  "state",
  "good",   "very",  "make",    "world", "still",   "own",     "see",
  "men",    "work",  "long",    "get",   "here",    "between", "both",
  "life",   "being", "under",   "never", "day",     "same",    "another",
  "know",   "while", "last",    "might", "us",      "great",   "old",
  "year",   "off",   "come",    "since", "against", "go",      "came",
  "right",  "used",  "take",    "three", "house",   "water",   "light",
  "river",  "small", "green",   "open",
};
#define NWORDS (sizeof(words) / sizeof(*words))

void mg_perf_data_init(struct mg_perf_data *d)
{
  memset(d, 0, sizeof(*d));
}

void mg_perf_data_release(struct mg_perf_data *d)
{
  for (size_t i = 0; i < d->n; i++) {
    free(d->items[i].text);
    free(d->items[i].prefix);
  }
  free(d->items);
  mg_perf_data_init(d);
}

int mg_perf_data_exact(struct mg_perf_data *d, struct mg_tok_proc *p,
                       int add_special, struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  char *prefix = NULL;
  int rc = -1;

  if (d->prefix_tokens > 0) {
    if (mg_tok_proc_prompt(p, (size_t)d->prefix_tokens, d->seed + 3, 0,
                           add_special, &b, err)
        < 0)
      goto out;
    prefix = mg_buf_detach(&b, NULL);
  }
  for (size_t i = 0; i < d->n; i++) {
    struct mg_perf_item *it = &d->items[i];
    if (it->generated) {
      /* prefix_id i: no two prompts share their first words. */
      mg_buf_reset(&b);
      if (mg_tok_proc_prompt(p, (size_t)it->prompt_tokens, d->seed + 4, i,
                             add_special, &b, err)
          < 0)
        goto out;
      free(it->text);
      it->text = mg_buf_detach(&b, NULL);
      if (prefix) {
        free(it->prefix);
        it->prefix = mg_xstrdup(prefix);
      }
    } else {
      size_t n;
      if (mg_tok_proc_count(p, it->text, strlen(it->text), add_special, &n, err)
          < 0)
        goto out;
      it->prompt_tokens = (long long)n;
    }
  }
  d->exact = 1;
  rc = 0;
out:
  free(prefix);
  mg_buf_release(&b);
  return rc;
}

void mg_perf_data_limit(struct mg_perf_data *d, long long samples,
                        long long default_output)
{
  while (samples > 0 && d->n > (size_t)samples) {
    d->n--;
    free(d->items[d->n].text);
    free(d->items[d->n].prefix);
  }
  for (size_t i = 0; default_output > 0 && i < d->n; i++)
    if (d->items[i].output_tokens < 0)
      d->items[i].output_tokens = default_output;
}

static struct mg_perf_item *add_item(struct mg_perf_data *d)
{
  struct mg_perf_item *it;

  if (d->n == d->cap) {
    d->cap = d->cap ? d->cap * 2 : 64;
    d->items = mg_xreallocarray(d->items, d->cap, sizeof(*d->items));
  }
  it = &d->items[d->n++];
  memset(it, 0, sizeof(*it));
  it->prompt_tokens = -1;
  it->output_tokens = -1;
  it->ts = -1;
  return it;
}

char *mg_perf_data_words(void *rand, long long n)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  for (long long i = 0; i < n; i++) {
    long long w = mg_perf_rand_randint(rand, 0, (long long)NWORDS - 1);
    if (i)
      (void)mg_buf_addch(&b, ' ', NULL);
    (void)mg_buf_addstr(&b, words[w], NULL);
  }
  return mg_buf_detach(&b, NULL);
}

long long mg_perf_data_sample_len(void *rand, long long avg, long long stdev,
                                  long long min, long long max)
{
  double v;

  if (min < 0)
    min = stdev > 0 ? (avg - 5 * stdev > 1 ? avg - 5 * stdev : 1) : avg;
  if (max < 0)
    max = stdev > 0 ? avg + 5 * stdev : avg;
  if (min == max)
    return min;
  if (stdev <= 0)
    return mg_perf_rand_randint(rand, min, max);
  v = mg_perf_rand_gauss(rand, (double)avg, (double)stdev);
  if (v < (double)min)
    v = (double)min;
  if (v > (double)max)
    v = (double)max;
  return (long long)nearbyint(v);
}

/* Synthetic specs. */

int mg_perf_data_synth_is_spec(const char *spec)
{
  while (isspace((unsigned char)*spec))
    spec++;
  return *spec == '{' || strncmp(spec, "prompt_tokens", 13) == 0
         || (strchr(spec, '=') && !strchr(spec, '/'));
}

/* The field of s named k, or NULL. */
static long long *synth_field(struct mg_perf_data_synth *s, const char *k,
                              size_t n)
{
  static const char *const names[] = {
    "prompt_tokens",     "prompt_tokens_stdev", "prompt_tokens_min",
    "prompt_tokens_max", "output_tokens",       "output_tokens_stdev",
    "output_tokens_min", "output_tokens_max",   "samples",
    "prefix_tokens",
  };
  long long *fields[] = {
    &s->prompt_tokens, &s->prompt_stdev,  &s->prompt_min, &s->prompt_max,
    &s->output_tokens, &s->output_stdev,  &s->output_min, &s->output_max,
    &s->samples,       &s->prefix_tokens,
  };

  for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
    if (strlen(names[i]) == n && strncmp(names[i], k, n) == 0)
      return fields[i];
  return NULL;
}

static int synth_set(struct mg_perf_data_synth *s, const char *k, size_t kn,
                     const char *v, size_t vn, const char *spec,
                     struct mg_err *err)
{
  char buf[32], *end;
  long long x;
  long long *f;

  if (kn == 4 && strncmp(k, "seed", 4) == 0) {
    f = NULL;
  } else {
    f = synth_field(s, k, kn);
    if (!f)
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid data spec '%s': unknown key '%.*s'", spec,
                        (int)kn, k);
  }
  if (vn == 0 || vn >= sizeof(buf))
    goto bad;
  memcpy(buf, v, vn);
  buf[vn] = '\0';
  errno = 0;
  x = strtoll(buf, &end, 10);
  if (*end == '.') {
    /* Accept integral floats such as 256.0 (JSON writers). */
    double dv = strtod(buf, &end);
    if (*end || dv != floor(dv))
      goto bad;
    x = (long long)dv;
  }
  if (*end || errno || x < 0)
    goto bad;
  if (f)
    *f = x;
  else
    s->seed = (uint64_t)x;
  return 0;
bad:
  return mg_err_set(err, MG_ERR_USAGE,
                    "invalid data spec '%s': '%.*s' is not a count for "
                    "'%.*s'",
                    spec, (int)vn, v, (int)kn, k);
}

int mg_perf_data_synth_parse(const char *spec, struct mg_perf_data_synth *out,
                             struct mg_err *err)
{
  const char *p = spec;

  memset(out, 0, sizeof(*out));
  out->prompt_tokens = -1;
  out->prompt_stdev = 0;
  out->prompt_min = out->prompt_max = -1;
  out->output_tokens = -1;
  out->output_min = out->output_max = -1;
  out->samples = 1000;
  out->seed = 42;
  while (isspace((unsigned char)*p))
    p++;
  if (*p == '{') {
    struct mg_json *j = NULL;
    if (mg_json_parse(spec, strlen(spec), "data spec", &j, err) < 0)
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid data spec '%s': "
                        "malformed JSON",
                        spec);
    for (struct mg_json *m = mg_json_first(j); m; m = mg_json_next(m)) {
      const char *k = mg_json_key(m);
      char num[32];
      int len;
      if (!mg_json_is_number(m)) {
        mg_err_set(err, MG_ERR_USAGE,
                   "invalid data spec '%s': '%s' is not a number", spec, k);
        mg_json_free(j);
        return -1;
      }
      len = snprintf(num, sizeof(num), "%.17g", mg_json_number(m));
      if (synth_set(out, k, strlen(k), num, (size_t)len, spec, err) < 0) {
        mg_json_free(j);
        return -1;
      }
    }
    mg_json_free(j);
  } else {
    while (*p) {
      const char *k = p, *eq, *v, *e;
      e = strchr(p, ',');
      if (!e)
        e = p + strlen(p);
      eq = memchr(k, '=', (size_t)(e - k));
      if (!eq)
        return mg_err_set(err, MG_ERR_USAGE,
                          "invalid data spec '%s': expected key=value", spec);
      v = eq + 1;
      if (synth_set(out, k, (size_t)(eq - k), v, (size_t)(e - v), spec, err)
          < 0)
        return -1;
      p = *e ? e + 1 : e;
    }
  }
  if (out->prompt_tokens < 1)
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid data spec '%s': prompt_tokens must be >= 1",
                      spec);
  if (out->samples < 1)
    return mg_err_set(err, MG_ERR_USAGE,
                      "invalid data spec '%s': samples must be >= 1", spec);
  return 0;
}

void mg_perf_data_synth(struct mg_perf_data *d,
                        const struct mg_perf_data_synth *s)
{
  struct mg_perf_rand rp, ro, rw, rx;
  char *prefix = NULL;

  mg_perf_rand_seed(&rp, s->seed);
  mg_perf_rand_seed(&ro, s->seed + 1);
  mg_perf_rand_seed(&rx, s->seed + 3);
  /* Words come from their own stream so lengths match GuideLLM's draws. */
  mg_perf_rand_seed(&rw, s->seed + 4);
  d->synthetic = 1;
  d->seed = s->seed;
  d->prefix_tokens = s->prefix_tokens;
  (void)snprintf(d->source, sizeof(d->source), "synthetic");
  if (s->prefix_tokens > 0)
    prefix = mg_perf_data_words(&rx, s->prefix_tokens);
  for (long long i = 0; i < s->samples; i++) {
    struct mg_perf_item *it = add_item(d);
    it->prompt_tokens = mg_perf_data_sample_len(
        &rp, s->prompt_tokens, s->prompt_stdev, s->prompt_min, s->prompt_max);
    if (it->prompt_tokens < 1)
      it->prompt_tokens = 1;
    if (s->output_tokens > 0)
      it->output_tokens = mg_perf_data_sample_len(
          &ro, s->output_tokens, s->output_stdev, s->output_min, s->output_max);
    it->text = mg_perf_data_words(&rw, it->prompt_tokens);
    it->generated = 1;
    if (prefix)
      it->prefix = mg_xstrdup(prefix);
  }
  free(prefix);
}

/* Files. */

struct table {
  char **cols; /* column names */
  size_t ncols;
  char ***rows; /* rows[r][c], NULL for a missing cell */
  size_t nrows, cap;
};

static void table_free(struct table *t)
{
  for (size_t r = 0; r < t->nrows; r++) {
    for (size_t c = 0; c < t->ncols; c++)
      free(t->rows[r][c]);
    free(t->rows[r]);
  }
  for (size_t c = 0; c < t->ncols; c++)
    free(t->cols[c]);
  free(t->cols);
  free(t->rows);
  memset(t, 0, sizeof(*t));
}

static size_t table_col(struct table *t, const char *name)
{
  for (size_t c = 0; c < t->ncols; c++)
    if (strcmp(t->cols[c], name) == 0)
      return c;
  t->cols = mg_xreallocarray(t->cols, t->ncols + 1, sizeof(char *));
  t->cols[t->ncols] = mg_xstrdup(name);
  for (size_t r = 0; r < t->nrows; r++) {
    t->rows[r] = mg_xreallocarray(t->rows[r], t->ncols + 1, sizeof(char *));
    t->rows[r][t->ncols] = NULL;
  }
  return t->ncols++;
}

static char **table_row(struct table *t)
{
  if (t->nrows == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 64;
    t->rows = mg_xreallocarray(t->rows, t->cap, sizeof(char **));
  }
  t->rows[t->nrows] = mg_xcalloc(t->ncols ? t->ncols : 1, sizeof(char *));
  return t->rows[t->nrows++];
}

/* A JSON object as a table row: strings as is, numbers as text. */
static void json_row(struct table *t, const struct mg_json *o)
{
  size_t r = t->nrows;

  table_row(t);
  for (struct mg_json *m = mg_json_first(o); m; m = mg_json_next(m)) {
    size_t c = table_col(t, mg_json_key(m));
    char *v = NULL;
    if (mg_json_is_string(m)) {
      v = mg_xstrdup(mg_json_string(m));
    } else if (mg_json_is_number(m)) {
      v = mg_xasprintf("%.17g", mg_json_number(m));
    } else if (mg_json_is_array(m) || mg_json_is_object(m)) {
      v = mg_json_print(m, 0);
    }
    free(t->rows[r][c]);
    t->rows[r][c] = v;
  }
}

static int load_jsonl(struct table *t, const struct mg_buf *b, const char *path,
                      struct mg_err *err)
{
  const char *p = b->data, *end = b->data + b->len;
  long line = 0;

  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    struct mg_json *j = NULL;
    char name[300];
    line++;
    while (p < e && isspace((unsigned char)*p))
      p++;
    if (p < e) {
      (void)snprintf(name, sizeof(name), "%s' line '%ld", path, line);
      if (mg_json_parse(p, (size_t)(e - p), name, &j, err) < 0)
        return -1;
      if (!mg_json_is_object(j)) {
        mg_json_free(j);
        return mg_err_set(err, MG_ERR_DATA,
                          "line %ld of '%s' is not a JSON object", line, path);
      }
      json_row(t, j);
      mg_json_free(j);
    }
    p = nl ? nl + 1 : end;
  }
  return 0;
}

static int load_json(struct table *t, const struct mg_buf *b, const char *path,
                     struct mg_err *err)
{
  struct mg_json *j = NULL, *arr;

  if (mg_json_parse(b->data, b->len, path, &j, err) < 0)
    return -1;
  arr = j;
  if (mg_json_is_object(j)) {
    arr = NULL;
    for (struct mg_json *m = mg_json_first(j); m && !arr; m = mg_json_next(m))
      if (mg_json_is_array(m))
        arr = m;
  }
  if (!mg_json_is_array(arr)) {
    mg_json_free(j);
    return mg_err_set(err, MG_ERR_DATA, "no array of rows in '%s'", path);
  }
  for (struct mg_json *r = mg_json_first(arr); r; r = mg_json_next(r)) {
    if (mg_json_is_string(r)) {
      size_t c = table_col(t, "prompt");
      char **row = table_row(t);
      row[c] = mg_xstrdup(mg_json_string(r));
    } else if (mg_json_is_object(r)) {
      json_row(t, r);
    } else {
      mg_json_free(j);
      return mg_err_set(err, MG_ERR_DATA,
                        "rows of '%s' must be objects or strings", path);
    }
  }
  mg_json_free(j);
  return 0;
}

/* RFC 4180 fields: quotes, doubled quotes, CRLF, newlines in quotes. */
static int load_csv(struct table *t, const struct mg_buf *b, const char *path,
                    struct mg_err *err)
{
  const char *p = b->data, *end = b->data + b->len;
  struct mg_buf f = MG_BUF_INIT(MG_BUF_UNLIMITED);
  char **fields = NULL;
  size_t nf = 0, capf = 0;
  int header = 1, done = 0;
  long line = 1;

  while (!done) {
    int quoted = 0, eol = 0;
    mg_buf_reset(&f);
    (void)mg_buf_grow(&f, 1, NULL);
    if (p < end && *p == '"') {
      quoted = 1;
      p++;
      for (;;) {
        if (p >= end) {
          mg_buf_release(&f);
          for (size_t i = 0; i < nf; i++)
            free(fields[i]);
          free(fields);
          return mg_err_set(err, MG_ERR_DATA,
                            "unterminated quote in '%s' line %ld", path, line);
        }
        if (*p == '"' && p + 1 < end && p[1] == '"') {
          (void)mg_buf_addch(&f, '"', NULL);
          p += 2;
        } else if (*p == '"') {
          p++;
          break;
        } else {
          if (*p == '\n')
            line++;
          (void)mg_buf_addch(&f, *p++, NULL);
        }
      }
    }
    while (p < end && *p != ',' && *p != '\n' && *p != '\r')
      (void)mg_buf_addch(&f, *p++, NULL);
    if (p >= end || *p == '\n' || *p == '\r')
      eol = 1;
    (void)quoted;
    if (nf == capf) {
      capf = capf ? capf * 2 : 16;
      fields = mg_xreallocarray(fields, capf, sizeof(char *));
    }
    fields[nf++] = mg_buf_detach(&f, NULL);
    if (p < end && *p == '\r')
      p++;
    if (p < end)
      p++;
    else
      done = 1;
    if (eol) {
      int blank = nf == 1 && fields[0][0] == '\0';
      if (blank) {
        free(fields[0]);
      } else if (header) {
        for (size_t i = 0; i < nf; i++) {
          table_col(t, fields[i]);
          free(fields[i]);
        }
        header = 0;
      } else {
        char **row = table_row(t);
        for (size_t i = 0; i < nf; i++) {
          if (i < t->ncols)
            row[i] = fields[i];
          else
            free(fields[i]);
        }
      }
      nf = 0;
      line++;
    }
  }
  mg_buf_release(&f);
  free(fields);
  return 0;
}

static int load_txt(struct table *t, const struct mg_buf *b)
{
  const char *p = b->data, *end = b->data + b->len;
  size_t c = table_col(t, "prompt");

  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    const char *q = e;
    if (q > p && q[-1] == '\r')
      q--;
    if (q > p) {
      char **row = table_row(t);
      row[c] = mg_xstrndup(p, (size_t)(q - p));
    }
    p = nl ? nl + 1 : end;
  }
  return 0;
}

/* ^(name)(s|es)?([-_]N)?$, case-insensitive. */
static int col_matches(const char *col, const char *name)
{
  size_t n = strlen(name);
  const char *p = col + n;

  if (strncasecmp(col, name, n) != 0)
    return 0;
  if (strncasecmp(p, "es", 2) == 0
      && (p[2] == '\0' || p[2] == '_' || p[2] == '-'))
    p += 2;
  else if ((*p == 's' || *p == 'S')
           && (p[1] == '\0' || p[1] == '_' || p[1] == '-'))
    p++;
  if (*p == '_' || *p == '-') {
    p++;
    if (!isdigit((unsigned char)*p))
      return 0;
    while (isdigit((unsigned char)*p))
      p++;
  }
  return *p == '\0';
}

static long find_col(const struct table *t, const char *const *names)
{
  for (size_t i = 0; names[i]; i++)
    for (size_t c = 0; c < t->ncols; c++)
      if (col_matches(t->cols[c], names[i]))
        return (long)c;
  return -1;
}

static const char *const text_names[] = {
  "prompt",  "instruction",  "question", "input", "context",
  "content", "conversation", "turn",     "text",  NULL,
};
static const char *const prefix_names[] = { "system_prompt", "system", "prefix",
                                            NULL };
static const char *const ptok_names[] = {
  "prompt_tokens_count",
  "input_tokens_count",
  "prompt_tokens",
  "input_length",
  "in",
  NULL,
};
static const char *const otok_names[] = {
  "output_tokens_count",
  "completion_tokens_count",
  "output_tokens",
  "output_length",
  "out",
  NULL,
};
static const char *const ts_names[] = { "relative_timestamp", "timestamp", "t",
                                        NULL };

static long long cell_int(const char *s)
{
  char *end;
  double v;

  if (!s || !*s)
    return -1;
  v = strtod(s, &end);
  if (*end || v < 0 || !isfinite(v))
    return -1;
  return (long long)nearbyint(v);
}

static double cell_double(const char *s)
{
  char *end;
  double v;

  if (!s || !*s)
    return -1;
  v = strtod(s, &end);
  if (*end || !isfinite(v))
    return -1;
  return v;
}

static void describe(char *out, size_t n, const struct table *t,
                     const char *role, long c)
{
  size_t len = strlen(out);

  if (c < 0 || len >= n)
    return;
  (void)snprintf(out + len, n - len, "%s%s=%s", len ? "," : "", role,
                 t->cols[c]);
}

int mg_perf_data_load(struct mg_perf_data *d, const char *path, uint64_t seed,
                      struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(DATA_MAX);
  struct table t;
  const char *dot = strrchr(path, '.');
  long ct, cp, cpt, cot, cts;
  struct mg_perf_rand rw;
  int rc = -1;

  memset(&t, 0, sizeof(t));
  if (!dot
      || (strcmp(dot, ".txt") && strcmp(dot, ".jsonl") && strcmp(dot, ".json")
          && strcmp(dot, ".csv")))
    return mg_err_set(err, MG_ERR_USAGE,
                      "unsupported data file '%s': expected .txt, .jsonl, "
                      ".json or .csv",
                      path);
  if (mg_io_read_file(path, &b, err) < 0)
    goto out;
  if (strcmp(dot, ".txt") == 0)
    rc = load_txt(&t, &b);
  else if (strcmp(dot, ".jsonl") == 0)
    rc = load_jsonl(&t, &b, path, err);
  else if (strcmp(dot, ".json") == 0)
    rc = load_json(&t, &b, path, err);
  else
    rc = load_csv(&t, &b, path, err);
  if (rc < 0)
    goto out;
  rc = -1;
  ct = find_col(&t, text_names);
  cp = find_col(&t, prefix_names);
  cpt = find_col(&t, ptok_names);
  cot = find_col(&t, otok_names);
  cts = find_col(&t, ts_names);
  if (ct < 0 && cpt < 0) {
    mg_err_set(err, MG_ERR_DATA,
               "no prompt column in '%s': expected one of prompt, "
               "instruction, question, input, context, content, text",
               path);
    goto out;
  }
  describe(d->columns, sizeof(d->columns), &t, "text", ct);
  describe(d->columns, sizeof(d->columns), &t, "prefix", cp);
  describe(d->columns, sizeof(d->columns), &t, "prompt_tokens", cpt);
  describe(d->columns, sizeof(d->columns), &t, "output_tokens", cot);
  describe(d->columns, sizeof(d->columns), &t, "timestamp", cts);
  mg_perf_rand_seed(&rw, seed + 4);
  for (size_t r = 0; r < t.nrows; r++) {
    char **row = t.rows[r];
    const char *text = ct >= 0 ? row[ct] : NULL;
    long long pt = cpt >= 0 ? cell_int(row[cpt]) : -1;
    struct mg_perf_item *it;
    if ((!text || !*text) && pt < 1)
      continue;
    it = add_item(d);
    it->prompt_tokens = pt;
    it->output_tokens = cot >= 0 ? cell_int(row[cot]) : -1;
    if (it->output_tokens == 0)
      it->output_tokens = -1;
    it->ts = cts >= 0 ? cell_double(row[cts]) : -1;
    it->text = text && *text ? mg_xstrdup(text) : mg_perf_data_words(&rw, pt);
    it->generated = !(text && *text);
    if (cp >= 0 && row[cp] && *row[cp])
      it->prefix = mg_xstrdup(row[cp]);
  }
  if (d->n == 0) {
    mg_err_set(err, MG_ERR_DATA, "no prompts in '%s'", path);
    goto out;
  }
  (void)snprintf(d->source, sizeof(d->source), "%s", path);
  rc = 0;
out:
  table_free(&t);
  mg_buf_release(&b);
  return rc;
}

#include "eval/mg_eval.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/mg_chat.h"
#include "eval/mg_metrics.h"
#include "eval/mg_task.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_record.h"
#include "mg_time.h"
#include "mg_utf8.h"
#include "py/mg_pv.h"
#include "tok/mg_tok.h"

#define RESP_MAX ((size_t)64 << 20)
#define CACHE_MAX ((size_t)4 << 30)

void mg_eval_opts_init(struct mg_eval_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->tokenized_requests = 1;
  o->max_length = 2048;
  o->max_gen_toks = 256;
  o->num_concurrent = 1;
  o->max_retries = 3;
  o->timeout_ms = 300000;
  o->backoff_min_ms = 1000;
  o->backoff_max_ms = 10000;
  o->seed = 1234;
  o->bootstrap_iters = 100000;
  o->prefix_token_id = -1;
}

/* ------------------------------------------------------------------ */
/* A string-keyed hash map (FNV-1a, open addressing)                   */

struct smap_ent {
  char *key;
  size_t klen;
  size_t val;
};

struct smap {
  struct smap_ent *e;
  size_t cap, n;
};

static uint64_t fnv(const char *s, size_t n)
{
  uint64_t h = 1469598103934665603ULL;

  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static struct smap_ent *smap_slot(struct smap *m, const char *k, size_t n)
{
  size_t i = (size_t)fnv(k, n) & (m->cap - 1);

  for (;;) {
    struct smap_ent *e = &m->e[i];

    if (!e->key || (e->klen == n && memcmp(e->key, k, n) == 0))
      return e;
    i = (i + 1) & (m->cap - 1);
  }
}

static void smap_grow(struct smap *m)
{
  struct smap old = *m;

  m->cap = m->cap ? m->cap * 2 : 1024;
  m->e = mg_xcalloc(m->cap, sizeof(*m->e));
  m->n = 0;
  for (size_t i = 0; i < old.cap; i++)
    if (old.e[i].key) {
      struct smap_ent *s = smap_slot(m, old.e[i].key, old.e[i].klen);

      *s = old.e[i];
      m->n++;
    }
  free(old.e);
}

/* Returns 1 and *val if found; else inserts val and returns 0. */
static int smap_get_or_put(struct smap *m, const char *k, size_t n, size_t *val)
{
  struct smap_ent *e;

  if ((m->n + 1) * 2 > m->cap)
    smap_grow(m);
  e = smap_slot(m, k, n);
  if (e->key) {
    *val = e->val;
    return 1;
  }
  e->key = mg_xstrndup(k, n);
  e->klen = n;
  e->val = *val;
  m->n++;
  return 0;
}

static int smap_find(const struct smap *m, const char *k, size_t n, size_t *val)
{
  struct smap_ent *e;

  if (!m->cap)
    return 0;
  e = smap_slot((struct smap *)m, k, n);
  if (!e->key)
    return 0;
  *val = e->val;
  return 1;
}

static void smap_release(struct smap *m)
{
  for (size_t i = 0; i < m->cap; i++)
    free(m->e[i].key);
  free(m->e);
  memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* Engine state                                                        */

/* RK_WIN: one window of a loglikelihood_rolling text, its ids known */
enum rkind { RK_LL, RK_GEN, RK_WIN };
enum rstate { RS_NEW, RS_WAIT, RS_READY, RS_FLIGHT, RS_BACKOFF, RS_DONE };
enum tstate { TS_NEW, TS_QUEUED, TS_FLIGHT, TS_BACKOFF, TS_DONE, TS_FREED };

/* A /tokenize job (text -> ids) or, with detok, a /detokenize job (ids
 * -> text: the string prompt of a remote tokenizer) */
struct tokjob {
  char *s; /* tokenize: the text, until it is tokenized; detokenize: the
              answer */
  size_t n;
  size_t refs;   /* requests still needing the answer */
  uint32_t *ids; /* tokenize: the answer; detokenize: the ids to send */
  size_t nids;
  int detok;
  enum tstate state;
  int attempts;
  long long not_before;
  size_t *waiters;
  size_t nwaiters;
};

struct req {
  size_t task, doc, idx;
  enum rkind kind;
  struct mg_pv *ctx;  /* the context string */
  struct mg_pv *cont; /* continuation string, or gen_kwargs dict */
  char key[65];
  enum rstate state;
  int attempts;
  long long not_before;
  /* loglikelihood */
  char *c2; /* context after moving its trailing whitespace */
  size_t c2n;
  char *w; /* c2 + continuation */
  size_t wn;
  size_t c2chars;        /* code points of c2 (offsets mode) */
  int empty_ctx;         /* context "": [prefix token] + tok(cont) */
  uint32_t *wids;        /* RK_WIN: context + continuation ids */
  long tj_ctx, tj_whole; /* tokjob index or -1 */
  long tj_detok;         /* remote string prompt: its /detokenize job */
  int tj_made;           /* the tokjobs were asked for */
  size_t ctxlen, nprompt;
  char *body; /* built once, kept for retries until answered */
  /* result */
  double ll;
  int greedy;
  struct mg_pv *text;
};

struct xfer {
  struct eng *e;
  int is_tok;
  size_t index;
  struct mg_buf body;
  char *reqbody; /* owned for /tokenize; borrowed from the req */
  long status;
  int ok;
  int done;
  char errmsg[200];
  struct xfer *next_done;
};

struct eng {
  const struct mg_eval_opts *o;
  struct mg_eval_run *run;
  struct mg_http_opts hopts;
  struct mg_http_multi *multi;
  char *url_comp;  /* completions or chat URL */
  char *url_tok;   /* /tokenize URL */
  char *url_detok; /* /detokenize URL */
  const char *const *headers;
  char *auth;
  struct mg_tok *tok;   /* local tokenizer or NULL */
  struct mg_pv *lc_ctx; /* local: the context last encoded (a ref) */
  uint32_t *lc_ids;     /* and its ids */
  size_t lc_n;
  char *url_base;   /* server root (for /tokenizer_info) */
  long long prefix; /* prefix token id for empty contexts, or -1 */
  char *eos;        /* EOS string for generation stops, or NULL */
  int eos_in_stop;  /* append eos to stop (synchronous path) */
  int offsets;      /* offsets mode */
  int remote;       /* remote tokenizer */
  struct req *r;
  size_t nr;
  size_t cursor; /* next request not yet looked at */
  size_t *ready; /* queue of request indices */
  size_t nready, capready, headready;
  struct tokjob *tj;
  size_t ntj, captj;
  size_t *tokq; /* queue of tokjob indices */
  size_t ntokq, captokq, headtokq;
  struct smap tokmap;       /* string -> tokjob */
  struct smap cache;        /* key -> cache line index */
  struct mg_pv *cache_vals; /* list of cached results */
  int cache_fd;
  size_t inflight;     /* completions in flight */
  size_t inflight_tok; /* /tokenize calls in flight (own budget) */
  size_t waiting;      /* requests in RS_WAIT */
  size_t backoff;      /* requests/tokjobs sleeping */
  struct xfer *done_head;
  size_t *task_done, *task_total;
  unsigned char *task_shown; /* its 100% progress was reported */
  size_t *task_first;        /* first request of each task */
  size_t **doc_first;        /* per task, per doc: first request */
  size_t **doc_nreq;         /* per task, per doc: number of requests */
  struct mg_pv ***args;      /* per task, per doc: request args */
  int failed;
  long long last_progress;
};

static const char *task_name(const struct eng *e, size_t t)
{
  return e->run->ts->tasks[t]->name;
}

static int fail(struct eng *e, enum mg_errcat cat, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct eng *e, enum mg_errcat cat, const char *fmt, ...)
{
  va_list ap;

  if (!e->failed) {
    va_start(ap, fmt);
    mg_err_vset(&e->run->failure, cat, fmt, ap);
    va_end(ap);
    e->failed = 1;
  }
  return -1;
}

/* ---- URLs ---- */

static int ends_with(const char *s, const char *suf)
{
  size_t a = strlen(s), b = strlen(suf);

  return a >= b && strcmp(s + a - b, suf) == 0;
}

static void make_urls(struct eng *e)
{
  const char *u = e->o->url;
  const char *path = e->o->chat ? "/chat/completions" : "/completions";
  char *base;
  size_t n = strlen(u);

  while (n && u[n - 1] == '/')
    n--;
  base = mg_xstrndup(u, n);
  if (ends_with(base, "/v1/completions")
      || ends_with(base, "/v1/chat/completions")) {
    e->url_comp = mg_xstrdup(base);
    base[strlen(base)
         - (ends_with(base, "/v1/completions")
                ? strlen("/v1/completions")
                : strlen("/v1/chat/completions"))] = '\0';
  } else if (ends_with(base, "/v1")) {
    e->url_comp = mg_xasprintf("%s%s", base, path);
    base[strlen(base) - 3] = '\0';
  } else {
    e->url_comp = mg_xasprintf("%s/v1%s", base, path);
  }
  e->url_tok = mg_xasprintf("%s/tokenize", base);
  e->url_detok = mg_xasprintf("%s/detokenize", base);
  e->url_base = base;
}

/* ---- cache ---- */

static void req_key(const struct eng *e, struct req *q, int repeat)
{
  struct mg_pv *k = mg_pv_list();
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_pv_list_append(k, mg_pv_str(q->kind == RK_LL    ? "loglikelihood"
                                 : q->kind == RK_WIN ? "loglikelihood_rolling"
                                                     : "generate_until"));
  mg_pv_list_append(k, mg_pv_str(e->o->model ? e->o->model : ""));
  mg_pv_list_append(k, mg_pv_str(e->o->chat ? "chat" : "completions"));
  mg_pv_list_append(k, mg_pv_ref(q->ctx));
  mg_pv_list_append(k, mg_pv_ref(q->cont));
  mg_pv_list_append(k, mg_pv_int(repeat));
  /* what else changes the answer: the prefix token of an empty context,
   * the EOS string added to a generation's stop */
  if (q->kind == RK_LL && q->ctx->u.str.len == 0)
    mg_pv_list_append(k, mg_pv_int(e->prefix));
  if (q->kind == RK_GEN && e->eos_in_stop)
    mg_pv_list_append(k, mg_pv_str(e->eos));
  mg_pv_dumps(&b, k, -1);
  mg_digest_sha256_hex(b.data, b.len, q->key);
  mg_buf_release(&b);
  mg_pv_unref(k);
}

static int cache_open(struct eng *e, struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(CACHE_MAX);
  const char *path = e->o->cache_path;
  size_t i = 0, line = 0;

  e->cache_fd = -1;
  e->cache_vals = mg_pv_list();
  if (!path)
    return 0;
  if (access(path, F_OK) == 0) {
    if (mg_io_read_file(path, &b, err) < 0) {
      mg_buf_release(&b);
      return -1;
    }
    while (i < b.len) {
      const char *nl = memchr(b.data + i, '\n', b.len - i);
      size_t end;
      struct mg_pv *v;
      struct mg_err e2 = MG_ERR_INIT;

      if (!nl)
        break; /* an unterminated last line was cut by a kill: ignore */
      end = (size_t)(nl - b.data);
      line++;
      if (end > i
          && mg_pv_parse(b.data + i, end - i, MG_PV_JSON, path, &v, &e2) == 0) {
        const char *k = mg_pv_cstr(mg_pv_dict_get(v, "key"));

        if (k && strlen(k) == 64) {
          size_t idx = e->cache_vals->u.list.n;

          if (!smap_get_or_put(&e->cache, k, 64, &idx))
            mg_pv_list_append(e->cache_vals, mg_pv_ref(v));
        }
        mg_pv_unref(v);
      }
      i = end + 1;
    }
    /* drop a torn last line so that appends start on a line boundary */
    if (i < b.len && truncate(path, (off_t)i) < 0) {
      mg_buf_release(&b);
      return mg_err_errno(err, MG_ERR_IO, "cannot repair cache '%s'", path);
    }
  }
  mg_buf_release(&b);
  e->cache_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (e->cache_fd < 0)
    return mg_err_errno(err, MG_ERR_IO, "cannot open cache '%s'", path);
  return 0;
}

static void cache_append(struct eng *e, const struct req *q)
{
  struct mg_pv *d;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_err err = MG_ERR_INIT;

  if (e->cache_fd < 0)
    return;
  d = mg_pv_dict();
  mg_pv_dict_sets(d, "key", mg_pv_str(q->key));
  mg_pv_dict_sets(d, "task", mg_pv_str(task_name(e, q->task)));
  mg_pv_dict_sets(d, "doc", mg_pv_int((long long)q->doc));
  if (q->kind != RK_GEN) {
    mg_pv_dict_sets(d, "ll", mg_pv_float(q->ll));
    mg_pv_dict_sets(d, "is_greedy", mg_pv_bool(q->greedy));
  } else {
    mg_pv_dict_sets(d, "text", mg_pv_ref(q->text));
  }
  mg_pv_dumps(&b, d, -1);
  mg_buf_addch(&b, '\n', NULL);
  if (mg_io_write_fd(e->cache_fd, e->o->cache_path, b.data, b.len, &err) < 0) {
    close(e->cache_fd);
    e->cache_fd = -1;
    fail(e, MG_ERR_IO, "%s", err.msg);
  }
  mg_buf_release(&b);
  mg_pv_unref(d);
}

static int cache_take(struct eng *e, struct req *q)
{
  size_t idx;
  const struct mg_pv *v;

  if (!smap_find(&e->cache, q->key, 64, &idx))
    return 0;
  v = e->cache_vals->u.list.v[idx];
  if (q->kind != RK_GEN) {
    const struct mg_pv *ll = mg_pv_dict_get(v, "ll");
    const struct mg_pv *g = mg_pv_dict_get(v, "is_greedy");

    if (!mg_pv_is_number(ll) || !g)
      return 0;
    q->ll = mg_pv_num(ll);
    q->greedy = mg_pv_truthy(g);
  } else {
    const struct mg_pv *t = mg_pv_dict_get(v, "text");

    if (!t || t->type != MG_PV_STR)
      return 0;
    q->text = mg_pv_ref((struct mg_pv *)t);
  }
  return 1;
}

/* ---- queues ---- */

static void push_ready(struct eng *e, size_t i)
{
  if (e->nready == e->capready) {
    size_t live = e->nready - e->headready;

    if (live)
      memmove(e->ready, e->ready + e->headready, live * sizeof(*e->ready));
    e->nready = live;
    e->headready = 0;
    if (e->nready == e->capready) {
      e->capready = e->capready ? 2 * e->capready : 256;
      e->ready = mg_xreallocarray(e->ready, e->capready, sizeof(*e->ready));
    }
  }
  e->ready[e->nready++] = i;
  e->r[i].state = RS_READY;
}

static void push_tok(struct eng *e, size_t j)
{
  if (e->ntokq == e->captokq) {
    size_t live = e->ntokq - e->headtokq;

    if (live)
      memmove(e->tokq, e->tokq + e->headtokq, live * sizeof(*e->tokq));
    e->ntokq = live;
    e->headtokq = 0;
    if (e->ntokq == e->captokq) {
      e->captokq = e->captokq ? 2 * e->captokq : 256;
      e->tokq = mg_xreallocarray(e->tokq, e->captokq, sizeof(*e->tokq));
    }
  }
  e->tokq[e->ntokq++] = j;
  e->tj[j].state = TS_QUEUED;
}

/* The tokenization job for a text, shared by the requests that need it
 * (keyed by the text's SHA-256 so the map stays small). */
static long tokjob_for(struct eng *e, const char *s, size_t n, size_t req)
{
  char key[MG_DIGEST_SHA256_HEX_LEN + 1];
  size_t j = e->ntj;
  struct tokjob *t;

  mg_digest_sha256_hex(s, n, key);
  if (!smap_get_or_put(&e->tokmap, key, MG_DIGEST_SHA256_HEX_LEN, &j)) {
    if (e->ntj == e->captj) {
      e->captj = e->captj ? 2 * e->captj : 1024;
      e->tj = mg_xreallocarray(e->tj, e->captj, sizeof(*e->tj));
    }
    t = &e->tj[e->ntj++];
    memset(t, 0, sizeof(*t));
    t->s = mg_xmemdup(s, n);
    t->n = n;
    push_tok(e, j);
  }
  t = &e->tj[j];
  if (t->state == TS_FREED) {
    t->s = mg_xmemdup(s, n);
    t->n = n;
    t->attempts = 0;
    push_tok(e, j);
  }
  t->refs++;
  if (t->state != TS_DONE) {
    t->waiters =
        mg_xreallocarray(t->waiters, t->nwaiters + 1, sizeof(*t->waiters));
    t->waiters[t->nwaiters++] = req;
  }
  return (long)j;
}

static void tokjob_release(struct eng *e, long j)
{
  struct tokjob *t = &e->tj[j];

  if (t->refs && --t->refs == 0 && t->state == TS_DONE) {
    free(t->ids);
    t->ids = NULL;
    t->nids = 0;
    if (t->detok) {
      free(t->s);
      t->s = NULL;
      t->n = 0;
    }
    t->state = TS_FREED;
  }
}

/* The /detokenize job of a prompt's ids (a string prompt with the remote
 * tokenizer: lm-eval's remote backend decodes with the server). Takes
 * ownership of ids. */
static long detokjob_for(struct eng *e, uint32_t *ids, size_t n, size_t req)
{
  struct tokjob *t;
  size_t j;

  if (e->ntj == e->captj) {
    e->captj = e->captj ? 2 * e->captj : 1024;
    e->tj = mg_xreallocarray(e->tj, e->captj, sizeof(*e->tj));
  }
  j = e->ntj++;
  t = &e->tj[j];
  memset(t, 0, sizeof(*t));
  t->detok = 1;
  t->ids = ids;
  t->nids = n;
  t->refs = 1;
  t->waiters = mg_xreallocarray(NULL, 1, sizeof(*t->waiters));
  t->waiters[t->nwaiters++] = req;
  push_tok(e, j);
  return (long)j;
}

/* ---- bodies ---- */

/* [1, 2, 3] */
static void add_idlist(struct mg_buf *b, const uint32_t *ids, size_t n)
{
  char tmp[16];

  mg_buf_grow(b, n * 12 + 4, NULL);
  mg_buf_addch(b, '[', NULL);
  for (size_t i = 0; i < n; i++) {
    uint32_t v = ids[i];
    int k = (int)sizeof(tmp);

    do {
      tmp[--k] = (char)('0' + v % 10);
      v /= 10;
    } while (v);
    if (i)
      mg_buf_add(b, ", ", 2, NULL);
    mg_buf_add(b, tmp + k, sizeof(tmp) - (size_t)k, NULL);
  }
  mg_buf_addch(b, ']', NULL);
}

/* lm-eval's token-id prompt: a batch of one, [[1, 2, 3]] */
static void add_ids(struct mg_buf *b, const uint32_t *ids, size_t n)
{
  mg_buf_addch(b, '[', NULL);
  add_idlist(b, ids, n);
  mg_buf_addch(b, ']', NULL);
}

static void add_key(struct mg_buf *b, const char *k, int first)
{
  if (!first)
    mg_buf_addstr(b, ", ", NULL);
  mg_json_quote(b, k, strlen(k), NULL);
  mg_buf_addstr(b, ": ", NULL);
}

static void add_pystr(struct mg_buf *b, const char *s, size_t n)
{
  struct mg_pv *v = mg_pv_strn(s, n);

  mg_pv_dumps(b, v, -1);
  mg_pv_unref(v);
}

/* {"model", "prompt", "temperature": 0, "max_tokens": 1, "logprobs": 1,
 *  "seed", "echo": true} */
static char *ll_body(const struct eng *e, const uint32_t *ids, size_t n,
                     const char *s, size_t sn)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_buf_addch(&b, '{', NULL);
  add_key(&b, "model", 1);
  add_pystr(&b, e->o->model, strlen(e->o->model));
  add_key(&b, "prompt", 0);
  if (ids)
    add_ids(&b, ids, n);
  else
    add_pystr(&b, s, sn);
  add_key(&b, "temperature", 0);
  mg_buf_addstr(&b, "0", NULL);
  add_key(&b, "max_tokens", 0);
  mg_buf_addstr(&b, "1", NULL);
  add_key(&b, "logprobs", 0);
  mg_buf_addstr(&b, "1", NULL);
  add_key(&b, "seed", 0);
  mg_buf_printf(&b, NULL, "%llu", (unsigned long long)e->o->seed);
  add_key(&b, "echo", 0);
  mg_buf_addstr(&b, "true}", NULL);
  return mg_buf_detach(&b, NULL);
}

static char *gen_body(const struct eng *e, const struct req *q,
                      const uint32_t *ids, size_t n)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const struct mg_pv *gk = q->cont, *v;
  const struct mg_task_doc *td = &e->run->docs[q->task][q->doc];
  struct mg_pv *stop = mg_pv_list();
  size_t nstop;

  mg_buf_addch(&b, '{', NULL);
  if (e->o->chat) {
    add_key(&b, "messages", 1);
    mg_pv_dumps(&b, td->messages, -1);
  } else {
    add_key(&b, "prompt", 1);
    if (ids)
      add_ids(&b, ids, n);
    else
      mg_pv_dumps(&b, q->ctx, -1);
  }
  add_key(&b, "model", 0);
  add_pystr(&b, e->o->model, strlen(e->o->model));
  add_key(&b, "max_tokens", 0);
  v = mg_pv_dict_get(gk, "max_tokens");
  if (!v)
    v = mg_pv_dict_get(gk, "max_gen_toks");
  if (v)
    mg_pv_dumps(&b, v, -1);
  else
    mg_buf_printf(&b, NULL, "%ld", e->o->max_gen_toks);
  add_key(&b, "temperature", 0);
  v = mg_pv_dict_get(gk, "temperature");
  if (v)
    mg_pv_dumps(&b, v, -1);
  else
    mg_buf_addstr(&b, "0", NULL);
  v = mg_pv_dict_get(gk, "until");
  if (v && v->type == MG_PV_STR)
    mg_pv_list_append(stop, mg_pv_ref((struct mg_pv *)v));
  else if (v && v->type == MG_PV_LIST)
    for (size_t i = 0; i < v->u.list.n; i++)
      mg_pv_list_append(stop, mg_pv_ref(v->u.list.v[i]));
  if (e->eos_in_stop) {
    /* handle_stop_sequences: the EOS string joins until if not there */
    struct mg_pv *eos = mg_pv_str(e->eos);
    int have = 0;

    for (size_t i = 0; i < stop->u.list.n && !have; i++)
      have = mg_pv_equal(stop->u.list.v[i], eos);
    if (!have)
      mg_pv_list_append(stop, eos);
    else
      mg_pv_unref(eos);
  }
  nstop = stop->u.list.n;
  if (e->o->chat && nstop > 4) {
    /* chat sends stop[:4] */
    struct mg_pv *s4 = mg_pv_list();

    for (size_t i = 0; i < 4; i++)
      mg_pv_list_append(s4, mg_pv_ref(stop->u.list.v[i]));
    mg_pv_unref(stop);
    stop = s4;
  }
  add_key(&b, "stop", 0);
  mg_pv_dumps(&b, stop, -1);
  add_key(&b, "seed", 0);
  mg_buf_printf(&b, NULL, "%llu", (unsigned long long)e->o->seed);
  for (size_t i = 0; i < gk->u.dict.n; i++) {
    const char *k = mg_pv_cstr(gk->u.dict.k[i]);

    if (!k || !strcmp(k, "do_sample") || !strcmp(k, "max_tokens")
        || !strcmp(k, "max_gen_toks") || !strcmp(k, "temperature")
        || !strcmp(k, "until"))
      continue;
    add_key(&b, k, 0);
    mg_pv_dumps(&b, gk->u.dict.v[i], -1);
  }
  mg_buf_addch(&b, '}', NULL);
  mg_pv_unref(stop);
  return mg_buf_detach(&b, NULL);
}

/* ---- tokenization ---- */

static int local_encode(struct eng *e, const char *s, size_t n, uint32_t **ids,
                        size_t *nids, struct mg_err *err)
{
  struct mg_tok_encoding enc = MG_TOK_ENCODING_INIT;

  if (mg_tok_encode(e->tok, s, n, 0, &enc, err) < 0) {
    mg_tok_encoding_release(&enc);
    return -1;
  }
  *ids = mg_xreallocarray(NULL, enc.n ? enc.n : 1, sizeof(uint32_t));
  memcpy(*ids, enc.ids, enc.n * sizeof(uint32_t));
  *nids = enc.n;
  mg_tok_encoding_release(&enc);
  return 0;
}

/* The prompt of a loglikelihood request whose token ids are known, as
 * api_models.py cuts it: inp = (ctx_enc + whole[len(ctx_enc):])[-L:],
 * ctxlen = len(ctx_enc) - max(0, len(ctx_enc) + len(cont_enc) - L), with
 * L = max_length - 1. Sets q->ctxlen and q->nprompt; caller frees *inp. */
static int ll_prompt(struct eng *e, size_t i, const uint32_t *cids, size_t nc,
                     const uint32_t *wids, size_t nw, uint32_t **inp)
{
  struct req *q = &e->r[i];
  size_t L = (size_t)(e->o->max_length - 1), ncont, total, cut;

  *inp = NULL;
  ncont = nw > nc ? nw - nc : 0;
  if (ncont == 0)
    return fail(e, MG_ERR_DATA,
                "task '%s' document %zu: the continuation has no tokens of "
                "its own (it merges into the context)",
                task_name(e, q->task), q->doc);
  total = nc + ncont;
  cut = total > L ? total - L : 0;
  if (cut >= nc)
    return fail(e, MG_ERR_DATA,
                "task '%s' document %zu: the continuation alone is longer "
                "than max_length %ld",
                task_name(e, q->task), q->doc, e->o->max_length);
  q->ctxlen = nc - cut;
  q->nprompt = total - cut;
  *inp = mg_xreallocarray(NULL, q->nprompt, sizeof(uint32_t));
  for (size_t k = 0; k < q->nprompt; k++) {
    size_t at = cut + k;

    (*inp)[k] = at < nc ? cids[at] : wids[at];
  }
  return 0;
}

/*
 * Builds the body of a request whose token ids are known. Token-id
 * prompts send inp; string prompts (tokenized_requests=False) send
 * tokenizer.decode(inp), as lm-eval's create_message does for every
 * loglikelihood request, cut or not: with a local tokenizer transformers'
 * decode (clean_up_tokenization_spaces included); the remote tokenizer's
 * text comes from a /detokenize job (advance_req).
 */
static int build_ll(struct eng *e, size_t i, const uint32_t *cids, size_t nc,
                    const uint32_t *wids, size_t nw, char **body)
{
  uint32_t *inp = NULL;
  struct mg_err err = MG_ERR_INIT;
  struct req *q = &e->r[i];

  *body = NULL;
  if (ll_prompt(e, i, cids, nc, wids, nw, &inp) < 0)
    return -1;
  if (e->o->tokenized_requests) {
    *body = ll_body(e, inp, q->nprompt, NULL, 0);
  } else {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

    if (mg_tok_decode_hf(e->tok, inp, q->nprompt, 0, &b, &err) < 0) {
      mg_buf_release(&b);
      free(inp);
      return fail(e, MG_ERR_DATA, "task '%s' document %zu: %s",
                  task_name(e, q->task), q->doc, err.msg);
    }
    *body = ll_body(e, NULL, 0, b.data ? b.data : "", b.len);
    mg_buf_release(&b);
  }
  free(inp);
  return 0;
}

static uint32_t *ids_dup(const uint32_t *ids, size_t n)
{
  uint32_t *c = mg_xreallocarray(NULL, n ? n : 1, sizeof(uint32_t));

  if (n)
    memcpy(c, ids, n * sizeof(uint32_t));
  return c;
}

/* The context and whole token lists of a loglikelihood request whose
 * tokens are known (local tokenizer, or its tokjobs finished), as
 * TemplateLM.loglikelihood builds them: _encode_pair's joint split, or
 * for an empty context [prefix_token_id] and tok_encode(continuation).
 * caller frees *c and *w. */
static int ll_tokens(struct eng *e, const struct req *q, uint32_t **c,
                     size_t *nc, uint32_t **w, size_t *nw, struct mg_err *err)
{
  *c = *w = NULL;
  *nc = *nw = 0;
  if (q->empty_ctx) {
    uint32_t *cont = NULL;
    size_t ncont = 0;

    if (e->tok) {
      if (local_encode(e, q->w, q->wn, &cont, &ncont, err) < 0)
        return -1;
    } else {
      cont = ids_dup(e->tj[q->tj_whole].ids, e->tj[q->tj_whole].nids);
      ncont = e->tj[q->tj_whole].nids;
    }
    *w = mg_xreallocarray(NULL, ncont + 1, sizeof(uint32_t));
    (*w)[0] = (uint32_t)e->prefix;
    if (ncont)
      memcpy(*w + 1, cont, ncont * sizeof(uint32_t));
    *nw = ncont + 1;
    free(cont);
    *c = ids_dup(*w, 1);
    *nc = 1;
    return 0;
  }
  if (e->tok) {
    /* the choices of a document share its context: encode it once */
    if (q->ctx != e->lc_ctx) {
      mg_pv_unref(e->lc_ctx);
      free(e->lc_ids);
      e->lc_ctx = NULL;
      e->lc_ids = NULL;
      if (local_encode(e, q->c2, q->c2n, &e->lc_ids, &e->lc_n, err) < 0)
        return -1;
      e->lc_ctx = mg_pv_ref(q->ctx);
    }
    *c = ids_dup(e->lc_ids, e->lc_n);
    *nc = e->lc_n;
    if (local_encode(e, q->w, q->wn, w, nw, err) < 0) {
      free(*c);
      *c = NULL;
      return -1;
    }
    return 0;
  }
  *c = ids_dup(e->tj[q->tj_ctx].ids, e->tj[q->tj_ctx].nids);
  *nc = e->tj[q->tj_ctx].nids;
  *w = ids_dup(e->tj[q->tj_whole].ids, e->tj[q->tj_whole].nids);
  *nw = e->tj[q->tj_whole].nids;
  return 0;
}

/* Length of s without its trailing Python whitespace (str.rstrip). */
static size_t rstrip_len(const char *s, size_t n)
{
  size_t end = n;

  while (end > 0) {
    size_t j = end - 1, k;
    int cp;
    unsigned char c;

    while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80)
      j--;
    k = j;
    c = (unsigned char)s[k];
    if (c < 0x80) {
      cp = c;
    } else if ((c & 0xE0) == 0xC0 && end - k == 2) {
      cp = ((c & 0x1F) << 6) | (s[k + 1] & 0x3F);
    } else if ((c & 0xF0) == 0xE0 && end - k == 3) {
      cp = ((c & 0x0F) << 12) | ((s[k + 1] & 0x3F) << 6) | (s[k + 2] & 0x3F);
    } else {
      break;
    }
    if (!mg_pv_isspace(cp))
      break;
    end = j;
  }
  return end;
}

/* TemplateLM._encode_pair: the context's trailing whitespace moves to the
 * front of the continuation; c2 is the context without it, w the whole. */
static void split_pair(struct req *q)
{
  const struct mg_pv *ctx = q->ctx, *cont = q->cont;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  q->empty_ctx = ctx->u.str.len == 0;
  q->c2n = rstrip_len(ctx->u.str.s, ctx->u.str.len);
  q->c2 = mg_xstrndup(ctx->u.str.s, q->c2n);
  q->c2chars = mg_utf8_count(q->c2, q->c2n);
  mg_buf_add(&b, ctx->u.str.s, ctx->u.str.len, NULL);
  mg_buf_add(&b, cont->u.str.s, cont->u.str.len, NULL);
  q->w = mg_buf_detach(&b, &q->wn);
}

static void drop_pair(struct req *q)
{
  free(q->c2);
  free(q->w);
  q->c2 = q->w = NULL;
}

/* Called when a request may proceed: builds the body (or waits). */
static int advance_req(struct eng *e, size_t i)
{
  struct req *q = &e->r[i];

  if (q->state == RS_READY || q->state == RS_FLIGHT || q->state == RS_DONE)
    return 0;
  if (q->kind == RK_WIN) {
    push_ready(e, i);
    return 0;
  }
  if (q->kind == RK_LL && !q->w)
    split_pair(q);
  if (q->kind == RK_GEN
      && !(e->remote && e->o->tokenized_requests && !e->o->chat)) {
    push_ready(e, i);
    return 0;
  }
  if (q->kind == RK_LL && (e->offsets || e->tok)) {
    push_ready(e, i);
    return 0;
  }
  /* remote: the token lists must be known (generation: the context's;
   * an empty context: the continuation's alone) */
  if (!q->tj_made) {
    q->tj_made = 1;
    if (q->kind == RK_GEN) {
      q->tj_ctx = tokjob_for(e, q->ctx->u.str.s, q->ctx->u.str.len, i);
    } else {
      if (!q->empty_ctx)
        q->tj_ctx = tokjob_for(e, q->c2, q->c2n, i);
      q->tj_whole = tokjob_for(e, q->w, q->wn, i);
    }
  }
  if ((q->tj_ctx < 0 || e->tj[q->tj_ctx].state == TS_DONE)
      && (q->tj_whole < 0 || e->tj[q->tj_whole].state == TS_DONE)
      && q->kind == RK_LL && !e->o->tokenized_requests && q->tj_detok < 0) {
    /* a string prompt: the server decodes the cut token list */
    uint32_t *c = NULL, *w = NULL, *inp = NULL;
    size_t nc = 0, nw = 0;
    struct mg_err err = MG_ERR_INIT;
    int rc;

    if (ll_tokens(e, q, &c, &nc, &w, &nw, &err) < 0)
      return fail(e, MG_ERR_DATA, "task '%s' document %zu: %s",
                  task_name(e, q->task), q->doc, err.msg);
    rc = ll_prompt(e, i, c, nc, w, nw, &inp);
    free(c);
    free(w);
    if (rc < 0)
      return -1;
    if (q->tj_ctx >= 0)
      tokjob_release(e, q->tj_ctx);
    if (q->tj_whole >= 0)
      tokjob_release(e, q->tj_whole);
    q->tj_ctx = q->tj_whole = -1;
    q->tj_detok = detokjob_for(e, inp, q->nprompt, i);
  }
  if ((q->tj_ctx < 0 || e->tj[q->tj_ctx].state == TS_DONE)
      && (q->tj_whole < 0 || e->tj[q->tj_whole].state == TS_DONE)
      && (q->tj_detok < 0 || e->tj[q->tj_detok].state == TS_DONE)) {
    if (q->state == RS_WAIT)
      e->waiting--;
    push_ready(e, i);
  } else if (q->state != RS_WAIT) {
    q->state = RS_WAIT;
    e->waiting++;
  }
  return 0;
}

/* ---- transfers ---- */

static int on_data(void *arg, const char *p, size_t n, long long t)
{
  struct xfer *x = arg;

  (void)t;
  return mg_buf_add(&x->body, p, n, NULL) < 0 ? -1 : 0;
}

static void on_done(void *arg, int ok, long status, const char *errmsg,
                    long long t)
{
  struct xfer *x = arg;

  (void)t;
  x->ok = ok;
  x->status = status;
  x->done = 1;
  if (errmsg)
    (void)snprintf(x->errmsg, sizeof(x->errmsg), "%s", errmsg);
  x->next_done = x->e->done_head;
  x->e->done_head = x;
}

static int start_xfer(struct eng *e, int is_tok, size_t index, char *body)
{
  struct xfer *x = mg_xcalloc(1, sizeof(*x));
  struct mg_http_request hr;
  struct mg_http_stream_cb cb;
  struct mg_err err = MG_ERR_INIT;

  x->e = e;
  x->is_tok = is_tok;
  x->index = index;
  x->reqbody = body;
  mg_buf_init(&x->body, RESP_MAX);
  memset(&hr, 0, sizeof(hr));
  hr.method = "POST";
  hr.url = !is_tok              ? e->url_comp
           : e->tj[index].detok ? e->url_detok
                                : e->url_tok;
  hr.headers = e->headers;
  hr.body = body;
  hr.body_len = strlen(body);
  memset(&cb, 0, sizeof(cb));
  cb.arg = x;
  cb.on_data = on_data;
  cb.on_done = on_done;
  if (mg_http_multi_add(e->multi, &hr, &cb, &err) < 0) {
    if (is_tok)
      free(x->reqbody);
    mg_buf_release(&x->body);
    free(x);
    return fail(e, MG_ERR_REMOTE, "%s", err.msg);
  }
  if (is_tok)
    e->inflight_tok++;
  else
    e->inflight++;
  return 0;
}

static long long backoff_ns(const struct eng *e, int attempt)
{
  /* tenacity wait_exponential(multiplier=0.5, min=1, max=10), scaled by
   * the configured minimum */
  double s = 0.5 * pow(2.0, attempt - 1);
  long long ms = (long long)(s * (double)e->o->backoff_min_ms);

  if (ms < e->o->backoff_min_ms)
    ms = e->o->backoff_min_ms;
  if (ms > e->o->backoff_max_ms)
    ms = e->o->backoff_max_ms;
  return ms * 1000000LL;
}

/* Parses a /tokenize reply {"tokens": [...]} (the slow, checking way;
 * see fast_tokens). */
static int parse_tokens(const char *body, size_t n, uint32_t **ids,
                        size_t *nids, struct mg_err *err)
{
  struct mg_json *j = NULL, *toks;
  size_t k = 0;

  if (mg_json_parse(body, n, "/tokenize reply", &j, err) < 0)
    return -1;
  toks = mg_json_get(j, "tokens");
  if (!mg_json_is_array(toks)) {
    mg_json_free(j);
    return mg_err_set(err, MG_ERR_REMOTE,
                      "the /tokenize reply has no 'tokens' list");
  }
  *ids = mg_xreallocarray(NULL, mg_json_size(toks) + 1, sizeof(uint32_t));
  for (struct mg_json *c = mg_json_first(toks); c; c = mg_json_next(c))
    (*ids)[k++] = (uint32_t)mg_json_number(c);
  *nids = k;
  mg_json_free(j);
  return 0;
}

/* Parses a /detokenize reply {"prompt": text}. */
static int parse_detok(const char *body, size_t n, char **text, size_t *len,
                       struct mg_err *err)
{
  struct mg_json *j = NULL;
  const struct mg_json *p;

  if (mg_json_parse(body, n, "/detokenize reply", &j, err) < 0)
    return -1;
  p = mg_json_get(j, "prompt");
  if (!mg_json_is_string(p)) {
    mg_json_free(j);
    return mg_err_set(err, MG_ERR_REMOTE,
                      "the /detokenize reply has no 'prompt' text");
  }
  *len = mg_json_string_len(p);
  *text = mg_xstrndup(mg_json_string(p), *len);
  mg_json_free(j);
  return 0;
}

/* ---- a JSON cursor for the hot path ----
 *
 * An echoed loglikelihood reply repeats the whole prompt: tokens,
 * token_logprobs, top_logprobs and text_offset for every prompt token.
 * Building a DOM of it (cJSON) costs more CPU than everything else per
 * request, yet only the continuation's few numbers are needed. This cursor
 * walks the reply, checking its structure, and converts only those; any
 * surprise makes the caller fall back to the full mg_json parse, which
 * also produces the error messages. */

struct jc {
  const char *p, *end;
};

static void jc_ws(struct jc *c)
{
  while (c->p < c->end
         && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
    c->p++;
}

static int jc_skip_string(struct jc *c)
{
  const char *p;

  if (c->p >= c->end || *c->p != '"')
    return -1;
  /* the next quote not escaped by an odd run of backslashes */
  for (p = c->p + 1; p < c->end; p++) {
    const char *b;

    p = memchr(p, '"', (size_t)(c->end - p));
    if (!p)
      return -1;
    for (b = p; b > c->p + 1 && b[-1] == '\\';)
      b--;
    if ((p - b) % 2 == 0) {
      c->p = p + 1;
      return 0;
    }
  }
  return -1;
}

/*
 * Skips one value. Containers are skipped by a flat scan that balances
 * brackets outside strings (the values eval-run reads are parsed strictly;
 * a reply malformed inside a skipped part fails later checks or the full
 * parse of the slow path).
 */
static int jc_skip(struct jc *c, int depth)
{
  int level = 0;

  (void)depth;
  jc_ws(c);
  if (c->p >= c->end)
    return -1;
  if (*c->p == '"')
    return jc_skip_string(c);
  if (*c->p != '{' && *c->p != '[') {
    while (c->p < c->end && *c->p != ',' && *c->p != '}' && *c->p != ']'
           && *c->p != ' ' && *c->p != '\n' && *c->p != '\r' && *c->p != '\t')
      c->p++;
    return 0;
  }
  while (c->p < c->end) {
    char ch = *c->p;

    if (ch == '"') {
      if (jc_skip_string(c) < 0)
        return -1;
      continue;
    }
    c->p++;
    if (ch == '{' || ch == '[') {
      if (++level > 64)
        return -1;
    } else if (ch == '}' || ch == ']') {
      if (--level == 0)
        return 0;
    }
  }
  return -1;
}

/* At '{': positions the cursor at the value of key; 1 found, 0 not. */
static int jc_find(struct jc *c, const char *key)
{
  size_t kn = strlen(key);

  jc_ws(c);
  if (c->p >= c->end || *c->p != '{')
    return -1;
  c->p++;
  for (;;) {
    const char *k;

    jc_ws(c);
    if (c->p < c->end && *c->p == '}')
      return 0;
    k = c->p + 1;
    if (jc_skip_string(c) < 0)
      return -1;
    jc_ws(c);
    if (c->p >= c->end || *c->p++ != ':')
      return -1;
    if ((size_t)(c->p - k) >= kn + 1 && memcmp(k, key, kn) == 0
        && k[kn] == '"') {
      jc_ws(c);
      return 1;
    }
    if (jc_skip(c, 1) < 0)
      return -1;
    jc_ws(c);
    if (c->p < c->end && *c->p == ',')
      c->p++;
    else if (c->p < c->end && *c->p == '}')
      return 0;
    else
      return -1;
  }
}

static int jc_number(struct jc *c, double *out)
{
  char *e;

  jc_ws(c);
  if (c->p >= c->end || !(*c->p == '-' || (*c->p >= '0' && *c->p <= '9')))
    return -1;
  *out = strtod(c->p, &e);
  if (e == c->p || e > c->end)
    return -1;
  c->p = e;
  return 0;
}

/* Walks an array; for elements i in [lo, hi) calls want (number or top
 * dict) and skips the rest. Returns the element count, or -1. */
static long jc_array(struct jc *c, size_t lo, size_t hi, double *vals,
                     int is_top)
{
  size_t i = 0;

  jc_ws(c);
  if (c->p >= c->end || *c->p != '[')
    return -1;
  c->p++;
  jc_ws(c);
  if (c->p < c->end && *c->p == ']') {
    c->p++;
    return 0;
  }
  for (;; i++) {
    if (i >= lo && i < hi) {
      if (!is_top) {
        if (jc_number(c, &vals[i - lo]) < 0)
          return -1;
      } else {
        double best = -INFINITY, v;
        int any = 0;

        jc_ws(c);
        if (c->p >= c->end || *c->p != '{')
          return -1;
        c->p++;
        for (;;) {
          jc_ws(c);
          if (c->p < c->end && *c->p == '}') {
            c->p++;
            break;
          }
          if (jc_skip_string(c) < 0)
            return -1;
          jc_ws(c);
          if (c->p >= c->end || *c->p++ != ':' || jc_number(c, &v) < 0)
            return -1;
          if (!any || v > best)
            best = v;
          any = 1;
          jc_ws(c);
          if (c->p < c->end && *c->p == ',')
            c->p++;
        }
        if (!any)
          return -1;
        vals[i - lo] = best;
      }
    } else if (jc_skip(c, 1) < 0) {
      return -1;
    }
    jc_ws(c);
    if (c->p >= c->end)
      return -1;
    if (*c->p == ',') {
      c->p++;
      continue;
    }
    if (*c->p++ == ']')
      return (long)i + 1;
    return -1;
  }
}

/* --tokenizer offsets: ctxlen is the first echoed token whose text_offset
 * reaches the context's length; the prompt is every token but the last. */
static int fast_offsets(struct req *q, struct jc lp)
{
  size_t i = 0;
  long ctx = -1;

  if (jc_find(&lp, "text_offset") != 1)
    return -1;
  jc_ws(&lp);
  if (lp.p >= lp.end || *lp.p != '[')
    return -1;
  lp.p++;
  for (;; i++) {
    double v;

    if (jc_number(&lp, &v) < 0)
      return -1;
    if (ctx < 0 && v >= (double)q->c2chars)
      ctx = (long)i;
    jc_ws(&lp);
    if (lp.p < lp.end && *lp.p == ',') {
      lp.p++;
      continue;
    }
    if (lp.p < lp.end && *lp.p == ']')
      break;
    return -1;
  }
  if (i < 1 || ctx <= 0 || (size_t)ctx >= i)
    return -1;
  q->ctxlen = (size_t)ctx;
  q->nprompt = i; /* i + 1 entries: the prompt and the generated token */
  return 0;
}

/* The fast path of parse_completion for loglikelihood; -1: use the slow
 * path. */
static int fast_loglik(struct req *q, int offsets, const char *body, size_t n)
{
  struct jc c = { body, body + n }, lp;
  size_t k;
  double *tl, *top, sum = 0;
  int have_tl = 0, have_top = 0, greedy = 1, rc = -1;

  if (jc_find(&c, "choices") != 1)
    return -1;
  jc_ws(&c);
  if (c.p >= c.end || *c.p != '[')
    return -1;
  c.p++;
  if (jc_find(&c, "logprobs") != 1)
    return -1;
  if (offsets && fast_offsets(q, c) < 0)
    return -1;
  k = q->nprompt > q->ctxlen ? q->nprompt - q->ctxlen : 0;
  if (!k)
    return -1;
  tl = mg_xcalloc(2 * k, sizeof(double));
  top = tl + k;
  lp = c;
  jc_ws(&lp);
  if (lp.p >= lp.end || *lp.p != '{')
    goto out;
  lp.p++;
  for (;;) {
    const char *key;
    size_t kl;
    long cnt;

    jc_ws(&lp);
    if (lp.p < lp.end && *lp.p == '}')
      break;
    key = lp.p + 1;
    if (jc_skip_string(&lp) < 0)
      goto out;
    kl = (size_t)(lp.p - key) - 1;
    jc_ws(&lp);
    if (lp.p >= lp.end || *lp.p++ != ':')
      goto out;
    if (kl == 14 && memcmp(key, "token_logprobs", 14) == 0) {
      cnt = jc_array(&lp, q->ctxlen, q->nprompt, tl, 0);
      if (cnt != (long)q->nprompt + 1)
        goto out;
      have_tl = 1;
    } else if (kl == 12 && memcmp(key, "top_logprobs", 12) == 0) {
      cnt = jc_array(&lp, q->ctxlen, q->nprompt, top, 1);
      if (cnt != (long)q->nprompt + 1)
        goto out;
      have_top = 1;
    } else if (jc_skip(&lp, 1) < 0) {
      goto out;
    }
    jc_ws(&lp);
    if (lp.p < lp.end && *lp.p == ',')
      lp.p++;
  }
  if (!have_tl || !have_top)
    goto out;
  /* exactly one choice: the reply's choices list must end after it */
  c = lp;
  if (c.p >= c.end || *c.p != '}')
    goto out;
  c.p++;
  {
    struct jc rest = c;
    int depth = 0;

    /* skip the rest of choice 0's members up to its closing brace */
    for (;;) {
      jc_ws(&rest);
      if (rest.p >= rest.end)
        goto out;
      if (*rest.p == ',') {
        rest.p++;
        jc_ws(&rest);
        if (jc_skip_string(&rest) < 0)
          goto out;
        jc_ws(&rest);
        if (rest.p >= rest.end || *rest.p++ != ':' || jc_skip(&rest, 1) < 0)
          goto out;
        continue;
      }
      if (*rest.p == '}') {
        rest.p++;
        break;
      }
      goto out;
    }
    (void)depth;
    jc_ws(&rest);
    if (rest.p >= rest.end || *rest.p != ']')
      goto out;
  }
  for (size_t i = 0; i < k; i++) {
    sum += tl[i];
    if (greedy && tl[i] != top[i])
      greedy = 0;
  }
  q->ll = sum;
  q->greedy = greedy;
  rc = 0;
out:
  free(tl);
  return rc;
}

/* The /tokenize reply's ids without a DOM; -1: use parse_tokens. */
static int fast_tokens(const char *body, size_t n, uint32_t **ids, size_t *nids)
{
  struct jc c = { body, body + n };
  size_t cap = 256, k = 0;
  uint32_t *v;

  if (jc_find(&c, "tokens") != 1)
    return -1;
  jc_ws(&c);
  if (c.p >= c.end || *c.p != '[')
    return -1;
  c.p++;
  v = mg_xreallocarray(NULL, cap, sizeof(*v));
  jc_ws(&c);
  if (c.p < c.end && *c.p == ']') {
    *ids = v;
    *nids = 0;
    return 0;
  }
  for (;;) {
    unsigned long long x = 0;
    const char *start;

    jc_ws(&c);
    start = c.p;
    while (c.p < c.end && *c.p >= '0' && *c.p <= '9' && x < (1ULL << 40))
      x = x * 10 + (unsigned)(*c.p++ - '0');
    if (c.p == start || x > UINT32_MAX)
      break;
    if (k == cap) {
      cap *= 2;
      v = mg_xreallocarray(v, cap, sizeof(*v));
    }
    v[k++] = (uint32_t)x;
    jc_ws(&c);
    if (c.p < c.end && *c.p == ',') {
      c.p++;
      continue;
    }
    if (c.p < c.end && *c.p == ']') {
      *ids = v;
      *nids = k;
      return 0;
    }
    break;
  }
  free(v);
  return -1;
}

/* Parses a completions reply into q's result. Returns -1 with a message
 * for a reply that cannot be right (not retried). */
static int parse_completion(struct eng *e, struct req *q, const char *body,
                            size_t n, int *retry, char *why, size_t whysz)
{
  struct mg_json *j = NULL, *choices, *c0, *lp, *tl, *top;
  struct mg_err err = MG_ERR_INIT;
  int rc = -1;

  *retry = 0;
  if (q->kind != RK_GEN && fast_loglik(q, e->offsets, body, n) == 0)
    return 0;
  if (mg_json_parse(body, n, "completion reply", &j, &err) < 0) {
    *retry = 1;
    (void)snprintf(why, whysz, "%s", err.msg);
    return -1;
  }
  choices = mg_json_get(j, "choices");
  c0 = NULL;
  /* sort by index: take the choice with index 0 */
  for (struct mg_json *c = mg_json_first(choices); c; c = mg_json_next(c)) {
    struct mg_json *ix = mg_json_get(c, "index");

    if (!c0 || (ix && mg_json_number(ix) == 0))
      c0 = c;
  }
  if (!c0) {
    (void)snprintf(why, whysz, "the reply has no choices");
    goto out;
  }
  if (q->kind == RK_GEN) {
    struct mg_json *t = e->o->chat ? mg_json_get_path(c0, "message.content")
                                   : mg_json_get(c0, "text");
    const char *s = mg_json_string(t);

    q->text = s ? mg_pv_strn(s, mg_json_string_len(t)) : mg_pv_str("");
    rc = 0;
    goto out;
  }
  lp = mg_json_get(c0, "logprobs");
  tl = mg_json_get(lp, "token_logprobs");
  top = mg_json_get(lp, "top_logprobs");
  if (!mg_json_is_array(tl) || !mg_json_is_array(top)) {
    (void)snprintf(why, whysz,
                   "the reply has no logprobs.token_logprobs: the server does "
                   "not return prompt logprobs in the legacy completions "
                   "shape (echo + logprobs), so loglikelihood cannot be "
                   "scored");
    goto out;
  }
  if (e->offsets) {
    struct mg_json *off = mg_json_get(lp, "text_offset");
    size_t clen = q->c2chars, k = 0, ntok = mg_json_size(tl);

    if (!mg_json_is_array(off) || mg_json_size(off) != ntok) {
      (void)snprintf(why, whysz,
                     "the reply has no text_offset list (needed by "
                     "--tokenizer offsets)");
      goto out;
    }
    q->ctxlen = ntok;
    for (struct mg_json *c = mg_json_first(off); c; c = mg_json_next(c), k++)
      if (mg_json_number(c) >= (double)clen) {
        q->ctxlen = k;
        break;
      }
    if (ntok < 2) {
      (void)snprintf(why, whysz,
                     "the server returned logprobs for %zu tokens: it does "
                     "not echo the prompt",
                     ntok);
      goto out;
    }
    q->nprompt = ntok - 1;
    if (q->ctxlen == 0 || q->ctxlen >= q->nprompt) {
      (void)snprintf(why, whysz,
                     "cannot find the context/continuation boundary in the "
                     "echoed tokens");
      goto out;
    }
  }
  {
    size_t ntl = mg_json_size(tl), end = q->nprompt;

    if (ntl != mg_json_size(top)) {
      (void)snprintf(why, whysz,
                     "the reply has %zu token_logprobs but %zu top_logprobs",
                     ntl, mg_json_size(top));
      goto out;
    }
    if (ntl != q->nprompt + 1 && ntl >= 2 && !e->o->tokenized_requests
        && ntl >= q->ctxlen + 2) {
      /* A string prompt that the server tokenized into another number of
       * tokens: lm-eval scores token_logprobs[ctxlen:-1] of whatever came
       * back, and so does eval-run (counted, and warned about once). */
      end = ntl - 1;
      e->run->retokenized++;
    } else if (ntl != q->nprompt + 1) {
      if (ntl <= 1)
        (void)snprintf(why, whysz,
                       "the server returned %zu token logprob%s for a "
                       "%zu-token prompt: the server ignores 'echo' or "
                       "returns no prompt logprobs, so "
                       "loglikelihood cannot be scored",
                       ntl, ntl == 1 ? "" : "s", q->nprompt);
      else
        (void)snprintf(
            why, whysz,
            "the server echoed %zu prompt tokens where the tokenizer gives "
            "%zu (context %zu): %s",
            ntl - 1, q->nprompt, q->ctxlen,
            ntl - 1 < q->nprompt
                ? "it cut the prompt (a context shorter than max_length "
                  "-1?) or uses another tokenizer"
                : "it added tokens (a BOS?) or uses another tokenizer");
      goto out;
    }
    q->nprompt = end;
  }
  {
    double sum = 0;
    int greedy = 1;
    size_t k = 0;

    for (k = q->ctxlen; k < q->nprompt; k++) {
      struct mg_json *x = mg_json_at(tl, k), *t = mg_json_at(top, k);
      double best = -INFINITY;
      int any = 0;

      if (!mg_json_is_number(x)) {
        (void)snprintf(why, whysz, "token_logprobs[%zu] is not a number", k);
        goto out;
      }
      sum += mg_json_number(x);
      for (struct mg_json *c = mg_json_first(t); c; c = mg_json_next(c)) {
        double v = mg_json_number(c);

        if (!any || v > best)
          best = v;
        any = 1;
      }
      if (!any) {
        (void)snprintf(why, whysz, "top_logprobs[%zu] is empty", k);
        goto out;
      }
      if (greedy && mg_json_number(x) != best)
        greedy = 0;
    }
    q->ll = sum;
    q->greedy = greedy;
  }
  rc = 0;
out:
  mg_json_free(j);
  return rc;
}

static void req_done(struct eng *e, size_t i)
{
  struct req *q = &e->r[i];

  q->state = RS_DONE;
  free(q->body);
  q->body = NULL;
  e->task_done[q->task]++;
  cache_append(e, q);
}

static void handle_done(struct eng *e, struct xfer *x)
{
  int retry = 1;
  char why[400];
  int *attempts;
  long long *not_before;

  if (x->is_tok)
    e->inflight_tok--;
  else
    e->inflight--;
  why[0] = '\0';
  if (x->ok && x->status >= 200 && x->status < 300) {
    if (x->is_tok) {
      struct tokjob *t = &e->tj[x->index];
      struct mg_err err = MG_ERR_INIT;

      e->run->tokenize_calls++;
      if (t->detok ? parse_detok(x->body.data ? x->body.data : "", x->body.len,
                                 &t->s, &t->n, &err)
                         == 0
                   : (fast_tokens(x->body.data ? x->body.data : "", x->body.len,
                                  &t->ids, &t->nids)
                          == 0
                      || parse_tokens(x->body.data ? x->body.data : "",
                                      x->body.len, &t->ids, &t->nids, &err)
                             == 0)) {
        t->state = TS_DONE;
        if (t->detok) {
          free(t->ids);
          t->ids = NULL;
          t->nids = 0;
        } else {
          free(t->s);
          t->s = NULL;
        }
        for (size_t k = 0; k < t->nwaiters; k++)
          advance_req(e, t->waiters[k]);
        free(t->waiters);
        t->waiters = NULL;
        t->nwaiters = 0;
        goto out;
      }
      (void)snprintf(why, sizeof(why), "%s", err.msg);
    } else {
      struct req *q = &e->r[x->index];

      if (parse_completion(e, q, x->body.data ? x->body.data : "", x->body.len,
                           &retry, why, sizeof(why))
          == 0) {
        e->run->requests_sent++;
        req_done(e, x->index);
        goto out;
      }
    }
  } else if (x->ok) {
    /* the body, with the API key redacted (a gateway may echo it) */
    char *shown = mg_http_redact_body(x->body.data ? x->body.data : "",
                                      x->body.len, e->o->api_key, 160);

    (void)snprintf(why, sizeof(why), "HTTP %ld%s%s", x->status,
                   shown[0] ? ": " : "", shown);
    free(shown);
  } else {
    (void)snprintf(why, sizeof(why), "%s",
                   x->errmsg[0] ? x->errmsg : "transfer failed");
  }
  /* a failure: retry with backoff, or stop the run */
  if (x->is_tok) {
    attempts = &e->tj[x->index].attempts;
    not_before = &e->tj[x->index].not_before;
  } else {
    attempts = &e->r[x->index].attempts;
    not_before = &e->r[x->index].not_before;
  }
  if (retry && *attempts < e->o->max_retries) {
    e->run->retries++;
    *not_before = mg_time_now_ns() + backoff_ns(e, *attempts);
    e->backoff++;
    if (x->is_tok) {
      e->tj[x->index].state = TS_BACKOFF;
    } else {
      e->r[x->index].state = RS_BACKOFF;
    }
    goto out;
  }
  e->run->failed++;
  if (x->is_tok) {
    const struct tokjob *t = &e->tj[x->index];
    const struct req *q = t->nwaiters ? &e->r[t->waiters[0]] : NULL;

    fail(e, MG_ERR_REMOTE,
         "%s request for task '%s' document %zu failed after %d "
         "attempt%s at '%s': %s",
         t->detok ? "detokenize" : "tokenize", q ? task_name(e, q->task) : "?",
         q ? q->doc : 0, *attempts, *attempts == 1 ? "" : "s",
         t->detok ? e->url_detok : e->url_tok, why);
  } else {
    const struct req *q = &e->r[x->index];

    fail(e, MG_ERR_REMOTE,
         "request for task '%s' document %zu failed after %d attempt%s: %s",
         task_name(e, q->task), q->doc, *attempts, *attempts == 1 ? "" : "s",
         why);
  }
out:
  if (x->is_tok)
    free(x->reqbody);
  mg_buf_release(&x->body);
  free(x);
}

/*
 * The body of request i, built once and kept for retries; its token lists
 * are released. NULL (and the run failed) when it cannot be built.
 */
static char *make_body(struct eng *e, size_t i)
{
  struct req *q = &e->r[i];
  char *body = NULL;

  if (q->body)
    return q->body;
  if (q->kind == RK_GEN) {
    uint32_t *ids = NULL;
    size_t n = 0;

    if ((e->tok || q->tj_ctx >= 0) && e->o->tokenized_requests && !e->o->chat) {
      struct mg_err err = MG_ERR_INIT;
      size_t keep = (size_t)(e->o->max_length - 1);
      const struct mg_pv *mx = mg_pv_dict_get(q->cont, "max_gen_toks");
      long gen =
          mx && mx->type == MG_PV_INT ? (long)mx->u.i : e->o->max_gen_toks;

      if (q->tj_ctx >= 0) {
        const struct tokjob *t = &e->tj[q->tj_ctx];

        n = t->nids;
        ids = mg_xreallocarray(NULL, n ? n : 1, sizeof(uint32_t));
        memcpy(ids, t->ids, n * sizeof(uint32_t));
      } else if (local_encode(e, q->ctx->u.str.s, q->ctx->u.str.len, &ids, &n,
                              &err)
                 < 0) {
        fail(e, MG_ERR_DATA, "%s", err.msg);
        return NULL;
      }
      /* left-truncated to max_length - max_gen_toks (generate_until) */
      keep = keep > (size_t)gen ? keep - (size_t)gen : 1;
      if (n > keep) {
        memmove(ids, ids + (n - keep), keep * sizeof(uint32_t));
        n = keep;
      }
    }
    body = gen_body(e, q, ids, n);
    free(ids);
  } else if (q->kind == RK_WIN) {
    /* ids, ctxlen and nprompt were set when the windows were cut */
    if (e->o->tokenized_requests)
      body = ll_body(e, q->wids, q->nprompt, NULL, 0);
    else
      body = ll_body(e, NULL, 0, q->w, q->wn);
    free(q->wids);
    q->wids = NULL;
  } else if (e->offsets) {
    q->nprompt = 0;
    body = ll_body(e, NULL, 0, q->w, q->wn);
  } else if (q->tj_detok >= 0) {
    const struct tokjob *t = &e->tj[q->tj_detok];

    body = ll_body(e, NULL, 0, t->s ? t->s : "", t->n);
    tokjob_release(e, q->tj_detok);
    q->tj_detok = -1;
  } else {
    uint32_t *c = NULL, *w = NULL;
    size_t nc = 0, nw = 0;
    struct mg_err err = MG_ERR_INIT;

    if (ll_tokens(e, q, &c, &nc, &w, &nw, &err) < 0) {
      fail(e, MG_ERR_DATA, "task '%s' document %zu: %s", task_name(e, q->task),
           q->doc, err.msg);
      return NULL;
    }
    build_ll(e, i, c, nc, w, nw, &body);
    free(c);
    free(w);
  }
  if (!body)
    return NULL;
  q->body = body;
  if (q->tj_ctx >= 0)
    tokjob_release(e, q->tj_ctx);
  if (q->tj_whole >= 0)
    tokjob_release(e, q->tj_whole);
  q->tj_ctx = q->tj_whole = -1;
  drop_pair(q);
  return body;
}

/* Starts what can start. */
static void dispatch(struct eng *e)
{
  size_t window = (size_t)e->o->num_concurrent * 4 + 64;
  long long now = mg_time_now_ns();

  /* wake sleepers whose time has come */
  if (e->backoff) {
    for (size_t i = 0; i < e->ntj; i++)
      if (e->tj[i].state == TS_BACKOFF && e->tj[i].not_before <= now) {
        e->backoff--;
        push_tok(e, i);
      }
    for (size_t i = 0; i < e->cursor; i++)
      if (e->r[i].state == RS_BACKOFF && e->r[i].not_before <= now) {
        e->backoff--;
        push_ready(e, i);
      }
  }
  for (int progress = 1; progress && !e->failed;) {
    progress = 0;
    while (!e->failed && e->inflight < (size_t)e->o->num_concurrent
           && e->headready < e->nready) {
      size_t i = e->ready[e->headready++];
      struct req *q = &e->r[i];
      char *body = NULL;

      if (q->state != RS_READY)
        continue;
      q->attempts++;
      body = make_body(e, i);
      if (!body)
        return;
      q->state = RS_FLIGHT;
      start_xfer(e, 0, i, body);
      progress = 1;
    }
    while (!e->failed && e->inflight_tok < (size_t)e->o->num_concurrent
           && e->headtokq < e->ntokq) {
      size_t j = e->tokq[e->headtokq++];
      struct tokjob *t = &e->tj[j];
      struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

      if (t->state != TS_QUEUED)
        continue;
      t->attempts++;
      t->state = TS_FLIGHT;
      if (t->detok) {
        mg_buf_addstr(&b, "{\"tokens\": ", NULL);
        add_idlist(&b, t->ids, t->nids);
        mg_buf_addch(&b, '}', NULL);
      } else {
        mg_buf_addstr(&b, "{\"prompt\": ", NULL);
        add_pystr(&b, t->s, t->n);
        mg_buf_addstr(&b, ", \"add_special_tokens\": false}", NULL);
      }
      start_xfer(e, 1, j, mg_buf_detach(&b, NULL));
      progress = 1;
    }
    while (!e->failed && e->cursor < e->nr
           && e->waiting + e->inflight + (e->nready - e->headready) < window) {
      size_t i = e->cursor++;
      struct req *q = &e->r[i];

      if (cache_take(e, q)) {
        q->state = RS_DONE;
        e->task_done[q->task]++;
        e->run->requests_cached++;
        progress = 1;
        continue;
      }
      advance_req(e, i);
      progress = 1;
    }
  }
  /* build the next bodies now, while the server works, so that a freed
   * slot is refilled at once (a few per turn, to come back to the
   * replies soon) */
  for (size_t k = e->headready, ahead = 0, built = 0;
       k < e->nready && ahead < (size_t)e->o->num_concurrent && built < 8
       && !e->failed;
       k++) {
    struct req *q = &e->r[e->ready[k]];

    if (q->state != RS_READY)
      continue;
    ahead++;
    if (!q->body) {
      make_body(e, e->ready[k]);
      built++;
    }
  }
}

static void report_progress(struct eng *e, int final)
{
  long long now = mg_time_now_ns();

  if (!e->o->progress)
    return;
  if (!final && now - e->last_progress < 200000000LL)
    return;
  e->last_progress = now;
  /* each finished task once, then the first one under way */
  for (size_t t = 0, current = 0; t < e->run->ts->ntasks; t++) {
    int finished = e->task_total[t] && e->task_done[t] == e->task_total[t];

    if (finished && !e->task_shown[t]) {
      e->task_shown[t] = 1;
      e->o->progress(e->o->progress_arg, task_name(e, t), e->task_done[t],
                     e->task_total[t], e->run->t0_ns, final);
    } else if (!finished && !current && !final && e->task_done[t]) {
      current = 1;
      e->o->progress(e->o->progress_arg, task_name(e, t), e->task_done[t],
                     e->task_total[t], e->run->t0_ns, final);
    }
  }
}

static int all_done(const struct eng *e)
{
  if (e->cursor < e->nr)
    return 0;
  for (size_t t = 0; t < e->run->ts->ntasks; t++)
    if (e->task_done[t] < e->task_total[t])
      return 0;
  return 1;
}

static void loop(struct eng *e)
{
  long long t_last = mg_time_now_ns(), t_start = t_last;
  double area = 0;

  while (!all_done(e) && !e->failed) {
    long timeout = 100;
    long long now;

    if (e->o->stop && *e->o->stop) {
      e->run->interrupted = 1;
      fail(e, MG_ERR_IO, "interrupted by a signal");
      break;
    }
    dispatch(e);
    if (e->failed)
      break;
    if (!e->inflight && !e->inflight_tok) {
      if (!e->backoff && e->headready >= e->nready && e->headtokq >= e->ntokq
          && e->cursor >= e->nr && !all_done(e)) {
        fail(e, MG_ERR_REMOTE, "requests are stuck (internal error)");
        break;
      }
      if (e->backoff)
        usleep(10000);
      continue;
    }
    /* replies already here are handled (and their slots refilled)
     * before waiting for more */
    mg_http_multi_run(e->multi, 0);
    if (!e->done_head)
      mg_http_multi_run(e->multi, timeout);
    /* completions in flight, time-weighted (for -v and the bench) */
    now = mg_time_now_ns();
    area += (double)e->inflight * (double)(now - t_last);
    t_last = now;
    while (e->done_head) {
      struct xfer *x = e->done_head;

      e->done_head = x->next_done;
      handle_done(e, x);
    }
    report_progress(e, 0);
  }
  if (t_last > t_start)
    e->run->mean_inflight = area / (double)(t_last - t_start);
  /* cancel what is still running; their on_done queue the xfers */
  mg_http_multi_free(e->multi);
  e->multi = NULL;
  while (e->done_head) {
    struct xfer *x = e->done_head;

    e->done_head = x->next_done;
    if (x->is_tok) {
      e->inflight_tok--;
      free(x->reqbody);
    } else {
      e->inflight--;
    }
    mg_buf_release(&x->body);
    free(x);
  }
  report_progress(e, 1);
}

/* ------------------------------------------------------------------ */

void mg_eval_run_free(struct mg_eval_run *r)
{
  if (!r)
    return;
  for (size_t t = 0; r->ts && t < r->ts->ntasks; t++) {
    size_t n = r->ts->tasks[t]->docs->u.list.n;

    if (r->docs)
      mg_task_docs_free(r->docs[t], n);
    if (r->res && r->res[t]) {
      for (size_t d = 0; d < n; d++) {
        free(r->res[t][d].ll);
        free(r->res[t][d].greedy);
        for (size_t k = 0; r->res[t][d].text && k < r->res[t][d].n; k++)
          mg_pv_unref(r->res[t][d].text[k]);
        free(r->res[t][d].text);
      }
      free(r->res[t]);
    }
    if (r->tres)
      mg_metrics_task_result_release(&r->tres[t]);
    if (r->samples)
      mg_pv_unref(r->samples[t]);
  }
  for (size_t g = 0; r->gres && g < r->ts->ngroups; g++)
    mg_metrics_task_result_release(&r->gres[g]);
  free(r->docs);
  free(r->res);
  free(r->tres);
  free(r->gres);
  free(r->samples);
  free(r->url);
  free(r->model_name);
  free(r->eos_string);
  free(r->tok_pad);
  free(r->tok_eos);
  free(r->tok_bos);
  free(r);
}

static void eng_release(struct eng *e)
{
  for (size_t i = 0; i < e->nr; i++) {
    mg_pv_unref(e->r[i].ctx);
    mg_pv_unref(e->r[i].cont);
    mg_pv_unref(e->r[i].text);
    free(e->r[i].c2);
    free(e->r[i].w);
    free(e->r[i].wids);
    free(e->r[i].body);
  }
  free(e->r);
  for (size_t i = 0; i < e->ntj; i++) {
    free(e->tj[i].s);
    free(e->tj[i].ids);
    free(e->tj[i].waiters);
  }
  free(e->tj);
  free(e->tokq);
  free(e->ready);
  smap_release(&e->tokmap);
  smap_release(&e->cache);
  mg_pv_unref(e->cache_vals);
  if (e->cache_fd >= 0)
    close(e->cache_fd);
  mg_http_multi_free(e->multi);
  free(e->url_comp);
  free(e->url_tok);
  free(e->url_detok);
  free(e->url_base);
  free(e->eos);
  if (e->auth) {
    mg_wipe(e->auth, strlen(e->auth));
    free(e->auth);
  }
  free((void *)e->headers);
  mg_tok_free(e->tok);
  mg_pv_unref(e->lc_ctx);
  free(e->lc_ids);
  free(e->task_done);
  free(e->task_total);
  free(e->task_shown);
  free(e->task_first);
}

static int setup_tokenizer(struct eng *e, struct mg_err *err)
{
  const char *t = e->o->tokenizer;

  if (e->o->chat)
    return 0; /* chat: generation only, no tokenizer needed */
  if (!t || !strcmp(t, "remote")) {
    e->remote = 1;
    e->run->tokenizer_source = "remote";
    return 0;
  }
  if (!strcmp(t, "offsets")) {
    e->offsets = 1;
    e->run->tokenizer_source = "offsets";
    return 0;
  }
  e->run->tokenizer_source = "local";
  if (mg_tok_load(t, 0, &e->tok, err) < 0)
    return mg_err_prefix(err, "tokenizer");
  {
    /* the tokens lm-eval's results name (add_tokenizer_info); a tokenizer
     * given as tokenizer= gets no configure_pad_token */
    const char *names[3] = { "pad_token", "eos_token", "bos_token" };
    char **tok[3] = { &e->run->tok_pad, &e->run->tok_eos, &e->run->tok_bos };
    long long *id[3] = { &e->run->tok_pad_id, &e->run->tok_eos_id,
                         &e->run->tok_bos_id };

    e->run->has_tokenizer_info = 1;
    for (int k = 0; k < 3; k++) {
      const char *s =
          e->o->special ? mg_chat_special(e->o->special, names[k]) : NULL;

      *tok[k] = s ? mg_xstrdup(s) : NULL;
      *id[k] = s ? (long long)mg_tok_token_to_id(e->tok, s, strlen(s)) : -1;
    }
  }
  return 0;
}

/* ---- setup: blocking calls before the run ---- */

/* One POST (or GET when body is NULL) with the run's retries. Returns 0
 * with the status and body, -1 when the server cannot be reached. */
static int blocking_call(struct eng *e, const char *url, const char *body,
                         struct mg_buf *out, long *status, struct mg_err *err)
{
  struct mg_http_opts ho = e->hopts;
  struct mg_http_request hr;
  struct mg_http_response resp;
  int rc;

  ho.retries = e->o->max_retries > 1 ? e->o->max_retries - 1 : 0;
  ho.retry_base_ms = e->o->backoff_min_ms;
  ho.retry_max_ms = e->o->backoff_max_ms;
  memset(&hr, 0, sizeof(hr));
  hr.method = body ? "POST" : "GET";
  hr.url = url;
  hr.headers = e->headers;
  hr.body = body;
  hr.body_len = body ? strlen(body) : 0;
  mg_http_response_init(&resp, RESP_MAX);
  rc = mg_http_do(&ho, &hr, &resp, err);
  if (rc == 0) {
    *status = resp.status;
    mg_buf_add(out, resp.body.data ? resp.body.data : "", resp.body.len, NULL);
  }
  mg_http_response_release(&resp);
  return rc;
}

/* POST /tokenize as lm-eval's remote tokenizer sends it. */
static int remote_encode(struct eng *e, const char *s, size_t n, uint32_t **ids,
                         size_t *nids, struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_buf out = MG_BUF_INIT(RESP_MAX);
  long status = 0;
  int rc = -1;

  mg_buf_addstr(&b, "{\"prompt\": ", NULL);
  add_pystr(&b, s, n);
  mg_buf_addstr(&b, ", \"add_special_tokens\": false}", NULL);
  if (blocking_call(e, e->url_tok, b.data, &out, &status, err) < 0)
    goto out;
  e->run->tokenize_calls++;
  if (status < 200 || status >= 300) {
    mg_err_set(err, MG_ERR_REMOTE, "tokenize request at '%s' failed: HTTP %ld",
               e->url_tok, status);
    goto out;
  }
  if (fast_tokens(out.data ? out.data : "", out.len, ids, nids) < 0
      && parse_tokens(out.data ? out.data : "", out.len, ids, nids, err) < 0)
    goto out;
  rc = 0;
out:
  mg_buf_release(&b);
  mg_buf_release(&out);
  return rc;
}

/* POST /detokenize {"tokens": [...]} -> {"prompt": text} */
static int remote_decode(struct eng *e, const uint32_t *ids, size_t n,
                         char **text, size_t *len, struct mg_err *err)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_buf out = MG_BUF_INIT(RESP_MAX);
  struct mg_json *j = NULL;
  char *url = mg_xasprintf("%s/detokenize", e->url_base);
  const char *s;
  long status = 0;
  int rc = -1;

  mg_buf_addstr(&b, "{\"tokens\": ", NULL);
  add_idlist(&b, ids, n);
  mg_buf_addch(&b, '}', NULL);
  if (blocking_call(e, url, b.data, &out, &status, err) < 0)
    goto out;
  if (status < 200 || status >= 300) {
    mg_err_set(err, MG_ERR_REMOTE,
               "detokenize request at '%s' failed: HTTP %ld", url, status);
    goto out;
  }
  if (mg_json_parse(out.data ? out.data : "", out.len, "/detokenize reply", &j,
                    err)
      < 0)
    goto out;
  s = mg_json_string(mg_json_get(j, "prompt"));
  if (!s) {
    mg_err_set(err, MG_ERR_REMOTE, "the /detokenize reply has no 'prompt'");
    goto out;
  }
  *len = mg_json_string_len(mg_json_get(j, "prompt"));
  *text = mg_xstrndup(s, *len);
  rc = 0;
out:
  mg_json_free(j);
  free(url);
  mg_buf_release(&b);
  mg_buf_release(&out);
  return rc;
}

/* A special token as tokenizer configs spell it: a string or an
 * AddedToken object {"content": ...}. */
static char *token_string(const struct mg_json *v)
{
  const char *s = mg_json_string(v);

  if (!s)
    s = mg_json_string(mg_json_get(v, "content"));
  return s ? mg_xstrdup(s) : NULL;
}

/* GET /tokenizer_info (vLLM with --enable-tokenizer-info-endpoint): the
 * BOS and EOS strings; nothing when the server does not serve it. */
static void tokenizer_info(struct eng *e, char **bos, char **eos)
{
  struct mg_buf out = MG_BUF_INIT(RESP_MAX);
  struct mg_json *j = NULL;
  struct mg_err err = MG_ERR_INIT;
  char *url = mg_xasprintf("%s/tokenizer_info", e->url_base);
  long status = 0;

  *bos = *eos = NULL;
  if (blocking_call(e, url, NULL, &out, &status, &err) == 0 && status >= 200
      && status < 300
      && mg_json_parse(out.data ? out.data : "", out.len, url, &j, &err) == 0) {
    *bos = token_string(mg_json_get(j, "bos_token"));
    *eos = token_string(mg_json_get(j, "eos_token"));
  }
  mg_json_free(j);
  free(url);
  mg_buf_release(&out);
}

/*
 * The prefix token (TemplateAPI.prefix_token_id: custom, else BOS, else
 * EOS) when empty contexts or rolling windows need it, and the EOS string
 * for generation stops (eos_string, else the tokenizer's eos_token).
 */
static int setup_specials(struct eng *e, int need_prefix, int need_eos,
                          struct mg_err *err)
{
  const char *bos = NULL, *eos = NULL;
  char *ibos = NULL, *ieos = NULL;
  int rc = -1;

  e->prefix = -1;
  if (e->o->special) {
    bos = mg_chat_bos(e->o->special);
    eos = mg_chat_eos(e->o->special);
  } else if (e->remote
             && ((need_prefix && e->o->prefix_token_id < 0)
                 || (need_eos && !e->o->eos_string && !e->o->chat))) {
    tokenizer_info(e, &ibos, &ieos);
    bos = ibos;
    eos = ieos;
  }
  if (e->o->eos_string)
    e->eos = mg_xstrdup(e->o->eos_string);
  else if (eos && !e->o->chat && !e->offsets)
    e->eos = mg_xstrdup(eos);
  e->eos_in_stop = need_eos && e->eos;
  if (!need_prefix) {
    rc = 0;
    goto out;
  }
  if (e->offsets) {
    mg_err_set(err, MG_ERR_USAGE,
               "empty contexts and loglikelihood_rolling need token ids "
               "(lm-eval's prefix token): use --tokenizer remote or a "
               "tokenizer.json, not offsets");
    goto out;
  }
  if (e->o->prefix_token_id >= 0) {
    e->prefix = e->o->prefix_token_id;
  } else if (e->tok) {
    int64_t id = bos ? mg_tok_token_to_id(e->tok, bos, strlen(bos)) : -1;

    if (id < 0 && eos) {
      id = mg_tok_token_to_id(e->tok, eos, strlen(eos));
    }
    e->prefix = id;
  } else {
    /* the remote tokenizer: bos_token_id or eos_token_id (Python "or":
     * an id of 0 counts as missing) */
    for (int k = 0; k < 2 && e->prefix <= 0; k++) {
      const char *tokstr = k ? eos : bos;
      uint32_t *ids = NULL;
      size_t n = 0;

      if (!tokstr)
        continue;
      if (remote_encode(e, tokstr, strlen(tokstr), &ids, &n, err) < 0)
        goto out;
      if (n) {
        e->prefix = ids[0];
      }
      free(ids);
    }
  }
  if (e->prefix < 0) {
    mg_err_set(err, MG_ERR_USAGE,
               "empty contexts and loglikelihood_rolling need lm-eval's "
               "prefix token, and the tokenizer has no BOS or EOS token%s: "
               "give --model-args custom_prefix_token_id=N",
               e->remote ? " (the server does not serve /tokenizer_info)" : "");
    goto out;
  }
  rc = 0;
out:
  free(ibos);
  free(ieos);
  return rc;
}

/*
 * lm-eval's loglikelihood_rolling for one text: tok_encode(text), then
 * make_disjoint_window(get_rolling_token_windows(tokens, prefix,
 * max_seq_len = max_length - 2, context_len = 1)); one request per
 * window, appended to e->r. Returns the number of windows.
 */
static long add_windows(struct eng *e, size_t t, size_t d, struct mg_pv *text,
                        struct mg_err *err)
{
  uint32_t *ids = NULL;
  size_t n = 0, msl, predicted = 0, nwin = 0;
  const char *s = text->u.str.s;

  if (e->o->max_length < 3) {
    mg_err_set(err, MG_ERR_USAGE,
               "loglikelihood_rolling needs max_length of at least 3");
    return -1;
  }
  msl = (size_t)e->o->max_length - 2;
  if (e->tok ? local_encode(e, s, text->u.str.len, &ids, &n, err)
             : remote_encode(e, s, text->u.str.len, &ids, &n, err))
    return mg_err_prefix(err, "task '%s' document %zu", task_name(e, t), d);
  while (predicted < n) {
    size_t start, nctx, npred, end;
    struct req *q;
    struct mg_pv *c;

    if (nwin == 0) {
      npred = n < msl ? n : msl;
      end = npred;
      start = 0;
      nctx = 1; /* [prefix] */
    } else {
      npred = n - predicted < msl ? n - predicted : msl;
      end = predicted + npred;
      start = end - msl - 1;
      nctx = msl - npred + 1;
    }
    e->r = mg_xreallocarray(e->r, e->nr + 1, sizeof(*e->r));
    q = &e->r[e->nr++];
    memset(q, 0, sizeof(*q));
    q->task = t;
    q->doc = d;
    q->idx = nwin;
    q->kind = RK_WIN;
    q->tj_ctx = q->tj_whole = q->tj_detok = -1;
    q->ctx = mg_pv_ref(text);
    c = mg_pv_list();
    mg_pv_list_append(c, mg_pv_int((long long)nwin));
    mg_pv_list_append(c, mg_pv_int(e->o->max_length));
    mg_pv_list_append(c, mg_pv_int(e->prefix));
    q->cont = c;
    q->ctxlen = nctx;
    q->nprompt = nctx + npred;
    q->wids = mg_xreallocarray(NULL, q->nprompt, sizeof(uint32_t));
    if (nwin == 0) {
      q->wids[0] = (uint32_t)e->prefix;
      memcpy(q->wids + 1, ids, npred * sizeof(uint32_t));
    } else {
      memcpy(q->wids, ids + start, q->nprompt * sizeof(uint32_t));
    }
    if (!e->o->tokenized_requests) {
      /* string prompts: the decoded window */
      struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

      if (e->tok) {
        if (mg_tok_decode_hf(e->tok, q->wids, q->nprompt, 0, &b, err) < 0) {
          mg_buf_release(&b);
          free(ids);
          return -1;
        }
        q->w = mg_buf_detach(&b, &q->wn);
        if (!q->w)
          q->w = mg_xstrdup("");
      } else if (remote_decode(e, q->wids, q->nprompt, &q->w, &q->wn, err)
                 < 0) {
        free(ids);
        return -1;
      }
    }
    req_key(e, q, 0);
    predicted += npred;
    nwin++;
  }
  free(ids);
  return (long)nwin;
}

static void collect_results(struct eng *e)
{
  struct mg_eval_run *r = e->run;
  struct mg_task_set *ts = r->ts;

  r->res = mg_xcalloc(ts->ntasks, sizeof(*r->res));
  for (size_t t = 0; t < ts->ntasks; t++) {
    size_t nd = ts->tasks[t]->docs->u.list.n;

    r->res[t] = mg_xcalloc(nd ? nd : 1, sizeof(**r->res));
    for (size_t d = 0; d < nd; d++) {
      size_t first = e->doc_first[t][d];
      size_t n = e->doc_nreq[t][d];
      struct mg_doc_result *dr = &r->res[t][d];

      dr->complete = 1;
      dr->ll = mg_xcalloc(n + 1, sizeof(double));
      dr->greedy = mg_xcalloc(n + 1, sizeof(int));
      dr->text = mg_xcalloc(n + 1, sizeof(struct mg_pv *));
      if (ts->tasks[t]->output == MG_OUT_LOGLIKELIHOOD_ROLLING) {
        /* the text's loglikelihood: sum over its windows, in order */
        double sum = 0;

        dr->n = 1;
        dr->parts = n;
        for (size_t k = 0; k < n; k++) {
          if (e->r[first + k].state != RS_DONE)
            dr->complete = 0;
          sum += e->r[first + k].ll;
        }
        dr->ll[0] = sum;
        continue;
      }
      dr->n = n;
      for (size_t k = 0; k < n; k++) {
        struct req *q = &e->r[first + k];

        if (q->state != RS_DONE) {
          dr->complete = 0;
          continue;
        }
        dr->ll[k] = q->ll;
        dr->greedy[k] = q->greedy;
        dr->text[k] = q->text ? mg_pv_ref(q->text) : NULL;
      }
    }
  }
}

int mg_eval_run(struct mg_task_set *ts, const struct mg_task_opts *topts,
                const struct mg_eval_opts *o, struct mg_eval_run **out,
                struct mg_err *err)
{
  struct eng e;
  struct mg_eval_run *r = mg_xcalloc(1, sizeof(*r));
  const char **hdrs;
  int rc = -1;

  *out = NULL;
  memset(&e, 0, sizeof(e));
  e.o = o;
  e.run = r;
  e.cache_fd = -1;
  r->ts = ts;
  r->t0_ns = mg_time_now_ns();
  mg_time_rfc3339(r->started, sizeof(r->started));
  if (!o->url || !o->model) {
    mg_err_set(err, MG_ERR_USAGE,
               "no endpoint: give --base-url and --model "
               "or an input record with 'endpoint'");
    goto out;
  }
  for (size_t t = 0; t < ts->ntasks; t++) {
    if (o->chat && ts->tasks[t]->output != MG_OUT_GENERATE_UNTIL) {
      mg_err_set(err, MG_ERR_USAGE,
                 "task '%s' is %s: local-chat-completions can only generate "
                 "(no prompt logprobs); use local-completions",
                 ts->tasks[t]->name, mg_task_output_name(ts->tasks[t]->output));
      goto out;
    }
  }
  make_urls(&e);
  r->url = mg_record_redact_url(e.url_comp);
  r->model_name = mg_xstrdup(o->model);
  r->max_length = o->max_length;
  if (setup_tokenizer(&e, err) < 0)
    goto out;
  /* prompts */
  r->docs = mg_xcalloc(ts->ntasks, sizeof(*r->docs));
  for (size_t t = 0; t < ts->ntasks; t++)
    if (mg_task_prepare(ts->tasks[t], topts, &r->docs[t], err) < 0)
      goto out;
  if (cache_open(&e, err) < 0)
    goto out;
  /* HTTP */
  mg_http_opts_init(&e.hopts);
  e.hopts.cacert = o->cacert;
  e.hopts.insecure = o->insecure;
  e.hopts.timeout_ms = o->timeout_ms;
  e.hopts.retries = 0;
  e.hopts.max_body = RESP_MAX;
  e.hopts.verbose = o->verbose >= 3;
  hdrs = mg_xcalloc(3, sizeof(char *));
  hdrs[0] = "Content-Type: application/json";
  if (o->api_key) {
    e.auth = mg_xasprintf("Authorization: Bearer %s", o->api_key);
    hdrs[1] = e.auth;
  }
  e.headers = hdrs;
  /* requests: what lm-eval asks for each document */
  e.task_done = mg_xcalloc(ts->ntasks, sizeof(size_t));
  e.task_total = mg_xcalloc(ts->ntasks, sizeof(size_t));
  e.task_shown = mg_xcalloc(ts->ntasks, 1);
  e.task_first = mg_xcalloc(ts->ntasks, sizeof(size_t));
  e.doc_first = mg_xcalloc(ts->ntasks, sizeof(*e.doc_first));
  e.doc_nreq = mg_xcalloc(ts->ntasks, sizeof(*e.doc_nreq));
  e.args = mg_xcalloc(ts->ntasks, sizeof(*e.args));
  {
    int need_prefix = 0, need_eos = 0;

    for (size_t t = 0; t < ts->ntasks; t++) {
      const struct mg_task *task = ts->tasks[t];
      size_t nd = task->docs->u.list.n;

      e.doc_first[t] = mg_xcalloc(nd ? nd : 1, sizeof(size_t));
      e.doc_nreq[t] = mg_xcalloc(nd ? nd : 1, sizeof(size_t));
      e.args[t] = mg_xcalloc(nd ? nd : 1, sizeof(struct mg_pv *));
      for (size_t d = 0; d < nd; d++) {
        struct mg_pv *args = mg_task_doc_args(task, &r->docs[t][d]);

        e.args[t][d] = args;
        if (task->output == MG_OUT_LOGLIKELIHOOD_ROLLING)
          need_prefix = 1;
        else if (task->output == MG_OUT_GENERATE_UNTIL)
          need_eos = o->num_concurrent <= 1;
        else
          for (size_t k = 0; k < args->u.list.n; k++)
            if (!mg_pv_len(args->u.list.v[k]->u.list.v[0]))
              need_prefix = 1;
      }
    }
    if (setup_specials(&e, need_prefix, need_eos, err) < 0)
      goto out;
    r->prefix_token_id = e.prefix;
    r->eos_string = e.eos_in_stop ? mg_xstrdup(e.eos) : NULL;
  }
  for (size_t t = 0; t < ts->ntasks; t++) {
    const struct mg_task *task = ts->tasks[t];
    size_t nd = task->docs->u.list.n;

    e.task_first[t] = e.nr;
    for (size_t d = 0; d < nd; d++) {
      struct mg_pv *args = e.args[t][d];

      e.doc_first[t][d] = e.nr;
      if (task->output == MG_OUT_LOGLIKELIHOOD_ROLLING) {
        long nw = add_windows(&e, t, d, args->u.list.v[0]->u.list.v[0], err);

        if (nw < 0)
          goto out;
        e.doc_nreq[t][d] = (size_t)nw;
        e.task_total[t] += (size_t)nw;
        continue;
      }
      e.r = mg_xreallocarray(e.r, e.nr + args->u.list.n + 1, sizeof(*e.r));
      for (size_t k = 0; k < args->u.list.n; k++) {
        struct req *q = &e.r[e.nr++];
        const struct mg_pv *a = args->u.list.v[k];

        memset(q, 0, sizeof(*q));
        q->task = t;
        q->doc = d;
        q->idx = k;
        q->kind = task->output == MG_OUT_GENERATE_UNTIL ? RK_GEN : RK_LL;
        q->ctx = mg_pv_ref(a->u.list.v[0]);
        q->cont = mg_pv_ref(a->u.list.v[1]);
        q->tj_ctx = q->tj_whole = q->tj_detok = -1;
        req_key(&e, q, q->kind == RK_GEN ? (int)k : 0);
      }
      e.doc_nreq[t][d] = args->u.list.n;
      e.task_total[t] += args->u.list.n;
    }
  }
  r->requests_total = e.nr;
  e.multi = mg_http_multi_new(&e.hopts, 2 * o->num_concurrent);
  if (!e.multi) {
    mg_err_set(err, MG_ERR_IO, "cannot start the HTTP engine");
    goto out;
  }
  report_progress(&e, 0);
  loop(&e);
  r->t1_ns = mg_time_now_ns();
  mg_time_rfc3339(r->finished, sizeof(r->finished));
  r->complete = !e.failed && all_done(&e);
  /* scoring */
  collect_results(&e);
  r->tres = mg_xcalloc(ts->ntasks, sizeof(*r->tres));
  r->samples = mg_xcalloc(ts->ntasks, sizeof(*r->samples));
  for (size_t t = 0; t < ts->ntasks; t++) {
    struct mg_err e2 = MG_ERR_INIT;

    if (o->log_samples)
      r->samples[t] = mg_pv_list();
    if (mg_metrics_task(ts->tasks[t], r->docs[t], r->res[t],
                        ts->tasks[t]->docs->u.list.n, o->bootstrap_iters,
                        r->samples[t], &r->tres[t], &e2)
        < 0) {
      if (r->failure.cat == MG_ERR_NONE)
        r->failure = e2;
      r->complete = 0;
    }
  }
  r->gres = mg_xcalloc(ts->ngroups ? ts->ngroups : 1, sizeof(*r->gres));
  for (size_t g = 0; g < ts->ngroups; g++)
    mg_metrics_group(ts, g, r->tres, &r->gres[g]);
  rc = 0;
out:
  if (e.args) {
    for (size_t t = 0; t < ts->ntasks; t++) {
      for (size_t d = 0; e.args[t] && d < ts->tasks[t]->docs->u.list.n; d++)
        mg_pv_unref(e.args[t][d]);
      free(e.args[t]);
      free(e.doc_first[t]);
      free(e.doc_nreq[t]);
    }
    free(e.args);
    free(e.doc_first);
    free(e.doc_nreq);
  }
  eng_release(&e);
  if (rc < 0) {
    mg_eval_run_free(r);
    return -1;
  }
  *out = r;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Answer key                                                          */

int mg_eval_write_answer_key(struct mg_task_set *ts,
                             const struct mg_task_opts *topts, const char *path,
                             size_t *nlines, struct mg_err *err)
{
  struct mg_buf out = MG_BUF_INIT(MG_BUF_UNLIMITED);
  int rc = -1;

  *nlines = 0;
  for (size_t t = 0; t < ts->ntasks; t++) {
    const struct mg_task *task = ts->tasks[t];
    struct mg_task_doc *docs;
    size_t nd = task->docs->u.list.n;

    if (mg_task_prepare(task, topts, &docs, err) < 0)
      goto out;
    for (size_t d = 0; d < nd; d++) {
      const struct mg_task_doc *td = &docs[d];
      struct mg_pv *line = mg_pv_dict(), *ctx = NULL, *cont = NULL;
      struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
      long gold = td->gold;

      if (td->golds)
        for (size_t k = 0; k < td->golds->u.list.n && gold == -100; k++)
          gold = (long)td->golds->u.list.v[k]->u.i;
      if (task->output == MG_OUT_MULTIPLE_CHOICE) {
        const struct mg_pv *c =
            gold >= 0 ? mg_pv_at(td->choices, (size_t)gold) : NULL;

        if (!c) {
          mg_pv_unref(line);
          continue;
        }
        if (task->multiple_input) {
          mg_pv_to_str(&b, td->ctx);
          mg_pv_to_str(&b, c);
          ctx = mg_pv_str_buf(&b);
          mg_buf_addstr(&b, task->target_delimiter, NULL);
          mg_pv_to_str(&b, td->target);
        } else {
          ctx = mg_pv_ref(td->ctx);
          mg_buf_addstr(&b, task->target_delimiter, NULL);
          mg_pv_to_str(&b, c);
        }
        cont = mg_pv_str_buf(&b);
      } else {
        if (td->messages && !td->rendered) {
          /* the mock matches the last user message */
          const struct mg_pv *m = td->messages;

          for (size_t k = m->u.list.n; k-- > 0;)
            if (!strcmp(mg_pv_cstr(mg_pv_dict_get(m->u.list.v[k], "role")),
                        "user")) {
              ctx = mg_pv_ref(mg_pv_dict_get(m->u.list.v[k], "content"));
              break;
            }
          if (!ctx)
            ctx = mg_pv_ref(td->ctx);
        } else {
          ctx = mg_pv_ref(td->ctx);
        }
        if (td->target->type == MG_PV_LIST && td->target->u.list.n)
          mg_pv_to_str(&b, td->target->u.list.v[0]);
        else
          mg_pv_to_str(&b, td->target);
        cont = mg_pv_str_buf(&b);
      }
      mg_pv_dict_sets(line, "context", ctx);
      mg_pv_dict_sets(line, "continuation", cont);
      mg_pv_dict_sets(line, "task", mg_pv_str(task->name));
      mg_pv_dict_sets(line, "doc_id", mg_pv_int((long long)d));
      mg_pv_dumps(&out, line, -1);
      mg_buf_addch(&out, '\n', NULL);
      mg_pv_unref(line);
      (*nlines)++;
    }
    mg_task_docs_free(docs, nd);
  }
  rc = mg_io_write_atomic(path, out.data ? out.data : "", out.len, 0644, err);
out:
  mg_buf_release(&out);
  return rc;
}

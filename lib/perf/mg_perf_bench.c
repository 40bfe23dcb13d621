#include "perf/mg_perf_bench.h"

#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "mg_time.h"
#include "perf/mg_perf_data.h"
#include "perf/mg_perf_sse.h"
#include "tok/mg_tok_proc.h"

#define BLOCK MG_PERF_BENCH_BLOCK
#define BODY_KEEP 512 /* bytes of a response kept for messages */
#define SSE_MAX ((size_t)4 << 20)
#define STATUS_NS 100000000LL /* status callback period */
#define START_DELAY_NS 20000000LL

struct slot;

struct loop {
  const struct mg_perf_target *t;
  struct mg_http_opts http; /* t->http, tuned to the benchmark */
  const struct mg_perf_data *data;
  struct mg_perf_req_body body;
  struct mg_perf_bench *b;
  struct mg_http_multi *m;
  const char **headers;
  struct slot **active; /* in flight */
  int nactive, capactive;
  struct slot *pool; /* free slots */
  long long *freed;  /* closed loop: FIFO of slot-free times */
  long long nfreed_head, nfreed_tail, capfreed;
  int cancelling; /* in-flight cancels are ours: incomplete */
  const char *cancel_reason;
  unsigned char *window; /* last error_window outcomes (1 = error) */
  int wsize, wcount, wpos, werr;
  const char *stop_reason; /* set by a limit that ends the run */
};

struct slot {
  struct loop *L;
  struct mg_perf_rec *rec;
  long id;
  int pos;            /* index in L->active */
  struct mg_buf body; /* request body */
  struct mg_buf keep; /* first bytes of the response */
  struct mg_buf text; /* output text (collect_text) */
  struct mg_perf_sse sse;
  struct mg_perf_sse_chunk_cache cache;
  const char *fail; /* errored by us (malformed, error event) */
  char *fail_detail;
  struct slot *next;
};

void mg_perf_bench_release(struct mg_perf_bench *b)
{
  for (long long i = 0; i < b->n; i++) {
    struct mg_perf_rec *r = mg_perf_bench_rec(b, i);
    free(r->ev_t);
    free(r->ev_f);
    free(r->detail);
    free(r->text);
  }
  for (size_t i = 0; i < b->nblocks; i++)
    free(b->blocks[i]);
  free(b->blocks);
  if (b->has_osd)
    mg_perf_osd_release(&b->osd);
  memset(b, 0, sizeof(*b));
}

int mg_perf_bench_count_text(struct mg_perf_bench *b, struct mg_tok_proc *p,
                             struct mg_err *err)
{
  for (long long i = 0; i < b->n; i++) {
    struct mg_perf_rec *r = mg_perf_bench_rec(b, i);
    size_t n;
    if (!r->text)
      continue;
    if (mg_tok_proc_count(p, r->text, strlen(r->text), 0, &n, err) < 0)
      return -1;
    r->text_tokens = (long long)n;
    r->text_counted = 1;
    free(r->text);
    r->text = NULL;
  }
  return 0;
}

static struct mg_perf_rec *new_rec(struct mg_perf_bench *b)
{
  struct mg_perf_rec *r;

  if (b->n == (long long)b->nblocks * BLOCK) {
    b->blocks = mg_xreallocarray(b->blocks, b->nblocks + 1, sizeof(*b->blocks));
    b->blocks[b->nblocks++] = mg_xcalloc(BLOCK, sizeof(struct mg_perf_rec));
  }
  r = mg_perf_bench_rec(b, b->n);
  memset(r, 0, sizeof(*r));
  r->idx = b->n++;
  r->usage_prompt = r->usage_output = -1;
  r->data_prompt = r->req_output = -1;
  return r;
}

static void add_event(struct mg_perf_rec *r, long long t, unsigned char f)
{
  if (r->nev == r->evcap) {
    /* Room for the expected stream at once: role, tokens, usage, DONE. */
    r->evcap = r->evcap ? r->evcap * 2
                        : (r->req_output > 12 && r->req_output < 4096
                               ? (int)r->req_output + 4
                               : 16);
    r->ev_t = mg_xreallocarray(r->ev_t, (size_t)r->evcap, sizeof(long long));
    r->ev_f = mg_xreallocarray(r->ev_f, (size_t)r->evcap, 1);
  }
  r->ev_t[r->nev] = t;
  r->ev_f[r->nev++] = f;
}

/* Over-saturation: a check after every start, first token and end, as
 * GuideLLM checks its constraints on every request update. */
static void osd_check(struct loop *L, long long t)
{
  struct mg_perf_bench *b = L->b;

  if (b->has_osd && mg_perf_osd_check(&b->osd, (double)(t - b->t_start) / 1e9)
      && b->osd.o.enforce && !L->stop_reason)
    L->stop_reason = "over_saturation";
}

/* Events. */

struct ev_ctx {
  struct slot *s;
  long long t;
};

static int on_event(void *arg, const char *data, size_t len, int nth)
{
  struct ev_ctx *e = arg;
  struct slot *s = e->s;
  struct mg_perf_rec *r = s->rec;
  struct mg_perf_sse_chunk c;
  unsigned char f = nth > 0 ? MG_PERF_EV_COALESCED : 0;

  if (nth > 0)
    r->coalesced++;
  if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
    r->done_seen = 1;
    add_event(r, e->t, f | MG_PERF_EV_DONE);
    return 0;
  }
  if (mg_perf_sse_chunk_scan_cached(&s->cache, data, len, &c) < 0) {
    s->fail = "malformed SSE data";
    s->fail_detail = mg_xstrndup(data, len > 200 ? 200 : len);
    add_event(r, e->t, f);
    return -1;
  }
  if (c.error) {
    s->fail = "error in stream";
    s->fail_detail = mg_xstrdup(c.error_msg);
    add_event(r, e->t, f);
    return -1;
  }
  if (c.usage) {
    f |= MG_PERF_EV_USAGE;
    if (c.prompt_tokens >= 0)
      r->usage_prompt = c.prompt_tokens;
    if (c.completion_tokens >= 0)
      r->usage_output = c.completion_tokens;
  }
  if (c.choices) {
    f |= MG_PERF_EV_CHOICES;
    if (!r->t_vllm_first)
      r->t_vllm_first = e->t;
    if (!s->L->t->body.chat)
      r->t_vllm_last = e->t;
  }
  if (s->L->t->body.chat)
    r->t_vllm_last = e->t;
  if (c.text || c.reasoning || c.tool_calls) {
    f |= MG_PERF_EV_TOKEN;
    r->iterations++;
    if (!r->t_first_tok) {
      struct mg_perf_bench *b = s->L->b;
      r->t_first_tok = e->t;
      if (b->has_osd) {
        mg_perf_osd_first_token(&b->osd, (double)(e->t - b->t_start) / 1e9,
                                (double)(e->t - r->t_sent) / 1e9);
        osd_check(s->L, e->t);
      }
    }
    r->t_last_tok = e->t;
    if (c.text && !c.reasoning && !r->t_first_out)
      r->t_first_out = e->t;
    if (c.text && !r->t_first_out)
      r->t_first_out = e->t;
  }
  if (c.text) {
    f |= MG_PERF_EV_TEXT;
    if (s->L->t->collect_text && r->usage_output < 0 && c.text_ptr)
      mg_perf_sse_json_unescape(c.text_ptr, c.text_len, &s->text);
  }
  add_event(r, e->t, f);
  return 0;
}

static void cb_headers(void *arg, long status, long long t)
{
  struct slot *s = arg;

  s->rec->http_status = status;
  s->rec->t_headers = t;
}

static int cb_data(void *arg, const char *p, size_t n, long long t)
{
  struct slot *s = arg;
  struct ev_ctx e = { s, t };

  if (s->keep.len < BODY_KEEP) {
    size_t k = BODY_KEEP - s->keep.len;
    (void)mg_buf_add(&s->keep, p, n < k ? n : k, NULL);
  }
  if (s->rec->http_status != 200)
    return 0;
  if (mg_perf_sse_feed(&s->sse, p, n, on_event, &e) < 0) {
    if (!s->fail)
      s->fail = "malformed SSE data";
    return -1;
  }
  return 0;
}

/* The message of an OpenAI-style error body, or the body's start. */
static char *error_detail(const struct mg_buf *keep)
{
  struct mg_perf_sse_chunk c;

  if (keep->len && mg_perf_sse_chunk_scan(keep->data, keep->len, &c) == 0
      && c.error_msg[0])
    return mg_xstrdup(c.error_msg);
  if (keep->len)
    return mg_xstrndup(keep->data, keep->len > 200 ? 200 : keep->len);
  return NULL;
}

static const char *http_reason(long status)
{
  static const struct {
    long code;
    const char *name;
  } t[] = {
    { 400, "http 400" }, { 401, "http 401" }, { 403, "http 403" },
    { 404, "http 404" }, { 408, "http 408" }, { 413, "http 413" },
    { 422, "http 422" }, { 429, "http 429" }, { 500, "http 500" },
    { 502, "http 502" }, { 503, "http 503" }, { 504, "http 504" },
  };

  for (size_t i = 0; i < sizeof(t) / sizeof(*t); i++)
    if (t[i].code == status)
      return t[i].name;
  if (status >= 500)
    return "http 5xx";
  if (status >= 400)
    return "http 4xx";
  return "http status";
}

static void slot_free(struct loop *L, struct slot *s)
{
  mg_buf_reset(&s->body);
  mg_buf_reset(&s->keep);
  mg_buf_reset(&s->text);
  mg_perf_sse_release(&s->sse);
  s->cache.len = 0;
  s->cache.nck = 0;
  free(s->fail_detail);
  s->fail_detail = NULL;
  s->fail = NULL;
  s->rec = NULL;
  s->next = L->pool;
  L->pool = s;
}

static void window_push(struct loop *L, int is_err)
{
  if (!L->window)
    return;
  if (L->wcount == L->wsize)
    L->werr -= L->window[L->wpos];
  else
    L->wcount++;
  L->window[L->wpos] = (unsigned char)is_err;
  L->werr += is_err;
  L->wpos = (L->wpos + 1) % L->wsize;
}

static void cb_done(void *arg, int ok, long status, const char *errmsg,
                    long long t)
{
  struct slot *s = arg;
  struct loop *L = s->L;
  struct mg_perf_rec *r = s->rec;
  struct mg_perf_bench *b = L->b;

  r->t_end = t;
  if (status && !r->http_status)
    r->http_status = status;
  if (s->fail) {
    r->status = MG_PERF_ERRORED;
    r->reason = s->fail;
    r->detail = s->fail_detail;
    s->fail_detail = NULL;
  } else if (!ok && L->cancelling && errmsg
             && strcmp(errmsg, "cancelled") == 0) {
    r->status = MG_PERF_INCOMPLETE;
    r->reason = L->cancel_reason;
  } else if (!ok) {
    r->status = MG_PERF_ERRORED;
    if (errmsg && (strstr(errmsg, "timed out") || strstr(errmsg, "Timeout")))
      r->reason = "timeout";
    else
      r->reason = r->t_headers ? "disconnected" : "connection failed";
    r->detail = errmsg ? mg_xstrdup(errmsg) : NULL;
  } else if (status != 200) {
    r->status = MG_PERF_ERRORED;
    r->reason = http_reason(status);
    r->detail = error_detail(&s->keep);
  } else if (s->sse.events == 0) {
    r->status = MG_PERF_ERRORED;
    r->reason = s->keep.len ? "not an event stream" : "empty response";
    r->detail = error_detail(&s->keep);
  } else if (mg_perf_sse_pending(&s->sse) && !r->done_seen) {
    r->status = MG_PERF_ERRORED;
    r->reason = "disconnected";
    r->detail = mg_xstrdup("stream ended inside an event");
  } else if (r->iterations == 0 && r->usage_output <= 0) {
    r->status = MG_PERF_ERRORED;
    r->reason = "empty response";
  } else {
    r->status = MG_PERF_SUCCESSFUL;
  }
  if (L->t->collect_text && r->usage_output < 0 && s->text.len)
    r->text = mg_xstrndup(s->text.data, s->text.len);
  if (r->status == MG_PERF_SUCCESSFUL)
    b->successful++;
  else if (r->status == MG_PERF_INCOMPLETE)
    b->incomplete++;
  else
    b->errored++;
  if (r->status != MG_PERF_INCOMPLETE)
    window_push(L, r->status == MG_PERF_ERRORED);
  L->active[s->pos] = L->active[--L->nactive];
  L->active[s->pos]->pos = s->pos;
  if (L->nfreed_head == L->nfreed_tail)
    L->nfreed_head = L->nfreed_tail = 0;
  if (L->nfreed_tail == L->capfreed) {
    L->capfreed = L->capfreed ? L->capfreed * 2 : 64;
    L->freed =
        mg_xreallocarray(L->freed, (size_t)L->capfreed, sizeof(long long));
  }
  L->freed[L->nfreed_tail++] = t;
  slot_free(L, s);
  osd_check(L, t);
}

static struct slot *slot_get(struct loop *L)
{
  struct slot *s = L->pool;

  if (s) {
    L->pool = s->next;
  } else {
    s = mg_xcalloc(1, sizeof(*s));
    s->L = L;
    mg_buf_init(&s->body, MG_BUF_UNLIMITED);
    mg_buf_init(&s->keep, BODY_KEEP + 1);
    mg_buf_init(&s->text, SSE_MAX);
    mg_perf_sse_chunk_cache_init(&s->cache);
  }
  mg_perf_sse_init(&s->sse, SSE_MAX);
  s->next = NULL;
  return s;
}

/* Starts request idx scheduled at sched (ns). */
static void start_request(struct loop *L, long long sched)
{
  struct mg_perf_bench *b = L->b;
  struct mg_perf_rec *r = new_rec(b);
  const struct mg_perf_item *it =
      &L->data->items[r->idx % (long long)L->data->n];
  struct slot *s = slot_get(L);
  struct mg_http_request req;
  struct mg_http_stream_cb cb = { s, cb_headers, cb_data, cb_done };
  struct mg_err err = MG_ERR_INIT;

  r->item = r->idx % (long long)L->data->n;
  r->t_sched = sched;
  r->data_prompt = it->prompt_tokens;
  r->req_output = it->output_tokens;
  s->rec = r;
  if (mg_perf_req_body_build(&L->body, it, r->idx, &s->body, &err) < 0) {
    r->t_sent = r->t_end = mg_time_now_ns();
    r->status = MG_PERF_ERRORED;
    r->reason = "cannot build request";
    r->detail = mg_xstrdup(err.msg);
    b->errored++;
    slot_free(L, s);
    return;
  }
  memset(&req, 0, sizeof(req));
  req.method = "POST";
  req.url = L->t->url;
  req.headers = L->headers;
  req.body = s->body.data;
  req.body_len = s->body.len;
  req.no_retry = 1;
  if (L->nactive == L->capactive) {
    L->capactive = L->capactive ? L->capactive * 2 : 64;
    L->active =
        mg_xreallocarray(L->active, (size_t)L->capactive, sizeof(*L->active));
  }
  s->pos = L->nactive;
  L->active[L->nactive++] = s;
  r->t_sent = mg_time_now_ns();
  s->id = mg_http_multi_add(L->m, &req, &cb, &err);
  if (s->id < 0) {
    L->active[s->pos] = L->active[--L->nactive];
    L->active[s->pos]->pos = s->pos;
    r->t_end = mg_time_now_ns();
    r->status = MG_PERF_ERRORED;
    r->reason = "cannot start request";
    r->detail = mg_xstrdup(err.msg);
    b->errored++;
    slot_free(L, s);
    return;
  }
  if (L->nactive > b->peak_inflight)
    b->peak_inflight = L->nactive;
  if (b->has_osd) {
    mg_perf_osd_started(&b->osd, (double)(r->t_sent - b->t_start) / 1e9,
                        L->nactive);
    osd_check(L, r->t_sent);
  }
}

static void cancel_all(struct loop *L, const char *reason)
{
  L->cancelling = 1;
  L->cancel_reason = reason;
  while (L->nactive > 0) {
    int before = L->nactive;
    mg_http_multi_cancel(L->m, L->active[L->nactive - 1]->id);
    if (L->nactive == before)
      MG_BUG("transfer %ld was not in flight", L->active[before - 1]->id);
  }
}

struct warm {
  int left, ok;
};

static void warm_done(void *arg, int ok, long status, const char *errmsg,
                      long long t)
{
  struct warm *w = arg;

  (void)errmsg;
  (void)t;
  w->left--;
  if (ok && status > 0)
    w->ok++;
}

/* Opens n keep-alive connections with n GETs of url at once (5 s at
 * most); they go to the multi's connection pool. Returns how many got
 * an answer. */
static int warm_up(struct loop *L, const char *url, int n)
{
  struct mg_http_request req;
  struct mg_http_stream_cb cb;
  struct warm w = { 0, 0 };
  struct mg_err err = MG_ERR_INIT;
  long long deadline = mg_time_now_ns() + 5000000000LL;

  memset(&req, 0, sizeof(req));
  memset(&cb, 0, sizeof(cb));
  req.url = url;
  req.headers = L->headers + 2; /* the extra ones only */
  req.no_retry = 1;
  cb.arg = &w;
  cb.on_done = warm_done;
  for (int i = 0; i < n; i++)
    if (mg_http_multi_add(L->m, &req, &cb, &err) > 0)
      w.left++;
  while (w.left > 0 && mg_time_now_ns() < deadline)
    mg_http_multi_run_until(L->m, deadline);
  if (w.left > 0) {
    mg_http_multi_free(L->m);
    L->m = mg_http_multi_new(&L->http, 0);
    w.left = 0;
  }
  return w.ok;
}

static const char **make_headers(const struct mg_perf_target *t)
{
  size_t n = 0;
  const char **h;

  while (t->headers && t->headers[n])
    n++;
  h = mg_xcalloc(n + 3, sizeof(*h));
  h[0] = "Content-Type: application/json";
  h[1] = "Accept: text/event-stream";
  for (size_t i = 0; i < n; i++)
    h[i + 2] = t->headers[i];
  return h;
}

int mg_perf_bench_run(const struct mg_perf_target *t,
                      const struct mg_perf_data *data,
                      const struct mg_perf_profile *p,
                      const struct mg_perf_limits *l,
                      volatile sig_atomic_t *stop, mg_perf_status_fn *status,
                      void *status_arg, struct mg_perf_bench *out,
                      struct mg_err *err)
{
  struct loop L;
  struct mg_perf_sched sched;
  long long max_create, created = 0, t_limit = 0, next_status;
  int limit = mg_perf_sched_limit(p);
  int open_loop = mg_perf_sched_kind_open_loop(p->kind);
  int have_next = 0;
  double next_off = 0;

  memset(out, 0, sizeof(*out));
  memset(&L, 0, sizeof(L));
  if (!data->n)
    return mg_err_set(err, MG_ERR_DATA, "no prompts to send");
  out->profile = *p;
  L.t = t;
  L.data = data;
  L.b = out;
  if (mg_perf_req_body_init(&L.body, &t->body, err) < 0)
    return -1;
  /* The receive buffer: large for a few fast streams (a whole burst of
   * events in one read), small for thousands of slow ones (memory). */
  L.http = t->http;
  L.http.raw_http1 = 1; /* plain http:// on the loop's own sockets */
  if (!L.http.recv_buffer && limit > 0)
    L.http.recv_buffer = limit <= 256 ? 65536 : limit <= 2048 ? 16384 : 4096;
  L.m = mg_http_multi_new(&L.http, 0);
  if (!L.m) {
    mg_perf_req_body_release(&L.body);
    return mg_err_set(err, MG_ERR_IO, "cannot start the HTTP client");
  }
  L.headers = make_headers(t);
  if (l->max_error_rate > 0) {
    L.wsize = l->error_window > 0 ? l->error_window : 30;
    L.window = mg_xcalloc((size_t)L.wsize, 1);
  }
  mg_perf_sched_init(&sched, p);
  if (l->osd) {
    out->has_osd = 1;
    mg_perf_osd_init(&out->osd, l->osd);
  }
  max_create = data->synthetic ? -1 : (long long)data->n;
  if (l->max_requests > 0 && (max_create < 0 || l->max_requests < max_create))
    max_create = l->max_requests;
  if (t->warm_url && limit > 0 && limit <= 20000) {
    out->warmed = warm_up(&L, t->warm_url, limit);
    if (!L.m) {
      mg_perf_req_body_release(&L.body);
      free(L.headers);
      free(L.window);
      return mg_err_set(err, MG_ERR_IO, "cannot start the HTTP client");
    }
  }
  out->t_start = mg_time_now_ns() + START_DELAY_NS;
  if (l->start_ns > out->t_start)
    out->t_start = l->start_ns;
  if (l->max_seconds > 0)
    t_limit = out->t_start + (long long)(l->max_seconds * 1e9);
  /* Closed loop: every slot is free at the start. */
  next_status = out->t_start;
  for (;;) {
    long long now = mg_time_now_ns(), wake;

    if (stop && *stop) {
      out->stop_reason = "interrupted";
      cancel_all(&L, "interrupted");
      break;
    }
    if (L.stop_reason) {
      out->stop_reason = L.stop_reason;
      cancel_all(&L, L.stop_reason);
      break;
    }
    if (t_limit && now >= t_limit) {
      out->stop_reason = "max_seconds";
      cancel_all(&L, "max_seconds");
      break;
    }
    /* The status tick is a fixed instant until it passes: a wake that
     * moved with every loop turn re-armed the timer on every read. */
    wake = next_status > now ? next_status : now + STATUS_NS;
    if (t_limit && t_limit < wake)
      wake = t_limit;
    while (max_create < 0 || created < max_create) {
      long long due;
      if (L.stop_reason || (limit > 0 && L.nactive >= limit))
        break;
      if (!have_next) {
        const struct mg_perf_item *it =
            &data->items[created % (long long)data->n];
        next_off = mg_perf_sched_next(&sched, it->ts);
        have_next = 1;
      }
      due = out->t_start + (long long)(next_off * 1e9);
      if (!open_loop && created >= (limit > 0 ? limit : created + 1)
          && L.nfreed_head < L.nfreed_tail && L.freed[L.nfreed_head] > due)
        due = L.freed[L.nfreed_head];
      if (due > now) {
        if (due < wake)
          wake = due;
        break;
      }
      if (!open_loop && created >= limit && limit > 0
          && L.nfreed_head < L.nfreed_tail)
        L.nfreed_head++;
      start_request(&L, due);
      created++;
      have_next = 0;
      now = mg_time_now_ns();
    }
    if (max_create >= 0 && created >= max_create && L.nactive == 0) {
      out->stop_reason =
          max_create == l->max_requests ? "max_requests" : "data_exhausted";
      break;
    }
    if (!L.stop_reason && l->max_errors > 0 && out->errored >= l->max_errors)
      L.stop_reason = "max_errors";
    if (!L.stop_reason && L.window && L.wcount >= L.wsize
        && (double)L.werr / L.wsize >= l->max_error_rate)
      L.stop_reason = "max_error_rate";
    if (!L.stop_reason && l->max_global_error_rate > 0) {
      long long fin = out->successful + out->errored + out->incomplete;
      if (fin >= (l->global_min > 0 ? l->global_min : 30)
          && (double)out->errored / (double)fin >= l->max_global_error_rate)
        L.stop_reason = "max_global_error_rate";
    }
    if (L.stop_reason)
      continue;
    if (now >= next_status) {
      if (status)
        status(status_arg, out, L.nactive, now);
      next_status = now + STATUS_NS;
    }
    mg_http_multi_run_until(L.m, wake);
  }
  out->t_end = mg_time_now_ns();
  if (status)
    status(status_arg, out, 0, out->t_end);
  mg_http_multi_free(L.m);
  while (L.pool) {
    struct slot *s = L.pool;
    L.pool = s->next;
    mg_buf_release(&s->body);
    mg_buf_release(&s->keep);
    mg_buf_release(&s->text);
    mg_perf_sse_release(&s->sse);
    mg_perf_sse_chunk_cache_release(&s->cache);
    free(s);
  }
  free(L.active);
  free(L.freed);
  free(L.window);
  free(L.headers);
  mg_perf_req_body_release(&L.body);
  return 0;
}

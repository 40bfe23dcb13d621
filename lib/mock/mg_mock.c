#include "mock/mg_mock.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_hash.h"
#include "mg_io.h"
#include "mg_mem.h"
#include "mg_time.h"
#include "mock/mg_mock_req.h"

/* Block size for streamed replies; several SSE events per write. */
#define STREAM_BLOCK 16384
/*
 * How often suspended requests are checked for a client that has gone:
 * queued ones, and those whose next write is further away than this.
 */
#define SWEEP_NS 100000000LL

enum route {
  ROUTE_NONE,
  ROUTE_HEALTH,
  ROUTE_MODELS,
  ROUTE_COMPLETIONS,
  ROUTE_CHAT,
  ROUTE_TOKENIZE,
  ROUTE_DETOKENIZE,
};

static const struct {
  const char *path;
  const char *method;
  enum route route;
} routes[] = {
  { "/health", "GET", ROUTE_HEALTH },
  { "/v1/models", "GET", ROUTE_MODELS },
  { "/v1/completions", "POST", ROUTE_COMPLETIONS },
  { "/v1/chat/completions", "POST", ROUTE_CHAT },
  { "/tokenize", "POST", ROUTE_TOKENIZE },
  { "/detokenize", "POST", ROUTE_DETOKENIZE },
};

enum fault {
  FAULT_NONE,
  FAULT_429,
  FAULT_500,
  FAULT_503,
  FAULT_CUT,
  FAULT_STALL,
  FAULT_MALFORMED,
  FAULT_STREAM_ERROR,
};

static const char *const fault_names[] = {
  "none", "429", "500", "503", "cut", "stall", "malformed", "stream_error",
};

enum rstate {
  R_BODY,   /* receiving the request */
  R_WAIT,   /* suspended: waiting for a slot or for the reply's due time */
  R_READY,  /* due: queue the reply on the next handler call */
  R_STREAM, /* streaming: the content reader emits due events */
};

struct mreq {
  struct mg_mock_server *srv;
  struct MHD_Connection *conn;
  struct mreq *prev, *next; /* all live requests */
  struct mreq *qnext;       /* slot queue */
  struct mg_mock_timer timer;
  enum rstate state;
  enum route route;
  char method[8];
  char path[96];
  struct mg_buf body;
  int too_big;
  int queued;
  int suspended;
  int has_slot;
  int stream;
  int status;
  uint64_t seq;
  int have_req;
  struct mg_mock_req req;
  int have_resp;
  struct mg_mock_gen_resp resp;
  struct mg_mock_sched sched;
  struct mg_buf out;
  size_t out_off;
  enum fault fault;
  size_t fault_at;
  int fault_done;
  int finished;
  int cut_now;
  int cancelled; /* the client went away while the request was suspended */
  const char *end;
  long long t_arr, t_slot, t_first, t_last;
  struct timespec w_arr, w_slot, w_first, w_last;
};

struct mg_mock_server {
  struct mg_mock_opts o;
  struct MHD_Daemon *d;
  unsigned port;
  struct mg_mock_sched_heap heap;
  struct mreq *all;
  struct mreq *qhead, *qtail;
  unsigned busy;
  unsigned nsusp;       /* suspended requests */
  long long next_sweep; /* when to look for gone clients next */
  uint64_t seq;
  uint64_t gen_seq;
  int stopping;
  struct mg_buf alog;
  int alog_failed;
  struct mg_mock_stats stats;
};

void mg_mock_opts_init(struct mg_mock_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->host = "127.0.0.1";
  o->max_body = (size_t)16 << 20;
  o->max_connections = 20000;
  o->arrival_fd = -1;
}

static void logf_(struct mg_mock_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void logf_(struct mg_mock_server *s, const char *fmt, ...)
{
  char line[512];
  va_list ap;

  if (!s->o.log)
    return;
  va_start(ap, fmt);
  (void)vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  s->o.log(s->o.log_arg, line);
}

/* libmicrohttpd's MHD_OPTION_EXTERNAL_LOGGER callback: fmt is its own. */
__attribute__((format(printf, 2, 0))) static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
  struct mg_mock_server *s = cls;
  char line[512];
  size_t n;

  if (!s->o.log)
    return;
  (void)vsnprintf(line, sizeof(line), fmt, ap);
  n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  s->o.log(s->o.log_arg, line);
}

static void stamp(long long *mono, struct timespec *wall)
{
  *mono = mg_time_now_ns();
  clock_gettime(CLOCK_REALTIME, wall);
}

/* Slots and timers. */

static struct mreq *timer_req(struct mg_mock_timer *t)
{
  return (struct mreq *)((char *)t - offsetof(struct mreq, timer));
}

static void arm(struct mreq *r, long long due)
{
  mg_mock_sched_heap_remove(&r->srv->heap, &r->timer);
  r->timer.due = due;
  r->timer.seq = r->seq;
  mg_mock_sched_heap_push(&r->srv->heap, &r->timer);
}

static void suspend(struct mreq *r)
{
  if (r->suspended)
    return;
  r->suspended = 1;
  r->srv->nsusp++;
  MHD_suspend_connection(r->conn);
}

static void resume(struct mreq *r)
{
  if (!r->suspended)
    return;
  r->suspended = 0;
  r->srv->nsusp--;
  MHD_resume_connection(r->conn);
}

/* Starts generation: the request holds a slot from now on. */
static void start_gen(struct mreq *r)
{
  struct mg_mock_server *s = r->srv;
  const struct mg_mock_faults *f = &s->o.faults;
  long long stall =
      r->fault == FAULT_STALL ? mg_mock_sched_ms_to_ns(f->stall_ms) : 0;

  r->has_slot = 1;
  s->busy++;
  stamp(&r->t_slot, &r->w_slot);
  mg_mock_sched_start(&r->sched, &s->o.timing,
                      mg_hash_mix(s->o.model.seed ^ 0x5C4EDULL, r->seq),
                      r->t_slot, r->resp.prompt_tokens, r->resp.steps,
                      r->fault_at, stall);
  arm(r, r->stream ? mg_mock_sched_due(&r->sched)
                   : mg_mock_sched_end(&r->sched, &s->o.timing));
}

int mg_mock_peer_gone(int fd)
{
  struct tcp_info ti;
  socklen_t len = sizeof(ti);
  char c;
  ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

  if (n == 0)
    return 1;
  if (n < 0)
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  /*
   * Pipelined bytes are waiting, and an end of stream may follow them:
   * only the TCP state tells (CLOSE_WAIT once the peer's FIN is in).
   */
  memset(&ti, 0, sizeof(ti));
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
    return 0;
  return ti.tcpi_state != TCP_ESTABLISHED;
}

static int client_gone(const struct mreq *r)
{
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

  return ci && mg_mock_peer_gone(ci->connect_fd);
}

/*
 * Marks a suspended request whose client has gone; the timer makes
 * fire_due resume it at once, and the handlers then close the connection.
 */
static void drop(struct mreq *r)
{
  r->cancelled = 1;
  r->end = "aborted";
  arm(r, 0);
}

/* Hands free slots to the queue, skipping requests whose client is gone. */
static void release_slot(struct mreq *r)
{
  struct mg_mock_server *s = r->srv;

  if (!r->has_slot)
    return;
  r->has_slot = 0;
  s->busy--;
  if (s->stopping)
    return;
  while (s->qhead && (s->o.slots == 0 || s->busy < s->o.slots)) {
    struct mreq *q = s->qhead;

    s->qhead = q->qnext;
    if (!s->qhead)
      s->qtail = NULL;
    q->qnext = NULL;
    q->queued = 0;
    if (client_gone(q))
      drop(q);
    else
      start_gen(q);
  }
}

static void unqueue(struct mreq *r)
{
  struct mg_mock_server *s = r->srv;
  struct mreq **pp = &s->qhead, *last = NULL;

  if (!r->queued)
    return;
  while (*pp && *pp != r) {
    last = *pp;
    pp = &(*pp)->qnext;
  }
  if (*pp)
    *pp = r->qnext;
  if (s->qtail == r)
    s->qtail = last;
  r->queued = 0;
}

/* Drops a suspended request whose client has gone, freeing its slot. */
static void cancel(struct mreq *r)
{
  drop(r);
  unqueue(r);
  release_slot(r);
}

/* Looks for gone clients among the queued requests and those that will not
 * write again soon (a write would notice). */
static void sweep(struct mg_mock_server *s, long long now)
{
  for (struct mreq *r = s->all; r; r = r->next) {
    if (!r->suspended || r->cancelled)
      continue;
    if (!r->queued && r->timer.idx != MG_MOCK_TIMER_IDLE
        && r->timer.due - now < SWEEP_NS)
      continue;
    if (client_gone(r))
      cancel(r);
  }
}

static void admit(struct mreq *r)
{
  struct mg_mock_server *s = r->srv;

  if (s->o.slots == 0 || s->busy < s->o.slots) {
    start_gen(r);
    return;
  }
  r->queued = 1;
  if (s->qtail)
    s->qtail->qnext = r;
  else
    s->qhead = r;
  s->qtail = r;
}

/* Replies. */

static enum MHD_Result queue_buf(struct mreq *r, int status,
                                 struct mg_buf *body, const char *ctype,
                                 const char *hname, const char *hvalue)
{
  struct MHD_Response *resp;
  enum MHD_Result ret;
  size_t len;
  char *data = mg_buf_detach(body, &len);

  resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
  if (!resp) {
    free(data);
    return MHD_NO;
  }
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
  if (hname)
    MHD_add_response_header(resp, hname, hvalue);
  ret = MHD_queue_response(r->conn, (unsigned)status, resp);
  MHD_destroy_response(resp);
  r->status = status;
  stamp(&r->t_first, &r->w_first);
  return ret;
}

static enum MHD_Result reply_json(struct mreq *r, int status,
                                  struct mg_buf *body)
{
  return queue_buf(r, status, body, "application/json", NULL, NULL);
}

static enum MHD_Result reply_error(struct mreq *r, int status, const char *type,
                                   const char *msg, const char *hname,
                                   const char *hvalue)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_mock_gen_error_body(&b, status, type, msg);
  return queue_buf(r, status, &b, "application/json", hname, hvalue);
}

static enum MHD_Result bad_request(struct mreq *r, const char *msg)
{
  return reply_error(r, 400, "invalid_request_error", msg, NULL, NULL);
}

/* Emits what is due into r->out, up to about max bytes. */
static void produce(struct mreq *r, size_t max)
{
  struct mg_mock_server *s = r->srv;
  long long now = mg_time_now_ns();

  while (!r->finished && !r->cut_now && r->out.len < max) {
    if (r->sched.k >= r->resp.steps) {
      mg_mock_gen_resp_stream_end(&r->resp, &r->out);
      r->finished = 1;
      break;
    }
    if (mg_mock_sched_due(&r->sched) > now)
      break;
    if (r->fault != FAULT_NONE && !r->fault_done && r->sched.k == r->fault_at) {
      r->fault_done = 1;
      if (r->fault == FAULT_CUT) {
        r->cut_now = 1;
        break;
      }
      if (r->fault == FAULT_MALFORMED)
        mg_mock_gen_resp_stream_malformed(&r->resp, &r->out);
      if (r->fault == FAULT_STREAM_ERROR) {
        mg_mock_gen_resp_stream_error(&r->out,
                                      "mock-llm: injected stream error");
        mg_buf_addstr(&r->out, "data: [DONE]\n\n", NULL);
        r->finished = 1;
        break;
      }
    }
    {
      size_t before = r->resp.sent_tokens;
      mg_mock_gen_resp_stream_step(&r->resp, &r->out);
      s->stats.tokens += r->resp.sent_tokens - before;
    }
    mg_mock_sched_advance(&r->sched);
  }
  if (r->finished || r->cut_now)
    release_slot(r);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
  struct mreq *r = cls;
  size_t n;

  (void)pos;
  if (r->srv->stopping || r->cancelled)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  if (r->out_off >= r->out.len) {
    mg_buf_reset(&r->out);
    r->out_off = 0;
    if (r->finished)
      return MHD_CONTENT_READER_END_OF_STREAM;
    if (r->cut_now) {
      r->end = "cut";
      return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    produce(r, max);
    if (r->out.len == 0) {
      if (r->cut_now) {
        r->end = "cut";
        return MHD_CONTENT_READER_END_WITH_ERROR;
      }
      arm(r, mg_mock_sched_due(&r->sched));
      suspend(r);
      return 0;
    }
  }
  n = r->out.len - r->out_off;
  if (n > max)
    n = max;
  memcpy(buf, r->out.data + r->out_off, n);
  r->out_off += n;
  if (!r->t_first)
    stamp(&r->t_first, &r->w_first);
  return (ssize_t)n;
}

/* The request is due: send the whole reply, or start the stream. */
static enum MHD_Result respond(struct mreq *r)
{
  struct MHD_Response *resp;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  enum MHD_Result ret;

  if (!r->stream) {
    release_slot(r);
    if (r->fault == FAULT_CUT) {
      r->end = "cut";
      return MHD_NO;
    }
    mg_mock_gen_resp_body(&r->resp, &b);
    r->srv->stats.tokens += r->resp.completion_tokens;
    if (r->fault == FAULT_MALFORMED)
      mg_buf_truncate(&b, b.len / 2);
    return reply_json(r, 200, &b);
  }
  resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK,
                                           stream_reader, r, NULL);
  if (!resp)
    return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                          "text/event-stream");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
  ret = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
  MHD_destroy_response(resp);
  r->status = 200;
  r->state = R_STREAM;
  return ret;
}

static enum fault pick_fault(const struct mg_mock_server *s, uint64_t gseq,
                             int status_kind)
{
  const struct mg_mock_faults *f = &s->o.faults;
  double u = mg_mock_sched_unit(mg_hash_mix(mg_hash_mix(s->o.model.seed, gseq),
                                            status_kind ? 0xFA17 : 0x57EA));

  if (status_kind) {
    if (u < f->p429)
      return FAULT_429;
    if (u < f->p429 + f->p500)
      return FAULT_500;
    if (u < f->p429 + f->p500 + f->p503)
      return FAULT_503;
    return FAULT_NONE;
  }
  if (u < f->cut)
    return FAULT_CUT;
  if (u < f->cut + f->stall)
    return FAULT_STALL;
  if (u < f->cut + f->stall + f->malformed)
    return FAULT_MALFORMED;
  if (u < f->cut + f->stall + f->malformed + f->stream_error)
    return FAULT_STREAM_ERROR;
  return FAULT_NONE;
}

static enum MHD_Result gen_request(struct mreq *r)
{
  struct mg_mock_server *s = r->srv;
  struct mg_err err = MG_ERR_INIT;
  const char *msg = NULL;
  char ra[24], m[300];
  uint64_t gseq;
  enum fault f;

  if (mg_mock_req_parse(
          &r->req, r->route == ROUTE_CHAT ? MG_MOCK_CHAT : MG_MOCK_COMPLETIONS,
          r->body.data ? r->body.data : "", r->body.len, &err)
      < 0)
    return bad_request(r, err.msg);
  r->have_req = 1;
  if (r->req.model && strcmp(r->req.model, s->o.model.name) != 0) {
    (void)snprintf(m, sizeof(m), "the model '%.200s' does not exist",
                   r->req.model);
    return reply_error(r, 404, "invalid_request_error", m, NULL, NULL);
  }
  gseq = s->gen_seq++;
  f = pick_fault(s, gseq, 1);
  (void)snprintf(ra, sizeof(ra), "%u", s->o.faults.retry_after_s);
  if (f != FAULT_NONE) {
    r->fault = f;
    if (f == FAULT_429)
      return reply_error(r, 429, "rate_limit_error",
                         "mock-llm: injected rate limit", "Retry-After", ra);
    if (f == FAULT_503)
      return reply_error(r, 503, "service_unavailable",
                         "mock-llm: injected overload", "Retry-After", ra);
    return reply_error(r, 500, "server_error", "mock-llm: injected failure",
                       NULL, NULL);
  }
  if (mg_mock_gen_resp_plan(&r->resp, &r->req, &s->o.model, r->seq,
                            (long long)r->w_arr.tv_sec, &err)
      < 0)
    msg = err.msg;
  if (msg)
    return bad_request(r, msg);
  r->have_resp = 1;
  r->stream = r->req.stream;
  r->fault = pick_fault(s, gseq, 0);
  r->fault_at = r->resp.steps / 2;
  r->state = R_WAIT;
  admit(r);
  suspend(r);
  return MHD_YES;
}

static enum MHD_Result dispatch(struct mreq *r)
{
  struct mg_mock_server *s = r->srv;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const char *method = NULL;
  char msg[160];
  int status;

  for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
    if (routes[i].route == r->route)
      method = routes[i].method;
  if (r->route == ROUTE_NONE) {
    (void)snprintf(msg, sizeof(msg), "no route for '%s'", r->path);
    return reply_error(r, 404, "invalid_request_error", msg, NULL, NULL);
  }
  if (strcmp(r->method, method) != 0) {
    (void)snprintf(msg, sizeof(msg), "method '%s' is not allowed for '%s'",
                   r->method, r->path);
    return reply_error(r, 405, "invalid_request_error", msg, "Allow", method);
  }
  if (r->too_big) {
    (void)snprintf(msg, sizeof(msg), "request body larger than %zu bytes",
                   s->o.max_body);
    return reply_error(r, 413, "invalid_request_error", msg, NULL, NULL);
  }
  switch (r->route) {
  case ROUTE_HEALTH:
    mg_buf_addstr(&b, "{\"status\":\"ok\"}\n", NULL);
    return reply_json(r, 200, &b);
  case ROUTE_MODELS:
    mg_mock_gen_models_body(&s->o.model, (long long)r->w_arr.tv_sec, &b);
    return reply_json(r, 200, &b);
  case ROUTE_TOKENIZE:
    status = mg_mock_gen_tokenize(&s->o.model, r->body.data ? r->body.data : "",
                                  r->body.len, &b);
    return reply_json(r, status, &b);
  case ROUTE_DETOKENIZE:
    status = mg_mock_gen_detokenize(r->body.data ? r->body.data : "",
                                    r->body.len, &b);
    return reply_json(r, status, &b);
  default:
    return gen_request(r);
  }
}

static void copy_printable(char *dst, size_t n, const char *src)
{
  size_t i;

  for (i = 0; src[i] && i + 1 < n; i++)
    dst[i] = src[i] > 0x20 && src[i] < 0x7F && src[i] != '"' && src[i] != '\\'
                 ? src[i]
                 : '?';
  dst[i] = '\0';
}

static struct mreq *req_new(struct mg_mock_server *s,
                            struct MHD_Connection *conn, const char *url,
                            const char *method)
{
  struct mreq *r = mg_xcalloc(1, sizeof(*r));
  size_t i;

  r->srv = s;
  r->conn = conn;
  r->timer.idx = MG_MOCK_TIMER_IDLE;
  r->seq = s->seq++;
  r->end = "ok";
  r->req.max_tokens = -1;
  mg_buf_init(&r->body, s->o.max_body);
  mg_buf_init(&r->out, MG_BUF_UNLIMITED);
  stamp(&r->t_arr, &r->w_arr);
  /* Only printable ASCII without quotes reaches logs and messages. */
  copy_printable(r->method, sizeof(r->method), method);
  copy_printable(r->path, sizeof(r->path), url);
  r->route = ROUTE_NONE;
  for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
    if (strcmp(url, routes[i].path) == 0)
      r->route = routes[i].route;
  r->next = s->all;
  if (s->all)
    s->all->prev = r;
  s->all = r;
  s->stats.requests++;
  return r;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
  struct mg_mock_server *s = cls;
  struct mreq *r = *con_cls;

  (void)version;
  if (!r) {
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    r = req_new(s, conn, url, method);
    *con_cls = r;
    if (cl && strtoull(cl, NULL, 10) > s->o.max_body) {
      r->too_big = 1;
      return dispatch(r);
    }
    return MHD_YES;
  }
  if (s->stopping || r->cancelled)
    return MHD_NO;
  if (*upload_size) {
    if (!r->too_big && mg_buf_add(&r->body, upload, *upload_size, NULL) < 0) {
      r->too_big = 1;
      mg_buf_release(&r->body);
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (r->state == R_BODY)
    return dispatch(r);
  if (r->state == R_READY)
    return respond(r);
  /* Not due yet (a spurious call): wait again. */
  suspend(r);
  return MHD_YES;
}

/* Completion tokens handed to the socket: all of a reply that was sent,
 * the streamed ones of a stream. */
static size_t tokens_sent(const struct mreq *r)
{
  if (!r->have_resp)
    return 0;
  if (r->stream)
    return r->resp.sent_tokens;
  return r->t_first ? r->resp.completion_tokens : 0;
}

static void log_arrival(struct mg_mock_server *s, const struct mreq *r)
{
  struct mg_buf *b = &s->alog;

  if (s->o.arrival_fd < 0 || s->alog_failed)
    return;
  mg_buf_printf(b, NULL,
                "{\"seq\":%llu,\"method\":\"%s\",\"path\":\"%s\","
                "\"status\":%d,\"stream\":%s,\"prompt_tokens\":%zu,"
                "\"completion_tokens\":%zu,\"fault\":\"%s\",\"end\":\"%s\","
                "\"cancelled\":%s,\"arrival_ns\":%lld,",
                (unsigned long long)r->seq, r->method, r->path, r->status,
                r->stream ? "true" : "false",
                r->have_resp ? r->resp.prompt_tokens : 0, tokens_sent(r),
                fault_names[r->fault], r->end, r->cancelled ? "true" : "false",
                r->t_arr);
  if (r->t_slot)
    mg_buf_printf(b, NULL, "\"slot_ns\":%lld,", r->t_slot);
  else
    mg_buf_addstr(b, "\"slot_ns\":null,", NULL);
  if (r->t_first)
    mg_buf_printf(b, NULL, "\"first_byte_ns\":%lld,", r->t_first);
  else
    mg_buf_addstr(b, "\"first_byte_ns\":null,", NULL);
  mg_buf_printf(b, NULL, "\"last_byte_ns\":%lld,\"arrival_unix\":%lld.%06ld,",
                r->t_last, (long long)r->w_arr.tv_sec, r->w_arr.tv_nsec / 1000);
  if (r->t_slot)
    mg_buf_printf(b, NULL, "\"slot_unix\":%lld.%06ld,",
                  (long long)r->w_slot.tv_sec, r->w_slot.tv_nsec / 1000);
  else
    mg_buf_addstr(b, "\"slot_unix\":null,", NULL);
  if (r->t_first)
    mg_buf_printf(b, NULL, "\"first_byte_unix\":%lld.%06ld,",
                  (long long)r->w_first.tv_sec, r->w_first.tv_nsec / 1000);
  else
    mg_buf_addstr(b, "\"first_byte_unix\":null,", NULL);
  mg_buf_printf(b, NULL, "\"last_byte_unix\":%lld.%06ld}\n",
                (long long)r->w_last.tv_sec, r->w_last.tv_nsec / 1000);
}

static void req_free(struct mreq *r)
{
  struct mg_mock_server *s = r->srv;

  mg_mock_sched_heap_remove(&s->heap, &r->timer);
  unqueue(r);
  release_slot(r);
  if (r->prev)
    r->prev->next = r->next;
  else
    s->all = r->next;
  if (r->next)
    r->next->prev = r->prev;
  if (r->have_resp)
    mg_mock_gen_resp_release(&r->resp);
  if (r->have_req)
    mg_mock_req_release(&r->req);
  mg_buf_release(&r->body);
  mg_buf_release(&r->out);
  free(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  struct mg_mock_server *s = cls;
  struct mreq *r = *con_cls;

  (void)conn;
  if (!r)
    return;
  *con_cls = NULL;
  stamp(&r->t_last, &r->w_last);
  if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && strcmp(r->end, "ok") == 0)
    r->end = "aborted";
  log_arrival(s, r);
  logf_(s, "%s %s %d%s %zu+%zu tokens %.1f ms%s%s", r->method, r->path,
        r->status, r->stream ? " stream" : "",
        r->have_resp ? r->resp.prompt_tokens : 0,
        r->have_resp ? r->resp.completion_tokens : 0,
        (double)(r->t_last - r->t_arr) / 1e6, strcmp(r->end, "ok") ? " " : "",
        strcmp(r->end, "ok") ? r->end : "");
  req_free(r);
}

/* The server. */

static int bind_listen(const char *host, unsigned port, int *fd_out,
                       unsigned *bound, struct mg_err *err)
{
  struct addrinfo hints, *res = NULL, *ai;
  char ps[16];
  int rc, fd = -1, e = 0;

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  (void)snprintf(ps, sizeof(ps), "%u", port);
  rc = getaddrinfo(host, ps, &hints, &res);
  if (rc != 0)
    return mg_err_set(err, MG_ERR_USAGE, "cannot resolve '%s': %s", host,
                      gai_strerror(rc));
  for (ai = res; ai; ai = ai->ai_next) {
    int one = 1;

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                ai->ai_protocol);
    if (fd < 0) {
      e = errno;
      continue;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 4096) == 0)
      break;
    e = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    errno = e;
    return mg_err_errno(err, MG_ERR_IO, "cannot listen on '%s:%u'", host, port);
  }
  {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
      close(fd);
      return mg_err_errno(err, MG_ERR_IO, "cannot read the bound port");
    }
    *bound = ss.ss_family == AF_INET6
                 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                 : ntohs(((struct sockaddr_in *)&ss)->sin_port);
  }
  *fd_out = fd;
  return 0;
}

int mg_mock_tls_supported(void)
{
  return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

int mg_mock_server_new(const struct mg_mock_opts *o,
                       struct mg_mock_server **out, struct mg_err *err)
{
  struct mg_mock_server *s;
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  int fd = -1, tls = o->tls_cert || o->tls_key;

  if (tls)
    flags |= MHD_USE_TLS;
  *out = NULL;
  s = mg_xcalloc(1, sizeof(*s));
  s->o = *o;
  mg_mock_sched_heap_init(&s->heap);
  mg_buf_init(&s->alog, MG_BUF_UNLIMITED);
  if (tls && !mg_mock_tls_supported()) {
    mg_mock_server_free(s);
    return mg_err_set(err, MG_ERR_IO,
                      "cannot serve HTTPS on '%s:%u': this libmicrohttpd "
                      "was built without TLS",
                      o->host, o->port);
  }
  if (bind_listen(o->host, o->port, &fd, &s->port, err) < 0) {
    mg_mock_server_free(s);
    return -1;
  }
  /* With TLS the two key options come first: MHD_OPTION_END ends the
   * list early when they are not wanted. */
  s->d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER,
      mhd_logger, s, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
      on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)o->max_connections, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      (size_t)(64 * 1024), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
      tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, o->tls_cert,
      MHD_OPTION_HTTPS_MEM_KEY, o->tls_key, MHD_OPTION_END);
  if (!s->d) {
    close(fd);
    mg_mock_server_free(s);
    if (tls)
      return mg_err_set(err, MG_ERR_IO,
                        "cannot start the HTTPS server on '%s:%u': the "
                        "certificate or key is unusable or they do not match",
                        o->host, o->port);
    return mg_err_set(err, MG_ERR_IO, "cannot start the HTTP server on '%s:%u'",
                      o->host, o->port);
  }
  *out = s;
  return 0;
}

unsigned mg_mock_server_port(const struct mg_mock_server *s)
{
  return s->port;
}

void mg_mock_server_stats(const struct mg_mock_server *s,
                          struct mg_mock_stats *st)
{
  *st = s->stats;
}

static void fire_due(struct mg_mock_server *s)
{
  long long now = mg_time_now_ns();
  struct mg_mock_timer *t;

  while ((t = mg_mock_sched_heap_top(&s->heap)) && t->due <= now) {
    struct mreq *r = timer_req(mg_mock_sched_heap_pop(&s->heap));

    if (r->state == R_WAIT && !r->queued)
      r->state = R_READY;
    resume(r);
  }
}

static int flush_log(struct mg_mock_server *s, struct mg_err *err)
{
  if (!s->alog.len || s->alog_failed)
    return 0;
  if (mg_io_write_fd(s->o.arrival_fd, "arrival log", s->alog.data, s->alog.len,
                     err)
      < 0) {
    s->alog_failed = 1;
    return -1;
  }
  mg_buf_reset(&s->alog);
  return 0;
}

int mg_mock_server_run(struct mg_mock_server *s,
                       const volatile sig_atomic_t *stop,
                       const sigset_t *waitmask, struct mg_err *err)
{
  const union MHD_DaemonInfo *info;
  int efd, rc = 0;

  info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
  if (!info)
    return mg_err_set(err, MG_ERR_IO, "cannot get the server's epoll fd");
  efd = info->epoll_fd;
  if (efd >= FD_SETSIZE)
    return mg_err_set(err, MG_ERR_IO, "the server's epoll fd is too large");
  while (!*stop) {
    MHD_UNSIGNED_LONG_LONG ms;
    long long wait = -1, now = mg_time_now_ns();
    struct mg_mock_timer *t;
    struct timespec ts;
    fd_set rd;

    if (s->nsusp && now >= s->next_sweep) {
      sweep(s, now);
      s->next_sweep = now + SWEEP_NS;
    }
    fire_due(s);
    MHD_run(s->d);
    if (flush_log(s, err) < 0) {
      rc = -1;
      break;
    }
    if (MHD_get_timeout(s->d, &ms) == MHD_YES)
      wait = ms > 1000000 ? 1000000000000LL : (long long)ms * 1000000LL;
    now = mg_time_now_ns();
    t = mg_mock_sched_heap_top(&s->heap);
    if (t) {
      long long d = t->due - now;
      if (d < 0)
        d = 0;
      if (wait < 0 || d < wait)
        wait = d;
    }
    if (s->nsusp) {
      long long d = s->next_sweep - now;
      if (d < 0)
        d = 0;
      if (wait < 0 || d < wait)
        wait = d;
    }
    ts.tv_sec = wait / 1000000000LL;
    ts.tv_nsec = wait % 1000000000LL;
    FD_ZERO(&rd);
    FD_SET(efd, &rd);
    /* pselect: POSIX, and it unblocks the stop signals only while asleep. */
    if (pselect(efd + 1, &rd, NULL, NULL, wait < 0 ? NULL : &ts, waitmask) < 0
        && errno != EINTR) {
      rc = mg_err_errno(err, MG_ERR_IO, "poll failed");
      break;
    }
  }
  /* End what is in flight: resumed requests see "stopping" and close. */
  s->stopping = 1;
  for (int i = 0; i < 4 && s->all; i++) {
    for (struct mreq *r = s->all; r; r = r->next)
      resume(r);
    MHD_run(s->d);
  }
  if (flush_log(s, err) < 0)
    rc = -1;
  return rc;
}

void mg_mock_server_free(struct mg_mock_server *s)
{
  if (!s)
    return;
  if (s->d) {
    s->stopping = 1;
    for (struct mreq *r = s->all; r; r = r->next)
      resume(r);
    MHD_stop_daemon(s->d);
  }
  while (s->all)
    req_free(s->all);
  mg_mock_sched_heap_release(&s->heap);
  mg_buf_release(&s->alog);
  free(s);
}

#include "mock/mg_mock_gen.h"

#include <math.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_hash.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_utf8.h"
#include "mock/mg_mock_key.h"
#include "mock/mg_mock_sched.h"

/* Output helpers. Buffers here are unbounded, so appends cannot fail. */

static void add(struct mg_buf *b, const char *s, size_t n)
{
  mg_buf_add(b, s, n, NULL);
}

#define ADDLIT(b, lit) add((b), "" lit, sizeof(lit) - 1)

static void add_str(struct mg_buf *b, const char *s)
{
  add(b, s, strlen(s));
}

static void add_uint(struct mg_buf *b, unsigned long long v)
{
  char tmp[24];
  size_t i = sizeof(tmp);

  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  add(b, tmp + i, sizeof(tmp) - i);
}

static void add_lp(struct mg_buf *b, double v)
{
  char tmp[48];
  int n = snprintf(tmp, sizeof(tmp), "%.4f", v == 0 ? 0.0 : v);

  if (n > 0 && (size_t)n < sizeof(tmp))
    add(b, tmp, (size_t)n);
  else
    ADDLIT(b, "0");
}

static void add_quoted(struct mg_buf *b, const char *s, size_t n)
{
  mg_json_quote(b, s, n, NULL);
}

/* Word ids: every filler word is 4 ASCII bytes, one token. */
static uint32_t word_id(const char *w)
{
  uint32_t v = 0;

  for (int i = 0; i < 4; i++)
    v = (v << 7) | (unsigned char)w[i];
  return (3u << 28) | v;
}

char *mg_mock_gen_wrong_answer(const char *s, size_t n, size_t *out_len)
{
  char *w = mg_xmalloc(n + 5);
  int changed = 0;

  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'a' && c <= 'z')
      c = c == 'z' ? 'a' : (char)(c + 1);
    else if (c >= 'A' && c <= 'Z')
      c = c == 'Z' ? 'A' : (char)(c + 1);
    else if (c >= '0' && c <= '9')
      c = c == '9' ? '0' : (char)(c + 1);
    changed |= c != s[i];
    w[i] = c;
  }
  if (!changed) {
    memcpy(w, " not", 4);
    memcpy(w + 4, s, n);
    n += 4;
  }
  w[n] = '\0';
  *out_len = n;
  return w;
}

void mg_mock_gen_lp_value(uint64_t seed, enum mg_mock_lpclass cls,
                          uint32_t prev, uint32_t id, const char *tok,
                          size_t len, struct mg_mock_lpval *out)
{
  double c = (double)mg_utf8_count(tok, len);
  uint64_t h;

  if (c < 1)
    c = 1;
  switch (cls) {
  case MG_MOCK_LP_TOP:
    out->lp = out->top = -0.001 * c;
    break;
  case MG_MOCK_LP_OTHER:
    out->lp = -1.0 * c;
    out->top = -0.5 * c;
    break;
  case MG_MOCK_LP_LOSER:
    out->lp = -(10.0 + 50.0 * c);
    out->top = -0.001 * c;
    break;
  default:
    h = mg_hash_mix(mg_hash_mix(seed, prev), id);
    out->lp = -(0.25 + (double)(h % 600) / 100.0);
    out->top = (h >> 32) % 3 == 0 ? out->lp : out->lp / 2;
    break;
  }
  out->greedy = out->top == out->lp;
}

void mg_mock_gen_choice_token(const struct mg_mock_choice *c, size_t k,
                              const char **p, size_t *n, uint32_t *id)
{
  const char *w;

  if (k < c->answer_toks.n) {
    *p = c->answer + c->answer_toks.off[k];
    *n = c->answer_toks.off[k + 1] - c->answer_toks.off[k];
    *id = c->answer_toks.ids[k];
    return;
  }
  w = mg_mock_req_word((size_t)(mg_hash_mix(c->wseed, k) % MG_MOCK_NWORDS));
  *p = w;
  *n = 4;
  *id = word_id(w);
}

/* The visible part of generated token k. */
static void vis_token(const struct mg_mock_choice *c, size_t k, const char **p,
                      size_t *n, uint32_t *id)
{
  mg_mock_gen_choice_token(c, k, p, n, id);
  if (k + 1 == c->nvis && c->last_vis < *n)
    *n = c->last_vis;
}

/* The first occurrence of needle in hay, or NULL (memmem is a GNU
 * extension). */
static const char *find(const char *hay, size_t hn, const char *needle,
                        size_t nn)
{
  if (nn == 0 || nn > hn)
    return NULL;
  for (size_t i = 0; i + nn <= hn; i++) {
    const char *p = memchr(hay + i, needle[0], hn - nn + 1 - i);
    if (!p)
      return NULL;
    i = (size_t)(p - hay);
    if (memcmp(p, needle, nn) == 0)
      return p;
  }
  return NULL;
}

/* Cuts the output at the first stop string (see mg_mock_gen.h). */
static void apply_stop(struct mg_mock_choice *c, const struct mg_mock_req *r)
{
  struct mg_buf text = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t *start = mg_xreallocarray(NULL, c->ngen + 1, sizeof(*start));
  size_t maxstop = 0;

  for (size_t i = 0; i < r->nstop; i++)
    if (r->stop_len[i] > maxstop)
      maxstop = r->stop_len[i];
  for (size_t k = 0; k < c->ngen; k++) {
    const char *p, *best = NULL;
    size_t n, from;
    uint32_t id;

    mg_mock_gen_choice_token(c, k, &p, &n, &id);
    start[k] = text.len;
    add(&text, p, n);
    from = start[k] >= maxstop ? start[k] - maxstop + 1 : 0;
    for (size_t i = 0; i < r->nstop; i++) {
      const char *m =
          find(text.data + from, text.len - from, r->stop[i], r->stop_len[i]);
      if (m && (!best || m < best))
        best = m;
    }
    if (best) {
      size_t pos = (size_t)(best - text.data);
      size_t vis = 0;

      while (vis <= k && start[vis] < pos)
        vis++;
      c->nvis = vis;
      c->last_vis = vis ? pos - start[vis - 1] : 0;
      c->ngen = k + 1;
      c->finish = "stop";
      break;
    }
  }
  free(start);
  mg_buf_release(&text);
}

static int plan_choice(struct mg_mock_gen_resp *resp, size_t i, uint64_t seq,
                       struct mg_err *err)
{
  const struct mg_mock_req *r = resp->req;
  const struct mg_mock_model *m = resp->model;
  struct mg_mock_choice *c = &resp->c[i];
  const struct mg_mock_prompt *p = &r->prompts[i];
  long long ptoks = (long long)p->toks.n, limit, natural;
  const char *full;
  size_t fn;
  uint32_t id;

  c->prompt = p;
  mg_mock_tok_list_init(&c->answer_toks);
  if (r->max_tokens >= 0 && ptoks + r->max_tokens > m->max_model_len)
    return mg_err_set(err, MG_ERR_DATA,
                      "this model's maximum context length is %lld tokens, "
                      "but %lld were requested (%lld in the prompt, %lld "
                      "for the completion)",
                      m->max_model_len, ptoks + r->max_tokens, ptoks,
                      r->max_tokens);
  if (ptoks >= m->max_model_len)
    return mg_err_set(err, MG_ERR_DATA,
                      "this model's maximum context length is %lld tokens, "
                      "but the prompt has %lld",
                      m->max_model_len, ptoks);
  limit = r->max_tokens >= 0 ? r->max_tokens : m->max_model_len - ptoks;
  c->wseed = mg_mock_sched_hash(m->seed, p->text, p->len);
  c->gen_key = m->key ? mg_mock_key_find(m->key, p->match, p->match_len) : NULL;
  if (c->gen_key) {
    c->known = c->gen_key->known;
    if (c->known) {
      c->answer_len = c->gen_key->continuation_len;
      c->answer = mg_xstrndup(c->gen_key->continuation, c->answer_len);
    } else {
      c->answer = mg_mock_gen_wrong_answer(c->gen_key->continuation,
                                           c->gen_key->continuation_len,
                                           &c->answer_len);
    }
    mg_mock_tok_encode(c->answer, c->answer_len, &c->answer_toks);
    natural = (long long)c->answer_toks.n;
  } else {
    struct mg_mock_sched_rng rng;

    mg_mock_sched_rng_seed(&rng, mg_hash_mix(mg_hash_mix(m->seed, seq), i));
    natural = llround(
        mg_mock_sched_rng_normal(&rng, m->output_tokens, m->output_tokens_std));
    if (natural < 1)
      natural = 1;
  }
  if (r->ignore_eos && r->max_tokens >= 0) {
    c->ngen = (size_t)limit;
    c->finish = "length";
  } else if (natural > limit) {
    c->ngen = (size_t)limit;
    c->finish = "length";
  } else {
    c->ngen = (size_t)natural;
    c->finish = "stop";
  }
  c->nvis = c->ngen;
  c->last_vis = 0;
  if (c->nvis) {
    mg_mock_gen_choice_token(c, c->nvis - 1, &full, &fn, &id);
    c->last_vis = fn;
  }
  if (r->nstop)
    apply_stop(c, r);
  c->lp_key =
      m->key ? mg_mock_key_match(m->key, p->text, p->len, &c->lp_exact) : NULL;
  c->prev_id = p->toks.n ? p->toks.ids[p->toks.n - 1] : 0;
  return 0;
}

int mg_mock_gen_resp_plan(struct mg_mock_gen_resp *resp,
                          const struct mg_mock_req *req,
                          const struct mg_mock_model *model, uint64_t seq,
                          long long created, struct mg_err *err)
{
  int chat = req->api == MG_MOCK_CHAT;

  memset(resp, 0, sizeof(*resp));
  resp->req = req;
  resp->model = model;
  resp->created = created;
  (void)snprintf(resp->id, sizeof(resp->id), "%s-%016llx",
                 chat ? "chatcmpl" : "cmpl",
                 (unsigned long long)mg_hash_mix(model->seed, seq));
  resp->nc = req->nprompts;
  resp->c = mg_xcalloc(resp->nc ? resp->nc : 1, sizeof(*resp->c));
  for (size_t i = 0; i < resp->nc; i++) {
    struct mg_mock_choice *c = &resp->c[i];
    size_t e;

    if (plan_choice(resp, i, seq, err) < 0) {
      mg_mock_gen_resp_release(resp);
      return -1;
    }
    resp->prompt_tokens += req->prompts[i].toks.n;
    resp->completion_tokens += c->ngen;
    e = c->nvis ? c->nvis : 1;
    if (e > resp->steps)
      resp->steps = e;
  }
  return 0;
}

void mg_mock_gen_resp_release(struct mg_mock_gen_resp *resp)
{
  for (size_t i = 0; i < resp->nc; i++) {
    free(resp->c[i].answer);
    mg_mock_tok_list_release(&resp->c[i].answer_toks);
  }
  free(resp->c);
  memset(resp, 0, sizeof(*resp));
}

/* Logprobs. */

struct lpent {
  const char *t;
  size_t n;
  uint32_t prev;
  uint32_t id;
  enum mg_mock_lpclass cls;
  int null;      /* no logprob: the first prompt token */
  size_t offset; /* characters before this token in the returned text */
};

static enum mg_mock_lpclass prompt_class(const struct mg_mock_choice *c,
                                         size_t i)
{
  const struct mg_mock_tok_list *t = &c->prompt->toks;

  if (!c->lp_key || t->off[i + 1] <= c->lp_key->context_len)
    return MG_MOCK_LP_DEFAULT;
  if (!c->lp_exact)
    return MG_MOCK_LP_OTHER;
  return c->lp_key->known ? MG_MOCK_LP_TOP : MG_MOCK_LP_LOSER;
}

/* Entries for the echoed prompt, starting at character offset 0. */
static size_t prompt_entries(const struct mg_mock_choice *c, struct lpent *e)
{
  const struct mg_mock_prompt *p = c->prompt;
  size_t chars = 0;

  for (size_t i = 0; i < p->toks.n; i++) {
    e[i].t = p->text + p->toks.off[i];
    e[i].n = p->toks.off[i + 1] - p->toks.off[i];
    e[i].prev = i ? p->toks.ids[i - 1] : 0;
    e[i].id = p->toks.ids[i];
    e[i].cls = prompt_class(c, i);
    e[i].null = i == 0;
    e[i].offset = chars;
    chars += mg_utf8_count(e[i].t, e[i].n);
  }
  return chars;
}

static void gen_entry(const struct mg_mock_choice *c, size_t k, uint32_t prev,
                      size_t offset, struct lpent *e)
{
  vis_token(c, k, &e->t, &e->n, &e->id);
  e->prev = prev;
  e->cls = k < c->answer_toks.n ? MG_MOCK_LP_TOP : MG_MOCK_LP_DEFAULT;
  e->null = 0;
  e->offset = offset;
}

/* Up to want filler words for alternatives, none equal to the token. */
static size_t alt_words(const struct lpent *e, size_t want, const char **w)
{
  uint64_t h = mg_hash_mix(e->id, e->prev);
  size_t got = 0;

  for (size_t j = 0; got < want && j < MG_MOCK_NWORDS; j++) {
    const char *c = mg_mock_req_word((size_t)(h % MG_MOCK_NWORDS) + 7 * j);
    if (e->n == 4 && memcmp(c, e->t, 4) == 0)
      continue;
    w[got++] = c;
  }
  return got;
}

struct topent {
  const char *t;
  size_t n;
  double lp;
};

/*
 * The alternatives of a token, best first: the token and k - 1 fillers
 * below it when it is greedy; otherwise a better filler, k - 1 more, and
 * the token itself (vLLM also lists the sampled token). k == 0 gives the
 * token alone. Returns the count (at most MG_MOCK_MAX_LOGPROBS + 1).
 */
static size_t top_entries(uint64_t seed, const struct lpent *e, int k,
                          struct topent *out)
{
  struct mg_mock_lpval v;
  const char *w[MG_MOCK_MAX_LOGPROBS + 1];
  size_t n = 0, nw;
  double low;

  mg_mock_gen_lp_value(seed, e->cls, e->prev, e->id, e->t, e->n, &v);
  if (k <= 0) {
    out[0] = (struct topent){ e->t, e->n, v.lp };
    return 1;
  }
  nw = alt_words(e, (size_t)k, w);
  low = v.lp < v.top ? v.lp : v.top;
  if (v.greedy) {
    out[n++] = (struct topent){ e->t, e->n, v.lp };
    for (size_t j = 0; j + 1 < (size_t)k && j < nw; j++)
      out[n++] = (struct topent){ w[j], 4, low - 0.5 * (double)(j + 1) };
    return n;
  }
  out[n++] = (struct topent){ w[0], 4, v.top };
  for (size_t j = 1; j < (size_t)k && j < nw; j++)
    out[n++] = (struct topent){ w[j], 4, low - 0.5 * (double)j };
  out[n++] = (struct topent){ e->t, e->n, v.lp };
  return n;
}

/* {"tokens": [...], "token_logprobs": [...], "top_logprobs": [...],
 *  "text_offset": [...]} (the legacy completions shape). */
static void lp_completions(struct mg_buf *b, uint64_t seed,
                           const struct lpent *e, size_t n, int k)
{
  struct topent top[MG_MOCK_MAX_LOGPROBS + 2];

  ADDLIT(b, "{\"tokens\":[");
  for (size_t i = 0; i < n; i++) {
    if (i)
      ADDLIT(b, ",");
    add_quoted(b, e[i].t, e[i].n);
  }
  ADDLIT(b, "],\"token_logprobs\":[");
  for (size_t i = 0; i < n; i++) {
    struct mg_mock_lpval v;

    if (i)
      ADDLIT(b, ",");
    if (e[i].null) {
      ADDLIT(b, "null");
      continue;
    }
    mg_mock_gen_lp_value(seed, e[i].cls, e[i].prev, e[i].id, e[i].t, e[i].n,
                         &v);
    add_lp(b, v.lp);
  }
  ADDLIT(b, "],\"top_logprobs\":[");
  for (size_t i = 0; i < n; i++) {
    size_t nt;

    if (i)
      ADDLIT(b, ",");
    if (e[i].null) {
      ADDLIT(b, "null");
      continue;
    }
    nt = top_entries(seed, &e[i], k, top);
    ADDLIT(b, "{");
    for (size_t j = 0; j < nt; j++) {
      if (j)
        ADDLIT(b, ",");
      add_quoted(b, top[j].t, top[j].n);
      ADDLIT(b, ":");
      add_lp(b, top[j].lp);
    }
    ADDLIT(b, "}");
  }
  ADDLIT(b, "],\"text_offset\":[");
  for (size_t i = 0; i < n; i++) {
    if (i)
      ADDLIT(b, ",");
    add_uint(b, e[i].offset);
  }
  ADDLIT(b, "]}");
}

static void add_bytes(struct mg_buf *b, const char *t, size_t n)
{
  ADDLIT(b, "[");
  for (size_t i = 0; i < n; i++) {
    if (i)
      ADDLIT(b, ",");
    add_uint(b, (unsigned char)t[i]);
  }
  ADDLIT(b, "]");
}

/* {"content": [{"token", "logprob", "bytes", "top_logprobs"}]} (chat). */
static void lp_chat(struct mg_buf *b, uint64_t seed, const struct lpent *e,
                    size_t n, int k)
{
  struct topent top[MG_MOCK_MAX_LOGPROBS + 2];

  ADDLIT(b, "{\"content\":[");
  for (size_t i = 0; i < n; i++) {
    struct mg_mock_lpval v;
    size_t nt = 0;

    mg_mock_gen_lp_value(seed, e[i].cls, e[i].prev, e[i].id, e[i].t, e[i].n,
                         &v);
    if (i)
      ADDLIT(b, ",");
    ADDLIT(b, "{\"token\":");
    add_quoted(b, e[i].t, e[i].n);
    ADDLIT(b, ",\"logprob\":");
    add_lp(b, v.lp);
    ADDLIT(b, ",\"bytes\":");
    add_bytes(b, e[i].t, e[i].n);
    ADDLIT(b, ",\"top_logprobs\":[");
    if (k > 0)
      nt = top_entries(seed, &e[i], k, top);
    if (nt > (size_t)k)
      nt = (size_t)k;
    for (size_t j = 0; j < nt; j++) {
      if (j)
        ADDLIT(b, ",");
      ADDLIT(b, "{\"token\":");
      add_quoted(b, top[j].t, top[j].n);
      ADDLIT(b, ",\"logprob\":");
      add_lp(b, top[j].lp);
      ADDLIT(b, ",\"bytes\":");
      add_bytes(b, top[j].t, top[j].n);
      ADDLIT(b, "}");
    }
    ADDLIT(b, "]}");
  }
  ADDLIT(b, "]}");
}

/* Replies. */

static void add_usage(struct mg_buf *b, size_t prompt, size_t completion)
{
  ADDLIT(b, "{\"prompt_tokens\":");
  add_uint(b, prompt);
  ADDLIT(b, ",\"total_tokens\":");
  add_uint(b, prompt + completion);
  ADDLIT(b, ",\"completion_tokens\":");
  add_uint(b, completion);
  ADDLIT(b, "}");
}

/* {"id":..,"object":..,"created":..,"model":..,"choices":[ */
static void add_head(struct mg_buf *b, const struct mg_mock_gen_resp *resp,
                     const char *obj)
{
  ADDLIT(b, "{\"id\":\"");
  add_str(b, resp->id);
  ADDLIT(b, "\",\"object\":\"");
  add_str(b, obj);
  ADDLIT(b, "\",\"created\":");
  add_uint(b, (unsigned long long)resp->created);
  ADDLIT(b, ",\"model\":");
  add_quoted(b, resp->model->name, strlen(resp->model->name));
  ADDLIT(b, ",\"choices\":[");
}

static void add_finish(struct mg_buf *b, const char *finish)
{
  if (!finish) {
    ADDLIT(b, "null");
    return;
  }
  ADDLIT(b, "\"");
  add_str(b, finish);
  ADDLIT(b, "\"");
}

void mg_mock_gen_resp_body(struct mg_mock_gen_resp *resp, struct mg_buf *out)
{
  const struct mg_mock_req *r = resp->req;
  int chat = r->api == MG_MOCK_CHAT;
  uint64_t seed = resp->model->seed;

  add_head(out, resp, chat ? "chat.completion" : "text_completion");
  for (size_t i = 0; i < resp->nc; i++) {
    struct mg_mock_choice *c = &resp->c[i];
    const struct mg_mock_prompt *p = c->prompt;
    struct mg_buf text = MG_BUF_INIT(MG_BUF_UNLIMITED);
    size_t echo_n = r->echo ? p->toks.n : 0, chars = 0;
    struct lpent *e = NULL;
    uint32_t prev = c->prev_id;

    if (r->logprobs >= 0)
      e = mg_xreallocarray(NULL, echo_n + c->nvis + 1, sizeof(*e));
    if (r->echo) {
      add(&text, p->text, p->len);
      chars = e ? prompt_entries(c, e) : mg_utf8_count(p->text, p->len);
    }
    for (size_t k = 0; k < c->nvis; k++) {
      const char *t;
      size_t n;
      uint32_t id;

      vis_token(c, k, &t, &n, &id);
      if (e) {
        gen_entry(c, k, prev, chars, &e[echo_n + k]);
        chars += mg_utf8_count(t, n);
      }
      prev = id;
      add(&text, t, n);
    }
    if (i)
      ADDLIT(out, ",");
    ADDLIT(out, "{\"index\":");
    add_uint(out, i);
    if (chat) {
      ADDLIT(out, ",\"message\":{\"role\":\"assistant\",\"content\":");
      add_quoted(out, text.data ? text.data : "", text.len);
      ADDLIT(out, "},\"logprobs\":");
      if (e)
        lp_chat(out, seed, e, c->nvis, r->logprobs);
      else
        ADDLIT(out, "null");
    } else {
      ADDLIT(out, ",\"text\":");
      add_quoted(out, text.data ? text.data : "", text.len);
      ADDLIT(out, ",\"logprobs\":");
      if (e)
        lp_completions(out, seed, e, echo_n + c->nvis, r->logprobs);
      else
        ADDLIT(out, "null");
    }
    ADDLIT(out, ",\"finish_reason\":");
    add_finish(out, c->finish);
    if (!chat)
      ADDLIT(out, ",\"stop_reason\":null");
    ADDLIT(out, "}");
    free(e);
    mg_buf_release(&text);
  }
  ADDLIT(out, "],\"usage\":");
  add_usage(out, resp->prompt_tokens, resp->completion_tokens);
  ADDLIT(out, "}\n");
}

static void event_end(struct mg_buf *b, const struct mg_mock_gen_resp *resp)
{
  ADDLIT(b, "]");
  if (resp->req->continuous_usage) {
    ADDLIT(b, ",\"usage\":");
    add_usage(b, resp->prompt_tokens, resp->sent_tokens);
  }
  ADDLIT(b, "}\n\n");
}

static void stream_echo(struct mg_mock_gen_resp *resp, size_t i,
                        struct mg_buf *b)
{
  struct mg_mock_choice *c = &resp->c[i];
  const struct mg_mock_prompt *p = c->prompt;

  ADDLIT(b, "data: ");
  add_head(b, resp, "text_completion");
  ADDLIT(b, "{\"index\":");
  add_uint(b, i);
  ADDLIT(b, ",\"text\":");
  add_quoted(b, p->text, p->len);
  ADDLIT(b, ",\"logprobs\":");
  if (resp->req->logprobs >= 0) {
    struct lpent *e = mg_xreallocarray(NULL, p->toks.n + 1, sizeof(*e));
    c->chars_out = prompt_entries(c, e);
    lp_completions(b, resp->model->seed, e, p->toks.n, resp->req->logprobs);
    free(e);
  } else {
    c->chars_out = mg_utf8_count(p->text, p->len);
    ADDLIT(b, "null");
  }
  ADDLIT(b, ",\"finish_reason\":null,\"stop_reason\":null}");
  event_end(b, resp);
}

static void stream_role(struct mg_mock_gen_resp *resp, size_t i,
                        struct mg_buf *b)
{
  ADDLIT(b, "data: ");
  add_head(b, resp, "chat.completion.chunk");
  ADDLIT(b, "{\"index\":");
  add_uint(b, i);
  ADDLIT(b, ",\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
            "\"logprobs\":null,\"finish_reason\":null}");
  event_end(b, resp);
}

void mg_mock_gen_resp_stream_step(struct mg_mock_gen_resp *resp,
                                  struct mg_buf *out)
{
  const struct mg_mock_req *r = resp->req;
  int chat = r->api == MG_MOCK_CHAT;
  size_t e = resp->step;

  if (e >= resp->steps)
    return;
  for (size_t i = 0; i < resp->nc; i++) {
    struct mg_mock_choice *c = &resp->c[i];
    size_t last = c->nvis ? c->nvis - 1 : 0;
    const char *t = "";
    size_t n = 0;
    uint32_t id = 0;
    struct lpent ent;

    if (e > last)
      continue;
    if (e == 0 && r->echo)
      stream_echo(resp, i, out);
    if (e == 0 && chat)
      stream_role(resp, i, out);
    if (c->nvis)
      vis_token(c, e, &t, &n, &id);
    resp->sent_tokens += e == last ? c->ngen - (c->nvis ? last : 0) : 1;
    ADDLIT(out, "data: ");
    add_head(out, resp, chat ? "chat.completion.chunk" : "text_completion");
    ADDLIT(out, "{\"index\":");
    add_uint(out, i);
    add_str(out, chat ? ",\"delta\":{\"content\":" : ",\"text\":");
    add_quoted(out, t, n);
    add_str(out, chat ? "},\"logprobs\":" : ",\"logprobs\":");
    if (r->logprobs >= 0 && c->nvis) {
      gen_entry(c, e, c->prev_id, c->chars_out, &ent);
      if (chat)
        lp_chat(out, resp->model->seed, &ent, 1, r->logprobs);
      else
        lp_completions(out, resp->model->seed, &ent, 1, r->logprobs);
    } else {
      ADDLIT(out, "null");
    }
    c->chars_out += mg_utf8_count(t, n);
    c->prev_id = id;
    ADDLIT(out, ",\"finish_reason\":");
    add_finish(out, e == last ? c->finish : NULL);
    if (!chat)
      ADDLIT(out, ",\"stop_reason\":null");
    ADDLIT(out, "}");
    event_end(out, resp);
  }
  resp->step++;
}

void mg_mock_gen_resp_stream_end(struct mg_mock_gen_resp *resp,
                                 struct mg_buf *out)
{
  if (resp->req->include_usage) {
    ADDLIT(out, "data: ");
    add_head(out, resp,
             resp->req->api == MG_MOCK_CHAT ? "chat.completion.chunk"
                                            : "text_completion");
    ADDLIT(out, "],\"usage\":");
    add_usage(out, resp->prompt_tokens, resp->completion_tokens);
    ADDLIT(out, "}\n\n");
  }
  ADDLIT(out, "data: [DONE]\n\n");
}

void mg_mock_gen_resp_stream_malformed(const struct mg_mock_gen_resp *resp,
                                       struct mg_buf *out)
{
  ADDLIT(out, "data: {\"id\":\"");
  add_str(out, resp->id);
  ADDLIT(out, "\",\"choices\":[{\"index\":0,\"text\":\n\n");
}

void mg_mock_gen_resp_stream_error(struct mg_buf *out, const char *msg)
{
  ADDLIT(out, "data: ");
  mg_mock_gen_error_body(out, 500, "server_error", msg);
  mg_buf_truncate(out, out->len - 1);
  ADDLIT(out, "\n\n");
}

void mg_mock_gen_error_body(struct mg_buf *out, int status, const char *type,
                            const char *msg)
{
  ADDLIT(out, "{\"error\":{\"message\":");
  add_quoted(out, msg, strlen(msg));
  ADDLIT(out, ",\"type\":");
  add_quoted(out, type, strlen(type));
  ADDLIT(out, ",\"param\":null,\"code\":");
  add_uint(out, (unsigned)status);
  ADDLIT(out, "}}\n");
}

void mg_mock_gen_models_body(const struct mg_mock_model *m, long long created,
                             struct mg_buf *out)
{
  ADDLIT(out, "{\"object\":\"list\",\"data\":[{\"id\":");
  add_quoted(out, m->name, strlen(m->name));
  ADDLIT(out, ",\"object\":\"model\",\"created\":");
  add_uint(out, (unsigned long long)created);
  ADDLIT(out, ",\"owned_by\":\"modelgate\",\"root\":");
  add_quoted(out, m->name, strlen(m->name));
  ADDLIT(out, ",\"parent\":null,\"max_model_len\":");
  add_uint(out, (unsigned long long)m->max_model_len);
  ADDLIT(out, "}]}\n");
}

static int bad_request(struct mg_buf *out, const char *msg)
{
  mg_mock_gen_error_body(out, 400, "invalid_request_error", msg);
  return 400;
}

int mg_mock_gen_tokenize(const struct mg_mock_model *m, const char *body,
                         size_t len, struct mg_buf *out)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j = NULL;
  struct mg_mock_req r;
  const struct mg_mock_tok_list *t;
  enum mg_mock_api api;

  if (mg_json_parse(body, len, "request body", &j, &err) < 0)
    return bad_request(out, err.msg);
  api = mg_json_get(j, "messages") ? MG_MOCK_CHAT : MG_MOCK_COMPLETIONS;
  if (api == MG_MOCK_COMPLETIONS
      && !mg_json_is_string(mg_json_get(j, "prompt"))) {
    mg_json_free(j);
    return bad_request(out, "'prompt' must be a string (or send 'messages')");
  }
  if (mg_json_get(j, "add_special_tokens")
      && !mg_json_is_bool(mg_json_get(j, "add_special_tokens"))) {
    mg_json_free(j);
    return bad_request(out, "'add_special_tokens' must be a boolean");
  }
  mg_json_free(j);
  if (mg_mock_req_parse(&r, api, body, len, &err) < 0)
    return bad_request(out, err.msg);
  t = &r.prompts[0].toks;
  ADDLIT(out, "{\"count\":");
  add_uint(out, t->n);
  ADDLIT(out, ",\"max_model_len\":");
  add_uint(out, (unsigned long long)m->max_model_len);
  ADDLIT(out, ",\"tokens\":[");
  for (size_t i = 0; i < t->n; i++) {
    if (i)
      ADDLIT(out, ",");
    add_uint(out, t->ids[i]);
  }
  ADDLIT(out, "]}\n");
  mg_mock_req_release(&r);
  return 200;
}

int mg_mock_gen_detokenize(const char *body, size_t len, struct mg_buf *out)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j = NULL, *toks;
  struct mg_buf text = MG_BUF_INIT(MG_BUF_UNLIMITED);
  uint32_t *ids = NULL;
  size_t n = 0;
  int status = 400;

  if (mg_json_parse(body, len, "request body", &j, &err) < 0)
    return bad_request(out, err.msg);
  toks = mg_json_get(j, "tokens");
  if (!mg_json_is_array(toks)) {
    bad_request(out, "'tokens' must be a list of token ids");
    goto out;
  }
  ids = mg_xreallocarray(NULL, mg_json_size(toks) + 1, sizeof(*ids));
  for (struct mg_json *v = mg_json_first(toks); v; v = mg_json_next(v)) {
    double d = mg_json_number(v);
    if (!mg_json_is_number(v) || d < 0 || d >= 2147483648.0 || floor(d) != d) {
      bad_request(out, "'tokens' must be a list of integers in [0, 2^31)");
      goto out;
    }
    ids[n++] = (uint32_t)d;
  }
  if (mg_mock_tok_decode(ids, n, &text, &err) < 0) {
    bad_request(out, err.msg);
    goto out;
  }
  if (!mg_utf8_valid(text.data ? text.data : "", text.len)) {
    bad_request(out, "the tokens do not decode to valid UTF-8");
    goto out;
  }
  ADDLIT(out, "{\"prompt\":");
  add_quoted(out, text.data ? text.data : "", text.len);
  ADDLIT(out, "}\n");
  status = 200;
out:
  free(ids);
  mg_buf_release(&text);
  mg_json_free(j);
  return status;
}

#include "mock/mg_mock_sched.h"

#include <math.h>

#include "mg_hash.h"
#include "mg_mem.h"

uint64_t mg_mock_sched_hash(uint64_t seed, const void *p, size_t n)
{
  return mg_hash_mix(seed, mg_hash_fnv1a(MG_HASH_FNV_OFFSET, p, n));
}

double mg_mock_sched_unit(uint64_t h)
{
  return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

void mg_mock_sched_rng_seed(struct mg_mock_sched_rng *r, uint64_t seed)
{
  r->s = seed;
}

uint64_t mg_mock_sched_rng_next(struct mg_mock_sched_rng *r)
{
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double mg_mock_sched_rng_normal(struct mg_mock_sched_rng *r, double mean,
                                double std)
{
  double u1, u2;

  if (std <= 0)
    return mean;
  /* 1 - unit keeps u1 in (0, 1], so log() stays finite. */
  u1 = 1.0 - mg_mock_sched_unit(mg_mock_sched_rng_next(r));
  u2 = mg_mock_sched_unit(mg_mock_sched_rng_next(r));
  return mean + std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

long long mg_mock_sched_ms_to_ns(double ms)
{
  if (!(ms > 0))
    return 0;
  if (ms > 9.0e12)
    ms = 9.0e12;
  return llround(ms * 1e6);
}

static long long draw_itl(struct mg_mock_sched *s)
{
  return mg_mock_sched_ms_to_ns(
      mg_mock_sched_rng_normal(&s->rng, s->itl_ms, s->itl_std_ms));
}

void mg_mock_sched_start(struct mg_mock_sched *s,
                         const struct mg_mock_timing *t, uint64_t seed,
                         long long start_ns, size_t prompt_tokens, size_t n,
                         size_t stall_at, long long stall_ns)
{
  double ttft;

  mg_mock_sched_rng_seed(&s->rng, seed);
  s->itl_ms = t->itl_ms;
  s->itl_std_ms = t->itl_std_ms;
  s->start_ns = start_ns;
  s->n = n;
  s->k = 0;
  s->stall_at = stall_at;
  s->stall_ns = stall_ns > 0 ? stall_ns : 0;
  ttft = mg_mock_sched_rng_normal(&s->rng, t->ttft_ms, t->ttft_std_ms);
  if (ttft < 0)
    ttft = 0;
  ttft += t->prefill_ms_per_token * (double)prompt_tokens;
  s->first_ns = start_ns + mg_mock_sched_ms_to_ns(ttft);
  s->due_ns = s->first_ns;
  if (s->stall_at == 0)
    s->due_ns += s->stall_ns;
}

long long mg_mock_sched_due(const struct mg_mock_sched *s)
{
  return s->due_ns;
}

void mg_mock_sched_advance(struct mg_mock_sched *s)
{
  if (s->k >= s->n)
    return;
  s->k++;
  if (s->k >= s->n)
    return;
  s->due_ns += draw_itl(s);
  if (s->k == s->stall_at)
    s->due_ns += s->stall_ns;
}

long long mg_mock_sched_end(const struct mg_mock_sched *s,
                            const struct mg_mock_timing *t)
{
  struct mg_mock_sched c = *s;

  if (t->request_latency_s > 0)
    return s->start_ns + mg_mock_sched_ms_to_ns(t->request_latency_s * 1000.0)
           + s->stall_ns;
  if (c.n == 0)
    return c.due_ns;
  while (c.k + 1 < c.n)
    mg_mock_sched_advance(&c);
  return c.due_ns;
}

/* The heap. */

static int before(const struct mg_mock_timer *a, const struct mg_mock_timer *b)
{
  return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void place(struct mg_mock_sched_heap *h, size_t i,
                  struct mg_mock_timer *t)
{
  h->v[i] = t;
  t->idx = i;
}

static void sift_up(struct mg_mock_sched_heap *h, size_t i)
{
  struct mg_mock_timer *t = h->v[i];

  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(t, h->v[p]))
      break;
    place(h, i, h->v[p]);
    i = p;
  }
  place(h, i, t);
}

static void sift_down(struct mg_mock_sched_heap *h, size_t i)
{
  struct mg_mock_timer *t = h->v[i];

  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && before(h->v[c + 1], h->v[c]))
      c++;
    if (!before(h->v[c], t))
      break;
    place(h, i, h->v[c]);
    i = c;
  }
  place(h, i, t);
}

void mg_mock_sched_heap_init(struct mg_mock_sched_heap *h)
{
  h->v = NULL;
  h->n = 0;
  h->cap = 0;
}

void mg_mock_sched_heap_release(struct mg_mock_sched_heap *h)
{
  for (size_t i = 0; i < h->n; i++)
    h->v[i]->idx = MG_MOCK_TIMER_IDLE;
  free(h->v);
  mg_mock_sched_heap_init(h);
}

void mg_mock_sched_heap_push(struct mg_mock_sched_heap *h,
                             struct mg_mock_timer *t)
{
  if (t->idx != MG_MOCK_TIMER_IDLE)
    MG_BUG("timer already in a heap");
  if (h->n == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 64;
    h->v = mg_xreallocarray(h->v, h->cap, sizeof(*h->v));
  }
  h->v[h->n] = t;
  t->idx = h->n++;
  sift_up(h, t->idx);
}

struct mg_mock_timer *mg_mock_sched_heap_top(const struct mg_mock_sched_heap *h)
{
  return h->n ? h->v[0] : NULL;
}

void mg_mock_sched_heap_remove(struct mg_mock_sched_heap *h,
                               struct mg_mock_timer *t)
{
  size_t i = t->idx;

  if (i == MG_MOCK_TIMER_IDLE || i >= h->n || h->v[i] != t)
    return;
  t->idx = MG_MOCK_TIMER_IDLE;
  h->n--;
  if (i == h->n)
    return;
  place(h, i, h->v[h->n]);
  sift_down(h, i);
  sift_up(h, h->v[i]->idx);
}

struct mg_mock_timer *mg_mock_sched_heap_pop(struct mg_mock_sched_heap *h)
{
  struct mg_mock_timer *t = mg_mock_sched_heap_top(h);

  if (t)
    mg_mock_sched_heap_remove(h, t);
  return t;
}

#include "fetch/mg_hashq.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mg_mem.h"

struct mg_hashq_block {
  struct mg_hashq_stream *s;
  size_t n;
  struct mg_hashq_block *next;
  char data[];
};

struct mg_hashq {
  pthread_t th;
  pthread_mutex_t mu;
  pthread_cond_t work;                /* a block was queued, or stop */
  pthread_cond_t room;                /* a block was hashed */
  struct mg_hashq_block *head, *tail; /* queued for the worker */
  struct mg_hashq_block *free_;       /* ready for reuse */
  size_t block;
  int nblocks, made;
  int stop;
};

static void *worker(void *arg)
{
  struct mg_hashq *q = arg;

  pthread_mutex_lock(&q->mu);
  for (;;) {
    struct mg_hashq_block *b;
    while (!q->head && !q->stop)
      pthread_cond_wait(&q->work, &q->mu);
    if (!q->head)
      break;
    b = q->head;
    q->head = b->next;
    if (!q->head)
      q->tail = NULL;
    pthread_mutex_unlock(&q->mu);
    b->s->fn(b->s->arg, b->data, b->n);
    pthread_mutex_lock(&q->mu);
    b->s->pending--;
    b->next = q->free_;
    q->free_ = b;
    pthread_cond_broadcast(&q->room);
  }
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

struct mg_hashq *mg_hashq_new(size_t block, int nblocks)
{
  struct mg_hashq *q = mg_xcalloc(1, sizeof(*q));

  q->block = block;
  q->nblocks = nblocks > 1 ? nblocks : 2;
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->work, NULL);
  pthread_cond_init(&q->room, NULL);
  if (pthread_create(&q->th, NULL, worker, q) != 0) {
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    pthread_cond_destroy(&q->room);
    free(q);
    return NULL;
  }
  return q;
}

void mg_hashq_free(struct mg_hashq *q)
{
  if (!q)
    return;
  pthread_mutex_lock(&q->mu);
  q->stop = 1;
  pthread_cond_signal(&q->work);
  pthread_mutex_unlock(&q->mu);
  pthread_join(q->th, NULL);
  while (q->free_) {
    struct mg_hashq_block *b = q->free_;
    q->free_ = b->next;
    free(b);
  }
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->work);
  pthread_cond_destroy(&q->room);
  free(q);
}

/* A block for s: a free one, a new one while fewer than nblocks exist,
 * else the next one the worker gives back. Called with mu held. */
static struct mg_hashq_block *get_block(struct mg_hashq *q)
{
  struct mg_hashq_block *b;

  while (!q->free_ && q->made >= q->nblocks)
    pthread_cond_wait(&q->room, &q->mu);
  if (q->free_) {
    b = q->free_;
    q->free_ = b->next;
  } else {
    b = mg_xmalloc(sizeof(*b) + q->block);
    q->made++;
  }
  b->n = 0;
  b->next = NULL;
  return b;
}

/* Queues s's current block for the worker. Called with mu held. */
static void submit(struct mg_hashq *q, struct mg_hashq_stream *s)
{
  struct mg_hashq_block *b = s->cur;

  s->cur = NULL;
  b->s = s;
  s->pending++;
  if (q->tail)
    q->tail->next = b;
  else
    q->head = b;
  q->tail = b;
  pthread_cond_signal(&q->work);
}

void mg_hashq_add(struct mg_hashq *q, struct mg_hashq_stream *s, const void *p,
                  size_t n)
{
  const char *c = p;

  while (n > 0) {
    size_t k;
    if (!s->cur) {
      pthread_mutex_lock(&q->mu);
      s->cur = get_block(q);
      pthread_mutex_unlock(&q->mu);
    }
    k = q->block - s->cur->n;
    if (k > n)
      k = n;
    memcpy(s->cur->data + s->cur->n, c, k);
    s->cur->n += k;
    c += k;
    n -= k;
    if (s->cur->n == q->block) {
      pthread_mutex_lock(&q->mu);
      submit(q, s);
      pthread_mutex_unlock(&q->mu);
    }
  }
}

void mg_hashq_sync(struct mg_hashq *q, struct mg_hashq_stream *s)
{
  pthread_mutex_lock(&q->mu);
  if (s->cur && s->cur->n) {
    submit(q, s);
  } else if (s->cur) {
    s->cur->next = q->free_;
    q->free_ = s->cur;
    s->cur = NULL;
  }
  while (s->pending > 0)
    pthread_cond_wait(&q->room, &q->mu);
  pthread_mutex_unlock(&q->mu);
}

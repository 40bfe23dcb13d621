#ifndef MG_HASHQ_H
#define MG_HASHQ_H

#include <stddef.h>

#include "mg_banned.h"

/*
 * Digests computed on a worker thread while the download goes on: the
 * bytes of a stream are copied into fixed blocks, and a full block goes
 * to one worker that passes it to the stream's function, in order. The
 * copy costs a tenth of what SHA-256 does, and the download no longer
 * waits for the hash (model-fetch hashed inline: 1.47x curl's time).
 * Memory is bounded: when every block is in use, mg_hashq_add waits.
 */
typedef void mg_hashq_fn(void *arg, const void *p, size_t n);

struct mg_hashq;

/* One stream of bytes (one file): fn(arg, ...) runs on the worker, in
 * the order the bytes were added, never two at a time for one stream.
 * Zero it, then set fn and arg. */
struct mg_hashq_stream {
  mg_hashq_fn *fn;
  void *arg;
  struct mg_hashq_block *cur; /* the block being filled */
  int pending;                /* blocks handed to the worker */
};

/* nblocks blocks of block bytes (at most nblocks * block in use). NULL
 * if the thread cannot start (the caller then hashes inline). caller
 * owns the result; free with mg_hashq_free. */
struct mg_hashq *mg_hashq_new(size_t block, int nblocks);
/* Waits for every block handed over, stops the worker and frees.
 * Accepts NULL. */
void mg_hashq_free(struct mg_hashq *q);
/* Adds n bytes of s (copied). */
void mg_hashq_add(struct mg_hashq *q, struct mg_hashq_stream *s, const void *p,
                  size_t n);
/* Hands over what is left of s and waits until fn has seen every byte
 * added so far: then s's digest contexts are the caller's again. */
void mg_hashq_sync(struct mg_hashq *q, struct mg_hashq_stream *s);

#endif

#ifndef MG_HASH_H
#define MG_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

/*
 * Non-cryptographic hashes for tables and seeds (mg_digest is the
 * cryptographic one). Stable across runs and machines: mock-llm derives
 * its answers from them, so a change here changes what it replies.
 */

#define MG_HASH_FNV_OFFSET 0xCBF29CE484222325ULL
#define MG_HASH_FNV_PRIME 0x100000001B3ULL

/* 64-bit FNV-1a of p[0..n), continuing from h (MG_HASH_FNV_OFFSET to
 * start). */
uint64_t mg_hash_fnv1a(uint64_t h, const void *p, size_t n);

/* Combines two 64-bit values into one (boost's hash_combine step, then
 * splitmix64's finaliser, which spreads every input bit over the output):
 * seeds derived from a seed and a sequence number, say. */
uint64_t mg_hash_mix(uint64_t a, uint64_t b);

#endif

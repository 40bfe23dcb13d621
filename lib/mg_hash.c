/*
 * FNV-1a and splitmix64 mixing (mg_hash.h).
 */
#include "mg_hash.h"

uint64_t mg_hash_fnv1a(uint64_t h, const void *p, size_t n)
{
  const unsigned char *u = p;

  for (size_t i = 0; i < n; i++) {
    h ^= u[i];
    h *= MG_HASH_FNV_PRIME;
  }
  return h;
}

uint64_t mg_hash_mix(uint64_t a, uint64_t b)
{
  uint64_t z = a ^ (b + 0x9E3779B97F4A7C15ULL + (a << 6) + (a >> 2));

  z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ z >> 27) * 0x94D049BB133111EBULL;
  return z ^ z >> 31;
}

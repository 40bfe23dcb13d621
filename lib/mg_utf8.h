#ifndef MG_UTF8_H
#define MG_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

/*
 * UTF-8, once for the whole tree (Unicode 15, chapter 3, table 3-7).
 *
 * Well formed means what table 3-7 allows: no overlong form, no surrogate
 * (U+D800..U+DFFF), nothing past U+10FFFF, no stray or missing
 * continuation byte. Every function reads exactly s[0..n).
 */

/* Length (1 to 4) of the well-formed sequence that starts s[0..n), with
 * its code point in *cp when cp is not NULL; 0 when it is ill formed (or
 * n is 0), and then *bad (when not NULL) gets the length of its maximal
 * subpart, at least 1: what one U+FFFD replaces under "substitution of
 * maximal subparts", as Rust's from_utf8_lossy and Python's
 * errors="replace" do. */
size_t mg_utf8_next(const char *s, size_t n, uint32_t *cp, size_t *bad);

/* 1 when all of s[0..n) is well formed. */
int mg_utf8_valid(const char *s, size_t n);

/* Writes the 1 to 4 bytes of cp (below 0x110000; a surrogate is written
 * as its three bytes, as Python's "surrogatepass" does) into out, which
 * has room for 4, and returns how many. */
size_t mg_utf8_put(uint32_t cp, char *out);

/* Code points in s[0..n), counting the bytes that do not continue a
 * sequence (for well-formed text, its length as Python's len() says). */
size_t mg_utf8_count(const char *s, size_t n);

#endif

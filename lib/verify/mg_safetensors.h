#ifndef MG_SAFETENSORS_H
#define MG_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;

/*
 * Safetensors validation, as strict as the reference implementation's
 * read_metadata + Metadata::validate, plus what it leaves to others:
 *   - 8-byte little-endian header length N, N <= 100,000,000, 8 + N within
 *     the file;
 *   - the header is UTF-8 JSON starting with '{', an object with no
 *     duplicate keys; "__metadata__" maps strings to strings;
 *   - every tensor has a known dtype, a shape of non-negative integers and
 *     data_offsets [begin, end]; sorted by offset the tensors tile the data
 *     buffer with no gap and no overlap; the element count times the dtype
 *     width fits (checked arithmetic), is whole bytes and equals end-begin;
 *   - the last end + 8 + N equals the file size (no trailing bytes, so no
 *     polyglot files).
 */
#define MG_SAFETENSORS_MAX_HEADER 100000000ULL

struct mg_safetensors_info {
  uint64_t header_len;
  uint64_t n_tensors;
  uint64_t data_bytes;
  int has_metadata;
  char dtypes[128]; /* distinct dtypes seen, comma-separated */
};

/*
 * Validates a safetensors image: head holds at least the first 8 + N
 * bytes (more is fine), file_size is the whole file's size. Fails with
 * MG_ERR_DATA and a message naming the first problem ("overlapping
 * offsets for tensor 'x'").
 */
int mg_safetensors_check(const unsigned char *head, size_t head_len,
                         uint64_t file_size, struct mg_safetensors_info *info,
                         struct mg_err *err);

/* The same for a file; reads only the header. MG_ERR_IO if unreadable. */
int mg_safetensors_check_file(const char *path,
                              struct mg_safetensors_info *info,
                              struct mg_err *err);

/*
 * Validates a file as mg_safetensors_check_file does and lists its tensor
 * names (not "__metadata__"), sorted by byte order. caller owns *names;
 * free with mg_safetensors_names_free.
 */
int mg_safetensors_names_file(const char *path, char ***names, size_t *n,
                              struct mg_err *err);
void mg_safetensors_names_free(char **names, size_t n);

/* Checks that len bytes are valid UTF-8 (no overlongs or surrogates). */
int mg_safetensors_utf8_valid(const unsigned char *p, size_t len);

#endif

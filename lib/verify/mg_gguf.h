#ifndef MG_GGUF_H
#define MG_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;

/*
 * GGUF header validation (ggml docs/gguf.md), with the parser limits the
 * reference lists and the checks whose absence produced 2026's CVEs:
 *   - magic "GGUF", version 2 or 3, little-endian;
 *   - tensor and key/value counts bounded by what the file can hold;
 *   - strings and arrays at most 1 GiB and within the file; keys unique,
 *     at most 65535 bytes; no nested arrays; value types 0-12;
 *   - general.alignment a u32 power of two (default 32);
 *   - tensor names unique and shorter than 64 bytes, 1-4 dimensions, each
 *     > 0, element counts checked against INT64_MAX, a known ggml type
 *     whose block size divides the first dimension, offsets aligned, every
 *     tensor inside the data section and no two overlapping.
 * The chat template (tokenizer.chat_template) is returned for review.
 */
#define MG_GGUF_MAX_STRING ((uint64_t)1 << 30)

struct mg_gguf_info {
  uint32_t version;
  uint64_t n_tensors;
  uint64_t n_kv;
  uint32_t alignment;
  uint64_t data_offset; /* start of the tensor data section */
  uint64_t data_bytes;  /* bytes the tensors use */
  char *architecture;   /* general.architecture, or NULL */
  char *chat_template;  /* tokenizer.chat_template, or NULL (max 1 MiB) */
};

/*
 * Validates the GGUF file at path. Fails with MG_ERR_DATA naming the first
 * problem, MG_ERR_IO if the file cannot be read. info may be NULL; when
 * given, free its strings with mg_gguf_info_release (also after failure).
 */
int mg_gguf_check_file(const char *path, struct mg_gguf_info *info,
                       struct mg_err *err);
/* The same over a memory image (for tests and archive members). */
int mg_gguf_check(const unsigned char *p, size_t n, struct mg_gguf_info *info,
                  struct mg_err *err);
void mg_gguf_info_release(struct mg_gguf_info *info);

#endif

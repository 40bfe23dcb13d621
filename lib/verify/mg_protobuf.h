#ifndef MG_PROTOBUF_H
#define MG_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;

/*
 * Protocol buffers wire-format validation for the protobuf files a model
 * ships (SentencePiece's tokenizer.model, ONNX models): every field key
 * is a varint (at most 10 bytes) with a field number of at least 1 and a
 * wire type 0 (varint), 1 (64-bit), 2 (length-delimited) or 5 (32-bit)
 * (groups are refused); lengths fit; the message ends at the last byte.
 * A schema lists the fields whose wire type it knows: a known field with
 * another wire type is an error; a field marked as a message is walked
 * the same way (to a bounded depth), one marked as a string must be UTF-8.
 * With strict set, fields the schema does not list are errors.
 */
struct mg_protobuf_schema;

struct mg_protobuf_field {
  uint32_t number;
  unsigned char wire;
  unsigned char kind; /* MG_PB_SCALAR, MG_PB_STRING or MG_PB_MESSAGE */
  const struct mg_protobuf_schema *sub; /* MG_PB_MESSAGE; NULL: any */
};

enum { MG_PB_SCALAR, MG_PB_STRING, MG_PB_MESSAGE };

struct mg_protobuf_schema {
  const char *name;
  const struct mg_protobuf_field *fields;
  size_t n;
  int strict;
  uint32_t extensions_from; /* strict: field numbers >= this are allowed
                               (0: none) */
};

/* sentencepiece_model.proto's ModelProto; onnx.proto's ModelProto. */
extern const struct mg_protobuf_schema mg_protobuf_sentencepiece;
extern const struct mg_protobuf_schema mg_protobuf_onnx;

/* Validates n bytes as schema's message. Fails with MG_ERR_DATA naming
 * the byte offset and the problem. */
int mg_protobuf_check(const unsigned char *p, size_t n,
                      const struct mg_protobuf_schema *schema,
                      struct mg_err *err);

#endif

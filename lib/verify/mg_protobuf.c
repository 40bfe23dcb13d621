#include "verify/mg_protobuf.h"

#include <string.h>

#include "mg_err.h"
#include "verify/mg_safetensors.h"

#define DEPTH_MAX 32

/* SentencePiece: ModelProto { repeated SentencePiece pieces = 1;
 * TrainerSpec trainer_spec = 2; NormalizerSpec normalizer_spec = 3;
 * SelfTestData self_test_data = 4; NormalizerSpec denormalizer_spec = 5;
 * extensions 200 to max; }, SentencePiece { string piece = 1; float
 * score = 2; Type type = 3; }. */
static const struct mg_protobuf_field sp_piece_fields[] = {
  { 1, 2, MG_PB_STRING, NULL },
  { 2, 5, MG_PB_SCALAR, NULL },
  { 3, 0, MG_PB_SCALAR, NULL },
};
static const struct mg_protobuf_schema sp_piece = {
  "SentencePiece", sp_piece_fields, 3, 1, 200,
};
static const struct mg_protobuf_field sp_fields[] = {
  { 1, 2, MG_PB_MESSAGE, &sp_piece }, { 2, 2, MG_PB_MESSAGE, NULL },
  { 3, 2, MG_PB_MESSAGE, NULL },      { 4, 2, MG_PB_MESSAGE, NULL },
  { 5, 2, MG_PB_MESSAGE, NULL },
};
const struct mg_protobuf_schema mg_protobuf_sentencepiece = {
  "SentencePiece ModelProto", sp_fields, 5, 1, 200,
};

/* ONNX: ModelProto { int64 ir_version = 1; repeated OperatorSetIdProto
 * opset_import = 8; string producer_name = 2; string producer_version = 3;
 * string domain = 4; int64 model_version = 5; string doc_string = 6;
 * GraphProto graph = 7; repeated StringStringEntryProto metadata_props =
 * 14; repeated TrainingInfoProto training_info = 20; repeated
 * FunctionProto functions = 25; } (newer fields pass as unknown). */
static const struct mg_protobuf_field onnx_fields[] = {
  { 1, 0, MG_PB_SCALAR, NULL },   { 2, 2, MG_PB_STRING, NULL },
  { 3, 2, MG_PB_STRING, NULL },   { 4, 2, MG_PB_STRING, NULL },
  { 5, 0, MG_PB_SCALAR, NULL },   { 6, 2, MG_PB_STRING, NULL },
  { 7, 2, MG_PB_MESSAGE, NULL },  { 8, 2, MG_PB_MESSAGE, NULL },
  { 14, 2, MG_PB_MESSAGE, NULL }, { 20, 2, MG_PB_MESSAGE, NULL },
  { 25, 2, MG_PB_MESSAGE, NULL },
};
const struct mg_protobuf_schema mg_protobuf_onnx = {
  "ONNX ModelProto", onnx_fields, 11, 0, 0,
};

static int varint(const unsigned char *p, size_t n, size_t *i, uint64_t *v)
{
  *v = 0;
  for (int k = 0; k < 10; k++) {
    if (*i >= n)
      return -1;
    *v |= (uint64_t)(p[*i] & 0x7f) << (7 * k);
    if (!(p[(*i)++] & 0x80))
      return 0;
  }
  return -1;
}

static int walk(const unsigned char *p, size_t n, size_t base,
                const struct mg_protobuf_schema *s, int depth,
                struct mg_err *err)
{
  size_t i = 0;

  if (depth > DEPTH_MAX)
    return mg_err_set(err, MG_ERR_DATA,
                      "protobuf nested deeper than %d at "
                      "byte %zu",
                      DEPTH_MAX, base);
  while (i < n) {
    size_t at = i;
    uint64_t key, len = 0;
    uint32_t num;
    unsigned wire;
    const struct mg_protobuf_field *f = NULL;
    if (varint(p, n, &i, &key) < 0)
      return mg_err_set(err, MG_ERR_DATA,
                        "bad protobuf field key at byte "
                        "%zu",
                        base + at);
    wire = (unsigned)(key & 7);
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff)
      return mg_err_set(err, MG_ERR_DATA,
                        "protobuf field number 0 at byte "
                        "%zu",
                        base + at);
    num = (uint32_t)(key >> 3);
    for (size_t k = 0; s && k < s->n; k++)
      if (s->fields[k].number == num)
        f = &s->fields[k];
    if (s && s->strict && !f
        && !(s->extensions_from && num >= s->extensions_from))
      return mg_err_set(err, MG_ERR_DATA,
                        "field %u is not part of %s (byte "
                        "%zu)",
                        num, s->name, base + at);
    if (f && f->wire != wire)
      return mg_err_set(err, MG_ERR_DATA,
                        "field %u of %s has wire type %u, "
                        "not %u (byte %zu)",
                        num, s->name, wire, f->wire, base + at);
    switch (wire) {
    case 0:
      if (varint(p, n, &i, &len) < 0)
        return mg_err_set(err, MG_ERR_DATA,
                          "bad protobuf varint at byte "
                          "%zu",
                          base + at);
      break;
    case 1:
    case 5:
      if (n - i < (wire == 1 ? 8u : 4u))
        return mg_err_set(err, MG_ERR_DATA,
                          "truncated protobuf field at "
                          "byte %zu",
                          base + at);
      i += wire == 1 ? 8 : 4;
      break;
    case 2:
      if (varint(p, n, &i, &len) < 0 || len > n - i)
        return mg_err_set(err, MG_ERR_DATA,
                          "protobuf length past the end "
                          "at byte %zu",
                          base + at);
      if (f && f->kind == MG_PB_MESSAGE
          && walk(p + i, (size_t)len, base + i, f->sub, depth + 1, err) < 0)
        return -1;
      if (f && f->kind == MG_PB_STRING
          && !mg_safetensors_utf8_valid(p + i, (size_t)len))
        return mg_err_set(err, MG_ERR_DATA,
                          "field %u of %s is not UTF-8 "
                          "(byte %zu)",
                          num, s->name, base + at);
      i += (size_t)len;
      break;
    default:
      return mg_err_set(err, MG_ERR_DATA,
                        "protobuf wire type %u at byte "
                        "%zu",
                        wire, base + at);
    }
  }
  return 0;
}

int mg_protobuf_check(const unsigned char *p, size_t n,
                      const struct mg_protobuf_schema *schema,
                      struct mg_err *err)
{
  if (!n)
    return mg_err_set(err, MG_ERR_DATA, "empty %s", schema->name);
  return walk(p, n, 0, schema, 0, err);
}

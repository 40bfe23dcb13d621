#ifndef MG_NPY_H
#define MG_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;

/*
 * numpy's .npy header, read as numpy.lib.format.read_array_header does:
 * magic "\x93NUMPY", version 1.0, 2.0 or 3.0, the header length, then a
 * dict literal (latin-1, UTF-8 for 3.0) evaluated the way ast.literal_eval
 * evaluates it: both quote kinds, triple quotes, string prefixes and
 * escapes, implicit concatenation, nested tuples and lists, trailing
 * commas, comments, signed numbers in every int() spelling (and the
 * Python 2 'L' suffix numpy filters for versions 1 and 2), True / False /
 * None; duplicate keys keep the last value. The dict must have exactly
 * the keys 'descr', 'fortran_order' (a bool) and 'shape' (a tuple of
 * ints).
 *
 * The dtype (descr as numpy's descr_to_dtype reads it: a type string, a
 * (descr, shape) subarray, or a list of (name, descr[, shape]) fields) is
 * sized when every part of it is a plain type string ('<f4', '|b1',
 * '<U3', '|V8', '<M8[ns]', '?', ...). A dtype with an object ('O') part
 * anywhere, in any spelling ('|O', "O", 'O8', 'object', 'i4,O',
 * [("a", "O")], ('O', (2,)), ...), and any descr this reader cannot size,
 * are reported as possibly holding objects: numpy then reads the data
 * with pickle.load, so the caller scans it as a pickle.
 */
struct mg_npy_info {
  int major;          /* format version */
  size_t data_offset; /* where the array data starts */
  int objects;        /* 1: the data is (or may be) a pickle */
  int fortran;
  uint64_t count;    /* elements: the product of the shape */
  uint64_t itemsize; /* plain dtypes */
  uint64_t data_len; /* plain dtypes: count * itemsize */
  char descr[96];    /* descr as read, for messages (cut) */
  char why[96];      /* objects: "object dtype" or "dtype not sized" */
};

/*
 * Parses the header of the .npy image p (n bytes: the whole file, or at
 * least the header). Fails with MG_ERR_DATA naming the problem when numpy
 * would refuse the header.
 */
int mg_npy_parse(const unsigned char *p, size_t n, struct mg_npy_info *info,
                 struct mg_err *err);

#endif

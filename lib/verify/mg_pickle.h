#ifndef MG_PICKLE_H
#define MG_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;

/*
 * A pickle scanner that never runs a pickle: it walks the opcodes of
 * protocols 0-5 one by one, keeping an abstract stack and memo (so
 * STACK_GLOBAL operands are resolved exactly, through MEMOIZE, PUT and GET
 * in any order, rather than by looking back at the previous opcodes), and
 * judges every import against an allowlist.
 *
 * Unsafe (the scan fails with MG_ERR_FAIL):
 *   - an imported global (GLOBAL, STACK_GLOBAL, INST) that is not on the
 *     allowlist, or whose module or name is not a plain string;
 *   - EXT1/EXT2/EXT4 (the copyreg extension registry names arbitrary
 *     callables);
 *   - a call (REDUCE, NEWOBJ, NEWOBJ_EX, OBJ) whose callable is not an
 *     imported global, and BUILD / item assignment on a global object
 *     (the setattr gadgets);
 *   - a first pickle that does not parse (MG_ERR_DATA), or passes the
 *     stack / memo limits.
 *
 * The default allowlist is what a PyTorch state dict and numpy arrays
 * need (torch storages and rebuild functions, collections.OrderedDict,
 * numpy reconstruct / dtype / ndarray / scalar, _codecs.encode, joblib's
 * NumpyArrayWrapper); callers add entries "module.name" or "module.*".
 *
 * joblib files: joblib.dump writes each numpy array as a NumpyArrayWrapper
 * object followed, right after its BUILD opcode, by the array's bytes
 * (numpy_pickle.py): an optional padding-length byte and padding (when
 * the wrapper has numpy_array_alignment_bytes, joblib >= 1.2), then
 * prod(shape) * itemsize raw bytes, or a nested protocol 2 pickle for an
 * object dtype (scanned too). The walker models the ints, tuples, dicts,
 * numpy dtypes and wrappers involved exactly (with object identity), and
 * skips what joblib.load would read; structured or subarray dtypes, a
 * state it cannot follow or array data inside a protocol 4 frame are
 * refused. Because such a file may also be given to pickle.load, which
 * parses the array bytes as opcodes until they fail, it is scanned that
 * way too, and any real (dotted) name that reading imports must be
 * allowed as well.
 */
struct mg_pickle_global {
  char *module;
  char *name;
  const char *opcode; /* "GLOBAL", "STACK_GLOBAL" or "INST" (static) */
  uint64_t offset;    /* of the first use */
  uint64_t count;
  int allowed;
};

struct mg_pickle_report {
  struct mg_pickle_global *globals; /* distinct (module, name), in order */
  size_t n_globals;
  size_t n_pickles; /* complete pickles (ending in STOP) */
  int protocol;     /* highest PROTO seen, 0 if none */
  uint64_t n_opcodes;
  uint64_t end;    /* offset just past the last complete pickle */
  size_t n_arrays; /* joblib arrays whose data was skipped (or scanned) */
  int unsafe;
  char reason[200]; /* first reason it is unsafe, "" if safe */
  char error[200];  /* parse error ("" if none); after the first pickle
                       it only ends the scan */
};

enum mg_pickle_flags {
  /* Read up to 16 stacked pickles (legacy torch.save writes 5, then raw
   * storage bytes); a parse error after the first only ends the scan. */
  MG_PICKLE_STACKED = 1 << 0,
};

/*
 * Scans n bytes. extra_allow: NULL-terminated list of "module.name" or
 * "module.*" entries, or NULL. rep must be released with
 * mg_pickle_report_release. Returns 0 when safe; -1 with MG_ERR_FAIL (an
 * unsafe construct; err names it, e.g. "global 'os.system' is not
 * allowed") or MG_ERR_DATA (malformed).
 */
int mg_pickle_scan(const unsigned char *p, size_t n,
                   const char *const *extra_allow, unsigned flags,
                   struct mg_pickle_report *rep, struct mg_err *err);
void mg_pickle_report_release(struct mg_pickle_report *rep);

/*
 * Whether a buffer is a pickle, judged by content: 2 for a protocol 2+
 * header (0x80 then 2..5), 1 when a protocol 0/1 pickle parses to its
 * STOP or reaches an import before failing, 0 otherwise.
 */
int mg_pickle_sniff(const unsigned char *p, size_t n);

/* Whether module.name is on the built-in allowlist. */
int mg_pickle_default_allowed(const char *module, const char *name);

#endif

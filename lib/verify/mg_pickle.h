#ifndef MG_PICKLE_H
#define MG_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;

/*
 * A pickle scanner that never runs a pickle. It reads the bytes from the
 * first one, as CPython's C unpickler (Modules/_pickle.c) does: the same
 * opcode table (protocols 0-5, no header required: a stream may start
 * with any opcode), the same stack / mark / memo rules, and the same
 * argument parsing, so that it stops exactly where a loader raises and
 * never before:
 *   - INT by C strtol base 0, then int() syntax (PyLong_FromString base
 *     0: signs, spaces, underscores, 0x / 0o / 0b); LONG by int() syntax
 *     with the trailing 'L' dropped; GET / PUT memo keys by int() base 10
 *     ("+0", "0 ", "1_0", "007" are all keys);
 *   - FLOAT by Python's float syntax (no spaces, "inf" / "nan", overflow
 *     an error); STRING by bytes-literal escapes; UNICODE by
 *     raw-unicode-escape (\u only after an odd run of backslashes);
 *     BINUNICODE and GLOBAL names by UTF-8 (surrogatepass for the former);
 *   - a text argument must end in a newline; a length past the end, an
 *     unknown opcode, a pop past the topmost mark, a missing memo key, a
 *     call of a value that is not callable (None, an int, a str, a tuple,
 *     ...) and an import whose first module component cannot name a module
 *     all end the load, as they do in CPython.
 * It keeps an abstract stack and memo (so STACK_GLOBAL operands are
 * resolved exactly, through MEMOIZE, PUT and GET in any order) and judges
 * every import against an allowlist. Where it cannot know what the
 * unpickler holds it assumes the worst and keeps reading.
 *
 * Unsafe (rep->unsafe, MG_ERR_FAIL):
 *   - an imported global (GLOBAL, STACK_GLOBAL, INST) that is not on the
 *     allowlist, or whose module or name is not a plain string;
 *   - EXT1/EXT2/EXT4 (the copyreg extension registry names arbitrary
 *     callables);
 *   - a call (REDUCE, NEWOBJ, NEWOBJ_EX, OBJ) of a value that may be
 *     callable but is not an imported global, and BUILD / item assignment
 *     / append on a global object (the setattr gadgets).
 *
 * The default allowlist is what a PyTorch state dict and numpy arrays
 * need (torch storages and rebuild functions, collections.OrderedDict,
 * numpy reconstruct / dtype / ndarray / scalar, _codecs.encode, joblib's
 * NumpyArrayWrapper); callers add entries "module.name" or "module.*".
 * Python 2 module names are mapped as the unpickler maps them for
 * protocols 0-2 (__builtin__ to builtins, copy_reg to copyreg).
 *
 * Streams (MG_PICKLE_STACKED): pickles one after another to the end of
 * the bytes, no limit on their number, each read by a fresh unpickler and
 * also by one unpickler that keeps its memo from pickle to pickle (a
 * reader looping over pickle.load, either way). When the first pickle is
 * torch's legacy magic number the stream is read as torch.load reads it
 * (serialization.py _legacy_load): the protocol version (1001), sys_info,
 * the data pickle (persistent ids allowed), the list of storage keys,
 * then for each key an int64 element count and that many elements of the
 * storage's type, up to the last byte.
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
  size_t pickle; /* 1-based index of the stacked pickle of the first use */
  int allowed;
};

/* How a scan ended. */
enum mg_pickle_end {
  /* Every pickle ended in STOP; with MG_PICKLE_STACKED, and the stream
   * (torch's storage data included) ends exactly at the last byte. */
  MG_PICKLE_COMPLETE = 0,
  /* A loader raises at stop_at (error says why): what follows is never
   * read. */
  MG_PICKLE_LOADER_STOPS,
  /* The scanner cannot tell what the bytes from stop_at on do (a limit,
   * or a construct it does not follow): the scan is unfinished. */
  MG_PICKLE_UNFINISHED,
  /* MG_PICKLE_STACKED: every pickle is complete, but bytes from stop_at
   * on are read by no loader (torch ignores them): hidden data. */
  MG_PICKLE_TRAILING,
};

/* A ('storage', type, key, location, numel, ...) persistent id, as torch
 * writes one per storage; data pickles refer to storages by key. */
struct mg_pickle_storage {
  char *key;
  char *type;      /* "torch.FloatStorage", ... */
  uint64_t numel;  /* elements */
  unsigned elsize; /* bytes per element; 0 when the type is unknown */
};

struct mg_pickle_report {
  struct mg_pickle_global *globals; /* distinct (module, name), in order */
  size_t n_globals;
  size_t n_pickles; /* complete pickles (ending in STOP) */
  int protocol;     /* highest PROTO seen, 0 if none */
  uint64_t n_opcodes;
  uint64_t end;     /* offset just past the last complete pickle */
  size_t n_arrays;  /* joblib arrays whose data was skipped (or scanned) */
  int acted;        /* an import, call or attribute write was reached: a
                       loader did more than build plain values */
  int torch_legacy; /* read as torch's legacy stacked format */
  struct mg_pickle_storage *storages; /* distinct keys, in order */
  size_t n_storages;
  int unsafe;
  char reason[200]; /* first reason it is unsafe, "" if safe */
  enum mg_pickle_end stop;
  uint64_t stop_at;   /* where the load (or the scan) stops */
  size_t stop_pickle; /* 1-based index of that pickle */
  char error[200];    /* why it stops, "" when complete */
};

enum mg_pickle_flags {
  /* The bytes are a pickle stream, read to the last byte (see above). */
  MG_PICKLE_STACKED = 1 << 0,
  /* The unpickler has a persistent_load (torch's data pickles): PERSID
   * and BINPERSID do not end the load. Implied for torch's legacy data
   * pickle. Without it the scan still assumes a loader may have one and
   * reads on, flagging nothing for it. */
  MG_PICKLE_PERSISTENT = 1 << 1,
  /* pickle.load's own unpickler, which has no persistent_load: PERSID
   * and BINPERSID end the load where CPython's raises (for the pickles
   * not read with a persistent_load). What a plain load of a file from
   * byte 0 reaches: every loader reads a file's first pickle that way. */
  MG_PICKLE_PLAIN = 1 << 2,
};

/*
 * Scans n bytes from the first. extra_allow: NULL-terminated list of
 * "module.name" or "module.*" entries, or NULL. rep must be released with
 * mg_pickle_report_release (also after failure). Returns 0 when safe and
 * complete (without MG_PICKLE_STACKED: the first pickle reached its STOP;
 * rep->end tells where); -1 with MG_ERR_FAIL when unsafe (err names the
 * construct, e.g. "global 'os.system' is not allowed"), or MG_ERR_DATA
 * when the scan did not complete (rep->stop, rep->stop_at, rep->error).
 * Safe to call on any bytes (a fuzzing entry point).
 */
int mg_pickle_scan(const unsigned char *p, size_t n,
                   const char *const *extra_allow, unsigned flags,
                   struct mg_pickle_report *rep, struct mg_err *err);
void mg_pickle_report_release(struct mg_pickle_report *rep);

/* Whether module.name is on the built-in allowlist. */
int mg_pickle_default_allowed(const char *module, const char *name);

#endif

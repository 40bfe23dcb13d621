#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mg_err.h"
#include "verify/mg_pickle.h"

/* Pickles written opcode by opcode, as the bypass history shows them. */
#define P(s) (const unsigned char *)(s), sizeof(s) - 1

struct scanned {
  int rc;
  struct mg_err err;
  struct mg_pickle_report rep;
};

static void scan(struct scanned *s, const unsigned char *p, size_t n,
                 const char *const *extra)
{
  mg_err_clear(&s->err);
  s->rc = mg_pickle_scan(p, n, extra, MG_PICKLE_STACKED, &s->rep, &s->err);
}

static int has_global(const struct mg_pickle_report *r, const char *m,
                      const char *n, int allowed)
{
  for (size_t i = 0; i < r->n_globals; i++)
    if (strcmp(r->globals[i].module, m) == 0
        && strcmp(r->globals[i].name, n) == 0)
      return r->globals[i].allowed == allowed;
  return 0;
}

static void test_state_dict_allowed(void **state)
{
  /* OrderedDict() with a tensor rebuilt through _rebuild_tensor_v2 and a
   * memoized global fetched back with BINGET, as torch.save writes. */
  static const char pk[] =
      "\x80\x02"
      "ccollections\nOrderedDict\nq\x00)Rq\x01"
      "X\x01\x00\x00\x00w"
      "ctorch._utils\n_rebuild_tensor_v2\nq\x02"
      "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nq\x03"
      "X\x01\x00\x00\x00"
      "0X\x03\x00\x00\x00"
      "cpuK\x04tQK\x00K\x04\x85K\x01\x85"
      "\x89h\x00)Rtq\x04Rq\x05"
      "s.";
  struct scanned s;

  (void)state;
  scan(&s, P(pk), NULL);
  assert_int_equal(s.rc, 0);
  assert_false(s.rep.unsafe);
  assert_int_equal(s.rep.n_pickles, 1);
  assert_int_equal(s.rep.protocol, 2);
  assert_true(has_global(&s.rep, "torch._utils", "_rebuild_tensor_v2", 1));
  assert_true(has_global(&s.rep, "torch", "FloatStorage", 1));
  assert_true(has_global(&s.rep, "collections", "OrderedDict", 1));
  mg_pickle_report_release(&s.rep);
}

static void test_global_os_system(void **state)
{
  struct scanned s;

  (void)state;
  scan(&s, P("cos\nsystem\n(S'id'\ntR."), NULL);
  assert_int_equal(s.rc, -1);
  assert_int_equal(s.err.cat, MG_ERR_FAIL);
  assert_non_null(strstr(s.err.msg, "'os.system' is not allowed"));
  assert_int_equal(s.rep.globals[0].offset, 0);
  assert_string_equal(s.rep.globals[0].opcode, "GLOBAL");
  mg_pickle_report_release(&s.rep);
}

static void test_stack_global_through_memo(void **state)
{
  /* Module and name memoized, popped, and fetched back later: the
   * operands of STACK_GLOBAL are not the two previous opcodes. */
  static const char pk[] = "\x80\x04\x8c\x08"
                           "builtins\x94\x8c\x04"
                           "eval"
                           "\x94\x8c\x03"
                           "abc\x94"
                           "000"
                           "h\x00h\x01\x93\x8c\x03"
                           "1+1\x94\x85R.";
  struct scanned s;

  (void)state;
  scan(&s, P(pk), NULL);
  assert_int_equal(s.rc, -1);
  assert_true(has_global(&s.rep, "builtins", "eval", 0));
  assert_string_equal(s.rep.globals[0].opcode, "STACK_GLOBAL");
  mg_pickle_report_release(&s.rep);
}

static void test_memoize_after_put_shifts_index(void **state)
{
  /* PUT 5 then MEMOIZE stores at len(memo) == 1, not at 6. */
  static const char pk[] = "\x80\x04\x8c\x02"
                           "osq\x05\x8c\x06"
                           "system\x94"
                           "00h\x05h\x01\x93)R.";
  struct scanned s;

  (void)state;
  scan(&s, P(pk), NULL);
  assert_int_equal(s.rc, -1);
  assert_true(has_global(&s.rep, "os", "system", 0));
  mg_pickle_report_release(&s.rep);
}

static void test_non_string_operand(void **state)
{
  /* STACK_GLOBAL over bytes (not str) cannot be resolved: unsafe. */
  static const char pk[] = "\x80\x04"
                           "C\x02osC\x06system\x93.";
  struct scanned s;

  (void)state;
  scan(&s, P(pk), NULL);
  assert_int_equal(s.rc, -1);
  assert_non_null(strstr(s.rep.reason, "not a string"));
  mg_pickle_report_release(&s.rep);
}

static void test_ext_and_calls(void **state)
{
  struct scanned s;

  (void)state;
  scan(&s, P("\x80\x02\x82\x01)R."), NULL);
  assert_int_equal(s.rc, -1);
  assert_non_null(strstr(s.rep.reason, "EXT1"));
  mg_pickle_report_release(&s.rep);
  /* REDUCE on the result of a call, not on an import. */
  scan(&s,
       P("\x80\x02"
         "ccollections\nOrderedDict\n)R)R."),
       NULL);
  assert_int_equal(s.rc, -1);
  assert_non_null(strstr(s.rep.reason, "not an imported global"));
  mg_pickle_report_release(&s.rep);
  /* BUILD on the class object: setattr on a global. */
  scan(&s,
       P("\x80\x02"
         "ccollections\nOrderedDict\nN}X\x01\x00\x00\x00xNs"
         "\x86"
         "b."),
       NULL);
  assert_int_equal(s.rc, -1);
  assert_non_null(strstr(s.rep.reason, "BUILD"));
  mg_pickle_report_release(&s.rep);
}

static void test_inst_and_obj(void **state)
{
  struct scanned s;

  (void)state;
  scan(&s, P("(S'id'\nios\nsystem\n."), NULL);
  assert_int_equal(s.rc, -1);
  assert_string_equal(s.rep.globals[0].opcode, "INST");
  mg_pickle_report_release(&s.rep);
  scan(&s, P("\x80\x02(cposix\nsystem\nX\x02\x00\x00\x00ido."), NULL);
  assert_int_equal(s.rc, -1);
  assert_true(has_global(&s.rep, "posix", "system", 0));
  mg_pickle_report_release(&s.rep);
}

static void test_extra_allowlist(void **state)
{
  static const char *const extra[] = { "sklearn.pipeline.*", "mylib.Thing",
                                       NULL };
  struct scanned s;

  (void)state;
  scan(&s,
       P("\x80\x02"
         "csklearn.pipeline\nPipeline\n)R."),
       extra);
  assert_int_equal(s.rc, 0);
  mg_pickle_report_release(&s.rep);
  scan(&s,
       P("\x80\x02"
         "cmylib\nThing\n)R."),
       extra);
  assert_int_equal(s.rc, 0);
  mg_pickle_report_release(&s.rep);
  /* "module.*" does not reach submodules or dotted names. */
  scan(&s,
       P("\x80\x02"
         "csklearn.pipeline.x\nY\n)R."),
       extra);
  assert_int_equal(s.rc, -1);
  mg_pickle_report_release(&s.rep);
  scan(&s,
       P("\x80\x04\x8c\x05"
         "torch\x8c\x19"
         "_utils._rebuild_tensor_v2"
         "\x93."),
       NULL);
  assert_int_equal(s.rc, -1);
  mg_pickle_report_release(&s.rep);
}

static void test_malformed(void **state)
{
  static const char *const bad[] = {
    "\x80\x02", /* no STOP */
    ("\x80\x02X\xff\xff\x00\x00"
     "ab."),          /* length past the end */
    "\x80\x09N.",     /* protocol 9 */
    "\x80\x02h\x03.", /* GET of a missing memo key */
    "\x80\x02t.",     /* TUPLE without a mark */
    "\x80\x02R.",     /* REDUCE on an empty stack */
    "\x80\x02\xff.",  /* unknown opcode */
    "\x80\x02(.",     /* STOP on a mark */
    "",
  };
  struct scanned s;

  (void)state;
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    size_t n = strlen(bad[i]);
    if (i == 1)
      n = 10;
    scan(&s, (const unsigned char *)bad[i], n, NULL);
    assert_int_equal(s.rc, -1);
    assert_int_equal(s.err.cat, MG_ERR_DATA);
    mg_pickle_report_release(&s.rep);
  }
}

static void test_stacked(void **state)
{
  /* Legacy torch: several pickles, then raw bytes; the hostile one is
   * the third. */
  static const char pk[] = "\x80\x02K\x01.\x80\x02K\x02."
                           "\x80\x02"
                           "cos\nsystem\nX\x02\x00\x00\x00id\x85R."
                           "\x00\x01\x02raw storage bytes";
  struct scanned s;

  (void)state;
  scan(&s, P(pk), NULL);
  assert_int_equal(s.rc, -1);
  assert_int_equal(s.rep.n_pickles, 3);
  assert_true(s.rep.error[0] != '\0');
  mg_pickle_report_release(&s.rep);
  /* Without the flag only the first pickle is read. */
  assert_int_equal(mg_pickle_scan(P(pk), NULL, 0, &s.rep, &s.err), 0);
  assert_int_equal(s.rep.n_pickles, 1);
  mg_pickle_report_release(&s.rep);
}

static void test_sniff(void **state)
{
  (void)state;
  assert_int_equal(mg_pickle_sniff(P("\x80\x04N.")), 2);
  assert_int_equal(mg_pickle_sniff(P("cos\nsystem\n(S'x'\ntR.")), 1);
  /* Fails later, but only after importing: still a pickle. */
  assert_int_equal(mg_pickle_sniff(P("cos\nsystem\n(S'x'\ntR\xff")), 1);
  assert_int_equal(mg_pickle_sniff(P("# README\nhello\n")), 0);
  assert_int_equal(mg_pickle_sniff(P("configure the thing\nnow\nplease")), 0);
  assert_int_equal(mg_pickle_sniff(P("{\"a\": 1}")), 0);
}

static void test_default_allowlist(void **state)
{
  (void)state;
  assert_true(mg_pickle_default_allowed("torch._utils", "_rebuild_tensor_v2"));
  assert_true(mg_pickle_default_allowed("collections", "OrderedDict"));
  assert_false(mg_pickle_default_allowed("builtins", "eval"));
  assert_false(mg_pickle_default_allowed("torch", "load"));
  assert_false(mg_pickle_default_allowed("collections", "OrderedDictX"));
}

/* ---- joblib: array bytes after a NumpyArrayWrapper BUILD ---- */

struct pk {
  unsigned char b[4096];
  size_t n;
};

static void raw(struct pk *k, const void *p, size_t n)
{
  assert_true(k->n + n <= sizeof(k->b));
  memcpy(k->b + k->n, p, n);
  k->n += n;
}

#define RAW(k, s) raw(k, s, sizeof(s) - 1)

/* BINUNICODE */
static void ustr(struct pk *k, const char *s)
{
  unsigned char h[5] = { 'X', 0, 0, 0, 0 };
  size_t n = strlen(s);

  h[1] = (unsigned char)n;
  raw(k, h, 5);
  raw(k, s, n);
}

/* The wrapper and its state up to (not including) BUILD: shape (3,),
 * dtype dtype_str with a version 3 state whose names are names_none ? None
 * : a tuple; alignment when align. */
static void wrapper(struct pk *k, const char *dtype_str, int names_none,
                    int align)
{
  RAW(k, "cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}(");
  ustr(k, "shape");
  RAW(k, "K\x03\x85");
  ustr(k, "dtype");
  RAW(k, "cnumpy\ndtype\n");
  ustr(k, dtype_str);
  RAW(k, "\x89\x88\x87R(K\x03");
  ustr(k, "<");
  if (names_none)
    RAW(k, "N");
  else
    RAW(k, "K\x01\x85");
  RAW(k, "NNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb");
  if (align) {
    ustr(k, "numpy_array_alignment_bytes");
    RAW(k, "K\x10");
  }
  RAW(k, "u");
}

static void test_joblib_array_skipped(void **state)
{
  struct scanned s;
  struct pk k = { { 0 }, 0 };
  size_t pad;

  (void)state;
  /* joblib >= 1.2: padding length byte, 0xff padding, 3 doubles. */
  RAW(&k, "\x80\x02");
  wrapper(&k, "f8", 1, 1);
  RAW(&k, "b");
  pad = 16 - ((k.n + 1) % 16);
  k.b[k.n++] = (unsigned char)pad;
  memset(k.b + k.n, 0xff, pad);
  k.n += pad;
  /* Array bytes that would be opcodes to a plain parser. */
  RAW(&k, "cos\nsystem\n\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80");
  RAW(&k, ".");
  scan(&s, k.b, k.n, NULL);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.rep.n_arrays, 1);
  assert_int_equal(s.rep.n_pickles, 1);
  assert_true(s.rep.end == k.n);
  assert_true(
      has_global(&s.rep, "joblib.numpy_pickle", "NumpyArrayWrapper", 1));
  mg_pickle_report_release(&s.rep);

  /* joblib < 1.2: no padding; the same bytes are now the first thing a
   * plain pickle.load parses after BUILD: os.system is an import there. */
  k.n = 0;
  RAW(&k, "\x80\x02");
  wrapper(&k, "f8", 1, 0);
  RAW(&k, "b");
  RAW(&k, "cos\nsystem\n\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80");
  RAW(&k, ".");
  scan(&s, k.b, k.n, NULL);
  assert_int_equal(s.rc, -1);
  assert_int_equal(s.err.cat, MG_ERR_FAIL);
  assert_non_null(strstr(s.rep.reason, "os.system"));
  assert_non_null(strstr(s.rep.reason, "pickle.load"));
  assert_true(has_global(&s.rep, "os", "system", 0));
  mg_pickle_report_release(&s.rep);

  /* Garbage names in the array bytes import nothing: still safe. */
  k.n = 0;
  RAW(&k, "\x80\x02");
  wrapper(&k, "i8", 1, 0);
  RAW(&k, "b");
  RAW(&k, "c\xff\x01\n\x02\x03\nR\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80"
          "\x80\x80\x80\x80\x80");
  RAW(&k, ".");
  scan(&s, k.b, k.n, NULL);
  assert_int_equal(s.rc, 0);
  mg_pickle_report_release(&s.rep);
}

static void test_joblib_refusals(void **state)
{
  struct scanned s;
  struct pk k = { { 0 }, 0 };

  (void)state;
  /* A structured dtype (names set): not followed. */
  RAW(&k, "\x80\x02");
  wrapper(&k, "V24", 0, 0);
  RAW(&k, "b");
  memset(k.b + k.n, 0, 72);
  k.n += 72;
  RAW(&k, ".");
  scan(&s, k.b, k.n, NULL);
  assert_int_equal(s.rc, -1);
  assert_non_null(strstr(s.rep.reason, "unsupported dtype"));
  mg_pickle_report_release(&s.rep);

  /* A frame that runs past the BUILD: joblib would read the array after
   * the frame, not after the opcode. */
  k.n = 0;
  RAW(&k, "\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00");
  wrapper(&k, "f8", 1, 0);
  RAW(&k, "b");
  memset(k.b + k.n, '.', 300);
  k.n += 300;
  scan(&s, k.b, k.n, NULL);
  assert_int_equal(s.rc, -1);
  assert_non_null(strstr(s.rep.reason, "inside a pickle frame"));
  mg_pickle_report_release(&s.rep);

  /* Fewer bytes than the shape says. */
  k.n = 0;
  RAW(&k, "\x80\x02");
  wrapper(&k, "f8", 1, 0);
  RAW(&k, "b\0\0\0\0.");
  scan(&s, k.b, k.n, NULL);
  assert_int_equal(s.rc, -1);
  assert_int_equal(s.err.cat, MG_ERR_DATA);
  assert_non_null(strstr(s.rep.error, "truncated joblib array"));
  mg_pickle_report_release(&s.rep);
}

static void test_joblib_identity(void **state)
{
  struct scanned s;
  struct pk k = { { 0 }, 0 };

  (void)state;
  /* The state dict is memoized empty, filled through the memo copy
   * (SETITEM on GET), then used by BUILD through another GET: one object,
   * as in Python. The shape comes last and is 2 elements. */
  RAW(&k, "\x80\x02"
          "cjoblib.numpy_pickle\nNumpyArrayWrapper\n)\x81}q\x01");
  RAW(&k, "0h\x01");
  ustr(&k, "dtype");
  RAW(&k, "cnumpy\ndtype\n");
  ustr(&k, "i4");
  RAW(&k, "\x89\x88\x87R(K\x03");
  ustr(&k, "<");
  RAW(&k, "NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tbs0h\x01");
  ustr(&k, "shape");
  RAW(&k, "K\x02K\x02\x86s0h\x01"
          "b");
  memset(k.b + k.n, 0x63, 16); /* 2x2 int32: 16 bytes of 'c' */
  k.n += 16;
  RAW(&k, ".");
  scan(&s, k.b, k.n, NULL);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.rep.n_arrays, 1);
  mg_pickle_report_release(&s.rep);

  /* An object array: its data is a nested pickle, scanned. */
  k.n = 0;
  RAW(&k, "\x80\x02");
  wrapper(&k, "O8", 1, 0);
  RAW(&k, "b\x80\x02"
          "cposix\nsystem\nX\x02\x00\x00\x00"
          "id\x85R..");
  scan(&s, k.b, k.n, NULL);
  assert_int_equal(s.rc, -1);
  assert_true(has_global(&s.rep, "posix", "system", 0));
  mg_pickle_report_release(&s.rep);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_state_dict_allowed),
    cmocka_unit_test(test_global_os_system),
    cmocka_unit_test(test_stack_global_through_memo),
    cmocka_unit_test(test_memoize_after_put_shifts_index),
    cmocka_unit_test(test_non_string_operand),
    cmocka_unit_test(test_ext_and_calls),
    cmocka_unit_test(test_inst_and_obj),
    cmocka_unit_test(test_extra_allowlist),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_stacked),
    cmocka_unit_test(test_sniff),
    cmocka_unit_test(test_default_allowlist),
    cmocka_unit_test(test_joblib_array_skipped),
    cmocka_unit_test(test_joblib_refusals),
    cmocka_unit_test(test_joblib_identity),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}

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

/* The probe model-verify runs on every file: a plain pickle.load from
 * byte 0 tells whether a loader gets anywhere before it raises. */
static void test_probe(void **state)
{
  struct scanned s;

  (void)state;
  assert_int_equal(mg_pickle_scan(P("\x80\x04N."), NULL, 0, &s.rep, NULL), 0);
  assert_int_equal(s.rep.n_pickles, 1);
  assert_false(s.rep.acted);
  mg_pickle_report_release(&s.rep);
  mg_pickle_scan(P("cos\nsystem\n(S'x'\ntR."), NULL, 0, &s.rep, NULL);
  assert_true(s.rep.acted);
  assert_true(s.rep.unsafe);
  mg_pickle_report_release(&s.rep);
  /* Fails later, but only after importing: a loader ran it. */
  mg_pickle_scan(P("cos\nsystem\n(S'x'\ntR\xff"), NULL, 0, &s.rep, NULL);
  assert_true(s.rep.acted);
  assert_int_equal(s.rep.stop, MG_PICKLE_LOADER_STOPS);
  assert_int_equal(s.rep.stop_at, 19);
  mg_pickle_report_release(&s.rep);
  /* Text a loader rejects at once, or before importing anything. */
  mg_pickle_scan(P("# README\nhello\n"), NULL, 0, &s.rep, NULL);
  assert_false(s.rep.acted);
  assert_int_equal(s.rep.stop, MG_PICKLE_LOADER_STOPS);
  assert_int_equal(s.rep.stop_at, 0);
  assert_non_null(strstr(s.rep.error, "invalid load key, '#'"));
  mg_pickle_report_release(&s.rep);
  mg_pickle_scan(P("configure the thing\nnow\nplease"), NULL, 0, &s.rep, NULL);
  assert_false(s.rep.acted);
  assert_int_equal(s.rep.n_globals, 0);
  assert_non_null(strstr(s.rep.error, "No module named"));
  mg_pickle_report_release(&s.rep);
  mg_pickle_scan(P("{\"a\": 1}"), NULL, 0, &s.rep, NULL);
  assert_false(s.rep.acted);
  assert_int_equal(s.rep.stop_at, 0);
  mg_pickle_report_release(&s.rep);
}

/* The probe of a zip: its first bytes ("PK\3\4", version, flags, method)
 * are a PERSID whose line ends at the first newline, which the DOS
 * timestamp may hold (01:16 to 01:23 has 0x0a in the time's high byte).
 * pickle.load has no persistent_load and raises there, at any time or
 * date; read on, the header's bytes import, call or complete a pickle at
 * some times (CI failed at 01:17; 05:48:20 gives STOP, 16:16:20 EXT1). */
static void zip_probe(uint16_t time, uint16_t date, unsigned flags,
                      struct scanned *s)
{
  unsigned char z[30 + 16 + 6] = "PK\x03\x04\x14\x00\x00\x00\x00\x00";

  z[10] = (unsigned char)time;
  z[11] = (unsigned char)(time >> 8);
  z[12] = (unsigned char)date;
  z[13] = (unsigned char)(date >> 8);
  /* CRC-32, sizes, name length 16, no extra, then the name and the start
   * of torch's data.pkl, as the CI run's pytorch_model.bin had them. */
  memcpy(z + 14,
         "\x15\x4f\xfb\xf9\xd6\x00\x00\x00\xd6\x00\x00\x00\x10\x00"
         "\x00\x00"
         "archive/data.pkl"
         "\x80\x02"
         "ccol",
         38);
  mg_pickle_scan(z, sizeof(z), NULL, flags, &s->rep, NULL);
}

static void assert_zip_no_polyglot(uint16_t time, uint16_t date)
{
  struct scanned s;

  zip_probe(time, date, MG_PICKLE_PLAIN, &s);
  if (s.rep.acted || s.rep.unsafe || s.rep.n_globals || s.rep.n_pickles
      || s.rep.stop != MG_PICKLE_LOADER_STOPS || s.rep.stop_at != 0)
    fail_msg("DOS time 0x%04x date 0x%04x: acted %d unsafe %d globals %zu "
             "pickles %zu stop at %llu (%s)",
             time, date, s.rep.acted, s.rep.unsafe, s.rep.n_globals,
             s.rep.n_pickles, (unsigned long long)s.rep.stop_at, s.rep.reason);
  mg_pickle_report_release(&s.rep);
}

static void test_zip_timestamp_probe(void **state)
{
  static const uint16_t dates[] = { 0x5d88, 0x0021, 0x5d0a, 0x0a21, 0 };
  static const uint16_t times[] = { 0x0a20, 0x2e0a, 0x820a, 0, 0x0a0a };
  struct scanned s;

  (void)state;
  /* Read on past the id (no MG_PICKLE_PLAIN), 2026-12-08 01:17:00
   * ("PK\3\4\x14\0\0\0\0\0 \n", an ASCII id) counts as acted, 05:48:20
   * completes a pickle and 16:16:20 reaches EXT1. */
  zip_probe(0x0a20, 0x5d88, 0, &s);
  assert_true(s.rep.acted);
  mg_pickle_report_release(&s.rep);
  zip_probe(0x2e0a, 0x5d88, 0, &s);
  assert_int_equal(s.rep.n_pickles, 1);
  mg_pickle_report_release(&s.rep);
  zip_probe(0x820a, 0x5d88, 0, &s);
  assert_true(s.rep.unsafe);
  mg_pickle_report_release(&s.rep);
  /* pickle.load stops at the id, whatever its bytes. */
  zip_probe(0x0a20, 0x5d88, MG_PICKLE_PLAIN, &s);
  assert_non_null(strstr(s.rep.error, "no persistent_load function"));
  mg_pickle_report_release(&s.rep);
  /* 01:20: the id holds 0x86, not ASCII (a loader with a persistent_load
   * stops too). */
  zip_probe(0x0a86, 0x5d88, 0, &s);
  assert_false(s.rep.acted);
  assert_int_equal(s.rep.stop_at, 0);
  mg_pickle_report_release(&s.rep);
  for (size_t d = 0; d < sizeof(dates) / sizeof(dates[0]); d++)
    for (uint32_t t = 0; t <= 0xffff; t++)
      assert_zip_no_polyglot((uint16_t)t, dates[d]);
  for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++)
    for (uint32_t d = 0; d <= 0xffff; d++)
      assert_zip_no_polyglot(times[t], (uint16_t)d);
  /* MG_PICKLE_PLAIN leaves a persistent_load's pickles alone (torch's
   * data pickle) and stops a BINPERSID too. */
  assert_int_equal(mg_pickle_scan(P("\x80\x02X\x01\x00\x00\x00"
                                    "0Q."),
                                  NULL, MG_PICKLE_PLAIN | MG_PICKLE_PERSISTENT,
                                  &s.rep, NULL),
                   0);
  assert_int_equal(s.rep.n_pickles, 1);
  mg_pickle_report_release(&s.rep);
  mg_pickle_scan(P("\x80\x02X\x01\x00\x00\x00"
                   "0Q."),
                 NULL, MG_PICKLE_PLAIN, &s.rep, NULL);
  assert_int_equal(s.rep.n_pickles, 0);
  assert_int_equal(s.rep.stop_at, 8);
  assert_non_null(strstr(s.rep.error, "no persistent_load function"));
  mg_pickle_report_release(&s.rep);
}

/* posix.system('id') through STACK_GLOBAL, no PROTO, no STOP. */
#define SG                                                                     \
  "\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x02id\x94\x85\x94R\x94"

static void expect_payload(const unsigned char *p, size_t n, const char *what)
{
  struct scanned s;

  scan(&s, p, n, NULL);
  if (!has_global(&s.rep, "posix", "system", 0))
    fail_msg("%s: posix.system not found (stop: %s)", what, s.rep.error);
  assert_int_equal(s.rc, -1);
  assert_int_equal(s.err.cat, MG_ERR_FAIL);
  mg_pickle_report_release(&s.rep);
}

static void expect_stop(const unsigned char *p, size_t n, const char *what)
{
  struct scanned s;

  scan(&s, p, n, NULL);
  if (has_global(&s.rep, "posix", "system", 0)
      || s.rep.stop != MG_PICKLE_LOADER_STOPS)
    fail_msg("%s: expected a loader error before the payload", what);
  assert_int_equal(s.rc, -1);
  assert_int_equal(s.err.cat, MG_ERR_DATA);
  mg_pickle_report_release(&s.rep);
}

#define PAYLOAD(s) expect_payload(P(s), s)
#define STOPS(s) expect_stop(P(s), s)

static void test_first_opcode_any(void **state)
{
  (void)state;
  /* The unpickler needs no PROTO: any opcode may come first. */
  PAYLOAD(SG ".");
  PAYLOAD("\x95\x1d\x00\x00\x00\x00\x00\x00\x00" SG ".");
  PAYLOAD("\x88"
          "0" SG ".");
  PAYLOAD("\x89"
          "0" SG ".");
  PAYLOAD("G\x3f\xf8\x00\x00\x00\x00\x00\x00"
          "0" SG ".");
  PAYLOAD("B\x03\x00\x00\x00"
          "abc0" SG ".");
  PAYLOAD("C\x03"
          "abc0" SG ".");
  PAYLOAD("\x8a\x01\x05"
          "0" SG ".");
  PAYLOAD("\x8f"
          "0" SG ".");
  PAYLOAD("\x80\x00"
          "cposix\nsystem\n(S'id'\ntR.");
  PAYLOAD("\x80\x01"
          "cposix\nsystem\n(X\x02\x00\x00\x00idtR.");
}

static void test_memo_keys_int_syntax(void **state)
{
  (void)state;
  /* PUT and GET keys are int(s, 10): signs, spaces, underscores and
   * leading zeros are all one key. */
  PAYLOAD("\x80\x02\x8c\x05posixp+0\n0\x8c\x06systemp 1 \n0g0\ng01\n"
          "\x93)R.");
  PAYLOAD("\x80\x02\x8c\x05posixp0 \n0\x8c\x06systemp1_0\n0g-0\ng10\n"
          "\x93)R.");
  PAYLOAD("\x80\x02}p+0\n0" SG "0g0\n.");
  /* What int() refuses ends the load there. */
  STOPS("\x80\x02}p1__0\n0" SG ".");
  STOPS("\x80\x02}p_1\n0" SG ".");
  STOPS("\x80\x02}p1_\n0" SG ".");
  STOPS("\x80\x02}p0x1\n0" SG ".");
  STOPS("\x80\x02}p-1\n0" SG ".");
  STOPS("\x80\x02}p\n0" SG ".");
  STOPS("\x80\x02}g-1\n0" SG ".");
  STOPS("\x80\x02}p9223372036854775808\n0" SG ".");
}

static void test_int_and_long_syntax(void **state)
{
  (void)state;
  /* INT is strtol(s, 0), then int(s, 0): octal, hex, spaces, '_'. */
  PAYLOAD("I0x1f\n0" SG ".");
  PAYLOAD("I010\n0" SG ".");
  PAYLOAD("I 12 \n0" SG ".");
  PAYLOAD("I1_0\n0" SG ".");
  PAYLOAD("I0o17\n0" SG ".");
  PAYLOAD("I99999999999999999999999999\n0" SG ".");
  PAYLOAD("I01\n0" SG ".");
  STOPS("I1e3\n0" SG ".");
  STOPS("I08\n0" SG ".");
  STOPS("I0x\n0" SG ".");
  STOPS("I\n0" SG ".");
  /* LONG: int(s, 0) with an optional 'L'. */
  PAYLOAD("L12L\n0" SG ".");
  PAYLOAD("L-0x_ff\n0" SG ".");
  STOPS("L012L\n0" SG ".");
  STOPS("L1LL\n0" SG ".");
}

static void test_float_syntax(void **state)
{
  (void)state;
  PAYLOAD("F1.5\n0" SG ".");
  PAYLOAD("F.5\n0" SG ".");
  PAYLOAD("F5.\n0" SG ".");
  PAYLOAD("F-1e-5\n0" SG ".");
  PAYLOAD("Finf\n0" SG ".");
  PAYLOAD("F-Infinity\n0" SG ".");
  PAYLOAD("FnaN\n0" SG ".");
  PAYLOAD("F1e-999\n0" SG ".");
  STOPS("F1e999\n0" SG ".");
  STOPS("F 1.0\n0" SG ".");
  STOPS("F1_0\n0" SG ".");
  STOPS("F1e\n0" SG ".");
  STOPS("F0x10\n0" SG ".");
  STOPS("Finfo\n0" SG ".");
  STOPS("F.\n0" SG ".");
}

static void test_string_escapes(void **state)
{
  (void)state;
  /* Module and name spelled with bytes-literal escapes. */
  PAYLOAD("S'p\\x6fsix'\nS\"sys\\164em\"\n\x93)R.");
  PAYLOAD("S'\\q'\n0" SG ".");
  STOPS("S'ab\\'\n0" SG ".");
  STOPS("S'\\x4'\n0" SG ".");
  STOPS("S'ab\"\n0" SG ".");
  STOPS("Sab\n0" SG ".");
}

static void test_unicode_backslash_runs(void **state)
{
  (void)state;
  /* raw-unicode-escape: an even run of backslashes before 'u' is no
   * escape, so "\\\\uZZZZ" is fine and the load goes on. */
  PAYLOAD("V\\\\uZZZZ\n0" SG ".");
  PAYLOAD("V\\\\\\\\uZZZZ\n0" SG ".");
  PAYLOAD("V\\u0070osix\nVsys\\U00000074em\n\x93)R.");
  STOPS("V\\uZZZZ\n0" SG ".");
  STOPS("V\\\\\\uZZZZ\n0" SG ".");
  STOPS("V\\U00110000\n0" SG ".");
  /* Two backslashes and "u0070": a module name no import can find. */
  STOPS("V\\\\u0070osix\nVsystem\n\x93)R.");
  /* BINUNICODE is UTF-8 (surrogates pass); bad UTF-8 ends the load. */
  STOPS("\x8c\x02\xff\xfe"
        "0" SG ".");
  PAYLOAD("\x8c\x03\xed\xa0\x80"
          "0" SG ".");
}

static void test_loader_errors_end_the_load(void **state)
{
  (void)state;
  /* Calling None, an int or a str raises; nothing after it runs. */
  STOPS("N)R0" SG ".");
  STOPS("K\x01)R0" SG ".");
  STOPS("\x8c\x01"
        "a)R0" SG ".");
  /* REDUCE with arguments that are not a tuple. */
  STOPS("ccollections\nOrderedDict\nK\x01R0" SG ".");
  /* STACK_GLOBAL over an int; a module whose name cannot exist. */
  STOPS("K\x01K\x02\x93" SG ".");
  STOPS("cbad name\nx\n0" SG ".");
  STOPS("c9lives\nx\n0" SG ".");
  STOPS("c\nsystem\n0" SG ".");
  /* A text argument without its newline. */
  STOPS("cposix\nsystem");
  /* A pop past the topmost mark. */
  STOPS("N(0000" SG ".");
}

static void test_python2_names(void **state)
{
  struct scanned s;

  (void)state;
  /* Protocols 0-2 map __builtin__ to builtins, 3+ do not. */
  scan(&s,
       P("\x80\x02"
         "c__builtin__\nset\n)R."),
       NULL);
  assert_int_equal(s.rc, 0);
  mg_pickle_report_release(&s.rep);
  scan(&s,
       P("\x80\x03"
         "c__builtin__\nset\n)R."),
       NULL);
  assert_int_equal(s.rc, -1);
  mg_pickle_report_release(&s.rep);
}

static void test_stream_no_limit(void **state)
{
  struct {
    unsigned char b[512];
    size_t n;
  } k = { { 0 }, 0 };
  static const char one[] = "\x80\x02K\x01.";
  static const char evil[] = "\x80\x02" SG ".";
  struct scanned s;

  (void)state;
  for (int i = 0; i < 16; i++) {
    memcpy(k.b + k.n, one, sizeof(one) - 1);
    k.n += sizeof(one) - 1;
  }
  memcpy(k.b + k.n, evil, sizeof(evil) - 1);
  k.n += sizeof(evil) - 1;
  scan(&s, k.b, k.n, NULL);
  assert_int_equal(s.rc, -1);
  assert_int_equal(s.rep.n_pickles, 17);
  assert_true(has_global(&s.rep, "posix", "system", 0));
  assert_int_equal(s.rep.globals[0].pickle, 17);
  mg_pickle_report_release(&s.rep);
}

static void test_stream_rules(void **state)
{
  struct scanned s;

  (void)state;
  /* A parse problem for a naive scanner in a later pickle. */
  PAYLOAD("\x80\x02K\x01.\x80\x02}p+0\n0" SG "0g+0\n.");
  /* Bytes after the last pickle that are not one: the load stops. */
  scan(&s, P("\x80\x02K\x01.\x80\x02K\x02.garbage"), NULL);
  assert_int_equal(s.rc, -1);
  assert_int_equal(s.err.cat, MG_ERR_DATA);
  assert_int_equal(s.rep.n_pickles, 2);
  assert_int_equal(s.rep.stop_pickle, 3);
  assert_int_equal(s.rep.stop_at, 10);
  mg_pickle_report_release(&s.rep);
  /* A reader with one unpickler keeps the memo: the second pickle gets
   * the first one's strings back. */
  scan(&s,
       P("\x80\x02\x8c\x05posixq\x00\x8c\x06systemq\x01\x86."
         "\x80\x02h\x00h\x01\x93)R."),
       NULL);
  assert_int_equal(s.rc, -1);
  assert_true(has_global(&s.rep, "posix", "system", 0));
  assert_non_null(strstr(s.rep.reason, "one unpickler"));
  mg_pickle_report_release(&s.rep);
}

/* torch.save(..., _use_new_zipfile_serialization=False), by hand. */
#define TORCH_MAGIC "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
#define TORCH_DATA                                                             \
  "\x80\x02"                                                                   \
  "ctorch._utils\n_rebuild_tensor_v2\nq\x00((X\x07\x00\x00\x00"                \
  "storagectorch\nFloatStorage\nX\x01\x00\x00\x00"                             \
  "0X\x03\x00\x00\x00"                                                         \
  "cpuK\x02NtQK\x00K\x02\x85K\x01\x85\x89"                                     \
  "ccollections\nOrderedDict\n)Rtq\x01R."
#define TORCH_KEYS                                                             \
  "\x80\x02]X\x01\x00\x00\x00"                                                 \
  "0a."
#define TORCH_STORAGE                                                          \
  "\x02\x00\x00\x00\x00\x00\x00\x00"                                           \
  "abcdefgh"

static void test_torch_legacy(void **state)
{
  struct scanned s;

  (void)state;
  scan(&s,
       P(TORCH_MAGIC
         "\x80\x02M\xe9\x03.\x80\x02}." TORCH_DATA TORCH_KEYS TORCH_STORAGE),
       NULL);
  assert_int_equal(s.rc, 0);
  assert_true(s.rep.torch_legacy);
  assert_int_equal(s.rep.n_pickles, 5);
  assert_int_equal(s.rep.n_storages, 1);
  assert_string_equal(s.rep.storages[0].key, "0");
  assert_string_equal(s.rep.storages[0].type, "torch.FloatStorage");
  assert_int_equal(s.rep.storages[0].numel, 2);
  assert_int_equal(s.rep.storages[0].elsize, 4);
  mg_pickle_report_release(&s.rep);
  /* The magic number and the protocol version in text opcodes, with
   * int() spellings: still torch's format. */
  scan(
      &s,
      P("L119547037146038801333356L\n.I0x3e9\n.\x80\x02}." TORCH_DATA TORCH_KEYS
            TORCH_STORAGE),
      NULL);
  assert_int_equal(s.rc, 0);
  assert_true(s.rep.torch_legacy);
  mg_pickle_report_release(&s.rep);
  scan(&s,
       P(TORCH_MAGIC "I1_001\n.\x80\x02}." TORCH_DATA TORCH_KEYS TORCH_STORAGE),
       NULL);
  assert_int_equal(s.rc, 0);
  mg_pickle_report_release(&s.rep);
  /* Bytes after the storages: hidden data. */
  scan(&s,
       P(TORCH_MAGIC
         "\x80\x02M\xe9\x03.\x80\x02}." TORCH_DATA TORCH_KEYS TORCH_STORAGE
         "\x80\x02" SG "."),
       NULL);
  assert_int_equal(s.rc, -1);
  assert_int_equal(s.rep.stop, MG_PICKLE_TRAILING);
  mg_pickle_report_release(&s.rep);
  /* A storage that runs past the end, a key the data does not have. */
  scan(&s,
       P(TORCH_MAGIC "\x80\x02M\xe9\x03.\x80\x02}." TORCH_DATA TORCH_KEYS
                     "\x03\x00\x00\x00\x00\x00\x00\x00"
                     "abcdefgh"),
       NULL);
  assert_int_equal(s.rep.stop, MG_PICKLE_LOADER_STOPS);
  assert_non_null(strstr(s.rep.error, "past the end"));
  mg_pickle_report_release(&s.rep);
  scan(&s,
       P(TORCH_MAGIC "\x80\x02M\xe9\x03.\x80\x02}." TORCH_DATA
                     "\x80\x02]X\x01\x00\x00\x00"
                     "1a." TORCH_STORAGE),
       NULL);
  assert_int_equal(s.rep.stop, MG_PICKLE_LOADER_STOPS);
  assert_non_null(strstr(s.rep.error, "not in the data pickle"));
  mg_pickle_report_release(&s.rep);
}

static void test_unfinished(void **state)
{
  static unsigned char deep[(1 << 21) + 2];
  struct scanned s;

  (void)state;
  /* Past the scanner's limits the scan is unfinished, never complete. */
  memset(deep, '(', sizeof(deep) - 1);
  deep[sizeof(deep) - 1] = '.';
  scan(&s, deep, sizeof(deep), NULL);
  assert_int_equal(s.rc, -1);
  assert_int_equal(s.rep.stop, MG_PICKLE_UNFINISHED);
  assert_int_equal(s.err.cat, MG_ERR_DATA);
  mg_pickle_report_release(&s.rep);
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
    cmocka_unit_test(test_zip_timestamp_probe),
    cmocka_unit_test(test_global_os_system),
    cmocka_unit_test(test_stack_global_through_memo),
    cmocka_unit_test(test_memoize_after_put_shifts_index),
    cmocka_unit_test(test_non_string_operand),
    cmocka_unit_test(test_ext_and_calls),
    cmocka_unit_test(test_inst_and_obj),
    cmocka_unit_test(test_extra_allowlist),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_stacked),
    cmocka_unit_test(test_probe),
    cmocka_unit_test(test_first_opcode_any),
    cmocka_unit_test(test_memo_keys_int_syntax),
    cmocka_unit_test(test_int_and_long_syntax),
    cmocka_unit_test(test_float_syntax),
    cmocka_unit_test(test_string_escapes),
    cmocka_unit_test(test_unicode_backslash_runs),
    cmocka_unit_test(test_loader_errors_end_the_load),
    cmocka_unit_test(test_python2_names),
    cmocka_unit_test(test_stream_no_limit),
    cmocka_unit_test(test_stream_rules),
    cmocka_unit_test(test_torch_legacy),
    cmocka_unit_test(test_unfinished),
    cmocka_unit_test(test_default_allowlist),
    cmocka_unit_test(test_joblib_array_skipped),
    cmocka_unit_test(test_joblib_refusals),
    cmocka_unit_test(test_joblib_identity),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Finding a tokenizer by path or Hugging Face Hub id: the path, the HF
 * cache (built here in the huggingface_hub layout: blobs, snapshot
 * symlinks, refs/main), mirror directories, and mg_tok_proc_resolve's
 * server probe against a real mock-llm on loopback (skipped when it is not
 * built).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_io.h"
#include "mg_mem.h"
#include "tok/mg_tok.h"
#include "tok/mg_tok_find.h"
#include "tok/mg_tok_proc.h"

#define ID "ibm-granite/granite-3.3-8b-instruct"
#define REPO "models--ibm-granite--granite-3.3-8b-instruct"
#define C1 "0123456789abcdef0123456789abcdef01234567"
#define C2 "89abcdef0123456789abcdef0123456789abcdef"

static const char *const vars[] = {
  "TRANSFORMERS_CACHE",
  "PYTORCH_TRANSFORMERS_CACHE",
  "PYTORCH_PRETRAINED_BERT_CACHE",
  "HF_HUB_CACHE",
  "HUGGINGFACE_HUB_CACHE",
  "HF_HOME",
  "XDG_CACHE_HOME",
  "HOME",
  "MG_TOKENIZERS",
};

static char *gpt2_json(void)
{
  const char *sh = getenv("MG_SHARED");
  const char *top = getenv("MG_TOP");

  if (sh && *sh)
    return mg_xasprintf("%s/data/tokenizers/gpt2/tokenizer.json", sh);
  return mg_xasprintf("%s/../shared/data/tokenizers/gpt2/tokenizer.json",
                      top && *top ? top : ".");
}

static char *root;

static char *at(const char *rel)
{
  return mg_xasprintf("%s/%s", root, rel);
}

static void mkdirs(const char *rel)
{
  struct mg_err err = MG_ERR_INIT;
  char *p = at(rel);

  assert_int_equal(mg_io_mkdirs(p, &err), 0);
  free(p);
}

static void put(const char *rel, const char *s)
{
  struct mg_err err = MG_ERR_INIT;
  char *p = at(rel);

  assert_int_equal(mg_io_write_atomic(p, s, strlen(s), 0644, &err), 0);
  free(p);
}

static void link_to(const char *target, const char *rel)
{
  char *p = at(rel);

  unlink(p);
  assert_int_equal(symlink(target, p), 0);
  free(p);
}

/* A cache repository in huggingface_hub's layout under rel: the blob is
 * the real gpt2 tokenizer.json, the snapshot holds a relative symlink. */
static void make_repo(const char *rel, const char *commit, int with_ref)
{
  char *gpt2 = gpt2_json(), *d, *blob, *snap;

  d = mg_xasprintf("%s/blobs", rel);
  mkdirs(d);
  blob = mg_xasprintf("%s/blobs/cda20b8ca044949aa07ac4078420c80d", rel);
  link_to(gpt2, blob);
  free(d);
  d = mg_xasprintf("%s/snapshots/%s", rel, commit);
  mkdirs(d);
  snap = mg_xasprintf("%s/tokenizer.json", d);
  link_to("../../blobs/cda20b8ca044949aa07ac4078420c80d", snap);
  free(snap);
  snap = mg_xasprintf("%s/tokenizer_config.json", d);
  put(snap, "{\"clean_up_tokenization_spaces\": true}");
  free(snap);
  free(d);
  if (with_ref) {
    d = mg_xasprintf("%s/refs", rel);
    mkdirs(d);
    free(d);
    d = mg_xasprintf("%s/refs/main", rel);
    put(d, commit); /* no newline, as huggingface_hub writes it */
    free(d);
  }
  free(blob);
  free(gpt2);
}

static int setup(void **state)
{
  const char *b = getenv("MG_BUILD");
  char *cmd;

  (void)state;
  root = mg_xasprintf("%s/trash/test_mg_tok_find", b && *b ? b : "/tmp");
  cmd = mg_xasprintf("rm -rf '%s'", root);
  if (system(cmd) != 0)
    return -1;
  free(cmd);
  for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++)
    unsetenv(vars[i]);
  return 0;
}

static int teardown(void **state)
{
  (void)state;
  free(root);
  return 0;
}

/* Looks id up and checks where it was found. */
static void expect(const char *name, const char *mirrors,
                   enum mg_tok_find_how how, const char *rel_path)
{
  struct mg_tok_find w = MG_TOK_FIND_INIT;
  struct mg_err err = MG_ERR_INIT;
  int rc = mg_tok_find(name, NULL, mirrors, &w, &err);

  if (w.found != how)
    fail_msg("%s: found %s, want %s (tried: %s)", name,
             mg_tok_find_how_name(w.found), mg_tok_find_how_name(how), w.tried);
  assert_int_equal(rc, how == MG_TOK_FIND_NONE ? 1 : 0);
  assert_non_null(w.tried);
  if (rel_path) {
    char *want = at(rel_path);

    assert_string_equal(w.path, want);
    free(want);
  } else {
    assert_null(w.path);
  }
  mg_tok_find_release(&w);
}

static void test_hub_id_shape(void **state)
{
  (void)state;
  assert_true(mg_tok_find_is_hub_id(ID));
  assert_true(mg_tok_find_is_hub_id("gpt2"));
  assert_true(mg_tok_find_is_hub_id("org/model_v1.5"));
  assert_false(mg_tok_find_is_hub_id("/abs/dir"));
  assert_false(mg_tok_find_is_hub_id("./rel"));
  assert_false(mg_tok_find_is_hub_id("a/b/c"));
  assert_false(mg_tok_find_is_hub_id("a--b/c"));
  assert_false(mg_tok_find_is_hub_id("a/../b"));
  assert_false(mg_tok_find_is_hub_id("a/"));
  assert_false(mg_tok_find_is_hub_id("a b/c"));
  assert_false(mg_tok_find_is_hub_id(""));
}

static void test_cache_root(void **state)
{
  char *d;

  (void)state;
  setenv("HOME", "/home/u", 1);
  d = mg_tok_find_cache_dir();
  assert_string_equal(d, "/home/u/.cache/huggingface/hub");
  free(d);
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  d = mg_tok_find_cache_dir();
  assert_string_equal(d, "/xdg/huggingface/hub");
  free(d);
  setenv("HF_HOME", "~/hf", 1);
  d = mg_tok_find_cache_dir();
  assert_string_equal(d, "/home/u/hf/hub");
  free(d);
  setenv("HUGGINGFACE_HUB_CACHE", "/legacy", 1);
  d = mg_tok_find_cache_dir();
  assert_string_equal(d, "/legacy");
  free(d);
  setenv("HF_HUB_CACHE", "/hubcache", 1);
  d = mg_tok_find_cache_dir();
  assert_string_equal(d, "/hubcache");
  free(d);
  /* transformers 4.x: TRANSFORMERS_CACHE wins over the hub's own */
  setenv("PYTORCH_PRETRAINED_BERT_CACHE", "/bert", 1);
  d = mg_tok_find_cache_dir();
  assert_string_equal(d, "/bert");
  free(d);
  setenv("TRANSFORMERS_CACHE", "/tc", 1);
  d = mg_tok_find_cache_dir();
  assert_string_equal(d, "/tc");
  free(d);
  setenv("HF_HUB_CACHE", "", 1); /* empty counts as unset */
  unsetenv("TRANSFORMERS_CACHE");
  unsetenv("PYTORCH_PRETRAINED_BERT_CACHE");
  d = mg_tok_find_cache_dir();
  assert_string_equal(d, "/legacy");
  free(d);
  for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++)
    unsetenv(vars[i]);
}

static void test_order(void **state)
{
  char *hf, *m1, *m2, *mirrors, *gpt2 = gpt2_json(), *p;

  (void)state;
  hf = at("hf");
  m1 = at("m1");
  m2 = at("m2");
  mirrors = mg_xasprintf("%s:%s", m1, m2);

  /* nothing anywhere */
  setenv("HF_HOME", hf, 1);
  expect(ID, mirrors, MG_TOK_FIND_NONE, NULL);
  /* a mirror in the cache layout (the second directory) */
  make_repo("m2/" REPO, C2, 1);
  expect(ID, mirrors, MG_TOK_FIND_MIRROR, "m2/" REPO "/snapshots/" C2);
  /* a mirror as DIR/ORG/NAME comes first (the first directory) */
  mkdirs("m1/" ID);
  link_to(gpt2, "m1/" ID "/tokenizer.json");
  expect(ID, mirrors, MG_TOK_FIND_MIRROR, "m1/" ID);
  /* the cache beats the mirrors */
  make_repo("hf/hub/" REPO, C1, 1);
  expect(ID, mirrors, MG_TOK_FIND_HF_CACHE, "hf/hub/" REPO "/snapshots/" C1);
  /* refs/main decides between snapshots; a trailing newline is fine */
  make_repo("hf/hub/" REPO, C2, 0);
  expect(ID, mirrors, MG_TOK_FIND_HF_CACHE, "hf/hub/" REPO "/snapshots/" C1);
  put("hf/hub/" REPO "/refs/main", C2 "\n");
  expect(ID, mirrors, MG_TOK_FIND_HF_CACHE, "hf/hub/" REPO "/snapshots/" C2);
  /* without refs/main, two snapshots are ambiguous: on to the mirrors */
  p = at("hf/hub/" REPO "/refs/main");
  unlink(p);
  free(p);
  expect(ID, mirrors, MG_TOK_FIND_MIRROR, "m1/" ID);
  {
    struct mg_tok_find w = MG_TOK_FIND_INIT;
    struct mg_err err = MG_ERR_INIT;

    assert_int_equal(mg_tok_find(ID, NULL, NULL, &w, &err), 1);
    assert_non_null(strstr(w.tried, "holds 2 snapshots"));
    mg_tok_find_release(&w);
    /* a commit hash as revision names its snapshot */
    assert_int_equal(mg_tok_find(ID, C2, NULL, &w, &err), 0);
    assert_int_equal(w.found, MG_TOK_FIND_HF_CACHE);
    assert_non_null(strstr(w.path, C2));
    mg_tok_find_release(&w);
  }
  /* a snapshot without tokenizer.json does not count */
  put("hf/hub/" REPO "/refs/main", C1);
  p = at("hf/hub/" REPO "/snapshots/" C1 "/tokenizer.json");
  unlink(p);
  free(p);
  expect(ID, mirrors, MG_TOK_FIND_MIRROR, "m1/" ID);
  /* HF_HUB_CACHE is the cache root itself */
  make_repo("hub2/" REPO, C1, 1);
  p = at("hub2");
  setenv("HF_HUB_CACHE", p, 1);
  free(p);
  expect(ID, NULL, MG_TOK_FIND_HF_CACHE, "hub2/" REPO "/snapshots/" C1);
  unsetenv("HF_HUB_CACHE");
  /* a path is a path: a directory with tokenizer.json, or the file */
  p = at("m1/" ID);
  expect(p, NULL, MG_TOK_FIND_PATH, "m1/" ID);
  free(p);
  p = at("m1/" ID "/tokenizer.json");
  expect(p, NULL, MG_TOK_FIND_PATH, "m1/" ID "/tokenizer.json");
  free(p);
  /* a missing absolute path is not looked up anywhere else */
  expect("/no/such/tokenizer", mirrors, MG_TOK_FIND_NONE, NULL);
  {
    struct mg_tok_find w = MG_TOK_FIND_INIT;
    struct mg_err err = MG_ERR_INIT;

    assert_int_equal(mg_tok_find("", NULL, NULL, &w, &err), -1);
    assert_int_equal(err.cat, MG_ERR_USAGE);
  }
  unsetenv("HF_HOME");
  free(hf);
  free(m1);
  free(m2);
  free(mirrors);
  free(gpt2);
}

/* ---- mg_tok_proc_resolve: loads, and probes the server ---- */

static pid_t mock_pid;
static char mock_url[64];

static void start_mock(void)
{
  const char *b = getenv("MG_BUILD");
  char *bin = mg_xasprintf("%s/bin/mock-llm", b && *b ? b : "build");
  char *pf = at("mock.port");
  struct mg_err err = MG_ERR_INIT;

  mock_url[0] = '\0';
  unlink(pf);
  if (access(bin, X_OK) != 0) {
    free(bin);
    free(pf);
    return;
  }
  mock_pid = fork();
  if (mock_pid == 0) {
    execl(bin, "mock-llm", "--host", "127.0.0.1", "--port", "0", "--port-file",
          pf, "-q", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200; i++) {
    struct mg_buf port = MG_BUF_INIT(64);

    if (mg_io_read_file(pf, &port, &err) == 0 && port.len > 0) {
      size_t n = strcspn(port.data, "\r\n");

      snprintf(mock_url, sizeof(mock_url), "http://127.0.0.1:%.*s", (int)n,
               port.data);
      mg_buf_release(&port);
      break;
    }
    mg_buf_release(&port);
    usleep(50000);
  }
  free(bin);
  free(pf);
}

static void test_resolve(void **state)
{
  struct mg_tok_resolve_opts o;
  struct mg_tok_find w = MG_TOK_FIND_INIT;
  struct mg_tok_proc *p = NULL;
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;
  struct mg_err err = MG_ERR_INIT;
  char *hf = at("hf2"), *url;

  (void)state;
  memset(&o, 0, sizeof(o));
  setenv("HF_HOME", hf, 1);
  make_repo("hf2/hub/" REPO, C1, 1);
  /* found in the cache and loaded: gpt2's ids */
  assert_int_equal(mg_tok_proc_resolve(ID, &o, &p, &w, &err), 0);
  assert_int_equal(w.found, MG_TOK_FIND_HF_CACHE);
  assert_false(mg_tok_proc_is_remote(p));
  assert_int_equal(mg_tok_proc_encode(p, "Hello world", 11, 0, &e, &err), 0);
  assert_int_equal(e.n, 2);
  assert_int_equal(e.ids[0], 15496);
  assert_int_equal(e.ids[1], 995);
  mg_tok_proc_free(p);
  mg_tok_find_release(&w);
  /* located only */
  assert_int_equal(mg_tok_proc_resolve(ID, &o, NULL, &w, &err), 0);
  assert_int_equal(w.found, MG_TOK_FIND_HF_CACHE);
  mg_tok_find_release(&w);
  /* a broken tokenizer.json that was found is an error, not a fallback */
  mkdirs("bad");
  put("bad/tokenizer.json", "{\"model\": 1}");
  {
    char *bad = at("bad");

    assert_int_equal(mg_tok_proc_resolve(bad, &o, &p, &w, &err), -1);
    assert_int_equal(err.cat, MG_ERR_DATA);
    assert_null(p);
    mg_tok_find_release(&w);
    free(bad);
  }
  /* nothing local, no server: 1 */
  assert_int_equal(mg_tok_proc_resolve("org/missing", &o, &p, &w, &err), 1);
  assert_int_equal(w.found, MG_TOK_FIND_NONE);
  assert_null(p);
  mg_tok_find_release(&w);
  /* a server that is not there: 1, and it says so */
  o.server_url = "http://127.0.0.1:1/v1/completions";
  assert_int_equal(mg_tok_proc_resolve("org/missing", &o, &p, &w, &err), 1);
  assert_non_null(strstr(w.tried, "the server does not tokenize"));
  mg_tok_find_release(&w);
  start_mock();
  if (mock_url[0]) {
    /* a server that tokenizes: remote */
    url = mg_xasprintf("%s/v1/completions", mock_url);
    o.server_url = url;
    assert_int_equal(mg_tok_proc_resolve("org/missing", &o, &p, &w, &err), 0);
    assert_int_equal(w.found, MG_TOK_FIND_SERVER);
    assert_true(mg_tok_proc_is_remote(p));
    assert_int_equal(mg_tok_proc_encode(p, "abc", 3, 0, &e, &err), 0);
    assert_true(e.n > 0);
    mg_tok_proc_free(p);
    mg_tok_find_release(&w);
    /* the local copy still comes first */
    assert_int_equal(mg_tok_proc_resolve(ID, &o, &p, &w, &err), 0);
    assert_int_equal(w.found, MG_TOK_FIND_HF_CACHE);
    mg_tok_proc_free(p);
    mg_tok_find_release(&w);
    /* a 404 /tokenize is "does not tokenize" */
    free(url);
    url = mg_xasprintf("%s/nope/v1", mock_url);
    o.server_url = url;
    assert_int_equal(mg_tok_proc_resolve("org/missing", &o, &p, &w, &err), 1);
    assert_non_null(strstr(w.tried, "HTTP 404"));
    mg_tok_find_release(&w);
    free(url);
    kill(mock_pid, SIGTERM);
    waitpid(mock_pid, NULL, 0);
  }
  mg_tok_encoding_release(&e);
  unsetenv("HF_HOME");
  free(hf);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_hub_id_shape),
    cmocka_unit_test(test_cache_root),
    cmocka_unit_test(test_order),
    cmocka_unit_test(test_resolve),
  };
  struct mg_err err = MG_ERR_INIT;
  int rc;

  if (mg_http_global_init(&err))
    return 1;
  rc = cmocka_run_group_tests(tests, setup, teardown);
  mg_http_global_cleanup();
  return rc;
}

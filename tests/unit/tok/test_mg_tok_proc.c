/*
 * Processors: exact-length synthetic prompts on every shared tokenizer,
 * the tokenize / detokenize command-line face, and the endpoint fallback
 * against a real mock-llm on loopback (skipped when it is not built).
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
#include "mg_json.h"
#include "mg_mem.h"
#include "tok/mg_tok.h"
#include "tok/mg_tok_proc.h"

static const char *const names[] = {
  "gpt2",  "phi-2",      "falcon",           "smollm-135m",
  "llama", "phi-3-mini", "bert-base-uncased"
};

static char *tok_dir(const char *name)
{
  const char *sh = getenv("MG_SHARED");
  const char *top = getenv("MG_TOP");

  if (sh && *sh)
    return mg_xasprintf("%s/data/tokenizers/%s", sh, name);
  return mg_xasprintf("%s/../shared/data/tokenizers/%s",
                      top && *top ? top : ".", name);
}

static struct mg_tok_proc *open_proc(const char *processor)
{
  struct mg_tok_proc *p = NULL;
  struct mg_err err = MG_ERR_INIT;

  if (mg_tok_proc_open(processor, NULL, NULL, NULL, &p, &err))
    fail_msg("%s", err.msg);
  return p;
}

/* Builds a prompt of n tokens and checks its count with the processor. */
static void check_prompt(struct mg_tok_proc *p, size_t n, uint64_t seed,
                         uint64_t id, int add, struct mg_buf *out)
{
  struct mg_err err = MG_ERR_INIT;
  size_t got;

  mg_buf_reset(out);
  if (mg_tok_proc_prompt(p, n, seed, id, add, out, &err))
    fail_msg("prompt of %zu tokens: %s", n, err.msg);
  assert_int_equal(mg_tok_proc_count(p, out->data ? out->data : "", out->len,
                                     add, &got, &err),
                   0);
  if (got != n)
    fail_msg("prompt of %zu tokens has %zu: '%.80s'", n, got, out->data);
}

static void test_prompt_lengths(void **state)
{
  static const size_t lengths[] = { 1, 2, 3, 7, 31, 128, 800, 2048 };
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t checked = 0;

  (void)state;
  for (size_t k = 0; k < sizeof(names) / sizeof(*names); k++) {
    char *dir = tok_dir(names[k]);
    struct mg_tok_proc *p = open_proc(dir);

    for (size_t i = 0; i < sizeof(lengths) / sizeof(*lengths); i++)
      for (int add = 0; add < 2; add++)
        for (uint64_t id = 0; id < 300; id += 149) {
          struct mg_err err = MG_ERR_INIT;
          size_t extra;

          /* fewer tokens than the special ones alone cannot be made */
          assert_int_equal(mg_tok_proc_count(p, "", 0, add, &extra, &err), 0);
          if (lengths[i] < extra) {
            assert_int_equal(
                mg_tok_proc_prompt(p, lengths[i], 1, id, add, &b, &err), -1);
            assert_int_equal(err.cat, MG_ERR_DATA);
            continue;
          }
          check_prompt(p, lengths[i], 42 + i, id, add, &b);
          checked++;
        }
    mg_tok_proc_free(p);
    free(dir);
  }
  print_message("# %zu prompts of exact length\n", checked);
  mg_buf_release(&b);
}

static void test_prompt_properties(void **state)
{
  char *dir = tok_dir("llama");
  struct mg_tok_proc *p = open_proc(dir);
  struct mg_buf a = MG_BUF_INIT(1 << 20), b = MG_BUF_INIT(1 << 20);
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  /* deterministic */
  check_prompt(p, 200, 7, 1, 0, &a);
  check_prompt(p, 200, 7, 1, 0, &b);
  assert_int_equal(a.len, b.len);
  assert_memory_equal(a.data, b.data, a.len);
  /* a unique prefix per id */
  check_prompt(p, 200, 7, 2, 0, &b);
  assert_true(strncmp(a.data, "time ", 5) == 0);
  assert_true(strncmp(b.data, "people ", 7) == 0);
  /* with <s> counted, one token is only the <s>: the text is empty */
  check_prompt(p, 1, 7, 1, 1, &a);
  assert_int_equal(a.len, 0);
  /* zero tokens cannot hold the <s> */
  mg_buf_reset(&a);
  assert_int_equal(mg_tok_proc_prompt(p, 0, 7, 1, 1, &a, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_int_equal(a.len, 0);
  mg_buf_release(&a);
  mg_buf_release(&b);
  mg_tok_proc_free(p);
  free(dir);
}

static char *scratch(const char *name)
{
  const char *b = getenv("MG_BUILD");
  char *dir = mg_xasprintf("%s/trash/test_mg_tokproc", b && *b ? b : "/tmp");
  struct mg_err err = MG_ERR_INIT;
  char *p;

  assert_int_equal(mg_io_mkdirs(dir, &err), 0);
  p = mg_xasprintf("%s/%s", dir, name);
  free(dir);
  return p;
}

static void write_file(const char *path, const char *s)
{
  struct mg_err err = MG_ERR_INIT;

  assert_int_equal(mg_io_write_atomic(path, s, strlen(s), 0644, &err), 0);
}

static char *read_all(const char *path)
{
  struct mg_buf b = MG_BUF_INIT(1 << 24);
  struct mg_err err = MG_ERR_INIT;

  assert_int_equal(mg_io_read_file(path, &b, &err), 0);
  return mg_buf_detach(&b, NULL);
}

static void test_cli(void **state)
{
  char *dir = tok_dir("llama");
  char *in = scratch("in.txt"), *ids = scratch("ids.json");
  char *back = scratch("back.txt"), *bad = scratch("bad.json");
  struct mg_err err = MG_ERR_INIT;
  char *s;

  (void)state;
  write_file(in, "Hello world");
  assert_int_equal(mg_tok_proc_cli(dir, NULL, 0, 1, in, ids, &err), 0);
  s = read_all(ids);
  assert_string_equal(s, "{\"ids\":[1,15043,3186],\"count\":3}\n");
  free(s);
  assert_int_equal(mg_tok_proc_cli(dir, NULL, 1, 0, ids, back, &err), 0);
  s = read_all(back);
  assert_string_equal(s, "<s> Hello world");
  free(s);
  write_file(bad, "[15043, 3186]");
  assert_int_equal(mg_tok_proc_cli(dir, NULL, 1, 0, bad, back, &err), 0);
  s = read_all(back);
  assert_string_equal(s, "Hello world");
  free(s);

  /* failures leave the output alone */
  write_file(bad, "{\"ids\": [1, -2]}");
  assert_int_equal(mg_tok_proc_cli(dir, NULL, 1, 0, bad, back, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  write_file(bad, "{\"ids\": [1,");
  assert_int_equal(mg_tok_proc_cli(dir, NULL, 1, 0, bad, back, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  write_file(bad, "\xff\xfe");
  assert_int_equal(mg_tok_proc_cli(dir, NULL, 0, 0, bad, back, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "not valid UTF-8"));
  s = read_all(back);
  assert_string_equal(s, "Hello world");
  free(s);
  assert_int_equal(
      mg_tok_proc_cli(dir, NULL, 0, 0, "/nonexistent/in", back, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  assert_int_equal(
      mg_tok_proc_cli("/nonexistent/model", NULL, 0, 0, in, back, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  assert_int_equal(mg_tok_proc_cli("server", NULL, 0, 0, in, back, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  free(in);
  free(ids);
  free(back);
  free(bad);
  free(dir);
}

/* ---- the endpoint, against mock-llm ---- */

struct mock {
  pid_t pid;
  char url[64];
};

static int start_mock(void **state)
{
  const char *b = getenv("MG_BUILD");
  char *bin = mg_xasprintf("%s/bin/mock-llm", b && *b ? b : "build");
  char *pf = scratch("mock.port");
  struct mock *m = mg_xcalloc(1, sizeof(*m));
  struct mg_err err = MG_ERR_INIT;

  *state = m;
  unlink(pf);
  if (access(bin, X_OK) != 0 || mg_http_global_init(&err)) {
    free(bin);
    free(pf);
    return 0;
  }
  m->pid = fork();
  if (m->pid == 0) {
    execl(bin, "mock-llm", "--host", "127.0.0.1", "--port", "0", "--port-file",
          pf, "-q", (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 200; i++) {
    struct mg_buf port = MG_BUF_INIT(64);
    if (mg_io_read_file(pf, &port, &err) == 0 && port.len > 0) {
      size_t n = strcspn(port.data, "\r\n");
      snprintf(m->url, sizeof(m->url), "http://127.0.0.1:%.*s", (int)n,
               port.data);
      mg_buf_release(&port);
      break;
    }
    mg_buf_release(&port);
    usleep(50000);
  }
  free(bin);
  free(pf);
  return 0;
}

static int stop_mock(void **state)
{
  struct mock *m = *state;

  if (m->pid > 0) {
    kill(m->pid, SIGTERM);
    waitpid(m->pid, NULL, 0);
  }
  free(m);
  mg_http_global_cleanup();
  return 0;
}

static void test_remote(void **state)
{
  struct mock *m = *state;
  struct mg_tok_proc *p = NULL;
  struct mg_err err = MG_ERR_INIT;
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;
  struct mg_buf b = MG_BUF_INIT(1 << 20);
  char *url;

  if (!m->url[0])
    skip();
  /* an OpenAI-style base URL works too */
  url = mg_xasprintf("%s/v1", m->url);
  p = open_proc(url);
  assert_true(mg_tok_proc_is_remote(p));
  assert_int_equal(
      mg_tok_proc_encode(p, "Hello world, hello tokens", 25, 0, &e, &err), 0);
  assert_true(e.n > 0);
  assert_int_equal(mg_tok_proc_decode(p, e.ids, e.n, 0, &b, &err), 0);
  assert_string_equal(b.data, "Hello world, hello tokens");
  for (size_t n = 1; n <= 300; n = n * 3 + 1)
    check_prompt(p, n, 5, n, 0, &b);
  mg_tok_proc_free(p);
  free(url);

  /* "server" means the target URL */
  assert_int_equal(mg_tok_proc_open("server", m->url, NULL, NULL, &p, &err), 0);
  assert_int_equal(mg_tok_proc_encode(p, "abc", 3, 1, &e, &err), 0);
  mg_tok_proc_free(p);

  /* errors come back as remote failures */
  url = mg_xasprintf("%s/nope", m->url);
  p = open_proc(url);
  assert_int_equal(mg_tok_proc_encode(p, "abc", 3, 0, &e, &err), -1);
  assert_int_equal(err.cat, MG_ERR_REMOTE);
  assert_non_null(strstr(err.msg, "HTTP 404"));
  mg_tok_proc_free(p);
  free(url);
  mg_buf_release(&b);
  mg_tok_encoding_release(&e);
}

static void test_remote_down(void **state)
{
  struct mg_http_opts o;
  struct mg_tok_proc *p = NULL;
  struct mg_err err = MG_ERR_INIT;
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;

  (void)state;
  mg_http_opts_init(&o);
  o.retries = 0;
  o.connect_timeout_ms = 2000;
  /* port 1 on loopback: nothing listens */
  assert_int_equal(
      mg_tok_proc_open("http://127.0.0.1:1", NULL, NULL, &o, &p, &err), 0);
  assert_int_equal(mg_tok_proc_encode(p, "abc", 3, 0, &e, &err), -1);
  assert_int_equal(err.cat, MG_ERR_REMOTE);
  assert_non_null(strstr(err.msg, "127.0.0.1:1"));
  mg_tok_proc_free(p);
  mg_tok_encoding_release(&e);
  assert_int_equal(mg_tok_proc_open("ftp://x", NULL, NULL, NULL, &p, &err), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_prompt_lengths),
    cmocka_unit_test(test_prompt_properties),
    cmocka_unit_test(test_cli),
    cmocka_unit_test_setup_teardown(test_remote, start_mock, stop_mock),
    cmocka_unit_test(test_remote_down),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * tokenizer bench: load time, memory and single-thread encode throughput
 * of each shared tokenizer on a corpus built from the golden texts.
 *
 *   tokenizer-bench SHARED_DIR CORPUS_OUT [MB]
 *
 * Writes the corpus (one JSON string per line, one document each) to
 * CORPUS_OUT so that the reference can be timed on the same documents,
 * then prints one line per tokenizer. Each tokenizer is measured in its
 * own process, so peak RSS is its own.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_time.h"
#include "tok/mg_tok.h"

static const char *const names[] = {
  "gpt2",  "phi-2",      "falcon",           "smollm-135m",
  "llama", "phi-3-mini", "bert-base-uncased"
};

struct texts {
  char **s;
  size_t *n;
  size_t count, cap;
};

static void add_text(struct texts *t, const char *s, size_t n)
{
  for (size_t i = 0; i < t->count; i++)
    if (t->n[i] == n && !memcmp(t->s[i], s, n))
      return;
  if (t->count == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 512;
    t->s = mg_xreallocarray(t->s, t->cap, sizeof(*t->s));
    t->n = mg_xreallocarray(t->n, t->cap, sizeof(*t->n));
  }
  t->s[t->count] = mg_xstrndup(s, n);
  t->n[t->count++] = n;
}

static void read_golden(const char *shared, struct texts *t)
{
  struct mg_err err = MG_ERR_INIT;

  for (size_t k = 0; k < sizeof(names) / sizeof(*names); k++) {
    char *path =
        mg_xasprintf("%s/data/tokenizers/%s/golden.jsonl", shared, names[k]);
    struct mg_buf b = MG_BUF_INIT(64 << 20);
    char *p, *end;

    if (mg_io_read_file(path, &b, &err)) {
      fprintf(stderr, "%s\n", err.msg);
      exit(1);
    }
    for (p = b.data, end = b.data + b.len; p < end;) {
      char *nl = memchr(p, '\n', (size_t)(end - p));
      size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
      struct mg_json *g;

      if (n && mg_json_parse(p, n, path, &g, &err) == 0) {
        const struct mg_json *s = mg_json_get(g, "text");
        if (mg_json_string_len(s))
          add_text(t, mg_json_string(s), mg_json_string_len(s));
        mg_json_free(g);
      }
      p += n + 1;
    }
    mg_buf_release(&b);
    free(path);
  }
}

/* Documents of about 2 KB: golden texts in a seeded random order. */
static void build_corpus(const struct texts *t, size_t target,
                         struct mg_buf *docs, size_t **off, size_t *ndocs)
{
  uint64_t x = 0x2545F4914F6CDD1DULL;
  size_t cap = 0;

  *ndocs = 0;
  *off = NULL;
  while (docs->len < target) {
    size_t start = docs->len;

    while (docs->len - start < 2048) {
      size_t i;

      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      i = (size_t)(x % t->count);
      if (docs->len > start)
        mg_buf_addch(docs, '\n', NULL);
      mg_buf_add(docs, t->s[i], t->n[i], NULL);
    }
    if (*ndocs + 2 > cap) {
      cap = cap ? cap * 2 : 1024;
      *off = mg_xreallocarray(*off, cap, sizeof(**off));
    }
    (*off)[(*ndocs)++] = start;
    (*off)[*ndocs] = docs->len;
  }
}

static void write_corpus(const char *path, const struct mg_buf *docs,
                         const size_t *off, size_t ndocs)
{
  struct mg_buf out = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_err err = MG_ERR_INIT;

  for (size_t i = 0; i < ndocs; i++) {
    mg_json_quote(&out, docs->data + off[i], off[i + 1] - off[i], &err);
    mg_buf_addch(&out, '\n', &err);
  }
  if (mg_io_write_atomic(path, out.data, out.len, 0644, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    exit(1);
  }
  mg_buf_release(&out);
}

static long maxrss_kb(void)
{
  struct rusage ru;

  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static void measure(const char *shared, const char *name,
                    const struct mg_buf *docs, const size_t *off, size_t ndocs)
{
  char *dir = mg_xasprintf("%s/data/tokenizers/%s", shared, name);
  struct mg_err err = MG_ERR_INIT;
  struct mg_tok *t = NULL;
  struct mg_tok_encoding e = MG_TOK_ENCODING_INIT;
  long rss0 = maxrss_kb();
  size_t heap0 = mallinfo2().uordblks, heap;
  long long t0, t1, best_load = -1, best_enc = -1;
  size_t tokens = 0;

  /* load three times, keep the fastest (page cache warm) */
  for (int r = 0; r < 3; r++) {
    mg_tok_free(t);
    t0 = mg_time_now_ns();
    if (mg_tok_load(dir, 0, &t, &err)) {
      fprintf(stderr, "%s\n", err.msg);
      exit(1);
    }
    t1 = mg_time_now_ns();
    if (best_load < 0 || t1 - t0 < best_load)
      best_load = t1 - t0;
  }
  heap = mallinfo2().uordblks - heap0;
  for (int r = 0; r < 3; r++) {
    tokens = 0;
    t0 = mg_time_now_ns();
    for (size_t i = 0; i < ndocs; i++) {
      if (mg_tok_encode(t, docs->data + off[i], off[i + 1] - off[i], 0, &e,
                        &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
      }
      tokens += e.n;
    }
    t1 = mg_time_now_ns();
    if (best_enc < 0 || t1 - t0 < best_enc)
      best_enc = t1 - t0;
  }
  printf("%-18s %8.1f %8.2f %8.1f %9.1f %10.2fM %10zu\n", name, best_load / 1e6,
         heap / 1048576.0, (maxrss_kb() - rss0) / 1024.0,
         docs->len / 1048576.0 / (best_enc / 1e9),
         tokens / 1e6 / (best_enc / 1e9), tokens);
  mg_tok_encoding_release(&e);
  mg_tok_free(t);
  free(dir);
}

int main(int argc, char **argv)
{
  struct texts t = { 0 };
  struct mg_buf docs = MG_BUF_INIT(MG_BUF_UNLIMITED);
  size_t *off, ndocs, mb = argc > 3 ? strtoul(argv[3], NULL, 10) : 10;

  if (argc < 3) {
    fprintf(stderr, "usage: tokenizer-bench SHARED_DIR CORPUS_OUT [MB]\n");
    return 2;
  }
  read_golden(argv[1], &t);
  build_corpus(&t, mb << 20, &docs, &off, &ndocs);
  write_corpus(argv[2], &docs, off, ndocs);
  printf("corpus: %.1f MB in %zu documents of ~2 KB, from %zu distinct "
         "golden texts\n",
         docs.len / 1048576.0, ndocs, t.count);
  printf("%-18s %8s %8s %8s %9s %11s %10s\n", "tokenizer", "load_ms", "heap_MB",
         "rss_MB", "enc_MB/s", "tokens/s", "tokens");
  fflush(stdout);
  for (size_t k = 0; k < sizeof(names) / sizeof(*names); k++) {
    pid_t pid = fork();
    int st;

    if (pid == 0) {
      measure(argv[1], names[k], &docs, off, ndocs);
      fflush(stdout);
      _exit(0);
    }
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      return 1;
  }
  for (size_t i = 0; i < t.count; i++)
    free(t.s[i]);
  free(t.s);
  free(t.n);
  free(off);
  mg_buf_release(&docs);
  return 0;
}

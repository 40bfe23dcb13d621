/*
 * libFuzzer harness for mg_http1, the HTTP/1.1 response reader that the
 * raw path of mg_http's multi feeds with bytes from the network. The
 * first input byte picks how the rest is split into feeds (1..256 bytes
 * at a time) and whether the request was a HEAD; the connection then
 * ends. Build: clang -fsanitize=fuzzer,address,undefined -Ilib
 *   -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE fuzz/fuzz_mg_http1.c
 *   lib/mg_http1.c lib/mg_buf.c lib/mg_err.c lib/mg_mem.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg_err.h"
#include "mg_http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_head(void *arg, const struct mg_http1_resp *r)
{
  char *v = mg_http1_resp_header(r, "content-type");
  (void)arg;
  free(v);
}

static int on_body(void *arg, const char *p, size_t n)
{
  size_t *total = arg;
  (void)p;
  *total += n;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct mg_http1_resp r;
  struct mg_err err = MG_ERR_INIT;
  size_t step, i = 1, total = 0;

  if (size < 1)
    return 0;
  step = (size_t)(data[0] & 0x7f) * 2 + 1;
  mg_http1_resp_init(&r, data[0] >> 7);
  while (i < size) {
    size_t k = size - i < step ? size - i : step;
    if (mg_http1_resp_feed(&r, (const char *)data + i, k, on_head, on_body,
                           &total, &err)
        < 0)
      break;
    if (r.state == MG_HTTP1_DONE) {
      mg_http1_resp_reset(&r, 0);
    }
    i += k;
  }
  if (i >= size)
    (void)mg_http1_resp_eof(&r, &err);
  mg_http1_resp_release(&r);
  return 0;
}

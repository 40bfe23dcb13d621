#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch/mg_oci.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_io.h"
#include "mg_json.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_parse(void **state)
{
  struct mg_oci_ref r;
  struct mg_err err = MG_ERR_INIT;
  char *s;
  static const char *const bad[] = {
    "oci://host",           "oci:///repo",    "oci://h/Repo",
    "oci://h/a..b",         "oci://h/a:-tag", "oci://h/a@sha256:abc",
    ("oci://h/a@md5:" HEX), "oci://h/a_",     "oci://h/a/",
    "oci://h/a b",
  };

  (void)state;
  assert_int_equal(mg_oci_parse("oci://127.0.0.1:5000/org/m:v1", &r, &err), 0);
  assert_string_equal(r.registry, "127.0.0.1:5000");
  assert_string_equal(r.repo, "org/m");
  assert_string_equal(r.tag, "v1");
  assert_null(r.digest);
  s = mg_oci_ref_string(&r, 1);
  assert_string_equal(s, "127.0.0.1:5000/org/m:v1");
  free(s);
  mg_oci_ref_release(&r);
  assert_int_equal(mg_oci_parse("quay.io/a/b-c__d.e@sha256:" HEX, &r, &err), 0);
  assert_null(r.tag);
  assert_string_equal(r.digest, "sha256:" HEX);
  s = mg_oci_ref_string(&r, 1);
  assert_string_equal(s, "quay.io/a/b-c__d.e@sha256:" HEX);
  free(s);
  mg_oci_ref_release(&r);
  assert_int_equal(mg_oci_parse("oci://h:1/x", &r, &err), 0);
  assert_string_equal(r.tag, "latest");
  mg_oci_ref_release(&r);
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (mg_oci_parse(bad[i], &r, &err) == 0)
      fail_msg("accepted '%s'", bad[i]);
    assert_int_equal(err.cat, MG_ERR_USAGE);
  }
}

static void test_challenge(void **state)
{
  char *scheme, *realm, *service, *scope;

  (void)state;
  assert_int_equal(
      mg_oci_parse_challenge("Bearer realm=\"https://auth.docker.io/token\","
                             "service=\"registry.docker.io\",scope=\"repository"
                             ":library/busybox:pull\"",
                             &scheme, &realm, &service, &scope),
      0);
  assert_string_equal(scheme, "Bearer");
  assert_string_equal(realm, "https://auth.docker.io/token");
  assert_string_equal(service, "registry.docker.io");
  assert_string_equal(scope, "repository:library/busybox:pull");
  free(scheme);
  free(realm);
  free(service);
  free(scope);
  assert_int_equal(mg_oci_parse_challenge("Basic realm=\"Registry\"", &scheme,
                                          &realm, &service, &scope),
                   0);
  assert_string_equal(scheme, "Basic");
  assert_string_equal(realm, "Registry");
  assert_null(service);
  assert_null(scope);
  free(scheme);
  free(realm);
  assert_int_equal(
      mg_oci_parse_challenge(NULL, &scheme, &realm, &service, &scope), -1);
}

/*
 * A fake distribution-spec registry (libmicrohttpd, in process) with a
 * Bearer token service, for what the Debian registry cannot show here:
 * the token flow (401 challenge, GET realm?service=&scope= with Basic
 * credentials, retry with the token) and chunked uploads (PATCH with
 * Content-Range in order, 416 otherwise, status by GET <location>, final
 * PUT ?digest= checked against the bytes). One PATCH answer is lost (the
 * bytes are kept but 500 is returned) to make the client resynchronise.
 */
#define TOKEN "tok-for-test"
#define BASIC "Basic YWxpY2U6cHc=" /* alice:pw */

static struct MHD_Daemon *reg;
static int reg_port;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mg_buf upload; /* the one upload in progress */
static char blobs[16][80];   /* digests stored */
static int n_blobs, n_patch, n_status, n_token, lose_patch, patch_seen;
static char token_scope[256], manifest_digest[80];

struct conn {
  struct mg_buf body;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned code,
                              const char *body, const char *const *hdrs)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  enum MHD_Result ret;

  for (int i = 0; hdrs && hdrs[i]; i += 2)
    MHD_add_response_header(r, hdrs[i], hdrs[i + 1]);
  ret = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ret;
}

static void conn_done(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
  struct conn *k = *con_cls;

  (void)cls;
  (void)c;
  (void)toe;
  if (k) {
    mg_buf_release(&k->body);
    free(k);
  }
  *con_cls = NULL;
}

static int have_blob(const char *d)
{
  for (int i = 0; i < n_blobs; i++)
    if (strcmp(blobs[i], d) == 0)
      return 1;
  return 0;
}

static enum MHD_Result reg_handler(void *cls, struct MHD_Connection *c,
                                   const char *url, const char *method,
                                   const char *version, const char *data,
                                   size_t *data_size, void **con_cls)
{
  struct conn *k = *con_cls;
  const char *auth, *cr, *dg;
  char loc[128], range[64], realm[256];
  enum MHD_Result ret;

  (void)cls;
  (void)version;
  if (!k) {
    k = calloc(1, sizeof(*k));
    mg_buf_init(&k->body, 64 << 20);
    *con_cls = k;
    return MHD_YES;
  }
  if (*data_size) {
    mg_buf_add(&k->body, data, *data_size, NULL);
    *data_size = 0;
    return MHD_YES;
  }
  auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  if (strcmp(url, "/token") == 0) {
    const char *sc =
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "scope");
    pthread_mutex_lock(&reg_lock);
    n_token++;
    snprintf(token_scope, sizeof(token_scope), "%s", sc ? sc : "");
    pthread_mutex_unlock(&reg_lock);
    if (!auth || strcmp(auth, BASIC) != 0)
      return answer(c, 401, "{}", NULL);
    return answer(c, 200,
                  "{\"access_token\": \"" TOKEN "\", "
                  "\"expires_in\": 300}",
                  NULL);
  }
  snprintf(realm, sizeof(realm),
           "Bearer realm=\"http://127.0.0.1:%d/token\",service=\"fake\","
           "scope=\"repository:t/m:pull\"",
           reg_port);
  if (!auth || strcmp(auth, "Bearer " TOKEN) != 0)
    return answer(c, 401,
                  "{\"errors\":[{\"code\":\"UNAUTHORIZED\","
                  "\"message\":\"authentication required\"}]}",
                  (const char *const[]){ "WWW-Authenticate", realm, NULL });
  pthread_mutex_lock(&reg_lock);
  snprintf(loc, sizeof(loc), "/v2/t/m/blobs/uploads/u1?state=%zu", upload.len);
  snprintf(range, sizeof(range), "0-%zd", (ssize_t)upload.len - 1);
  if (strncmp(url, "/v2/t/m/blobs/sha256:", 21) == 0) {
    ret = answer(c, have_blob(url + 14) ? 200 : 404, "", NULL);
  } else if (strcmp(url, "/v2/t/m/blobs/uploads/") == 0
             && strcmp(method, "POST") == 0) {
    mg_buf_reset(&upload);
    ret = answer(c, 202, "",
                 (const char *const[]){ "Location",
                                        "/v2/t/m/blobs/uploads/u1?state=0",
                                        "OCI-Chunk-Min-Length", "1024", NULL });
  } else if (strcmp(url, "/v2/t/m/blobs/uploads/u1") == 0
             && strcmp(method, "PATCH") == 0) {
    unsigned long long a = 0, b = 0;
    cr = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Range");
    n_patch++;
    if (!cr || sscanf(cr, "%llu-%llu", &a, &b) != 2 || a != upload.len
        || b - a + 1 != k->body.len) {
      ret = answer(c, 416, "", NULL);
    } else {
      mg_buf_add(&upload, k->body.data, k->body.len, NULL);
      snprintf(loc, sizeof(loc), "/v2/t/m/blobs/uploads/u1?state=%zu",
               upload.len);
      snprintf(range, sizeof(range), "0-%zu", upload.len - 1);
      if (lose_patch && ++patch_seen == 2)
        ret = answer(c, 500, "", NULL); /* stored, answer lost */
      else
        ret = answer(
            c, 202, "",
            (const char *const[]){ "Location", loc, "Range", range, NULL });
    }
  } else if (strcmp(url, "/v2/t/m/blobs/uploads/u1") == 0
             && strcmp(method, "GET") == 0) {
    n_status++;
    ret =
        answer(c, 204, "",
               (const char *const[]){ "Location", loc, "Range", range, NULL });
  } else if (strcmp(url, "/v2/t/m/blobs/uploads/u1") == 0
             && strcmp(method, "PUT") == 0) {
    char hex[MG_DIGEST_SHA256_HEX_LEN + 1], want[80];
    mg_buf_add(&upload, k->body.data, k->body.len, NULL);
    mg_digest_sha256_hex(upload.data ? upload.data : "", upload.len, hex);
    snprintf(want, sizeof(want), "sha256:%s", hex);
    dg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "digest");
    if (!dg || strcmp(dg, want) != 0 || n_blobs == 16) {
      ret =
          answer(c, 400, "{\"errors\":[{\"code\":\"DIGEST_INVALID\"}]}", NULL);
    } else {
      snprintf(blobs[n_blobs++], sizeof(blobs[0]), "%s", want);
      ret = answer(c, 201, "", NULL);
    }
  } else if (strcmp(url, "/v2/t/m/manifests/1") == 0
             && strcmp(method, "PUT") == 0) {
    char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
    mg_digest_sha256_hex(k->body.data ? k->body.data : "", k->body.len, hex);
    snprintf(manifest_digest, sizeof(manifest_digest), "sha256:%s", hex);
    ret = answer(c, 201, "",
                 (const char *const[]){ "Docker-Content-Digest",
                                        manifest_digest, NULL });
  } else {
    ret = answer(c, 404, "{}", NULL);
  }
  pthread_mutex_unlock(&reg_lock);
  return ret;
}

static int reg_up(void **state)
{
  struct sockaddr_in sa;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  if (mg_http_global_init(&err) < 0)
    return -1;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  mg_buf_init(&upload, 64 << 20);
  reg = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
      NULL, reg_handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
      MHD_OPTION_NOTIFY_COMPLETED, conn_done, NULL, MHD_OPTION_END);
  if (!reg)
    return -1;
  reg_port = MHD_get_daemon_info(reg, MHD_DAEMON_INFO_BIND_PORT)->port;
  return 0;
}

static int reg_down(void **state)
{
  (void)state;
  MHD_stop_daemon(reg);
  mg_buf_release(&upload);
  mg_http_global_cleanup();
  return 0;
}

/* A model directory with a 20 KB weight file and a model card. */
static char *model_dir(struct mg_json **files)
{
  char tmpl[] = "/tmp/test-mg-oci-XXXXXX";
  char *dir = mkdtemp(tmpl) ? strdup(tmpl) : NULL;
  char path[128], hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  unsigned char w[20000];
  const char *card = "---\nlicense: mit\n---\n# tiny\n";
  struct mg_json *f;

  assert_non_null(dir);
  for (size_t i = 0; i < sizeof(w); i++)
    w[i] = (unsigned char)(i * 7 + 3);
  snprintf(path, sizeof(path), "%s/w.bin", dir);
  assert_int_equal(mg_io_write_atomic(path, w, sizeof(w), 0644, NULL), 0);
  snprintf(path, sizeof(path), "%s/README.md", dir);
  assert_int_equal(mg_io_write_atomic(path, card, strlen(card), 0644, NULL), 0);
  *files = mg_json_new_array();
  f = mg_json_new_object();
  mg_json_set_string(f, "path", "README.md");
  mg_digest_sha256_hex(card, strlen(card), hex);
  mg_json_set_string(f, "sha256", hex);
  mg_json_append(*files, f);
  f = mg_json_new_object();
  mg_json_set_string(f, "path", "w.bin");
  mg_digest_sha256_hex(w, sizeof(w), hex);
  mg_json_set_string(f, "sha256", hex);
  mg_json_append(*files, f);
  return dir;
}

static void remove_dir(char *dir)
{
  char path[128];

  snprintf(path, sizeof(path), "%s/w.bin", dir);
  unlink(path);
  snprintf(path, sizeof(path), "%s/README.md", dir);
  unlink(path);
  rmdir(dir);
  free(dir);
}

static void test_push_bearer_chunked(void **state)
{
  struct mg_http_opts ho;
  struct mg_oci_client *c;
  struct mg_oci_ref ref;
  struct mg_json *files, *info = NULL;
  struct mg_err err = MG_ERR_INIT;
  char uri[128];
  char *dir = model_dir(&files);

  (void)state;
  mg_http_opts_init(&ho);
  ho.retries = 0;
  snprintf(uri, sizeof(uri), "oci://127.0.0.1:%d/t/m:1", reg_port);
  assert_int_equal(mg_oci_parse(uri, &ref, &err), 0);

  /* Wrong credentials: the token service says no. */
  c = mg_oci_client_new(&ho, "alice:nope", 0);
  assert_int_equal(mg_oci_push_modelcar(c, &ref, dir, files, NULL, &info, &err),
                   -1);
  assert_int_equal(err.cat, MG_ERR_REMOTE);
  assert_non_null(strstr(err.msg, "token request"));
  assert_non_null(strstr(err.msg, "401"));
  assert_null(strstr(err.msg, "nope"));
  mg_oci_client_free(c);

  /* Right credentials, 4 KiB chunks, one lost PATCH answer. */
  n_token = n_patch = n_status = n_blobs = patch_seen = 0;
  lose_patch = 1;
  c = mg_oci_client_new(&ho, "alice:pw", 0);
  mg_oci_client_set_chunk_size(c, 4096);
  assert_int_equal(mg_oci_push_modelcar(c, &ref, dir, files, NULL, &info, &err),
                   0);
  assert_true(n_token >= 1);
  /* Our own scope is asked for, not only the challenge's. */
  assert_string_equal(token_scope, "repository:t/m:pull,push");
  /* 20 KB + tar headers in 4 KiB chunks: at least 6 PATCHes, one status
   * query after the lost answer, and the blob still stored whole. */
  assert_true(n_patch >= 6);
  assert_int_equal(n_status, 1);
  assert_int_equal(n_blobs, 3); /* weight layer, card layer, config */
  assert_int_equal((int)mg_json_number(mg_json_get(info, "chunked_uploads")),
                   1);
  assert_non_null(mg_json_string(mg_json_get(info, "model_card_layer")));
  assert_string_equal(mg_json_string(mg_json_get(info, "manifest_digest")),
                      manifest_digest);
  mg_json_free(info);
  mg_oci_client_free(c);
  lose_patch = 0;

  mg_oci_ref_release(&ref);
  mg_json_free(files);
  remove_dir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse),
    cmocka_unit_test(test_challenge),
    cmocka_unit_test(test_push_bearer_chunked),
  };

  return cmocka_run_group_tests(tests, reg_up, reg_down);
}

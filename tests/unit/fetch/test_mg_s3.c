/*
 * Unit tests for mg_s3: URI parsing, SigV4 encoding, settings from the
 * environment and the AWS CLI files, digests from response headers, and
 * ListObjectsV2 paging and error parsing against a loopback server
 * (libmicrohttpd) that serves canned S3 XML and records the requests.
 * The signature itself is verified end to end by the fake S3 server of
 * tests/tools/model-fetch.sh.
 */
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

#include "fetch/mg_s3.h"
#include "mg_buf.h"
#include "mg_err.h"
#include "mg_http.h"

static struct MHD_Daemon *daemon_;
static char base[64];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char last_auth[512], last_sha[128], last_query[512];
static int requests;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code,
                             const char *body)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(
      strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
  enum MHD_Result ret;

  MHD_add_response_header(r, "Content-Type", "application/xml");
  ret = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return ret;
}

static enum MHD_Result record_arg(void *cls, enum MHD_ValueKind kind,
                                  const char *k, const char *v)
{
  struct mg_buf *b = cls;

  (void)kind;
  mg_buf_printf(b, NULL, "%s=%s;", k, v ? v : "");
  return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
  const char *a, *sha, *tok;
  struct mg_buf q = MG_BUF_INIT(4096);

  (void)cls;
  (void)method;
  (void)version;
  (void)data;
  (void)data_size;
  if (!*con_cls) {
    static int marker;
    *con_cls = &marker;
    return MHD_YES;
  }
  a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  sha = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-amz-content-sha256");
  tok = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
                                    "continuation-token");
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, record_arg, &q);
  pthread_mutex_lock(&lock);
  requests++;
  snprintf(last_auth, sizeof(last_auth), "%s", a ? a : "");
  snprintf(last_sha, sizeof(last_sha), "%s", sha ? sha : "");
  snprintf(last_query, sizeof(last_query), "%s", q.data ? q.data : "");
  pthread_mutex_unlock(&lock);
  mg_buf_release(&q);
  if (strcmp(url, "/denied/") == 0)
    return reply(c, 403,
                 "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>"
                 "<Message>Access Denied</Message></Error>");
  if (strcmp(url, "/evil/") == 0)
    return reply(c, 200,
                 "<ListBucketResult><IsTruncated>false</IsTruncated>"
                 "<Contents><Key>m/../../etc/passwd</Key><Size>1</Size>"
                 "</Contents></ListBucketResult>");
  if (strcmp(url, "/models/") != 0)
    return reply(c, 404, "<Error><Code>NoSuchBucket</Code></Error>");
  if (!tok)
    return reply(c, 200,
                 "<?xml version=\"1.0\"?><ListBucketResult><Name>models"
                 "</Name><Prefix>m/</Prefix><IsTruncated>true</IsTruncated>"
                 "<Contents><Key>m/b &amp; c.json</Key><ETag>&quot;"
                 "0123456789abcdef0123456789ABCDEF&quot;</ETag><Size>12"
                 "</Size></Contents><Contents><Key>m/dir/</Key><Size>0"
                 "</Size></Contents><NextContinuationToken>t+1/=="
                 "</NextContinuationToken></ListBucketResult>");
  return reply(c, 200,
               "<ListBucketResult><Contents><Key>m/a&#x2F;x&#233;.bin"
               "</Key><ETag>\"abc-2\"</ETag><Size>34359738368</Size>"
               "</Contents><IsTruncated>false</IsTruncated>"
               "</ListBucketResult>");
}

static int server_up(void **state)
{
  struct sockaddr_in sa;
  const union MHD_DaemonInfo *info;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  if (mg_http_global_init(&err) < 0)
    return -1;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  daemon_ = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
      NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
  if (!daemon_)
    return -1;
  info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
  snprintf(base, sizeof(base), "http://127.0.0.1:%d", info->port);
  return 0;
}

static int server_down(void **state)
{
  (void)state;
  MHD_stop_daemon(daemon_);
  mg_http_global_cleanup();
  return 0;
}

static void clear_env(void)
{
  static const char *const v[] = {
    "AWS_ACCESS_KEY_ID",   "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_REGION",          "AWS_DEFAULT_REGION",    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3", "AWS_PROFILE",           NULL,
  };

  for (int i = 0; v[i]; i++)
    unsetenv(v[i]);
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
  setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
}

static void test_parse(void **state)
{
  struct mg_s3_ref r;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_int_equal(mg_s3_parse("s3://my-bucket/a/b/", &r, &err), 0);
  assert_string_equal(r.bucket, "my-bucket");
  assert_string_equal(r.prefix, "a/b");
  mg_s3_ref_release(&r);
  assert_int_equal(mg_s3_parse("s3://b.e.c", &r, &err), 0);
  assert_string_equal(r.prefix, "");
  mg_s3_ref_release(&r);
  assert_int_equal(mg_s3_parse("s3://Bad/x", &r, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_int_equal(mg_s3_parse("s3://ab/x", &r, &err), -1);
  assert_int_equal(mg_s3_parse("s3://-ab/x", &r, &err), -1);
  assert_int_equal(mg_s3_parse("s3://abc/x?y", &r, &err), -1);
  assert_int_equal(mg_s3_parse("https://abc/x", &r, &err), -1);
}

static void test_encode_and_url(void **state)
{
  struct mg_buf b = MG_BUF_INIT(1024);
  struct mg_http_opts ho;
  struct mg_s3_settings st = { 0 };
  struct mg_s3 *s;
  struct mg_err err = MG_ERR_INIT;
  char *u;

  (void)state;
  mg_s3_encode(&b, "a b/c~d_e.f-g+h=é", strlen("a b/c~d_e.f-g+h=é"), 1);
  assert_string_equal(b.data, "a%20b/c~d_e.f-g%2Bh%3D%C3%A9");
  mg_buf_reset(&b);
  mg_s3_encode(&b, "x/y", 3, 0);
  assert_string_equal(b.data, "x%2Fy");
  mg_buf_release(&b);

  clear_env();
  mg_http_opts_init(&ho);
  setenv("AWS_REGION", "eu-central-1", 1);
  assert_int_equal(mg_s3_new(&ho, &st, &s, &err), 0);
  assert_false(mg_s3_signed(s));
  assert_string_equal(mg_s3_region(s), "eu-central-1");
  u = mg_s3_url(s, "bucket", "k ey", NULL);
  assert_string_equal(u, "https://bucket.s3.eu-central-1.amazonaws.com/k%20ey");
  free(u);
  u = mg_s3_url(s, "dotted.bucket", "k", "a=1");
  assert_string_equal(
      u, "https://s3.eu-central-1.amazonaws.com/dotted.bucket/k?a=1");
  free(u);
  mg_s3_free(s);

  st.path_style = 1;
  assert_int_equal(mg_s3_new(&ho, &st, &s, &err), 0);
  u = mg_s3_url(s, "bucket", "", NULL);
  assert_string_equal(u, "https://s3.eu-central-1.amazonaws.com/bucket/");
  free(u);
  mg_s3_free(s);

  st.endpoint = "ftp://x";
  assert_int_equal(mg_s3_new(&ho, &st, &s, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  st.endpoint = "http://user@host";
  assert_int_equal(mg_s3_new(&ho, &st, &s, &err), -1);
  clear_env();
}

static void test_settings_from_files(void **state)
{
  char dir[] = "/tmp/test-mg-s3-XXXXXX", cred[128], conf[128];
  struct mg_http_opts ho;
  struct mg_s3_settings st = { 0 };
  struct mg_s3 *s;
  struct mg_err err = MG_ERR_INIT;
  char **h;
  FILE *f;

  (void)state;
  assert_non_null(mkdtemp(dir));
  snprintf(cred, sizeof(cred), "%s/credentials", dir);
  snprintf(conf, sizeof(conf), "%s/config", dir);
  f = fopen(cred, "w");
  fputs("# comment\n[default]\naws_access_key_id=DEF\n"
        "aws_secret_access_key = defsecret\n\n[prod]\n"
        "aws_access_key_id = PROD\naws_secret_access_key = prodsecret\n"
        "aws_session_token = tok\n[half]\naws_access_key_id = X\n",
        f);
  fclose(f);
  f = fopen(conf, "w");
  fputs("[default]\nregion = us-west-2\n[profile prod]\nregion=ap-south-1\n",
        f);
  fclose(f);
  clear_env();
  setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
  setenv("AWS_CONFIG_FILE", conf, 1);
  setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9/", 1);
  mg_http_opts_init(&ho);
  assert_int_equal(mg_s3_new(&ho, &st, &s, &err), 0);
  assert_true(mg_s3_signed(s));
  assert_string_equal(mg_s3_region(s), "us-west-2");
  assert_string_equal(mg_s3_endpoint(s), "http://127.0.0.1:9");
  assert_string_equal(mg_s3_http(s)->aws_sigv4, "aws:amz:us-west-2:s3");
  assert_string_equal(mg_s3_http(s)->userpwd, "DEF:defsecret");
  h = mg_s3_headers(s, NULL, NULL);
  assert_string_equal(h[0], "x-amz-content-sha256: e3b0c44298fc1c149afbf4"
                            "c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_null(h[1]);
  mg_s3_headers_free(h);
  mg_s3_free(s);

  st.profile = "prod";
  assert_int_equal(mg_s3_new(&ho, &st, &s, &err), 0);
  assert_string_equal(mg_s3_region(s), "ap-south-1");
  assert_string_equal(mg_s3_http(s)->aws_sigv4, "aws:amz:ap-south-1:s3");
  h = mg_s3_headers(s, "ab", (const char *const[]){ "X-A: 1", NULL });
  assert_string_equal(h[0], "x-amz-content-sha256: ab");
  assert_string_equal(h[1], "x-amz-security-token: tok");
  assert_string_equal(h[2], "X-A: 1");
  assert_null(h[3]);
  mg_s3_headers_free(h);
  mg_s3_free(s);

  st.profile = "half";
  assert_int_equal(mg_s3_new(&ho, &st, &s, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);

  /* The environment wins over the files; a lone key id is an error. */
  st.profile = NULL;
  setenv("AWS_ACCESS_KEY_ID", "ENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
  setenv("AWS_DEFAULT_REGION", "sa-east-1", 1);
  assert_int_equal(mg_s3_new(&ho, &st, &s, &err), 0);
  assert_string_equal(mg_s3_http(s)->userpwd, "ENV:envsecret");
  assert_string_equal(mg_s3_region(s), "sa-east-1");
  mg_s3_free(s);
  unsetenv("AWS_SECRET_ACCESS_KEY");
  assert_int_equal(mg_s3_new(&ho, &st, &s, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_null(strstr(err.msg, "ENV"));
  unlink(cred);
  unlink(conf);
  rmdir(dir);
  clear_env();
}

static void test_digest_from(void **state)
{
  struct mg_s3_digest d;

  (void)state;
  /* sha256("") in base64 */
  mg_s3_digest_from("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "00",
                    "\"0123456789abcdef0123456789abcdef\"", &d);
  assert_string_equal(d.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e464"
                                "9b934ca495991b7852b855");
  assert_string_equal(d.sha256_from, "x-amz-checksum-sha256");
  assert_string_equal(d.md5, "0123456789abcdef0123456789abcdef");
  /* Composite checksums and multipart ETags say nothing checkable. */
  mg_s3_digest_from("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=-3", NULL,
                    "\"0123456789abcdef0123456789abcdef-3\"", &d);
  assert_string_equal(d.sha256, "");
  assert_string_equal(d.md5, "");
  mg_s3_digest_from(NULL,
                    "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA49599"
                    "1B7852B855",
                    "W/\"0123456789abcdef0123456789abcdef\"", &d);
  assert_string_equal(d.sha256_from, "x-amz-meta-sha256");
  assert_string_equal(d.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e464"
                                "9b934ca495991b7852b855");
  assert_string_equal(d.md5, "");
}

static struct mg_s3 *local_client(int sign)
{
  struct mg_http_opts ho;
  struct mg_s3_settings st = { 0 };
  struct mg_s3 *s;
  struct mg_err err = MG_ERR_INIT;

  clear_env();
  if (sign) {
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "do-not-print-me", 1);
  }
  setenv("AWS_REGION", "eu-west-1", 1);
  st.endpoint = base;
  mg_http_opts_init(&ho);
  ho.retries = 0;
  assert_int_equal(mg_s3_new(&ho, &st, &s, &err), 0);
  clear_env();
  return s;
}

static void test_list_pages(void **state)
{
  struct mg_s3 *s = local_client(1);
  struct mg_s3_ref r;
  struct mg_s3_listing l;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  requests = 0;
  assert_int_equal(mg_s3_parse("s3://models/m", &r, &err), 0);
  assert_int_equal(mg_s3_list(s, &r, &l, &err), 0);
  assert_int_equal(requests, 2);
  assert_int_equal(l.n, 2);
  assert_false(l.single);
  /* Sorted by rel; entities and character references decoded; folder
   * markers skipped. */
  assert_string_equal(l.v[0].rel, "a/x\xc3\xa9.bin");
  assert_string_equal(l.v[0].key, "m/a/x\xc3\xa9.bin");
  assert_true(l.v[0].size == 34359738368ULL);
  assert_string_equal(l.v[1].rel, "b & c.json");
  assert_string_equal(l.v[1].etag, "\"0123456789abcdef0123456789ABCDEF\"");
  /* The second page asked for the token, decoded by the server. */
  assert_non_null(strstr(last_query, "continuation-token=t+1/==;"));
  assert_non_null(strstr(last_query, "prefix=m/;"));
  assert_true(strncmp(last_auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/", 37)
              == 0);
  assert_non_null(strstr(last_auth, "/eu-west-1/s3/aws4_request"));
  assert_non_null(strstr(last_auth, "x-amz-content-sha256"));
  assert_null(strstr(last_auth, "do-not-print-me"));
  assert_string_equal(last_sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e464"
                                "9b934ca495991b7852b855");
  mg_s3_listing_release(&l);
  mg_s3_ref_release(&r);
  mg_s3_free(s);

  /* Anonymous: no signature, no payload header. */
  s = local_client(0);
  assert_int_equal(mg_s3_parse("s3://models/m", &r, &err), 0);
  assert_int_equal(mg_s3_list(s, &r, &l, &err), 0);
  assert_string_equal(last_auth, "");
  assert_string_equal(last_sha, "");
  mg_s3_listing_release(&l);
  mg_s3_ref_release(&r);
  mg_s3_free(s);
}

static void test_list_errors(void **state)
{
  struct mg_s3 *s = local_client(1);
  struct mg_s3_ref r;
  struct mg_s3_listing l;
  struct mg_err err = MG_ERR_INIT;

  (void)state;
  assert_int_equal(mg_s3_parse("s3://denied/x", &r, &err), 0);
  assert_int_equal(mg_s3_list(s, &r, &l, &err), -1);
  assert_int_equal(err.cat, MG_ERR_REMOTE);
  assert_non_null(strstr(err.msg, "HTTP 403 AccessDenied"));
  mg_s3_ref_release(&r);
  assert_int_equal(mg_s3_parse("s3://nothere/x", &r, &err), 0);
  assert_int_equal(mg_s3_list(s, &r, &l, &err), -1);
  assert_non_null(strstr(err.msg, "NoSuchBucket"));
  mg_s3_ref_release(&r);
  assert_int_equal(mg_s3_parse("s3://evil/m", &r, &err), 0);
  assert_int_equal(mg_s3_list(s, &r, &l, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  mg_s3_ref_release(&r);
  mg_s3_free(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse),
    cmocka_unit_test(test_encode_and_url),
    cmocka_unit_test(test_settings_from_files),
    cmocka_unit_test(test_digest_from),
    cmocka_unit_test(test_list_pages),
    cmocka_unit_test(test_list_errors),
  };

  return cmocka_run_group_tests(tests, server_up, server_down);
}

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "mg_err.h"
#include "mg_http.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "publish/mg_registry.h"

static struct mg_json *parse(const char *s)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *j;

  if (mg_json_parse(s, strlen(s), "t", &j, &err) < 0)
    fail_msg("bad test JSON: %s", err.msg);
  return j;
}

static void assert_json(const struct mg_json *j, const char *want)
{
  char *got = mg_json_print(j, 0);

  if (strcmp(got, want) != 0)
    fail_msg("got %s\nwant %s", got, want);
  free(got);
}

static void test_values(void **state)
{
  struct mg_json *v;

  (void)state;
  v = mg_registry_value_int(8);
  assert_json(v, "{\"metadataType\":\"MetadataIntValue\",\"int_value\":\"8\"}");
  mg_json_free(v);
  v = mg_registry_value_int(999999999);
  assert_json(v, "{\"metadataType\":\"MetadataIntValue\","
                 "\"int_value\":\"999999999\"}");
  mg_json_free(v);
  v = mg_registry_value_int(-999999999);
  assert_json(v, "{\"metadataType\":\"MetadataIntValue\","
                 "\"int_value\":\"-999999999\"}");
  mg_json_free(v);
  /* 10 digits would break the int32 pattern: a double instead */
  v = mg_registry_value_int(1000000000);
  assert_json(v, "{\"metadataType\":\"MetadataDoubleValue\","
                 "\"double_value\":1000000000}");
  mg_json_free(v);
  v = mg_registry_value_int(-5000000000LL);
  assert_string_equal(mg_json_string(mg_json_get(v, "metadataType")),
                      "MetadataDoubleValue");
  mg_json_free(v);
  v = mg_registry_value_double(0.25);
  assert_json(v, "{\"metadataType\":\"MetadataDoubleValue\","
                 "\"double_value\":0.25}");
  mg_json_free(v);
  v = mg_registry_value_string("");
  assert_json(v, "{\"metadataType\":\"MetadataStringValue\","
                 "\"string_value\":\"\"}");
  mg_json_free(v);
  v = mg_registry_value_bool(1);
  assert_json(v,
              "{\"metadataType\":\"MetadataBoolValue\",\"bool_value\":true}");
  mg_json_free(v);
}

static void test_value_plain(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *in, *out;

  (void)state;
  in = parse("{\"metadataType\":\"MetadataIntValue\",\"int_value\":\"-42\"}");
  assert_int_equal(mg_registry_value_plain(in, "k", &out, &err), 0);
  assert_true(mg_json_is_number(out));
  assert_true(mg_json_number(out) == -42);
  mg_json_free(out);
  mg_json_free(in);
  in = parse("{\"metadataType\":\"MetadataIntValue\",\"int_value\":\"4x\"}");
  assert_int_equal(mg_registry_value_plain(in, "k", &out, &err), -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "malformed property 'k'"));
  mg_json_free(in);
  in = parse("{\"metadataType\":\"MetadataFooValue\",\"x\":1}");
  assert_int_equal(mg_registry_value_plain(in, "k", &out, &err), -1);
  assert_non_null(strstr(err.msg, "unknown metadataType"));
  mg_json_free(in);
  in = parse("{\"metadataType\":\"MetadataBoolValue\",\"bool_value\":false}");
  assert_int_equal(mg_registry_value_plain(in, "k", &out, &err), 0);
  assert_true(mg_json_is_bool(out) && !mg_json_bool(out));
  mg_json_free(out);
  mg_json_free(in);
}

static void test_props_merge(void **state)
{
  struct mg_json *theirs =
      parse("{\"a\":{\"metadataType\":\"MetadataIntValue\","
            "\"int_value\":\"1\"},\"b\":{\"metadataType\":"
            "\"MetadataIntValue\",\"int_value\":\"2\"}}");
  struct mg_json *ours = parse("{\"b\":{\"metadataType\":\"MetadataIntValue\","
                               "\"int_value\":\"2\"},\"c\":{\"metadataType\":"
                               "\"MetadataIntValue\",\"int_value\":\"3\"}}");
  struct mg_json *ours2 = parse("{\"b\":{\"metadataType\":"
                                "\"MetadataIntValue\",\"int_value\":\"5\"}}");
  struct mg_json *added = mg_json_new_array(), *changed = mg_json_new_array();
  struct mg_json *m;

  (void)state;
  assert_int_equal(mg_registry_props_merge(theirs, ours, &m, added, changed),
                   1);
  assert_int_equal(mg_json_size(m), 3);
  assert_non_null(mg_json_get(m, "a"));
  assert_json(added, "[\"c\"]");
  assert_json(changed, "[]");
  mg_json_free(m);
  assert_int_equal(mg_registry_props_merge(theirs, ours2, &m, NULL, changed),
                   1);
  assert_json(changed, "[\"b\"]");
  assert_string_equal(mg_json_string(mg_json_get_path(m, "b.int_value")), "5");
  mg_json_free(m);
  /* nothing to merge into: all added */
  assert_int_equal(mg_registry_props_merge(NULL, ours, &m, NULL, NULL), 2);
  mg_json_free(m);
  mg_json_free(added);
  mg_json_free(changed);
  mg_json_free(theirs);
  mg_json_free(ours);
  mg_json_free(ours2);
}

static char *tmpdir(void)
{
  char tmpl[] = "/tmp/mg-registry-test-XXXXXX";
  char *d = mkdtemp(tmpl);

  assert_non_null(d);
  return mg_xstrdup(d);
}

static void rmtree(const char *dir)
{
  char *p = mg_xasprintf("%s/registry.json", dir);

  unlink(p);
  free(p);
  p = mg_xasprintf("%s/.lock", dir);
  unlink(p);
  free(p);
  rmdir(dir);
}

static struct mg_json *push(const char *spec, const char *props_json,
                            const char *uri)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_http_opts http;
  struct mg_registry *r;
  struct mg_registry_target t = { 0 };
  struct mg_json *props = parse(props_json), *sec;

  mg_http_opts_init(&http);
  if (mg_registry_open(spec, &http, 0, 1, 0, &r, &err) < 0)
    fail_msg("open: %s", err.msg);
  t.model_name = "acme/tiny";
  t.version_name = "v1";
  t.uri = uri;
  t.format_name = "safetensors";
  t.props = props;
  if (mg_registry_push(r, &t, &sec, &err) < 0)
    fail_msg("push: %s", err.msg);
  mg_registry_free(r);
  mg_json_free(props);
  return sec;
}

static struct mg_json *list(const char *spec)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_http_opts http;
  struct mg_registry *r;
  struct mg_json *out;

  mg_http_opts_init(&http);
  if (mg_registry_open(spec, &http, 1, 0, 0, &r, &err) < 0)
    fail_msg("open: %s", err.msg);
  if (mg_registry_list(r, NULL, NULL, &out, &err) < 0)
    fail_msg("list: %s", err.msg);
  mg_registry_free(r);
  return out;
}

#define P_A                                                                    \
  "{\"perf.baseline.ttft_p50_ms\":{\"metadataType\":\"MetadataDoubleValue\","  \
  "\"double_value\":41.5}}"
#define P_B                                                                    \
  "{\"perf.custom.ttft_p50_ms\":{\"metadataType\":\"MetadataDoubleValue\","    \
  "\"double_value\":200}}"

static void test_dir_push_idempotent(void **state)
{
  char *dir = tmpdir();
  char *spec = mg_xasprintf("dir:%s", dir);
  struct mg_json *sec, *l, *v;

  (void)state;
  sec = push(spec, P_A, "oci://r/m:1");
  assert_json(mg_json_get(sec, "created"),
              "[\"registered_model\",\"model_version\",\"model_artifact\"]");
  assert_json(mg_json_get(sec, "added"), "[\"perf.baseline.ttft_p50_ms\"]");
  assert_true(mg_json_number(mg_json_get(sec, "writes")) == 3);
  assert_string_equal(mg_json_string(mg_json_get(sec, "kind")), "dir");
  mg_json_free(sec);

  /* the same again: nothing written */
  sec = push(spec, P_A, "oci://r/m:1");
  assert_true(mg_json_number(mg_json_get(sec, "writes")) == 0);
  assert_json(mg_json_get(sec, "created"), "[]");
  assert_json(mg_json_get(sec, "added"), "[]");
  assert_json(mg_json_get(sec, "changed"), "[]");
  mg_json_free(sec);

  /* other results and a new artifact uri: added, the first kept */
  sec = push(spec, P_B, "oci://r/m:2");
  assert_json(mg_json_get(sec, "added"), "[\"perf.custom.ttft_p50_ms\"]");
  assert_json(mg_json_get(sec, "updated"),
              "[\"model_version\",\"model_artifact\"]");
  mg_json_free(sec);

  l = list(spec);
  v = mg_json_get_path(mg_json_at(mg_json_get(l, "models"), 0), "versions");
  v = mg_json_at(v, 0);
  assert_true(mg_json_number(mg_json_get_path(v, "properties")
                                 ? mg_json_get(mg_json_get(v, "properties"),
                                               "perf.baseline.ttft_p50_ms")
                                 : NULL)
              == 41.5);
  assert_true(mg_json_number(mg_json_get(mg_json_get(v, "properties"),
                                         "perf.custom.ttft_p50_ms"))
              == 200);
  assert_string_equal(mg_json_string(mg_json_get(
                          mg_json_at(mg_json_get(v, "artifacts"), 0), "uri")),
                      "oci://r/m:2");
  mg_json_free(l);
  rmtree(dir);
  free(spec);
  free(dir);
}

/* Concurrent pushes of different labels to one version: the lock keeps
 * every one of them. */
/* registry-push --get: the model, artifact and our properties of a
 * version; the latest version when none is named; others' keys left out. */
static void test_dir_get(void **state)
{
  char *dir = tmpdir();
  char *spec = mg_xasprintf("dir:%s", dir);
  struct mg_err err = MG_ERR_INIT;
  struct mg_http_opts http;
  struct mg_registry *r;
  struct mg_json *model, *sec;

  (void)state;
  assert_true(mg_registry_key_is_ours("perf.custom.ttft_p50_ms"));
  assert_true(mg_registry_key_is_ours("custom results"));
  assert_true(mg_registry_key_is_ours("modelgate"));
  assert_false(mg_registry_key_is_ours("reviewed-by"));
  assert_false(mg_registry_key_is_ours("_lastModified"));
  mg_json_free(push(spec,
                    "{\"perf.baseline.ttft_p50_ms\":{\"metadataType\":"
                    "\"MetadataDoubleValue\",\"double_value\":41.5},"
                    "\"reviewed-by\":{\"metadataType\":\"MetadataStringValue\","
                    "\"string_value\":\"alice\"},\"source.kind\":{"
                    "\"metadataType\":\"MetadataStringValue\",\"string_value\":"
                    "\"hf\"}}",
                    "oci://r/m:1"));
  mg_http_opts_init(&http);
  assert_int_equal(mg_registry_open(spec, &http, 1, 0, 0, &r, &err), 0);
  assert_int_equal(mg_registry_get(r, "acme/tiny", NULL, &model, &sec, &err),
                   0);
  assert_json(model, "{\"name\":\"acme/tiny\",\"version\":\"v1\",\"source\":"
                     "{\"kind\":\"hf\"},\"destination\":{\"uri\":\"oci://r/"
                     "m:1\",\"kind\":\"oci\"},\"format\":\"safetensors\"}");
  assert_json(mg_json_get(sec, "version_properties"),
              "{\"perf.baseline.ttft_p50_ms\":41.5,\"source.kind\":\"hf\"}");
  assert_string_equal(mg_json_string(mg_json_get(sec, "model_version_id")),
                      "2");
  assert_string_equal(
      mg_json_string(mg_json_get_path(sec, "model_artifact.uri")),
      "oci://r/m:1");
  mg_json_free(model);
  mg_json_free(sec);
  assert_int_equal(mg_registry_get(r, "acme/tiny", "v9", &model, &sec, &err),
                   -1);
  assert_int_equal(err.cat, MG_ERR_REMOTE);
  assert_null(model);
  assert_int_equal(mg_registry_get(r, "nosuch", NULL, &model, &sec, &err), -1);
  assert_non_null(strstr(err.msg, "no registered model 'nosuch'"));
  mg_registry_free(r);
  rmtree(dir);
  free(spec);
  free(dir);
}

static void test_dir_concurrent(void **state)
{
  char *dir = tmpdir();
  char *spec = mg_xasprintf("dir:%s", dir);
  struct mg_json *l, *props;
  pid_t pids[6];

  (void)state;
  for (int i = 0; i < 6; i++) {
    pids[i] = fork();
    assert_true(pids[i] >= 0);
    if (pids[i] == 0) {
      char *pj = mg_xasprintf("{\"perf.l%d.rate\":{\"metadataType\":"
                              "\"MetadataDoubleValue\",\"double_value\":%d}}",
                              i, i);
      struct mg_json *sec = push(spec, pj, NULL);

      mg_json_free(sec);
      free(pj);
      _exit(0);
    }
  }
  for (int i = 0; i < 6; i++) {
    int st;

    assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  l = list(spec);
  assert_int_equal(mg_json_size(mg_json_get(l, "models")), 1);
  props = mg_json_get(
      mg_json_at(
          mg_json_get(mg_json_at(mg_json_get(l, "models"), 0), "versions"), 0),
      "properties");
  assert_int_equal(mg_json_size(props), 6);
  mg_json_free(l);
  rmtree(dir);
  free(spec);
  free(dir);
}

static void test_open_errors(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_http_opts http;
  struct mg_registry *r;

  (void)state;
  mg_http_opts_init(&http);
  assert_int_equal(mg_registry_open("ftp://x", &http, 0, 1, 0, &r, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_null(r);
  assert_int_equal(mg_registry_open("dir:", &http, 0, 1, 0, &r, &err), -1);
  assert_int_equal(err.cat, MG_ERR_USAGE);
  assert_int_equal(
      mg_registry_open("dir:/nonexistent/mg-reg", &http, 1, 0, 0, &r, &err),
      -1);
  assert_int_equal(err.cat, MG_ERR_IO);
  assert_int_equal(
      mg_registry_open("dir:/etc/hostname", &http, 0, 1, 0, &r, &err), -1);
  assert_int_equal(err.cat, MG_ERR_IO);
}

static void test_target_from_record(void **state)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_registry_target t = { 0 };
  struct mg_json *props, *docs, *links;
  struct mg_json *rec = parse(
      "{\"schema\":\"modelgate.record/v1\",\"model\":{\"name\":\"acme/m\","
      "\"source\":{\"uri\":\"hf://acme/"
      "m\",\"kind\":\"hf\",\"revision\":\"abc\"},"
      "\"files\":[{\"path\":\"a\",\"bytes\":3,\"sha256\":\"x\"}],"
      "\"destination\":{\"uri\":\"oci://q/m@sha256:1\"},\"format\":"
      "\"safetensors\"},\"verification\":{\"ok\":false,\"findings\":[{}]},"
      "\"perf\":{\"runs\":[{\"id\":0,\"kind\":\"constant\",\"rate\":4,"
      "\"requests_per_s\":3.9,\"requests\":{\"successful\":40,\"errored\":0},"
      "\"metrics\":{\"successful\":{\"ttft_ms\":{\"count\":40,\"mean\":50,"
      "\"std\":2,\"percentiles\":{\"p50\":49,\"p99\":60}}}}}]},"
      "\"eval\":{\"results\":{\"gsm8k\":{\"exact_match,strict-match\":0.5,"
      "\"exact_match_stderr,strict-match\":0.01}},\"n-samples\":{\"gsm8k\":"
      "{\"effective\":1319}}}}");

  (void)state;
  links = parse("[{\"name\":\"report\",\"uri\":\"https://x/r.html\"}]");
  assert_int_equal(mg_registry_target_from_record(rec, "custom", links, 0, &t,
                                                  &props, &docs, &err),
                   0);
  assert_string_equal(t.model_name, "acme/m");
  assert_string_equal(t.version_name, "abc");
  assert_string_equal(t.uri, "oci://q/m@sha256:1");
  assert_string_equal(t.format_name, "safetensors");
  assert_string_equal(
      mg_json_string(mg_json_get_path(
          mg_json_get(props, "perf.custom.ttft_p50_ms"), "metadataType")),
      "MetadataDoubleValue");
  assert_true(
      mg_json_number(mg_json_get(mg_json_get(props, "perf.custom.ttft_p99_ms"),
                                 "double_value"))
      == 60);
  assert_string_equal(
      mg_json_string(
          mg_json_get(mg_json_get(props, "perf.custom.requests"), "int_value")),
      "40");
  assert_true(
      mg_json_number(mg_json_get(
          mg_json_get(props, "eval.custom.gsm8k.exact_match_strict-match"),
          "double_value"))
      == 0.5);
  assert_string_equal(
      mg_json_string(
          mg_json_get(mg_json_get(props, "eval.custom.gsm8k.n"), "int_value")),
      "1319");
  assert_string_equal(
      mg_json_string(
          mg_json_get(mg_json_get(props, "verify.verdict"), "string_value")),
      "fail");
  assert_string_equal(
      mg_json_string(
          mg_json_get(mg_json_get(props, "custom results"), "string_value")),
      "");
  assert_string_equal(
      mg_json_string(mg_json_get(mg_json_get(props, "link.custom.report"),
                                 "string_value")),
      "https://x/r.html");
  assert_json(docs,
              "[{\"name\":\"custom.report\",\"uri\":\"https://x/r.html\"}]");
  mg_json_free(props);
  mg_json_free(docs);

  /* no model name anywhere */
  memset(&t, 0, sizeof(t));
  mg_json_remove(mg_json_get(rec, "model"), "name");
  assert_int_equal(mg_registry_target_from_record(rec, NULL, NULL, 0, &t,
                                                  &props, &docs, &err),
                   -1);
  assert_int_equal(err.cat, MG_ERR_DATA);
  assert_non_null(strstr(err.msg, "no model name"));
  mg_json_free(links);
  mg_json_free(rec);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_values),
    cmocka_unit_test(test_value_plain),
    cmocka_unit_test(test_props_merge),
    cmocka_unit_test(test_dir_push_idempotent),
    cmocka_unit_test(test_dir_get),
    cmocka_unit_test(test_dir_concurrent),
    cmocka_unit_test(test_open_errors),
    cmocka_unit_test(test_target_from_record),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}

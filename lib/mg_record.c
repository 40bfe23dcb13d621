#include "mg_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_cli.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_time.h"
#include "mg_version.h"

struct mg_json *mg_record_new(void)
{
  struct mg_json *rec = mg_json_new_object();

  mg_json_set_string(rec, "schema", MG_RECORD_SCHEMA);
  return rec;
}

int mg_record_check(const struct mg_json *j, const char *name,
                    struct mg_err *err)
{
  const char *schema;
  const char *prefix = MG_RECORD_SCHEMA_NAME "/v";
  size_t plen = strlen(prefix);
  char *end;
  long major;

  if (!mg_json_is_object(j))
    return mg_err_set(err, MG_ERR_DATA,
                      "not a modelgate record '%s': the document is %s, "
                      "expected an object",
                      name, mg_json_type_name(mg_json_type(j)));
  if (mg_json_req_string(j, "schema", "record", &schema, err) < 0)
    return mg_err_prefix(err, "not a modelgate record '%s'", name);
  if (strncmp(schema, prefix, plen) != 0)
    return mg_err_set(err, MG_ERR_DATA,
                      "not a modelgate record '%s': schema is '%.64s', "
                      "expected '%s'",
                      name, schema, MG_RECORD_SCHEMA);
  major = strtol(schema + plen, &end, 10);
  if (end == schema + plen || *end || major != MG_RECORD_SCHEMA_MAJOR)
    return mg_err_set(err, MG_ERR_DATA,
                      "unsupported record version in '%s': '%.64s' "
                      "(this program reads '%s')",
                      name, schema, MG_RECORD_SCHEMA);
  return 0;
}

static int read_record(const char *path, size_t max, int absent_ok,
                       struct mg_json **out, struct mg_err *err)
{
  struct mg_buf buf = MG_BUF_INIT(max);
  const char *name = mg_io_name(path);
  int is_stdin = strcmp(path, "-") == 0;
  int rc = -1;
  size_t i;

  *out = NULL;
  if (is_stdin && isatty(0)) {
    if (absent_ok) {
      *out = mg_record_new();
      return 0;
    }
    return mg_err_set(err, MG_ERR_USAGE,
                      "no input record: give -i FILE or pipe one in");
  }
  if (mg_io_read_file(path, &buf, err) < 0)
    goto out;
  /* An empty pipe (a step with nothing before it) is no record either. */
  for (i = 0; i < buf.len && strchr(" \t\r\n", buf.data[i]); i++)
    ;
  if (is_stdin && absent_ok && i == buf.len) {
    *out = mg_record_new();
    rc = 0;
    goto out;
  }
  if (mg_json_parse(buf.data, buf.len, name, out, err) < 0)
    goto out;
  if (mg_record_check(*out, name, err) < 0) {
    mg_json_free(*out);
    *out = NULL;
    goto out;
  }
  rc = 0;
out:
  mg_buf_release(&buf);
  return rc;
}

int mg_record_read(const char *path, size_t max, struct mg_json **out,
                   struct mg_err *err)
{
  return read_record(path, max, 0, out, err);
}

int mg_record_read_or_new(const char *path, size_t max, struct mg_json **out,
                          struct mg_err *err)
{
  return read_record(path, max, 1, out, err);
}

void mg_record_set_section(struct mg_json *rec, const char *name,
                           struct mg_json *section)
{
  mg_json_set(rec, name, section);
}

struct mg_json *mg_record_section(const struct mg_json *rec, const char *name)
{
  return mg_json_get(rec, name);
}

int mg_record_write(const struct mg_json *rec, const char *path, int pretty,
                    struct mg_err *err)
{
  char *text =
      mg_json_print(rec, MG_JSON_NEWLINE | (pretty ? MG_JSON_PRETTY : 0));
  int rc = mg_io_write_atomic(path, text, strlen(text), 0644, err);

  free(text);
  return rc;
}

int mg_record_sidefile(const char *path, struct mg_json **out,
                       struct mg_err *err)
{
  char hex[MG_DIGEST_SHA256_HEX_LEN + 1];
  unsigned long long size;
  struct mg_json *o;

  *out = NULL;
  if (mg_digest_sha256_file(path, hex, &size, err) < 0)
    return -1;
  o = mg_json_new_object();
  mg_json_set_string(o, "path", path);
  mg_json_set_number(o, "bytes", (double)size);
  mg_json_set_string(o, "sha256", hex);
  *out = o;
  return 0;
}

static int is_secret_param(const char *name, size_t n)
{
  static const char *const names[] = {
    "token",
    "sig",
    "signature",
    "access_token",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "api_key",
    "apikey",
  };

  for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++)
    if (strlen(names[i]) == n && strncasecmp(name, names[i], n) == 0)
      return 1;
  return 0;
}

char *mg_record_redact_url(const char *url)
{
  struct mg_buf out = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const char *scheme = strstr(url, "://");
  const char *p = url, *q;

  if (scheme) {
    const char *host = scheme + 3;
    const char *end = host + strcspn(host, "/?#");
    const char *at = NULL;

    for (const char *c = host; c < end; c++)
      if (*c == '@')
        at = c;
    mg_buf_add(&out, url, (size_t)(host - url), NULL);
    p = at ? at + 1 : host;
  }
  q = strchr(p, '?');
  if (!q) {
    mg_buf_addstr(&out, p, NULL);
    return mg_buf_detach(&out, NULL);
  }
  mg_buf_add(&out, p, (size_t)(q - p) + 1, NULL);
  p = q + 1;
  while (*p) {
    size_t len = strcspn(p, "&#");
    const char *eq = memchr(p, '=', len);

    if (eq && is_secret_param(p, (size_t)(eq - p))) {
      mg_buf_add(&out, p, (size_t)(eq - p) + 1, NULL);
      mg_buf_addstr(&out, "REDACTED", NULL);
    } else {
      mg_buf_add(&out, p, len, NULL);
    }
    p += len;
    if (*p == '#') {
      mg_buf_addstr(&out, p, NULL);
      break;
    }
    if (*p == '&')
      mg_buf_addch(&out, *p++, NULL);
  }
  return mg_buf_detach(&out, NULL);
}

void mg_record_add_provenance(struct mg_json *rec, const char *started,
                              int argc, char **argv)
{
  struct mg_json *prov = mg_json_get(rec, "provenance");
  struct mg_json *e = mg_json_new_object();
  struct mg_json *args = mg_json_new_array();
  char finished[40], host[256];

  if (!mg_json_is_array(prov)) {
    prov = mg_json_new_array();
    mg_json_set(rec, "provenance", prov);
  }
  mg_time_rfc3339(finished, sizeof(finished));
  if (gethostname(host, sizeof(host)) < 0)
    host[0] = '\0';
  host[sizeof(host) - 1] = '\0';
  for (int i = 1; i < argc; i++) {
    char *r;

    /* Header values may carry credentials (an Authorization header). */
    if (strncmp(argv[i], "--header", 8) == 0
        && (argv[i][8] == '\0' || argv[i][8] == '=')) {
      mg_json_append(args, mg_json_new_string("--header"));
      if (argv[i][8] == '\0')
        i++;
      mg_json_append(args, mg_json_new_string("REDACTED"));
      continue;
    }
    r = mg_record_redact_url(argv[i]);
    mg_json_append(args, mg_json_new_string(r));
    free(r);
  }
  mg_json_set_string(e, "program", mg_progname());
  mg_json_set_string(e, "version", MG_VERSION);
  mg_json_set_string(e, "started", started);
  mg_json_set_string(e, "finished", finished);
  mg_json_set_string(e, "host", host);
  mg_json_set(e, "args", args);
  mg_json_append(prov, e);
}

/* The first error finding, else the first finding: "check 'path':
 * message". */
static void first_finding(const struct mg_json *ver, char *out, size_t n)
{
  const struct mg_json *fs = mg_json_get(ver, "findings");
  const struct mg_json *pick = NULL;

  out[0] = '\0';
  for (const struct mg_json *f = mg_json_first(fs); f; f = mg_json_next(f)) {
    const char *sev = mg_json_string(mg_json_get(f, "severity"));

    if (!pick)
      pick = f;
    if (sev && strcmp(sev, "error") == 0) {
      pick = f;
      break;
    }
  }
  if (pick) {
    const char *check = mg_json_string(mg_json_get(pick, "check"));
    const char *path = mg_json_string(mg_json_get(pick, "path"));
    const char *msg = mg_json_string(mg_json_get(pick, "message"));

    if (path)
      snprintf(out, n, ": %.40s '%.120s': %.200s", check ? check : "check",
               path, msg ? msg : "");
    else
      snprintf(out, n, ": %.40s: %.200s", check ? check : "check",
               msg ? msg : "");
  }
}

/* 1 when every model file is in the verification's file list with the
 * same digest; fills bad with the first one that is not. */
static int files_covered(const struct mg_json *model, const struct mg_json *ver,
                         const char **bad)
{
  const struct mg_json *vf = mg_json_get(ver, "files");

  *bad = NULL;
  if (!mg_json_is_array(mg_json_get(model, "files")) || !mg_json_is_array(vf))
    return 1;
  for (const struct mg_json *f = mg_json_first(mg_json_get(model, "files")); f;
       f = mg_json_next(f)) {
    const char *p = mg_json_string(mg_json_get(f, "path"));
    const char *d = mg_json_string(mg_json_get(f, "sha256"));
    int found = 0;

    for (const struct mg_json *g = mg_json_first(vf); g; g = mg_json_next(g)) {
      const char *q = mg_json_string(mg_json_get(g, "path"));
      const char *e = mg_json_string(mg_json_get(g, "sha256"));

      if (p && q && strcmp(p, q) == 0) {
        found = d && e && strcmp(d, e) == 0;
        break;
      }
    }
    if (!found) {
      *bad = p ? p : "?";
      return 0;
    }
  }
  return 1;
}

int mg_record_gate(const struct mg_json *rec, struct mg_err *err)
{
  const struct mg_json *model = mg_json_get(rec, "model");
  const struct mg_json *ver = mg_json_get(rec, "verification");
  const char *name, *verdict, *bad;
  char finding[400];

  if (!model)
    return 0;
  name = mg_json_string(mg_json_get(model, "name"));
  if (!name)
    name = "?";
  if (!ver) {
    const struct mg_json *vp =
        mg_json_get_path(rec, "registry.version_properties");

    verdict = mg_json_string(mg_json_get(vp, "verify.verdict"));
    if (verdict && strcmp(verdict, "pass") == 0)
      return 0;
    if (verdict)
      return mg_err_set(err, MG_ERR_FAIL,
                        "refusing model '%.120s': verdict '%.20s' in the "
                        "registry",
                        name, verdict);
    return mg_err_set(err, MG_ERR_FAIL,
                      "refusing model '%.120s': no verification verdict (run "
                      "model-verify)",
                      name);
  }
  verdict = mg_json_string(mg_json_get(ver, "verdict"));
  /* records older than the verdict member carry only "ok" */
  if (!verdict && mg_json_is_bool(mg_json_get(ver, "ok")))
    verdict = mg_json_bool(mg_json_get(ver, "ok")) ? "pass" : "fail";
  if (!verdict || strcmp(verdict, "pass") != 0) {
    first_finding(ver, finding, sizeof(finding));
    return mg_err_set(err, MG_ERR_FAIL,
                      "refusing model '%.120s': verdict '%.20s'%s", name,
                      verdict ? verdict : "none", finding);
  }
  if (!files_covered(model, ver, &bad))
    return mg_err_set(err, MG_ERR_FAIL,
                      "refusing model '%.120s': file '%.200s' was not "
                      "verified with this sha256",
                      name, bad);
  return 0;
}

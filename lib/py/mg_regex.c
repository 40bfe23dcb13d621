#include "py/mg_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "mg_buf.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "py/mg_pv.h"

struct mg_regex {
  pcre2_code *code;
  int groups;
};

int mg_regex_compile(const char *pattern, struct mg_regex **out,
                     struct mg_err *err)
{
  int ec;
  PCRE2_SIZE eo;
  pcre2_code *code;
  struct mg_regex *re;
  uint32_t cap = 0;

  *out = NULL;
  code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                       PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec,
                       &eo, NULL);
  if (!code) {
    PCRE2_UCHAR msg[200];

    pcre2_get_error_message(ec, msg, sizeof(msg));
    return mg_err_set(err, MG_ERR_DATA,
                      "invalid regular expression '%s': %s at offset %zu",
                      pattern, (const char *)msg, (size_t)eo);
  }
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &cap);
  re = mg_xcalloc(1, sizeof(*re));
  re->code = code;
  re->groups = (int)cap;
  *out = re;
  return 0;
}

void mg_regex_free(struct mg_regex *re)
{
  if (!re)
    return;
  pcre2_code_free(re->code);
  free(re);
}

int mg_regex_groups(const struct mg_regex *re)
{
  return re->groups;
}

/* One step of Python-style iteration. Returns 1 with the match in md, 0
 * when there are no more matches. *pos and *retry carry the state. */
static int next_match(const struct mg_regex *re, const char *s, size_t n,
                      size_t *pos, int *retry_empty, pcre2_match_data *md)
{
  for (;;) {
    int rc;
    uint32_t opts = 0;

    if (*pos > n)
      return 0;
    if (*retry_empty)
      opts = PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED;
    rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, *pos, opts, md, NULL);
    if (rc >= 0 || rc == PCRE2_ERROR_NOMATCH) {
      if (rc == PCRE2_ERROR_NOMATCH) {
        if (!*retry_empty)
          return 0;
        /* advance one character past the empty match */
        *retry_empty = 0;
        if (*pos >= n)
          return 0;
        (*pos)++;
        while (*pos < n && ((unsigned char)s[*pos] & 0xC0) == 0x80)
          (*pos)++;
        continue;
      }
      {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

        *retry_empty = ov[0] == ov[1];
        *pos = ov[1];
        return 1;
      }
    }
    return 0;
  }
}

int mg_regex_search(const struct mg_regex *re, const char *s, size_t n)
{
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
  int rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, md, NULL);

  pcre2_match_data_free(md);
  return rc >= 0;
}

static struct mg_pv *group_str(const char *s, PCRE2_SIZE *ov, int g)
{
  if (ov[2 * g] == PCRE2_UNSET)
    return mg_pv_str("");
  return mg_pv_strn(s + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
}

struct mg_pv *mg_regex_findall(const struct mg_regex *re, const char *s,
                               size_t n)
{
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
  struct mg_pv *l = mg_pv_list();
  size_t pos = 0;
  int retry = 0;

  while (next_match(re, s, n, &pos, &retry, md)) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

    if (re->groups == 0) {
      mg_pv_list_append(l, group_str(s, ov, 0));
    } else if (re->groups == 1) {
      mg_pv_list_append(l, group_str(s, ov, 1));
    } else {
      struct mg_pv *t = mg_pv_tuple();

      for (int g = 1; g <= re->groups; g++)
        mg_pv_list_append(t, group_str(s, ov, g));
      mg_pv_list_append(l, t);
    }
  }
  pcre2_match_data_free(md);
  return l;
}

static int expand(const struct mg_regex *re, const char *repl, const char *s,
                  PCRE2_SIZE *ov, struct mg_buf *out, struct mg_err *err)
{
  for (const char *p = repl; *p; p++) {
    int g = -1;

    if (*p != '\\') {
      mg_buf_addch(out, *p, NULL);
      continue;
    }
    p++;
    if (*p >= '0' && *p <= '9') {
      g = *p - '0';
      if (p[1] >= '0' && p[1] <= '9' && g * 10 + (p[1] - '0') <= re->groups) {
        g = g * 10 + (p[1] - '0');
        p++;
      }
    } else if (*p == 'g' && p[1] == '<') {
      const char *end = strchr(p + 2, '>');
      char name[64];
      size_t len;

      if (!end || (len = (size_t)(end - p - 2)) == 0 || len >= sizeof(name))
        return mg_err_set(err, MG_ERR_DATA,
                          "bad group reference in replacement '%s'", repl);
      memcpy(name, p + 2, len);
      name[len] = '\0';
      if (name[0] >= '0' && name[0] <= '9') {
        char *e;

        g = (int)strtol(name, &e, 10);
        if (*e)
          g = -2;
      } else {
        g = pcre2_substring_number_from_name(re->code, (PCRE2_SPTR)name);
      }
      p = end;
    } else {
      switch (*p) {
      case 'n':
        mg_buf_addch(out, '\n', NULL);
        break;
      case 't':
        mg_buf_addch(out, '\t', NULL);
        break;
      case 'r':
        mg_buf_addch(out, '\r', NULL);
        break;
      case '\\':
        mg_buf_addch(out, '\\', NULL);
        break;
      case '\0':
        return mg_err_set(err, MG_ERR_DATA,
                          "bad escape (end of pattern) in replacement '%s'",
                          repl);
      default:
        mg_buf_addch(out, '\\', NULL);
        mg_buf_addch(out, *p, NULL);
      }
      continue;
    }
    if (g < 0 || g > re->groups)
      return mg_err_set(err, MG_ERR_DATA,
                        "invalid group reference in replacement '%s'", repl);
    if (ov[2 * g] != PCRE2_UNSET)
      mg_buf_add(out, s + ov[2 * g], ov[2 * g + 1] - ov[2 * g], NULL);
  }
  return 0;
}

int mg_regex_sub(const struct mg_regex *re, const char *repl, const char *s,
                 size_t n, long count, struct mg_buf *out, struct mg_err *err)
{
  pcre2_match_data *md = pcre2_match_data_create_from_pattern(re->code, NULL);
  size_t pos = 0, copied = 0;
  int retry = 0, rc = 0;
  long done = 0;

  while ((count <= 0 || done < count)
         && next_match(re, s, n, &pos, &retry, md)) {
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

    mg_buf_add(out, s + copied, ov[0] - copied, NULL);
    if (expand(re, repl, s, ov, out, err) < 0) {
      rc = -1;
      break;
    }
    copied = ov[1];
    done++;
  }
  if (rc == 0)
    mg_buf_add(out, s + copied, n - copied, NULL);
  pcre2_match_data_free(md);
  return rc;
}

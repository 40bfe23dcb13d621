#include "perf/mg_perf_osd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mg_err.h"
#include "mg_json.h"
#include "mg_mem.h"

#define EPS 1e-12

void mg_perf_osd_opts_init(struct mg_perf_osd_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->enforce = 1;
  o->min_seconds = 30;
  o->max_window_seconds = 120;
  o->moe_threshold = 2.0;
  o->minimum_ttft = 2.5;
  o->max_window_ratio = 0.75;
  o->min_window_size = 5;
  o->confidence = 0.95;
}

static int parse_number(const char *v, size_t n, double lo, double hi,
                        double *out)
{
  char buf[64], *end;
  double x;

  if (n == 0 || n >= sizeof(buf))
    return -1;
  memcpy(buf, v, n);
  buf[n] = '\0';
  x = strtod(buf, &end);
  if (*end || !isfinite(x) || x < lo || x > hi)
    return -1;
  *out = x;
  return 0;
}

static int set_key(struct mg_perf_osd_opts *o, const char *k, size_t kn,
                   const char *v, size_t vn)
{
  double x;

#define KEY(lit) (kn == sizeof(lit) - 1 && memcmp(k, lit, kn) == 0)
#define VAL(lit) (vn == sizeof(lit) - 1 && memcmp(v, lit, vn) == 0)
  if (KEY("mode")) {
    if (VAL("enforce"))
      o->enforce = 1;
    else if (VAL("monitor"))
      o->enforce = 0;
    else
      return -1;
    return 0;
  }
  if (KEY("enabled")) {
    if (VAL("true") || VAL("True") || VAL("1"))
      o->enforce = 1;
    else if (VAL("false") || VAL("False") || VAL("0"))
      o->enforce = 0;
    else
      return -1;
    return 0;
  }
  if (KEY("kind"))
    return VAL("over_saturation") ? 0 : -1;
  if (KEY("min_seconds") || KEY("minimum_duration"))
    return parse_number(v, vn, 0, 1e9, &o->min_seconds);
  if (KEY("max_window_seconds") || KEY("maximum_window_seconds"))
    return parse_number(v, vn, 0, 1e9, &o->max_window_seconds);
  if (KEY("moe_threshold"))
    return parse_number(v, vn, 0, 1e9, &o->moe_threshold);
  if (KEY("minimum_ttft"))
    return parse_number(v, vn, 0, 1e9, &o->minimum_ttft);
  if (KEY("maximum_window_ratio") || KEY("max_window_ratio"))
    return parse_number(v, vn, 0, 1, &o->max_window_ratio);
  if (KEY("confidence"))
    return parse_number(v, vn, 0, 1, &o->confidence);
  if (KEY("minimum_window_size") || KEY("min_window_size")) {
    if (parse_number(v, vn, 0, 1e9, &x) < 0 || x != floor(x))
      return -1;
    o->min_window_size = (int)x;
    return 0;
  }
#undef KEY
#undef VAL
  return -1;
}

int mg_perf_osd_opts_parse(const char *spec, struct mg_perf_osd_opts *o,
                           struct mg_err *err)
{
  const char *p = spec;

  while (*p == ' ')
    p++;
  if (*p == '{') {
    struct mg_json *j = NULL;
    int rc = 0;
    if (mg_json_parse(spec, strlen(spec), "over-saturation", &j, NULL) < 0
        || !mg_json_is_object(j)) {
      mg_json_free(j);
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid over-saturation spec '%s': expected "
                        "key=value,... or a JSON object",
                        spec);
    }
    for (struct mg_json *x = mg_json_first(j); x && rc == 0;
         x = mg_json_next(x)) {
      const char *k = mg_json_key(x);
      char *v = mg_json_is_string(x) ? mg_xstrdup(mg_json_string(x))
                                     : mg_json_print(x, 0);
      rc = set_key(o, k, strlen(k), v, strlen(v));
      if (rc < 0)
        mg_err_set(err, MG_ERR_USAGE,
                   "invalid over-saturation spec '%s': bad key or value "
                   "'%s'",
                   spec, k);
      free(v);
    }
    mg_json_free(j);
    return rc;
  }
  while (*p) {
    size_t n = strcspn(p, ",");
    const char *eq = memchr(p, '=', n);
    if (!eq || eq == p
        || set_key(o, p, (size_t)(eq - p), eq + 1, n - (size_t)(eq - p) - 1)
               < 0)
      return mg_err_set(err, MG_ERR_USAGE,
                        "invalid over-saturation spec '%s': bad item "
                        "'%.*s'",
                        spec, (int)n, p);
    p += n;
    if (*p == ',')
      p++;
  }
  return 0;
}

void mg_perf_osd_slope_add(struct mg_perf_osd_slope *s, double x, double y)
{
  s->n++;
  s->sum_x += x;
  s->sum_y += y;
  s->sum_xy += x * y;
  s->sum_x2 += x * x;
  s->sum_y2 += y * y;
}

void mg_perf_osd_slope_remove(struct mg_perf_osd_slope *s, double x, double y)
{
  s->n--;
  s->sum_x -= x;
  s->sum_y -= y;
  s->sum_xy -= x * y;
  s->sum_x2 -= x * x;
  s->sum_y2 -= y * y;
}

double mg_perf_osd_t_ppf(double p, double df)
{
  static const double c[3] = { 2.515517, 0.802853, 0.010328 };
  static const double d[3] = { 1.432788, 0.189269, 0.001308 };
  double t, z, z2, z3, z4, g1, g2;

  if (df <= 0)
    return NAN;
  /* The normal quantile (A&S 26.2.23), then the t correction. */
  if (p < 0.5) {
    t = sqrt(-2.0 * log(p));
    z = -(t
          - ((c[2] * t + c[1]) * t + c[0])
                / (((d[2] * t + d[1]) * t + d[0]) * t + 1.0));
  } else {
    t = sqrt(-2.0 * log(1.0 - p));
    z = t
        - ((c[2] * t + c[1]) * t + c[0])
              / (((d[2] * t + d[1]) * t + d[0]) * t + 1.0);
  }
  z2 = z * z;
  z3 = z2 * z;
  z4 = z3 * z;
  g1 = (z3 + z) / 4.0;
  g2 = (5.0 * z4 + 16.0 * z3 + 3.0 * z2) / 96.0;
  return z + g1 / df + g2 / (df * df);
}

int mg_perf_osd_slope_check(struct mg_perf_osd_slope *s, double effective_n,
                            double moe_threshold, double confidence)
{
  double sxx, sxy, syy, sxx_safe, slope, rss, dof, se, tcrit, moe;

  if (effective_n < 3)
    return 0;
  sxx = s->sum_x2 - (s->sum_x * s->sum_x) / (double)s->n;
  sxy = s->sum_xy - (s->sum_x * s->sum_y) / (double)s->n;
  syy = s->sum_y2 - (s->sum_y * s->sum_y) / (double)s->n;
  sxx_safe = sxx > EPS ? sxx : EPS;
  slope = sxy / sxx_safe;
  rss = syy - (sxy * sxy) / sxx_safe;
  if (rss < 0)
    rss = 0;
  dof = effective_n - 2;
  se = sqrt(rss / dof / sxx_safe);
  tcrit = mg_perf_osd_t_ppf(1 - (1 - confidence) / 2, dof);
  moe = tcrit * se / (slope > EPS ? slope : EPS);
  s->slope = slope;
  s->moe = moe;
  s->checked = 1;
  return slope > 0 && moe < moe_threshold;
}

void mg_perf_osd_init(struct mg_perf_osd *d, const struct mg_perf_osd_opts *o)
{
  memset(d, 0, sizeof(*d));
  d->o = *o;
}

void mg_perf_osd_release(struct mg_perf_osd *d)
{
  free(d->started);
  free(d->finished);
  d->started = d->finished = NULL;
}

static void push(struct mg_perf_osd_point **a, size_t *head, size_t *len,
                 size_t *cap, double t, double v)
{
  if (*len == *cap) {
    size_t nc = *cap ? *cap * 2 : 64;
    struct mg_perf_osd_point *b = mg_xreallocarray(NULL, nc, sizeof(*b));
    for (size_t i = 0; i < *len; i++)
      b[i] = (*a)[(*head + i) % *cap];
    free(*a);
    *a = b;
    *head = 0;
    *cap = nc;
  }
  (*a)[(*head + *len) % *cap].t = t;
  (*a)[(*head + *len) % *cap].v = v;
  (*len)++;
}

void mg_perf_osd_started(struct mg_perf_osd *d, double t, int concurrent)
{
  d->started_ever++;
  push(&d->started, &d->s_head, &d->s_len, &d->s_cap, t, concurrent);
  mg_perf_osd_slope_add(&d->conc, t, concurrent);
}

void mg_perf_osd_first_token(struct mg_perf_osd *d, double t, double ttft)
{
  d->finished_ever++;
  if (ttft > d->o.minimum_ttft)
    d->violations++;
  push(&d->finished, &d->f_head, &d->f_len, &d->f_cap, t, ttft);
  mg_perf_osd_slope_add(&d->ttft, t, ttft);
}

static void drop_finished(struct mg_perf_osd *d)
{
  struct mg_perf_osd_point *p = &d->finished[d->f_head];

  if (p->v > d->o.minimum_ttft)
    d->violations--;
  mg_perf_osd_slope_remove(&d->ttft, p->t, p->v);
  d->f_head = (d->f_head + 1) % d->f_cap;
  d->f_len--;
}

static void drop_started(struct mg_perf_osd *d)
{
  struct mg_perf_osd_point *p = &d->started[d->s_head];

  mg_perf_osd_slope_remove(&d->conc, p->t, p->v);
  d->s_head = (d->s_head + 1) % d->s_cap;
  d->s_len--;
}

int mg_perf_osd_check(struct mg_perf_osd *d, double t)
{
  size_t maxf, maxs;
  double cn, tn;
  int conc_pos, ttft_pos;

  d->duration = t;
  /* int(total * ratio): truncation, as Python's int() of a positive. */
  maxf = (size_t)((double)d->finished_ever * d->o.max_window_ratio);
  while (d->f_len > maxf)
    drop_finished(d);
  while (d->f_len > 0 && t - d->finished[d->f_head].t > d->o.max_window_seconds)
    drop_finished(d);
  maxs = (size_t)((double)d->started_ever * d->o.max_window_ratio);
  while (d->s_len > maxs)
    drop_started(d);
  while (d->s_len > 0 && t - d->started[d->s_head].t > d->o.max_window_seconds)
    drop_started(d);

  cn = t < (double)d->conc.n ? t : (double)d->conc.n;
  tn = t < (double)d->ttft.n ? t : (double)d->ttft.n;
  if (t < d->o.min_seconds || d->ttft.n > d->violations * 2
      || t < d->o.minimum_ttft || cn < d->o.min_window_size)
    return 0;
  conc_pos = mg_perf_osd_slope_check(&d->conc, cn, d->o.moe_threshold,
                                     d->o.confidence);
  if (tn < d->o.min_window_size)
    ttft_pos = 1;
  else
    ttft_pos = mg_perf_osd_slope_check(&d->ttft, tn, d->o.moe_threshold,
                                       d->o.confidence);
  if (!(conc_pos && ttft_pos))
    return 0;
  if (!d->detected) {
    d->detected = 1;
    d->detected_at = t;
  }
  return 1;
}

static void set_opt_number(struct mg_json *o, const char *k, int have, double v)
{
  if (have && isfinite(v))
    mg_json_set_number(o, k, round(v * 1e6) / 1e6);
  else
    mg_json_set(o, k, mg_json_new_null());
}

struct mg_json *mg_perf_osd_json(const struct mg_perf_osd *d)
{
  struct mg_json *o = mg_json_new_object();

  mg_json_set_string(o, "mode", d->o.enforce ? "enforce" : "monitor");
  mg_json_set_bool(o, "detected", d->detected);
  if (d->detected)
    mg_json_set_number(o, "detected_at_s", round(d->detected_at * 1e6) / 1e6);
  set_opt_number(o, "ttft_slope", d->ttft.checked, d->ttft.slope);
  set_opt_number(o, "ttft_slope_moe", d->ttft.checked, d->ttft.moe);
  mg_json_set_number(o, "ttft_n", (double)d->ttft.n);
  mg_json_set_number(o, "ttft_violations", (double)d->violations);
  set_opt_number(o, "concurrent_slope", d->conc.checked, d->conc.slope);
  set_opt_number(o, "concurrent_slope_moe", d->conc.checked, d->conc.moe);
  mg_json_set_number(o, "concurrent_n", (double)d->conc.n);
  return o;
}

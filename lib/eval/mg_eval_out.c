#include "eval/mg_eval_out.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/mg_eval.h"
#include "eval/mg_eval_table.h"
#include "eval/mg_metrics.h"
#include "eval/mg_task.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_record.h"
#include "mg_version.h"
#include "py/mg_pv.h"

/* ---- helpers ---- */

static struct mg_pv *pv_version(const struct mg_pv *v)
{
  return v ? mg_pv_ref((struct mg_pv *)v) : mg_pv_none();
}

static void metric_keys(const struct mg_metric_value *v, char *k, size_t kn,
                        char *se, size_t sen)
{
  (void)snprintf(k, kn, "%s,%s", v->metric, v->filter);
  (void)snprintf(se, sen, "%s_stderr,%s", v->metric, v->filter);
}

static struct mg_pv *stderr_pv(const struct mg_metric_value *v)
{
  return v->has_stderr ? mg_pv_float(v->stderr_) : mg_pv_str("N/A");
}

static size_t task_index(const struct mg_task_set *ts, const struct mg_task *t)
{
  for (size_t i = 0; i < ts->ntasks; i++)
    if (ts->tasks[i] == t)
      return i;
  return 0;
}

static size_t group_index(const struct mg_task_set *ts,
                          const struct mg_group *g)
{
  for (size_t i = 0; i < ts->ngroups; i++)
    if (ts->groups[i] == g)
      return i;
  return 0;
}

static const char *item_name(const struct mg_task_item *it)
{
  return it->task ? it->task->name : it->group->name;
}

static int cmp_items(const void *a, const void *b)
{
  return strcmp(item_name(a), item_name(b));
}

/* Items sorted by name (lm-eval's prepare_print_tasks order). caller
 * frees. */
static struct mg_task_item *sorted_items(const struct mg_task_item *items,
                                         size_t n)
{
  struct mg_task_item *s = mg_xcalloc(n ? n : 1, sizeof(*s));

  memcpy(s, items, n * sizeof(*s));
  qsort(s, n, sizeof(*s), cmp_items);
  return s;
}

/* The task's hash over its samples (lm-eval's task_hashes). */
static void task_hash(const struct mg_pv *samples, char out[65])
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  out[0] = '\0';
  if (!samples || !samples->u.list.n)
    return;
  for (size_t i = 0; i < samples->u.list.n; i++) {
    const struct mg_pv *s = samples->u.list.v[i];

    mg_pv_to_str(&b, mg_pv_dict_get(s, "doc_hash"));
    mg_pv_to_str(&b, mg_pv_dict_get(s, "prompt_hash"));
    mg_pv_to_str(&b, mg_pv_dict_get(s, "target_hash"));
  }
  mg_digest_sha256_hex(b.data, b.len, out);
  mg_buf_release(&b);
}

/* Documents of task t the results describe: all selected ones, or for a
 * partial run the ones whose requests all answered (scored). */
static size_t effective_docs(const struct mg_eval_run *r, size_t t)
{
  return r->complete ? r->ts->tasks[t]->docs->u.list.n : r->tres[t].n;
}

/* ---- lm-eval results JSON ---- */

static void results_rows(const struct mg_eval_run *r,
                         const struct mg_task_item *items, size_t n, int depth,
                         struct mg_pv *results, struct mg_pv *groups)
{
  struct mg_task_item *s = sorted_items(items, n);

  for (size_t i = 0; i < n; i++) {
    struct mg_pv *row = mg_pv_dict();
    struct mg_buf a = MG_BUF_INIT(MG_BUF_UNLIMITED);
    const struct mg_task_result *res;
    char k[200], se[200];

    for (int d = 0; d < depth; d++)
      mg_buf_addch(&a, ' ', NULL);
    if (depth)
      mg_buf_addstr(&a, "- ", NULL);
    if (s[i].task) {
      mg_buf_addstr(&a, s[i].task->alias ? s[i].task->alias : s[i].task->name,
                    NULL);
      res = &r->tres[task_index(r->ts, s[i].task)];
    } else {
      mg_buf_addstr(
          &a, s[i].group->alias ? s[i].group->alias : s[i].group->name, NULL);
      res = &r->gres[group_index(r->ts, s[i].group)];
    }
    mg_pv_dict_sets(row, "alias", mg_pv_str_buf(&a));
    if (s[i].group && !s[i].group->agg)
      mg_pv_dict_sets(row, " ", mg_pv_str(" "));
    for (size_t m = 0; m < res->nv; m++) {
      metric_keys(&res->v[m], k, sizeof(k), se, sizeof(se));
      mg_pv_dict_sets(row, k, mg_pv_float(res->v[m].value));
      mg_pv_dict_sets(row, se, stderr_pv(&res->v[m]));
    }
    if (s[i].group && s[i].group->agg && groups)
      mg_pv_dict_sets(groups, s[i].group->name, mg_pv_copy(row));
    mg_pv_dict_sets(results, item_name(&s[i]), row);
    if (s[i].group)
      results_rows(r, s[i].group->items, s[i].group->nitems, depth + 1, results,
                   groups);
  }
  free(s);
}

static struct mg_pv *higher_is_better_of(const struct mg_task_result *res)
{
  struct mg_pv *d = mg_pv_dict();

  for (size_t i = 0; i < res->nv; i++)
    mg_pv_dict_sets(d, res->v[i].metric,
                    mg_pv_bool(res->v[i].higher_is_better));
  return d;
}

static int cmp_pv_keys(const void *a, const void *b)
{
  const struct mg_pv *x = *(struct mg_pv *const *)a;
  const struct mg_pv *y = *(struct mg_pv *const *)b;

  return strcmp(x->u.str.s, y->u.str.s);
}

/* dict(sorted(d.items())) for str keys */
static struct mg_pv *sorted_dict(struct mg_pv *d)
{
  struct mg_pv *out = mg_pv_dict();
  struct mg_pv **keys = mg_xcalloc(d->u.dict.n + 1, sizeof(*keys));

  for (size_t i = 0; i < d->u.dict.n; i++)
    keys[i] = d->u.dict.k[i];
  qsort(keys, d->u.dict.n, sizeof(*keys), cmp_pv_keys);
  for (size_t i = 0; i < d->u.dict.n; i++)
    mg_pv_dict_set(out, mg_pv_ref(keys[i]),
                   mg_pv_ref(mg_pv_dict_getv(d, keys[i])));
  free(keys);
  mg_pv_unref(d);
  return out;
}

static struct mg_pv *sanitized_model_name(const char *m)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  int in_run = 0;

  for (const char *p = m ? m : ""; *p; p++) {
    if (strchr("\"<>:/|\\?*[]", *p)) {
      if (!in_run)
        mg_buf_addstr(&b, "__", NULL);
      in_run = 1;
    } else {
      mg_buf_addch(&b, *p, NULL);
      in_run = 0;
    }
  }
  return mg_pv_str_buf(&b);
}

/* lm-eval's results dict (anchor 4.1), as a Python value */
static struct mg_pv *results_dict(const struct mg_eval_run *r,
                                  const struct mg_eval_meta *meta)
{
  const struct mg_task_set *ts = r->ts;
  struct mg_pv *root = mg_pv_dict(), *results = mg_pv_dict(),
               *groups = mg_pv_dict(), *gs = mg_pv_dict(), *configs, *versions,
               *nshot, *hib, *nsamples = mg_pv_dict(), *cfg = mg_pv_dict(),
               *hashes = mg_pv_dict(), *ext;
  struct timespec now;
  double secs = (double)(r->t1_ns - r->t0_ns) / 1e9;

  results_rows(r, ts->top, ts->ntop, 0, results, groups);
  mg_pv_dict_sets(root, "results", results);
  if (groups->u.dict.n)
    mg_pv_dict_sets(root, "groups", groups);
  else
    mg_pv_unref(groups);
  for (size_t g = 0; g < ts->ngroups; g++) {
    struct mg_pv *l = mg_pv_list();

    for (size_t i = 0; i < ts->groups[g]->nitems; i++)
      mg_pv_list_append(l, mg_pv_str(item_name(&ts->groups[g]->items[i])));
    mg_pv_dict_sets(gs, ts->groups[g]->name, l);
  }
  for (size_t i = 0; i < ts->ntop; i++)
    if (ts->top[i].task)
      mg_pv_dict_sets(gs, ts->top[i].task->name, mg_pv_list());
  mg_pv_dict_sets(root, "group_subtasks", gs);
  configs = mg_pv_dict();
  versions = mg_pv_dict();
  nshot = mg_pv_dict();
  hib = mg_pv_dict();
  for (size_t t = 0; t < ts->ntasks; t++) {
    const struct mg_task *task = ts->tasks[t];
    struct mg_pv *ns = mg_pv_dict();
    char h[65];

    mg_pv_dict_sets(configs, task->name, mg_pv_ref(task->config));
    mg_pv_dict_sets(versions, task->name, pv_version(task->version));
    mg_pv_dict_sets(nshot, task->name, mg_pv_int(task->num_fewshot));
    mg_pv_dict_sets(hib, task->name, higher_is_better_of(&r->tres[t]));
    mg_pv_dict_sets(ns, "original", mg_pv_int((long long)task->n_original));
    mg_pv_dict_sets(ns, "effective",
                    mg_pv_int((long long)effective_docs(r, t)));
    mg_pv_dict_sets(nsamples, task->name, ns);
    task_hash(r->samples ? r->samples[t] : NULL, h);
    if (h[0])
      mg_pv_dict_sets(hashes, task->name, mg_pv_str(h));
  }
  for (size_t g = 0; g < ts->ngroups; g++) {
    if (!ts->groups[g]->agg)
      continue;
    mg_pv_dict_sets(versions, ts->groups[g]->name,
                    pv_version(ts->groups[g]->version));
    mg_pv_dict_sets(hib, ts->groups[g]->name, higher_is_better_of(&r->gres[g]));
  }
  mg_pv_dict_sets(root, "configs", sorted_dict(configs));
  mg_pv_dict_sets(root, "versions", sorted_dict(versions));
  mg_pv_dict_sets(root, "n-shot", sorted_dict(nshot));
  mg_pv_dict_sets(root, "higher_is_better", sorted_dict(hib));
  mg_pv_dict_sets(root, "n-samples", nsamples);
  mg_pv_dict_sets(cfg, "model", mg_pv_str(meta->model_kind));
  mg_pv_dict_sets(cfg, "model_args",
                  mg_pv_str(meta->model_args ? meta->model_args : ""));
  /* lm-eval 0.4.8's argparse: --batch_size is type=str, default int 1;
   * --limit is type=float */
  mg_pv_dict_sets(cfg, "batch_size",
                  meta->batch_size_arg ? mg_pv_str(meta->batch_size_arg)
                                       : mg_pv_int(meta->batch_size));
  mg_pv_dict_sets(cfg, "batch_sizes", mg_pv_list());
  mg_pv_dict_sets(cfg, "device", mg_pv_none());
  mg_pv_dict_sets(cfg, "use_cache", mg_pv_none());
  mg_pv_dict_sets(cfg, "limit",
                  meta->limit < 0 ? mg_pv_none() : mg_pv_float(meta->limit));
  mg_pv_dict_sets(cfg, "bootstrap_iters", mg_pv_int(100000));
  mg_pv_dict_sets(cfg, "gen_kwargs",
                  meta->gen_kwargs ? mg_pv_ref((struct mg_pv *)meta->gen_kwargs)
                                   : mg_pv_none());
  mg_pv_dict_sets(cfg, "random_seed", mg_pv_int(0));
  mg_pv_dict_sets(cfg, "numpy_seed", mg_pv_int((long long)meta->seed));
  mg_pv_dict_sets(cfg, "torch_seed", mg_pv_int((long long)meta->seed));
  mg_pv_dict_sets(cfg, "fewshot_seed",
                  mg_pv_int((long long)meta->fewshot_seed));
  mg_pv_dict_sets(root, "config", cfg);
  mg_pv_dict_sets(root, "git_hash", mg_pv_none());
  clock_gettime(CLOCK_REALTIME, &now);
  mg_pv_dict_sets(
      root, "date",
      mg_pv_float((double)now.tv_sec - secs + (double)now.tv_nsec / 1e9));
  mg_pv_dict_sets(root, "pretty_env_info",
                  mg_pv_str("eval-run (modelgate) " MG_VERSION
                            ": C implementation, no Python environment"));
  mg_pv_dict_sets(root, "transformers_version", mg_pv_none());
  mg_pv_dict_sets(root, "lm_eval_version", mg_pv_str("0.4.8"));
  mg_pv_dict_sets(root, "upper_git_hash", mg_pv_none());
  if (r->has_tokenizer_info) {
    /* add_tokenizer_info: [token, str(id)], eot_token_id, lm.max_length */
    const char *keys[3] = { "tokenizer_pad_token", "tokenizer_eos_token",
                            "tokenizer_bos_token" };
    const char *toks[3] = { r->tok_pad, r->tok_eos, r->tok_bos };
    const long long ids[3] = { r->tok_pad_id, r->tok_eos_id, r->tok_bos_id };

    for (int k = 0; k < 3; k++) {
      struct mg_pv *l = mg_pv_list();
      char idbuf[32];

      if (ids[k] >= 0)
        (void)snprintf(idbuf, sizeof(idbuf), "%lld", ids[k]);
      else
        (void)snprintf(idbuf, sizeof(idbuf), "None");
      mg_pv_list_append(l, toks[k] ? mg_pv_str(toks[k]) : mg_pv_none());
      mg_pv_list_append(l, mg_pv_str(idbuf));
      mg_pv_dict_sets(root, keys[k], l);
    }
    mg_pv_dict_sets(root, "eot_token_id",
                    r->tok_eos_id >= 0 ? mg_pv_int(r->tok_eos_id)
                                       : mg_pv_none());
    mg_pv_dict_sets(root, "max_length", mg_pv_int(r->max_length - 1));
  }
  mg_pv_dict_sets(root, "task_hashes", hashes);
  mg_pv_dict_sets(root, "model_source", mg_pv_str(meta->model_kind));
  {
    const char *mn = NULL;

    /* model_name: the model= value as lm-eval reads it from model_args */
    mn = r->model_name;
    mg_pv_dict_sets(root, "model_name", mg_pv_str(mn ? mn : ""));
    mg_pv_dict_sets(root, "model_name_sanitized", sanitized_model_name(mn));
  }
  if (meta->system_instruction) {
    char h[65];

    mg_digest_sha256_hex(meta->system_instruction,
                         strlen(meta->system_instruction), h);
    mg_pv_dict_sets(root, "system_instruction",
                    mg_pv_str(meta->system_instruction));
    mg_pv_dict_sets(root, "system_instruction_sha", mg_pv_str(h));
  } else {
    mg_pv_dict_sets(root, "system_instruction", mg_pv_none());
    mg_pv_dict_sets(root, "system_instruction_sha", mg_pv_none());
  }
  mg_pv_dict_sets(root, "fewshot_as_multiturn",
                  mg_pv_bool(meta->fewshot_as_multiturn));
  if (meta->chat_template) {
    char h[65];

    mg_digest_sha256_hex(meta->chat_template, strlen(meta->chat_template), h);
    mg_pv_dict_sets(root, "chat_template", mg_pv_str(meta->chat_template));
    mg_pv_dict_sets(root, "chat_template_sha", mg_pv_str(h));
  } else {
    mg_pv_dict_sets(root, "chat_template", mg_pv_none());
    mg_pv_dict_sets(root, "chat_template_sha", mg_pv_none());
  }
  mg_pv_dict_sets(root, "start_time", mg_pv_float((double)r->t0_ns / 1e9));
  mg_pv_dict_sets(root, "end_time", mg_pv_float((double)r->t1_ns / 1e9));
  {
    struct mg_buf tb = MG_BUF_INIT(MG_BUF_UNLIMITED);

    mg_pv_float_repr(&tb, secs);
    mg_pv_dict_sets(root, "total_evaluation_time_seconds", mg_pv_str_buf(&tb));
  }
  /* eval-run's own note; lm-eval readers ignore unknown keys */
  ext = mg_pv_dict();
  mg_pv_dict_sets(ext, "version", mg_pv_str(MG_VERSION));
  mg_pv_dict_sets(ext, "complete", mg_pv_bool(r->complete));
  if (!r->complete) {
    /* a partial run: n-samples.effective counts the scored documents;
     * here the documents selected and the requests answered */
    struct mg_pv *sel = mg_pv_dict(), *req = mg_pv_dict();

    mg_pv_dict_sets(ext, "partial", mg_pv_bool(1));
    for (size_t t = 0; t < ts->ntasks; t++) {
      struct mg_pv *d = mg_pv_dict();

      mg_pv_dict_sets(d, "selected",
                      mg_pv_int((long long)ts->tasks[t]->docs->u.list.n));
      mg_pv_dict_sets(d, "scored", mg_pv_int((long long)r->tres[t].n));
      mg_pv_dict_sets(sel, ts->tasks[t]->name, d);
    }
    mg_pv_dict_sets(ext, "documents", sel);
    mg_pv_dict_sets(req, "total", mg_pv_int((long long)r->requests_total));
    mg_pv_dict_sets(
        req, "answered",
        mg_pv_int((long long)(r->requests_sent + r->requests_cached)));
    mg_pv_dict_sets(ext, "requests", req);
  }
  if (r->failure.cat != MG_ERR_NONE)
    mg_pv_dict_sets(ext, "error", mg_pv_str(r->failure.msg));
  mg_pv_dict_sets(root, "eval_run", ext);
  return root;
}

char *mg_eval_out_results_json(const struct mg_eval_run *r,
                               const struct mg_eval_meta *meta, size_t *len)
{
  struct mg_pv *root = results_dict(r, meta);
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_pv_dumps(&b, root, 2);
  mg_buf_addch(&b, '\n', NULL);
  mg_pv_unref(root);
  return mg_buf_detach(&b, len);
}

void mg_eval_out_table(const struct mg_eval_run *r,
                       const struct mg_eval_meta *meta, struct mg_buf *out)
{
  struct mg_pv *root = results_dict(r, meta);

  /* cli_evaluate's summary line, its values as Python prints them */
  mg_buf_printf(out, NULL,
                "%s (%s), gen_kwargs: (%s), limit: ", meta->model_kind,
                meta->model_args ? meta->model_args : "",
                meta->gen_kwargs_arg ? meta->gen_kwargs_arg : "None");
  if (meta->limit < 0)
    mg_buf_addstr(out, "None", NULL);
  else
    mg_pv_float_repr(out, meta->limit);
  mg_buf_addstr(out, ", num_fewshot: ", NULL);
  if (meta->num_fewshot < 0)
    mg_buf_addstr(out, "None", NULL);
  else
    mg_buf_printf(out, NULL, "%ld", meta->num_fewshot);
  mg_buf_addstr(out, ", batch_size: ", NULL);
  if (meta->batch_size_arg)
    mg_buf_addstr(out, meta->batch_size_arg, NULL);
  else
    mg_buf_printf(out, NULL, "%ld", meta->batch_size);
  mg_buf_addch(out, '\n', NULL);
  /* print(make_table(results)): the table's own last line break, then
   * print's */
  mg_eval_table(root, "results", out);
  mg_buf_addch(out, '\n', NULL);
  if (mg_pv_dict_get(root, "groups") && mg_eval_table(root, "groups", out) == 0)
    mg_buf_addch(out, '\n', NULL);
  mg_pv_unref(root);
}

char *mg_eval_out_samples_jsonl(const struct mg_eval_run *r, size_t task,
                                size_t *len)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const struct mg_pv *s = r->samples ? r->samples[task] : NULL;

  for (size_t i = 0; s && i < s->u.list.n; i++) {
    mg_pv_dumps(&b, s->u.list.v[i], -1);
    mg_buf_addch(&b, '\n', NULL);
  }
  return mg_buf_detach(&b, len);
}

/* ---- the record's eval section ---- */

static struct mg_json *metrics_obj(const struct mg_task_result *res)
{
  struct mg_json *o = mg_json_new_object();

  for (size_t m = 0; m < res->nv; m++) {
    const struct mg_metric_value *v = &res->v[m];
    struct mg_json *x = mg_json_new_object();
    char k[200], se[200];

    metric_keys(v, k, sizeof(k), se, sizeof(se));
    mg_json_set_string(x, "metric", v->metric);
    mg_json_set_string(x, "filter", v->filter);
    if (isfinite(v->value))
      mg_json_set_number(x, "value", v->value);
    else
      mg_json_set(x, "value", mg_json_new_null());
    if (v->has_stderr && isfinite(v->stderr_))
      mg_json_set_number(x, "stderr", v->stderr_);
    else
      mg_json_set(x, "stderr", mg_json_new_null());
    mg_json_set_bool(x, "higher_is_better", v->higher_is_better);
    mg_json_set(o, k, x);
  }
  return o;
}

struct mg_json *mg_eval_out_section(const struct mg_eval_run *r,
                                    const struct mg_eval_meta *meta,
                                    struct mg_json *const *samples_files,
                                    const struct mg_json *results_file)
{
  const struct mg_task_set *ts = r->ts;
  struct mg_json *s = mg_json_new_object(), *o, *tasks, *groups, *gsub,
                 *nsamples, *hib, *versions;

  mg_json_set_bool(s, "ok", r->complete && r->failure.cat == MG_ERR_NONE);
  mg_json_set_bool(s, "complete", r->complete);
  if (meta->label)
    mg_json_set_string(s, "label", meta->label);
  if (r->failure.cat != MG_ERR_NONE)
    mg_json_set_string(s, "error", r->failure.msg);
  o = mg_json_new_object();
  mg_json_set_string(o, "name", "eval-run");
  mg_json_set_string(o, "version", MG_VERSION);
  mg_json_set_string(o, "compatible_with", "lm-evaluation-harness 0.4.8");
  mg_json_set(s, "harness", o);
  o = mg_json_new_object();
  mg_json_set_string(o, "url", r->url ? r->url : "");
  mg_json_set_string(o, "model", r->model_name ? r->model_name : "");
  mg_json_set_string(o, "kind", meta->model_kind);
  mg_json_set_string(o, "tokenizer",
                     r->tokenizer_source ? r->tokenizer_source : "none");
  if (r->prefix_token_id >= 0)
    mg_json_set_number(o, "prefix_token_id", (double)r->prefix_token_id);
  if (r->eos_string)
    mg_json_set_string(o, "eos_string", r->eos_string);
  mg_json_set(s, "endpoint", o);
  mg_json_set_string(s, "started", r->started);
  mg_json_set_string(s, "finished", r->finished);
  mg_json_set_number(s, "duration_s", (double)(r->t1_ns - r->t0_ns) / 1e9);
  o = mg_json_new_object();
  if (meta->num_fewshot >= 0)
    mg_json_set_number(o, "num_fewshot", (double)meta->num_fewshot);
  else
    mg_json_set(o, "num_fewshot", mg_json_new_null());
  if (meta->limit >= 0)
    mg_json_set_number(o, "limit", meta->limit);
  else
    mg_json_set(o, "limit", mg_json_new_null());
  mg_json_set_number(o, "seed", (double)meta->seed);
  mg_json_set_number(o, "fewshot_seed", (double)meta->fewshot_seed);
  mg_json_set_bool(o, "apply_chat_template", meta->apply_chat_template);
  mg_json_set_bool(o, "fewshot_as_multiturn", meta->fewshot_as_multiturn);
  if (meta->system_instruction) {
    char h[65];

    mg_digest_sha256_hex(meta->system_instruction,
                         strlen(meta->system_instruction), h);
    mg_json_set_string(o, "system_instruction_sha256", h);
  }
  if (meta->chat_template) {
    char h[65];

    mg_digest_sha256_hex(meta->chat_template, strlen(meta->chat_template), h);
    mg_json_set_string(o, "chat_template_sha256", h);
  }
  mg_json_set(s, "config", o);
  o = mg_json_new_object();
  mg_json_set_number(o, "total", (double)r->requests_total);
  mg_json_set_number(o, "sent", (double)r->requests_sent);
  mg_json_set_number(o, "cached", (double)r->requests_cached);
  mg_json_set_number(o, "tokenize_calls", (double)r->tokenize_calls);
  mg_json_set_number(o, "retries", (double)r->retries);
  mg_json_set_number(o, "failed", (double)r->failed);
  mg_json_set_number(o, "retokenized", (double)r->retokenized);
  mg_json_set(s, "requests", o);
  tasks = mg_json_new_array();
  nsamples = mg_json_new_object();
  hib = mg_json_new_object();
  versions = mg_json_new_object();
  for (size_t t = 0; t < ts->ntasks; t++) {
    const struct mg_task *task = ts->tasks[t];
    struct mg_json *x = mg_json_new_object(), *ns, *h;
    char th[65];

    mg_json_set_string(x, "task", task->name);
    mg_json_set_string(x, "alias", task->alias ? task->alias : task->name);
    mg_json_set(x, "version", mg_pv_to_json(task->version));
    mg_json_set_string(x, "output_type", mg_task_output_name(task->output));
    mg_json_set_number(x, "n_shot", task->num_fewshot);
    mg_json_set_number(x, "n", (double)r->tres[t].n);
    ns = mg_json_new_object();
    mg_json_set_number(ns, "original", (double)task->n_original);
    mg_json_set_number(ns, "effective", (double)effective_docs(r, t));
    mg_json_set(x, "n_samples", ns);
    mg_json_set_string(x, "config_sha256", task->config_sha256);
    task_hash(r->samples ? r->samples[t] : NULL, th);
    if (th[0])
      mg_json_set_string(x, "task_hash", th);
    mg_json_set_string(x, "source", task->source);
    mg_json_set(x, "metrics", metrics_obj(&r->tres[t]));
    if (samples_files && samples_files[t])
      mg_json_set(x, "samples", mg_json_dup(samples_files[t]));
    mg_json_append(tasks, x);
    ns = mg_json_new_object();
    mg_json_set_number(ns, "original", (double)task->n_original);
    mg_json_set_number(ns, "effective", (double)effective_docs(r, t));
    mg_json_set(nsamples, task->name, ns);
    h = mg_json_new_object();
    for (size_t m = 0; m < r->tres[t].nv; m++)
      mg_json_set_bool(h, r->tres[t].v[m].metric,
                       r->tres[t].v[m].higher_is_better);
    mg_json_set(hib, task->name, h);
    mg_json_set(versions, task->name, mg_pv_to_json(task->version));
  }
  mg_json_set(s, "tasks", tasks);
  groups = mg_json_new_object();
  gsub = mg_json_new_object();
  for (size_t g = 0; g < ts->ngroups; g++) {
    const struct mg_group *grp = ts->groups[g];
    const struct mg_task_result *res = &r->gres[g];
    struct mg_json *x = mg_json_new_object(), *kids = mg_json_new_array(), *ns,
                   *h;

    for (size_t i = 0; i < grp->nitems; i++)
      mg_json_append(kids, mg_json_new_string(item_name(&grp->items[i])));
    mg_json_set(gsub, grp->name, kids);
    if (!grp->agg)
      continue;
    mg_json_set_string(x, "alias", grp->alias ? grp->alias : grp->name);
    for (size_t m = 0; m < res->nv; m++) {
      char k[200], se[200];

      metric_keys(&res->v[m], k, sizeof(k), se, sizeof(se));
      mg_json_set_number(x, k, res->v[m].value);
      if (res->v[m].has_stderr)
        mg_json_set_number(x, se, res->v[m].stderr_);
      else
        mg_json_set_string(x, se, "N/A");
    }
    mg_json_set(groups, grp->name, x);
    ns = mg_json_new_object();
    mg_json_set_number(ns, "effective", (double)res->n);
    mg_json_set(nsamples, grp->name, ns);
    h = mg_json_new_object();
    for (size_t m = 0; m < res->nv; m++)
      mg_json_set_bool(h, res->v[m].metric, res->v[m].higher_is_better);
    mg_json_set(hib, grp->name, h);
    mg_json_set(versions, grp->name, mg_pv_to_json(grp->version));
  }
  mg_json_set(s, "groups", groups);
  mg_json_set(s, "group_subtasks", gsub);
  mg_json_set(s, "n-samples", nsamples);
  mg_json_set(s, "higher_is_better", hib);
  mg_json_set(s, "versions", versions);
  if (results_file)
    mg_json_set(s, "results_file", mg_json_dup(results_file));
  return s;
}

/* ---- files ---- */

/* datetime.now().isoformat() with ':' replaced by '-', as lm-eval names
 * its files. */
static void file_stamp(char *out, size_t n)
{
  struct timespec ts;
  struct tm tm;

  clock_gettime(CLOCK_REALTIME, &ts);
  localtime_r(&ts.tv_sec, &tm);
  (void)snprintf(out, n, "%04d-%02d-%02dT%02d-%02d-%02d.%06ld",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

int mg_eval_out_write(const struct mg_eval_run *r,
                      const struct mg_eval_meta *meta,
                      const struct mg_eval_files *f, struct mg_json **section,
                      struct mg_err *err)
{
  const struct mg_task_set *ts = r->ts;
  struct mg_json **sf = mg_xcalloc(ts->ntasks + 1, sizeof(*sf));
  struct mg_json *rf = NULL;
  char stamp[64], *dir = NULL, *res_path = NULL, *json;
  size_t len;
  int rc = -1;

  *section = NULL;
  file_stamp(stamp, sizeof(stamp));
  json = mg_eval_out_results_json(r, meta, &len);
  if (f->output_path) {
    struct mg_pv *san = sanitized_model_name(r->model_name);

    dir = mg_xasprintf("%s/%s", f->output_path, san->u.str.s);
    mg_pv_unref(san);
    if (mg_io_mkdirs(dir, err) < 0)
      goto out;
    res_path = mg_xasprintf("%s/results_%s.json", dir, stamp);
    if (mg_io_write_atomic(res_path, json, len, 0644, err) < 0
        || mg_record_sidefile(res_path, &rf, err) < 0)
      goto out;
  }
  if (f->results_file) {
    if (mg_io_write_atomic(f->results_file, json, len, 0644, err) < 0)
      goto out;
    if (!rf && mg_record_sidefile(f->results_file, &rf, err) < 0)
      goto out;
  }
  if (f->log_samples && (f->samples_dir || dir)) {
    if (f->samples_dir && mg_io_mkdirs(f->samples_dir, err) < 0)
      goto out;
    for (size_t t = 0; t < ts->ntasks; t++) {
      size_t n;
      char *text = mg_eval_out_samples_jsonl(r, t, &n);
      char *p = f->samples_dir ? mg_xasprintf(
                    "%s/samples_%s.jsonl", f->samples_dir, ts->tasks[t]->name)
                               : mg_xasprintf("%s/samples_%s_%s.jsonl", dir,
                                              ts->tasks[t]->name, stamp);
      int w = mg_io_write_atomic(p, text, n, 0644, err);

      if (w == 0)
        w = mg_record_sidefile(p, &sf[t], err);
      free(text);
      free(p);
      if (w < 0)
        goto out;
    }
  }
  *section = mg_eval_out_section(r, meta, sf, rf);
  rc = 0;
out:
  for (size_t t = 0; t < ts->ntasks; t++)
    mg_json_free(sf[t]);
  free(sf);
  mg_json_free(rf);
  free(json);
  free(dir);
  free(res_path);
  return rc;
}

#include "eval/mg_task.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval/mg_chat.h"
#include "eval/mg_dataset.h"
#include "eval/mg_tmpl.h"
#include "mg_buf.h"
#include "mg_digest.h"
#include "mg_err.h"
#include "mg_mem.h"
#include "py/mg_mt.h"
#include "py/mg_pv.h"
#include "py/mg_yaml.h"

/* ------------------------------------------------------------------ */
/* Built-in task definitions, written in lm-eval's own YAML form       */

/* lm-eval 0.4.8's MMLU reads hails/mmlu_no_train (cais/mmlu from 0.4.9) */
static const char mmlu_template[] =
    "dataset_path: hails/mmlu_no_train\n"
    "test_split: test\n"
    "fewshot_split: dev\n"
    "fewshot_config:\n"
    "  sampler: first_n\n"
    "output_type: multiple_choice\n"
    "doc_to_text: \"{{question.strip()}}\\nA. {{choices[0]}}\\nB. "
    "{{choices[1]}}\\nC. {{choices[2]}}\\nD. {{choices[3]}}\\nAnswer:\"\n"
    "doc_to_choice: [\"A\", \"B\", \"C\", \"D\"]\n"
    "doc_to_target: answer\n"
    "metric_list:\n"
    "  - metric: acc\n"
    "    aggregation: mean\n"
    "    higher_is_better: true\n"
    "metadata:\n"
    "  version: 1.0\n"
    "dataset_kwargs:\n"
    "  trust_remote_code: true\n";

static const char *const mmlu_categories[][2] = {
  { "stem", "stem" },
  { "other", "other" },
  { "social_sciences", "social sciences" },
  { "humanities", "humanities" },
};

/* subject, category index (into mmlu_categories) */
static const struct {
  const char *subject;
  int cat;
} mmlu_subjects[] = {
  { "abstract_algebra", 0 },
  { "anatomy", 0 },
  { "astronomy", 0 },
  { "business_ethics", 1 },
  { "clinical_knowledge", 1 },
  { "college_biology", 0 },
  { "college_chemistry", 0 },
  { "college_computer_science", 0 },
  { "college_mathematics", 0 },
  { "college_medicine", 1 },
  { "college_physics", 0 },
  { "computer_security", 0 },
  { "conceptual_physics", 0 },
  { "econometrics", 2 },
  { "electrical_engineering", 0 },
  { "elementary_mathematics", 0 },
  { "formal_logic", 3 },
  { "global_facts", 1 },
  { "high_school_biology", 0 },
  { "high_school_chemistry", 0 },
  { "high_school_computer_science", 0 },
  { "high_school_european_history", 3 },
  { "high_school_geography", 2 },
  { "high_school_government_and_politics", 2 },
  { "high_school_macroeconomics", 2 },
  { "high_school_mathematics", 0 },
  { "high_school_microeconomics", 2 },
  { "high_school_physics", 0 },
  { "high_school_psychology", 2 },
  { "high_school_statistics", 0 },
  { "high_school_us_history", 3 },
  { "high_school_world_history", 3 },
  { "human_aging", 1 },
  { "human_sexuality", 2 },
  { "international_law", 3 },
  { "jurisprudence", 3 },
  { "logical_fallacies", 3 },
  { "machine_learning", 0 },
  { "management", 1 },
  { "marketing", 1 },
  { "medical_genetics", 1 },
  { "miscellaneous", 1 },
  { "moral_disputes", 3 },
  { "moral_scenarios", 3 },
  { "nutrition", 1 },
  { "philosophy", 3 },
  { "prehistory", 3 },
  { "professional_accounting", 1 },
  { "professional_law", 3 },
  { "professional_medicine", 1 },
  { "professional_psychology", 2 },
  { "public_relations", 2 },
  { "security_studies", 2 },
  { "sociology", 2 },
  { "us_foreign_policy", 2 },
  { "virology", 1 },
  { "world_religions", 3 },
};

static const char gsm8k_yaml[] =
    "tag:\n"
    "  - math_word_problems\n"
    "task: gsm8k\n"
    "dataset_path: gsm8k\n"
    "dataset_name: main\n"
    "output_type: generate_until\n"
    "training_split: train\n"
    "fewshot_split: train\n"
    "test_split: test\n"
    "doc_to_text: \"Question: {{question}}\\nAnswer:\"\n"
    "doc_to_target: \"{{answer}}\"\n"
    "metric_list:\n"
    "  - metric: exact_match\n"
    "    aggregation: mean\n"
    "    higher_is_better: true\n"
    "    ignore_case: true\n"
    "    ignore_punctuation: false\n"
    "    regexes_to_ignore:\n"
    "      - \",\"\n"
    "      - \"\\\\$\"\n"
    "      - \"(?s).*#### \"\n"
    "      - \"\\\\.$\"\n"
    "generation_kwargs:\n"
    "  until:\n"
    "    - \"Question:\"\n"
    "    - \"</s>\"\n"
    "    - \"<|im_end|>\"\n"
    "  do_sample: false\n"
    "  temperature: 0.0\n"
    "repeats: 1\n"
    "num_fewshot: 5\n"
    "filter_list:\n"
    "  - name: \"strict-match\"\n"
    "    filter:\n"
    "      - function: \"regex\"\n"
    "        regex_pattern: \"#### (\\\\-?[0-9\\\\.\\\\,]+)\"\n"
    "      - function: \"take_first\"\n"
    "  - name: \"flexible-extract\"\n"
    "    filter:\n"
    "      - function: \"regex\"\n"
    "        group_select: -1\n"
    "        regex_pattern: \"(-?[$0-9.,]{2,})|(-?[0-9]+)\"\n"
    "      - function: \"take_first\"\n"
    "metadata:\n"
    "  version: 3.0\n";

static const char arc_easy_yaml[] =
    "tag:\n"
    "  - ai2_arc\n"
    "task: arc_easy\n"
    "dataset_path: allenai/ai2_arc\n"
    "dataset_name: ARC-Easy\n"
    "output_type: multiple_choice\n"
    "training_split: train\n"
    "validation_split: validation\n"
    "test_split: test\n"
    "doc_to_text: \"Question: {{question}}\\nAnswer:\"\n"
    "doc_to_target: \"{{choices.label.index(answerKey)}}\"\n"
    "doc_to_choice: \"{{choices.text}}\"\n"
    "should_decontaminate: true\n"
    "doc_to_decontamination_query: \"Question: {{question}}\\nAnswer:\"\n"
    "metric_list:\n"
    "  - metric: acc\n"
    "    aggregation: mean\n"
    "    higher_is_better: true\n"
    "  - metric: acc_norm\n"
    "    aggregation: mean\n"
    "    higher_is_better: true\n"
    "metadata:\n"
    "  version: 1.0\n";

static const char arc_challenge_yaml[] = "include: arc_easy.yaml\n"
                                         "task: arc_challenge\n"
                                         "dataset_name: ARC-Challenge\n";

static const char hellaswag_yaml[] = "tag:\n"
                                     "  - multiple_choice\n"
                                     "task: hellaswag\n"
                                     "dataset_path: Rowan/hellaswag\n"
                                     "dataset_name: null\n"
                                     "output_type: multiple_choice\n"
                                     "training_split: train\n"
                                     "validation_split: validation\n"
                                     "test_split: null\n"
                                     "process_docs: !native hellaswag\n"
                                     "doc_to_text: \"{{query}}\"\n"
                                     "doc_to_target: \"{{label}}\"\n"
                                     "doc_to_choice: \"choices\"\n"
                                     "metric_list:\n"
                                     "  - metric: acc\n"
                                     "    aggregation: mean\n"
                                     "    higher_is_better: true\n"
                                     "  - metric: acc_norm\n"
                                     "    aggregation: mean\n"
                                     "    higher_is_better: true\n"
                                     "metadata:\n"
                                     "  version: 1.0\n"
                                     "dataset_kwargs:\n"
                                     "  trust_remote_code: true\n";

struct vfile {
  char *path; /* "mmlu/default/mmlu_anatomy.yaml" */
  char *text;
};

static void vfiles_build(struct vfile **out, size_t *n)
{
  size_t ns = sizeof(mmlu_subjects) / sizeof(*mmlu_subjects), k = 0;
  struct vfile *v = mg_xcalloc(ns + 16, sizeof(*v));

  v[k].path = mg_xstrdup("mmlu/default/_default_template_yaml");
  v[k++].text = mg_xstrdup(mmlu_template);
  for (size_t i = 0; i < ns; i++) {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
    const char *s = mmlu_subjects[i].subject;

    mg_buf_printf(&b, NULL, "\"dataset_name\": \"%s\"\n", s);
    mg_buf_addstr(&b,
                  "\"description\": \"The following are multiple choice "
                  "questions (with answers) about ",
                  NULL);
    for (const char *c = s; *c; c++)
      mg_buf_addch(&b, *c == '_' ? ' ' : *c, NULL);
    mg_buf_addstr(&b, ".\\n\\n\"\n", NULL);
    mg_buf_printf(&b, NULL, "\"tag\": \"mmlu_%s_tasks\"\n",
                  mmlu_categories[mmlu_subjects[i].cat][0]);
    mg_buf_addstr(&b, "\"include\": \"_default_template_yaml\"\n", NULL);
    mg_buf_printf(&b, NULL, "\"task\": \"mmlu_%s\"\n\"task_alias\": \"%s\"\n",
                  s, s);
    v[k].path = mg_xasprintf("mmlu/default/mmlu_%s.yaml", s);
    v[k++].text = mg_buf_detach(&b, NULL);
  }
  for (size_t c = 0; c < 4; c++) {
    v[k].path =
        mg_xasprintf("mmlu/default/_mmlu_%s.yaml", mmlu_categories[c][0]);
    v[k++].text = mg_xasprintf("group: mmlu_%s\n"
                               "group_alias: %s\n"
                               "task:\n"
                               "  - mmlu_%s_tasks\n"
                               "aggregate_metric_list:\n"
                               "  - metric: acc\n"
                               "    weight_by_size: True\n"
                               "metadata:\n"
                               "  version: 2\n",
                               mmlu_categories[c][0], mmlu_categories[c][1],
                               mmlu_categories[c][0]);
  }
  v[k].path = mg_xstrdup("mmlu/default/_mmlu.yaml");
  v[k++].text = mg_xstrdup("group: mmlu\n"
                           "task:\n"
                           "  - mmlu_stem\n"
                           "  - mmlu_other\n"
                           "  - mmlu_social_sciences\n"
                           "  - mmlu_humanities\n"
                           "aggregate_metric_list:\n"
                           "  - metric: acc\n"
                           "    weight_by_size: True\n"
                           "metadata:\n"
                           "  version: 2\n");
  v[k].path = mg_xstrdup("gsm8k/gsm8k.yaml");
  v[k++].text = mg_xstrdup(gsm8k_yaml);
  v[k].path = mg_xstrdup("arc/arc_easy.yaml");
  v[k++].text = mg_xstrdup(arc_easy_yaml);
  v[k].path = mg_xstrdup("arc/arc_challenge.yaml");
  v[k++].text = mg_xstrdup(arc_challenge_yaml);
  v[k].path = mg_xstrdup("hellaswag/hellaswag.yaml");
  v[k++].text = mg_xstrdup(hellaswag_yaml);
  *out = v;
  *n = k;
}

static void vfiles_free(struct vfile *v, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    free(v[i].path);
    free(v[i].text);
  }
  free(v);
}

/* ------------------------------------------------------------------ */
/* Index of task, group and tag names                                  */

enum entry_kind { E_TASK, E_GROUP };

struct entry {
  enum entry_kind kind;
  char *name;
  char *path;        /* file path, or "builtin:<vpath>" */
  char *dir;         /* directory for relative data files (NULL: builtin) */
  struct mg_pv *cfg; /* merged config */
};

struct tag {
  char *name;
  char **tasks;
  size_t n;
};

struct loader {
  const struct mg_task_opts *o;
  struct vfile *vf;
  size_t nvf;
  struct entry *e;
  size_t ne;
  struct tag *tags;
  size_t ntags;
  char *bad_yaml; /* first malformed YAML message seen while indexing */
  struct mg_task_set *ts;
};

static void warn(struct loader *L, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn(struct loader *L, const char *fmt, ...)
{
  va_list ap;
  char msg[512];

  va_start(ap, fmt);
  (void)vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  for (size_t i = 0; i < L->ts->nwarnings; i++)
    if (!strcmp(L->ts->warnings[i], msg))
      return;
  L->ts->warnings =
      mg_xreallocarray(L->ts->warnings, L->ts->nwarnings + 1, sizeof(char *));
  L->ts->warnings[L->ts->nwarnings++] = mg_xstrdup(msg);
}

static char *dir_of(const char *path)
{
  const char *s = strrchr(path, '/');

  if (!s)
    return mg_xstrdup(".");
  if (s == path)
    return mg_xstrdup("/");
  return mg_xstrndup(path, (size_t)(s - path));
}

static const struct vfile *vfile_find(const struct loader *L, const char *path)
{
  for (size_t i = 0; i < L->nvf; i++)
    if (!strcmp(L->vf[i].path, path))
      return &L->vf[i];
  return NULL;
}

/* Reads one YAML file (virtual when builtin) without resolving includes. */
static int read_yaml(const struct loader *L, const char *path, int builtin,
                     struct mg_pv **out, struct mg_err *err)
{
  if (builtin) {
    const struct vfile *v = vfile_find(L, path);
    char name[300];

    if (!v)
      return mg_err_set(err, MG_ERR_IO, "cannot open 'builtin:%s'", path);
    (void)snprintf(name, sizeof(name), "builtin:%s", path);
    return mg_yaml_parse(v->text, strlen(v->text), name, out, err);
  }
  return mg_yaml_load(path, out, err);
}

/* Loads a YAML config and merges its includes (shallow, in order, then the
 * file's own keys win), as lm-eval's load_yaml_config does. */
static int load_config(const struct loader *L, const char *path, int builtin,
                       int depth, struct mg_pv **out, struct mg_err *err)
{
  struct mg_pv *raw, *inc, *merged;
  char *dir;

  *out = NULL;
  if (depth > 20)
    return mg_err_set(err, MG_ERR_DATA, "include nesting too deep at '%s'",
                      path);
  if (read_yaml(L, path, builtin, &raw, err) < 0)
    return -1;
  if (raw->type == MG_PV_NONE) {
    mg_pv_unref(raw);
    raw = mg_pv_dict();
  }
  if (raw->type != MG_PV_DICT) {
    mg_pv_unref(raw);
    return mg_err_set(err, MG_ERR_DATA,
                      "malformed task YAML '%s%s': the document is not a "
                      "mapping",
                      builtin ? "builtin:" : "", path);
  }
  inc = mg_pv_dict_get(raw, "include");
  if (!inc) {
    *out = raw;
    return 0;
  }
  merged = mg_pv_dict();
  dir = dir_of(path);
  for (size_t i = 0; i < (inc->type == MG_PV_LIST ? inc->u.list.n : 1); i++) {
    const struct mg_pv *f = inc->type == MG_PV_LIST ? inc->u.list.v[i] : inc;
    struct mg_pv *sub;
    char *p;

    if (f->type != MG_PV_STR) {
      free(dir);
      mg_pv_unref(merged);
      mg_pv_unref(raw);
      return mg_err_set(err, MG_ERR_DATA,
                        "malformed task YAML '%s': include must name files",
                        path);
    }
    p = f->u.str.s[0] == '/' || !strcmp(dir, ".")
            ? mg_xstrdup(f->u.str.s)
            : mg_xasprintf("%s/%s", dir, f->u.str.s);
    if (load_config(L, p, builtin, depth + 1, &sub, err) < 0) {
      if (err->cat == MG_ERR_IO)
        mg_err_prefix(err, "include in '%s'", path);
      free(p);
      free(dir);
      mg_pv_unref(merged);
      mg_pv_unref(raw);
      return -1;
    }
    free(p);
    for (size_t k = 0; k < sub->u.dict.n; k++)
      mg_pv_dict_set(merged, mg_pv_ref(sub->u.dict.k[k]),
                     mg_pv_ref(sub->u.dict.v[k]));
    mg_pv_unref(sub);
  }
  free(dir);
  for (size_t k = 0; k < raw->u.dict.n; k++)
    if (!(raw->u.dict.k[k]->type == MG_PV_STR
          && !strcmp(raw->u.dict.k[k]->u.str.s, "include")))
      mg_pv_dict_set(merged, mg_pv_ref(raw->u.dict.k[k]),
                     mg_pv_ref(raw->u.dict.v[k]));
  mg_pv_unref(raw);
  *out = merged;
  return 0;
}

static struct entry *find_entry(struct loader *L, const char *name, int kind)
{
  /* later entries (include paths) win over earlier (built-in) ones */
  for (size_t i = L->ne; i-- > 0;)
    if ((kind < 0 || (int)L->e[i].kind == kind) && !strcmp(L->e[i].name, name))
      return &L->e[i];
  return NULL;
}

static struct tag *find_tag(struct loader *L, const char *name)
{
  for (size_t i = 0; i < L->ntags; i++)
    if (!strcmp(L->tags[i].name, name))
      return &L->tags[i];
  return NULL;
}

static void add_to_tag(struct loader *L, const char *tag, const char *task)
{
  struct tag *t = find_tag(L, tag);

  if (!t) {
    L->tags = mg_xreallocarray(L->tags, L->ntags + 1, sizeof(*L->tags));
    t = &L->tags[L->ntags++];
    memset(t, 0, sizeof(*t));
    t->name = mg_xstrdup(tag);
  }
  for (size_t i = 0; i < t->n; i++)
    if (!strcmp(t->tasks[i], task))
      return;
  t->tasks = mg_xreallocarray(t->tasks, t->n + 1, sizeof(char *));
  t->tasks[t->n++] = mg_xstrdup(task);
}

static void add_entry(struct loader *L, enum entry_kind kind, const char *name,
                      const char *path, int builtin, struct mg_pv *cfg)
{
  struct entry *e;

  L->e = mg_xreallocarray(L->e, L->ne + 1, sizeof(*L->e));
  e = &L->e[L->ne++];
  e->kind = kind;
  e->name = mg_xstrdup(name);
  e->path = builtin ? mg_xasprintf("builtin:%s", path) : mg_xstrdup(path);
  e->dir = builtin ? NULL : dir_of(path);
  e->cfg = cfg;
}

static void index_config(struct loader *L, const char *path, int builtin,
                         struct mg_pv *cfg)
{
  const struct mg_pv *task = mg_pv_dict_get(cfg, "task");
  const struct mg_pv *group = mg_pv_dict_get(cfg, "group");

  if (task && task->type == MG_PV_LIST && group && group->type == MG_PV_STR) {
    add_entry(L, E_GROUP, group->u.str.s, path, builtin, cfg);
    return;
  }
  if (task && task->type == MG_PV_STR) {
    static const char *const tagkeys[] = { "tag", "group", NULL };

    for (size_t k = 0; tagkeys[k]; k++) {
      const struct mg_pv *t = mg_pv_dict_get(cfg, tagkeys[k]);

      if (!t)
        continue;
      for (size_t i = 0; i < (t->type == MG_PV_LIST ? t->u.list.n : 1); i++) {
        const struct mg_pv *x = t->type == MG_PV_LIST ? t->u.list.v[i] : t;

        if (x->type == MG_PV_STR)
          add_to_tag(L, x->u.str.s, task->u.str.s);
      }
    }
    add_entry(L, E_TASK, task->u.str.s, path, builtin, cfg);
    return;
  }
  mg_pv_unref(cfg);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_ext(const char *name, const char *ext)
{
  size_t a = strlen(name), b = strlen(ext);

  return a > b && !strcmp(name + a - b, ext);
}

static void index_dir(struct loader *L, const char *dir, int depth)
{
  DIR *d;
  struct dirent *de;
  char **names = NULL;
  size_t n = 0;

  if (depth > 16)
    return;
  d = opendir(dir);
  if (!d) {
    warn(L, "cannot open include path '%s': %s", dir, strerror(errno));
    return;
  }
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    names = mg_xreallocarray(names, n + 1, sizeof(char *));
    names[n++] = mg_xstrdup(de->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof(char *), cmp_str);
  for (size_t i = 0; i < n; i++) {
    char *p = mg_xasprintf("%s/%s", dir, names[i]);
    struct stat st;

    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
      index_dir(L, p, depth + 1);
    } else if (has_ext(names[i], ".yaml") || has_ext(names[i], ".yml")) {
      struct mg_pv *cfg;
      struct mg_err e = MG_ERR_INIT;

      if (load_config(L, p, 0, 0, &cfg, &e) == 0)
        index_config(L, p, 0, cfg);
      else if (!L->bad_yaml)
        L->bad_yaml = mg_xstrdup(e.msg);
    }
    free(p);
    free(names[i]);
  }
  free(names);
}

static int build_index(struct loader *L, struct mg_err *err)
{
  vfiles_build(&L->vf, &L->nvf);
  for (size_t i = 0; i < L->nvf; i++) {
    struct mg_pv *cfg;

    if (!has_ext(L->vf[i].path, ".yaml"))
      continue;
    if (load_config(L, L->vf[i].path, 1, 0, &cfg, err) < 0)
      return -1;
    index_config(L, L->vf[i].path, 1, cfg);
  }
  for (size_t i = 0; i < L->o->ninclude; i++)
    index_dir(L, L->o->include_paths[i], 0);
  return 0;
}

static void loader_release(struct loader *L)
{
  for (size_t i = 0; i < L->ne; i++) {
    free(L->e[i].name);
    free(L->e[i].path);
    free(L->e[i].dir);
    mg_pv_unref(L->e[i].cfg);
  }
  free(L->e);
  for (size_t i = 0; i < L->ntags; i++) {
    for (size_t k = 0; k < L->tags[i].n; k++)
      free(L->tags[i].tasks[k]);
    free(L->tags[i].tasks);
    free(L->tags[i].name);
  }
  free(L->tags);
  free(L->bad_yaml);
  vfiles_free(L->vf, L->nvf);
}

/* ------------------------------------------------------------------ */
/* Tasks from configs                                                  */

static const char *cfg_str(const struct mg_pv *cfg, const char *key)
{
  const struct mg_pv *v = mg_pv_dict_get(cfg, key);

  return v && v->type == MG_PV_STR ? v->u.str.s : NULL;
}

static int unsupported(struct mg_err *err, const char *task, const char *field,
                       const struct mg_pv *v)
{
  if (v && v->type == MG_PV_TAGGED)
    return mg_err_set(err, MG_ERR_DATA,
                      "task '%s': field '%s' needs Python (%s %s), which "
                      "eval-run cannot run",
                      task, field, v->u.tagged.tag, v->u.tagged.value);
  return mg_err_set(err, MG_ERR_DATA,
                    "task '%s': field '%s' is not supported by eval-run", task,
                    field);
}

static int parse_field(const char *task, const char *key, const struct mg_pv *v,
                       struct mg_task_field *f, struct mg_err *err)
{
  memset(f, 0, sizeof(*f));
  if (!v || v->type == MG_PV_NONE)
    return 0;
  if (v->type == MG_PV_TAGGED)
    return unsupported(err, task, key, v);
  if (v->type == MG_PV_STR) {
    char name[160];

    f->kind = MG_FIELD_TEMPLATE;
    f->text = mg_xstrdup(v->u.str.s);
    (void)snprintf(name, sizeof(name), "%s.%s", task, key);
    /* A column name never has template syntax; compile everything else
     * now so that a broken template fails before any request is sent. */
    if (mg_tmpl_compile(v->u.str.s, v->u.str.len, name, &f->tmpl, err) < 0)
      return -1;
    return 0;
  }
  f->kind = MG_FIELD_VALUE;
  f->value = mg_pv_ref((struct mg_pv *)v);
  return 0;
}

/* A template field whose text is a column of the docs reads that column. */
static void finalize_field(struct mg_task_field *f,
                           const struct mg_pv *features)
{
  if (f->kind != MG_FIELD_TEMPLATE)
    return;
  for (size_t i = 0; features && i < features->u.list.n; i++)
    if (!strcmp(features->u.list.v[i]->u.str.s, f->text)) {
      f->kind = MG_FIELD_COLUMN;
      return;
    }
}

static void field_release(struct mg_task_field *f)
{
  free(f->text);
  mg_tmpl_free(f->tmpl);
  mg_pv_unref(f->value);
  memset(f, 0, sizeof(*f));
}

static const struct {
  const char *name;
  const char *aggregation;
  int higher_is_better;
  unsigned outputs; /* bit per enum mg_task_output */
} known_metrics[] = {
  { "acc", "mean", 1,
    (1u << MG_OUT_MULTIPLE_CHOICE) | (1u << MG_OUT_LOGLIKELIHOOD) },
  { "acc_norm", "mean", 1, 1u << MG_OUT_MULTIPLE_CHOICE },
  { "acc_bytes", "mean", 1, 1u << MG_OUT_MULTIPLE_CHOICE },
  { "acc_mutual_info", "mean", 1, 1u << MG_OUT_MULTIPLE_CHOICE },
  { "exact_match", "mean", 1,
    (1u << MG_OUT_MULTIPLE_CHOICE) | (1u << MG_OUT_GENERATE_UNTIL) },
  { "f1", "f1", 1, 1u << MG_OUT_MULTIPLE_CHOICE },
  { "mcc", "matthews_corrcoef", 1, 1u << MG_OUT_MULTIPLE_CHOICE },
  { "brier_score", "brier_score", 0, 1u << MG_OUT_MULTIPLE_CHOICE },
  { "perplexity", "perplexity", 0, 1u << MG_OUT_LOGLIKELIHOOD },
  { "word_perplexity", "weighted_perplexity", 0,
    1u << MG_OUT_LOGLIKELIHOOD_ROLLING },
  { "byte_perplexity", "weighted_perplexity", 0,
    1u << MG_OUT_LOGLIKELIHOOD_ROLLING },
  { "bits_per_byte", "bits_per_byte", 0, 1u << MG_OUT_LOGLIKELIHOOD_ROLLING },
  { "bleu", "bleu", 1, 1u << MG_OUT_GENERATE_UNTIL },
  { "chrf", "chrf", 1, 1u << MG_OUT_GENERATE_UNTIL },
  { "ter", "ter", 0, 1u << MG_OUT_GENERATE_UNTIL },
};

static int known_metric(const char *name)
{
  for (size_t i = 0; i < sizeof(known_metrics) / sizeof(*known_metrics); i++)
    if (!strcmp(known_metrics[i].name, name))
      return (int)i;
  return -1;
}

static void add_metric(struct mg_task *t, const char *name, const char *agg,
                       int hib, struct mg_pv *kwargs)
{
  struct mg_task_metric *m;

  t->metrics =
      mg_xreallocarray(t->metrics, t->nmetrics + 1, sizeof(*t->metrics));
  m = &t->metrics[t->nmetrics++];
  m->name = mg_xstrdup(name);
  m->aggregation = mg_xstrdup(agg);
  m->higher_is_better = hib;
  m->kwargs = kwargs ? kwargs : mg_pv_dict();
}

static int parse_metrics(struct mg_task *t, const struct mg_pv *cfg,
                         struct mg_err *err)
{
  const struct mg_pv *ml = mg_pv_dict_get(cfg, "metric_list");

  if (!ml || ml->type == MG_PV_NONE) {
    static const char *const mc[] = { "acc", "acc_norm", NULL };
    static const char *const gen[] = { "exact_match", NULL };
    static const char *const ll[] = { "perplexity", "acc", NULL };
    static const char *const roll[] = { "word_perplexity", "byte_perplexity",
                                        "bits_per_byte", NULL };
    const char *const *names = t->output == MG_OUT_MULTIPLE_CHOICE  ? mc
                               : t->output == MG_OUT_GENERATE_UNTIL ? gen
                               : t->output == MG_OUT_LOGLIKELIHOOD  ? ll
                                                                    : roll;

    for (size_t i = 0; names[i]; i++) {
      int k = known_metric(names[i]);

      add_metric(t, names[i], known_metrics[k].aggregation,
                 known_metrics[k].higher_is_better, NULL);
    }
    return 0;
  }
  if (ml->type != MG_PV_LIST)
    return mg_err_set(err, MG_ERR_DATA, "task '%s': metric_list must be a list",
                      t->name);
  for (size_t i = 0; i < ml->u.list.n; i++) {
    const struct mg_pv *m = ml->u.list.v[i], *name, *agg, *hib;
    struct mg_pv *kwargs;
    int k;

    if (m->type != MG_PV_DICT)
      return mg_err_set(err, MG_ERR_DATA,
                        "task '%s': metric_list item %zu is not a mapping",
                        t->name, i + 1);
    name = mg_pv_dict_get(m, "metric");
    if (!name || name->type == MG_PV_TAGGED)
      return unsupported(err, t->name, "metric_list.metric", name);
    if (name->type != MG_PV_STR)
      return mg_err_set(err, MG_ERR_DATA,
                        "task '%s': metric_list item %zu has no metric name",
                        t->name, i + 1);
    k = known_metric(name->u.str.s);
    if (k < 0 || !(known_metrics[k].outputs & (1u << t->output)))
      return mg_err_set(err, MG_ERR_DATA,
                        "task '%s': metric '%s' is not supported for "
                        "output_type %s",
                        t->name, name->u.str.s, mg_task_output_name(t->output));
    agg = mg_pv_dict_get(m, "aggregation");
    if (agg && agg->type == MG_PV_TAGGED)
      return unsupported(err, t->name, "metric_list.aggregation", agg);
    if (agg && agg->type == MG_PV_STR
        && strcmp(agg->u.str.s, known_metrics[k].aggregation)
        && strcmp(agg->u.str.s, "mean"))
      return mg_err_set(err, MG_ERR_DATA,
                        "task '%s': aggregation '%s' for metric '%s' is not "
                        "supported",
                        t->name, agg->u.str.s, name->u.str.s);
    if (mg_pv_dict_get(m, "hf_evaluate")
        && mg_pv_truthy(mg_pv_dict_get(m, "hf_evaluate")))
      return mg_err_set(err, MG_ERR_DATA,
                        "task '%s': metric '%s' with hf_evaluate needs "
                        "Python",
                        t->name, name->u.str.s);
    hib = mg_pv_dict_get(m, "higher_is_better");
    kwargs = mg_pv_dict();
    for (size_t j = 0; j < m->u.dict.n; j++) {
      const char *key = mg_pv_cstr(m->u.dict.k[j]);

      if (!key || !strcmp(key, "metric") || !strcmp(key, "aggregation")
          || !strcmp(key, "higher_is_better") || !strcmp(key, "hf_evaluate"))
        continue;
      mg_pv_dict_set(kwargs, mg_pv_ref(m->u.dict.k[j]),
                     mg_pv_ref(m->u.dict.v[j]));
    }
    add_metric(t, name->u.str.s,
               agg && agg->type == MG_PV_STR ? agg->u.str.s
                                             : known_metrics[k].aggregation,
               hib ? mg_pv_truthy(hib) : known_metrics[k].higher_is_better,
               kwargs);
  }
  return 0;
}

static const char *const known_filters[] = {
  "regex",     "take_first", "take_first_k",  "remove_whitespace",
  "lowercase", "uppercase",  "majority_vote", "map",
  NULL,
};

static int parse_filters(struct mg_task *t, const struct mg_pv *cfg,
                         struct mg_err *err)
{
  const struct mg_pv *fl = mg_pv_dict_get(cfg, "filter_list");

  if (!fl || fl->type == MG_PV_NONE) {
    t->filters = mg_xcalloc(1, sizeof(*t->filters));
    t->nfilters = 1;
    t->filters[0].name = mg_xstrdup("none");
    t->filters[0].steps = mg_xcalloc(1, sizeof(*t->filters[0].steps));
    t->filters[0].nsteps = 1;
    t->filters[0].steps[0].function = mg_xstrdup("take_first");
    t->filters[0].steps[0].args = mg_pv_dict();
    return 0;
  }
  if (fl->type != MG_PV_LIST)
    return mg_err_set(err, MG_ERR_DATA, "task '%s': filter_list must be a list",
                      t->name);
  t->filters = mg_xcalloc(fl->u.list.n ? fl->u.list.n : 1, sizeof(*t->filters));
  for (size_t i = 0; i < fl->u.list.n; i++) {
    const struct mg_pv *f = fl->u.list.v[i], *steps;
    struct mg_task_filter *tf = &t->filters[t->nfilters++];
    const char *name = cfg_str(f, "name");

    if (f->type != MG_PV_DICT || !name)
      return mg_err_set(err, MG_ERR_DATA,
                        "task '%s': filter_list item %zu needs a name", t->name,
                        i + 1);
    tf->name = mg_xstrdup(name);
    steps = mg_pv_dict_get(f, "filter");
    if (!steps || steps->type != MG_PV_LIST)
      return mg_err_set(err, MG_ERR_DATA,
                        "task '%s': filter '%s' needs a list 'filter'", t->name,
                        name);
    tf->steps =
        mg_xcalloc(steps->u.list.n ? steps->u.list.n : 1, sizeof(*tf->steps));
    for (size_t k = 0; k < steps->u.list.n; k++) {
      const struct mg_pv *s = steps->u.list.v[k], *fn;
      struct mg_task_filter_step *st = &tf->steps[tf->nsteps];
      int ok = 0;

      fn = mg_pv_dict_get(s, "function");
      if (fn && fn->type == MG_PV_TAGGED)
        return unsupported(err, t->name, "filter_list.function", fn);
      if (!fn || fn->type != MG_PV_STR)
        return mg_err_set(err, MG_ERR_DATA,
                          "task '%s': filter '%s' step %zu has no function",
                          t->name, name, k + 1);
      for (size_t j = 0; known_filters[j]; j++)
        if (!strcmp(known_filters[j], fn->u.str.s))
          ok = 1;
      if (!ok)
        return mg_err_set(err, MG_ERR_DATA,
                          "task '%s': filter function '%s' is not supported",
                          t->name, fn->u.str.s);
      st->function = mg_xstrdup(fn->u.str.s);
      st->args = mg_pv_dict();
      tf->nsteps++;
      for (size_t j = 0; j < s->u.dict.n; j++) {
        const char *key = mg_pv_cstr(s->u.dict.k[j]);

        if (!key || !strcmp(key, "function"))
          continue;
        if (s->u.dict.v[j]->type == MG_PV_TAGGED)
          return unsupported(err, t->name, "filter_list", s->u.dict.v[j]);
        mg_pv_dict_set(st->args, mg_pv_ref(s->u.dict.k[j]),
                       mg_pv_ref(s->u.dict.v[j]));
      }
    }
  }
  return 0;
}

const char *mg_task_output_name(enum mg_task_output o)
{
  switch (o) {
  case MG_OUT_GENERATE_UNTIL:
    return "generate_until";
  case MG_OUT_MULTIPLE_CHOICE:
    return "multiple_choice";
  case MG_OUT_LOGLIKELIHOOD:
    return "loglikelihood";
  case MG_OUT_LOGLIKELIHOOD_ROLLING:
    return "loglikelihood_rolling";
  }
  return "?";
}

static void task_free(struct mg_task *t)
{
  if (!t)
    return;
  free(t->name);
  free(t->alias);
  free(t->source);
  mg_pv_unref(t->config);
  field_release(&t->text);
  field_release(&t->target);
  field_release(&t->choice);
  field_release(&t->description);
  field_release(&t->gen_prefix);
  field_release(&t->fs_text);
  field_release(&t->fs_target);
  field_release(&t->fs_choice);
  free(t->target_delimiter);
  free(t->fewshot_delimiter);
  mg_pv_unref(t->gen_kwargs);
  for (size_t i = 0; i < t->nmetrics; i++) {
    free(t->metrics[i].name);
    free(t->metrics[i].aggregation);
    mg_pv_unref(t->metrics[i].kwargs);
  }
  free(t->metrics);
  for (size_t i = 0; i < t->nfilters; i++) {
    for (size_t k = 0; k < t->filters[i].nsteps; k++) {
      free(t->filters[i].steps[k].function);
      mg_pv_unref(t->filters[i].steps[k].args);
    }
    free(t->filters[i].steps);
    free(t->filters[i].name);
  }
  free(t->filters);
  mg_pv_unref(t->version);
  mg_pv_unref(t->docs);
  mg_pv_unref(t->fewshot_docs);
  mg_pv_unref(t->features);
  free(t);
}

/* Loads one split, applying the task's native process_docs. */
static int load_split(struct loader *L, struct mg_task *t,
                      const struct mg_pv *cfg, const char *dir,
                      const char *split, struct mg_pv **docs,
                      struct mg_err *err)
{
  struct mg_dataset_spec spec;
  const struct mg_pv *pd = mg_pv_dict_get(cfg, "process_docs");
  char *note = NULL;

  memset(&spec, 0, sizeof(spec));
  spec.path = cfg_str(cfg, "dataset_path");
  spec.name = cfg_str(cfg, "dataset_name");
  spec.kwargs = mg_pv_dict_get(cfg, "dataset_kwargs");
  if (spec.kwargs && spec.kwargs->type != MG_PV_DICT)
    spec.kwargs = NULL;
  spec.data_dir = L->o->data_dir;
  spec.base_dir = dir;
  if (mg_dataset_load(&spec, split, docs, &note, err) < 0) {
    mg_err_prefix(err, "task '%s'", t->name);
    return -1;
  }
  if (note) {
    warn(L, "task '%s': %s", t->name, note);
    free(note);
  }
  if (pd && pd->type == MG_PV_TAGGED && !strcmp(pd->u.tagged.tag, "!native")
      && !strcmp(pd->u.tagged.value, "hellaswag")
      && mg_dataset_hellaswag(*docs, err) < 0) {
    mg_pv_unref(*docs);
    *docs = NULL;
    return mg_err_prefix(err, "task '%s'", t->name);
  }
  return 0;
}

static struct mg_pv *dump_config(const struct mg_task *t,
                                 const struct mg_pv *cfg)
{
  static const char *const order[] = {
    "task",
    "task_alias",
    "tag",
    "group",
    "group_alias",
    "dataset_path",
    "dataset_name",
    "dataset_kwargs",
    "training_split",
    "validation_split",
    "test_split",
    "fewshot_split",
    "process_docs",
    "doc_to_text",
    "doc_to_target",
    "unsafe_code",
    "doc_to_choice",
    "process_results",
    "use_prompt",
    "description",
    "target_delimiter",
    "fewshot_delimiter",
    "fewshot_config",
    "num_fewshot",
    "metric_list",
    "output_type",
    "generation_kwargs",
    "repeats",
    "filter_list",
    "should_decontaminate",
    "doc_to_decontamination_query",
    "gen_prefix",
    "metadata",
    NULL,
  };
  struct mg_pv *d = mg_pv_dict();

  for (size_t i = 0; order[i]; i++) {
    const struct mg_pv *v = mg_pv_dict_get(cfg, order[i]);
    struct mg_pv *nv = NULL;

    if (!strcmp(order[i], "description"))
      nv = v ? mg_pv_ref((struct mg_pv *)v) : mg_pv_str("");
    else if (!strcmp(order[i], "target_delimiter"))
      nv = mg_pv_str(t->target_delimiter);
    else if (!strcmp(order[i], "fewshot_delimiter"))
      nv = mg_pv_str(t->fewshot_delimiter);
    else if (!strcmp(order[i], "num_fewshot"))
      nv = mg_pv_int(t->num_fewshot);
    else if (!strcmp(order[i], "output_type"))
      nv = mg_pv_str(mg_task_output_name(t->output));
    else if (!strcmp(order[i], "repeats"))
      nv = mg_pv_int(t->repeats);
    else if (!strcmp(order[i], "generation_kwargs"))
      nv = t->gen_kwargs ? mg_pv_ref(t->gen_kwargs) : NULL;
    else if (!strcmp(order[i], "should_decontaminate")
             || !strcmp(order[i], "unsafe_code"))
      /* bool fields with a default: always in lm-eval's to_dict */
      nv = v ? mg_pv_ref((struct mg_pv *)v) : mg_pv_bool(0);
    else if (!strcmp(order[i], "metric_list")) {
      nv = mg_pv_list();
      for (size_t k = 0; k < t->nmetrics; k++) {
        struct mg_pv *m = mg_pv_dict();

        mg_pv_dict_sets(m, "metric", mg_pv_str(t->metrics[k].name));
        mg_pv_dict_sets(m, "aggregation", mg_pv_str(t->metrics[k].aggregation));
        mg_pv_dict_sets(m, "higher_is_better",
                        mg_pv_bool(t->metrics[k].higher_is_better));
        for (size_t j = 0; j < t->metrics[k].kwargs->u.dict.n; j++)
          mg_pv_dict_set(m, mg_pv_ref(t->metrics[k].kwargs->u.dict.k[j]),
                         mg_pv_ref(t->metrics[k].kwargs->u.dict.v[j]));
        mg_pv_list_append(nv, m);
      }
    } else if (v && v->type != MG_PV_NONE) {
      nv = mg_pv_ref((struct mg_pv *)v);
    }
    if (nv)
      mg_pv_dict_sets(d, order[i], nv);
  }
  return d;
}

static int is_int_like(const struct mg_pv *v)
{
  return v && v->type == MG_PV_INT;
}

static int task_from_config(struct loader *L, const struct mg_pv *cfg,
                            const char *path, const char *dir,
                            struct mg_task **out, struct mg_err *err)
{
  struct mg_task *t = mg_xcalloc(1, sizeof(*t));
  const char *name = cfg_str(cfg, "task");
  const char *s;
  const struct mg_pv *v, *fsc;
  static const char *const refuse[] = {
    "class",      "custom_dataset", "process_results",
    "use_prompt", "doc_to_image",   "doc_to_audio",
    NULL
  };
  long yaml_nshot = -1;

  *out = NULL;
  t->name = mg_xstrdup(name ? name : "?");
  t->source = mg_xstrdup(path);
  t->repeats = 1;
  if (!name) {
    mg_err_set(err, MG_ERR_DATA, "task config '%s' has no 'task' name", path);
    goto fail;
  }
  for (size_t i = 0; refuse[i]; i++) {
    v = mg_pv_dict_get(cfg, refuse[i]);
    if (v && v->type != MG_PV_NONE) {
      unsupported(err, t->name, refuse[i], v);
      goto fail;
    }
  }
  v = mg_pv_dict_get(cfg, "unsafe_code");
  if (v && mg_pv_truthy(v)) {
    unsupported(err, t->name, "unsafe_code", v);
    goto fail;
  }
  v = mg_pv_dict_get(cfg, "process_docs");
  if (v && v->type != MG_PV_NONE
      && !(v->type == MG_PV_TAGGED && !strcmp(v->u.tagged.tag, "!native"))) {
    unsupported(err, t->name, "process_docs", v);
    goto fail;
  }
  s = cfg_str(cfg, "task_alias");
  t->alias = s ? mg_xstrdup(s) : NULL;
  s = cfg_str(cfg, "output_type");
  if (!s || !strcmp(s, "generate_until"))
    t->output = MG_OUT_GENERATE_UNTIL;
  else if (!strcmp(s, "multiple_choice"))
    t->output = MG_OUT_MULTIPLE_CHOICE;
  else if (!strcmp(s, "loglikelihood"))
    t->output = MG_OUT_LOGLIKELIHOOD;
  else if (!strcmp(s, "loglikelihood_rolling"))
    t->output = MG_OUT_LOGLIKELIHOOD_ROLLING;
  else {
    mg_err_set(err, MG_ERR_DATA,
               "task '%s': invalid output_type '%s', must be one of "
               "loglikelihood, multiple_choice, loglikelihood_rolling, "
               "generate_until",
               t->name, s);
    goto fail;
  }
  if (parse_field(t->name, "doc_to_text", mg_pv_dict_get(cfg, "doc_to_text"),
                  &t->text, err)
          < 0
      || parse_field(t->name, "doc_to_target",
                     mg_pv_dict_get(cfg, "doc_to_target"), &t->target, err)
             < 0
      || parse_field(t->name, "doc_to_choice",
                     mg_pv_dict_get(cfg, "doc_to_choice"), &t->choice, err)
             < 0
      || parse_field(t->name, "description", mg_pv_dict_get(cfg, "description"),
                     &t->description, err)
             < 0
      || parse_field(t->name, "gen_prefix", mg_pv_dict_get(cfg, "gen_prefix"),
                     &t->gen_prefix, err)
             < 0)
    goto fail;
  if (t->output == MG_OUT_MULTIPLE_CHOICE && t->choice.kind == MG_FIELD_NONE) {
    mg_err_set(err, MG_ERR_DATA,
               "task '%s': output_type multiple_choice needs doc_to_choice",
               t->name);
    goto fail;
  }
  if (t->text.kind == MG_FIELD_NONE || t->target.kind == MG_FIELD_NONE) {
    mg_err_set(err, MG_ERR_DATA, "task '%s': missing field '%s'", t->name,
               t->text.kind == MG_FIELD_NONE ? "doc_to_text" : "doc_to_target");
    goto fail;
  }
  v = mg_pv_dict_get(cfg, "target_delimiter");
  t->target_delimiter = mg_xstrdup(mg_pv_cstr(v) ? mg_pv_cstr(v) : " ");
  v = mg_pv_dict_get(cfg, "fewshot_delimiter");
  t->fewshot_delimiter = mg_xstrdup(mg_pv_cstr(v) ? mg_pv_cstr(v) : "\n\n");
  fsc = mg_pv_dict_get(cfg, "fewshot_config");
  if (fsc && fsc->type == MG_PV_DICT) {
    const char *sampler = cfg_str(fsc, "sampler");

    if (sampler && !strcmp(sampler, "first_n"))
      t->sampler_first_n = 1;
    else if (sampler && strcmp(sampler, "default")) {
      mg_err_set(err, MG_ERR_DATA,
                 "task '%s': fewshot sampler '%s' is not supported (first_n, "
                 "default)",
                 t->name, sampler);
      goto fail;
    }
    v = mg_pv_dict_get(fsc, "samples");
    if (v && v->type == MG_PV_TAGGED) {
      unsupported(err, t->name, "fewshot_config.samples", v);
      goto fail;
    }
    if (mg_pv_dict_get(fsc, "fewshot_indices")) {
      unsupported(err, t->name, "fewshot_config.fewshot_indices", NULL);
      goto fail;
    }
    if (parse_field(t->name, "fewshot_config.doc_to_text",
                    mg_pv_dict_get(fsc, "doc_to_text"), &t->fs_text, err)
            < 0
        || parse_field(t->name, "fewshot_config.doc_to_target",
                       mg_pv_dict_get(fsc, "doc_to_target"), &t->fs_target, err)
               < 0
        || parse_field(t->name, "fewshot_config.doc_to_choice",
                       mg_pv_dict_get(fsc, "doc_to_choice"), &t->fs_choice, err)
               < 0)
      goto fail;
  }
  v = mg_pv_dict_get(cfg, "num_fewshot");
  if (v && v->type != MG_PV_NONE) {
    if (!is_int_like(v) || v->u.i < 0) {
      mg_err_set(err, MG_ERR_DATA,
                 "task '%s': num_fewshot must be a non-negative integer",
                 t->name);
      goto fail;
    }
    yaml_nshot = (long)v->u.i;
  }
  /* lm-eval: --num_fewshot overrides the YAML except an explicit 0 */
  if (L->o->num_fewshot >= 0 && yaml_nshot != 0)
    t->num_fewshot = (int)L->o->num_fewshot;
  else
    t->num_fewshot = yaml_nshot < 0 ? 0 : (int)yaml_nshot;
  if (L->o->num_fewshot >= 0 && yaml_nshot == 0 && L->o->num_fewshot != 0)
    warn(L,
         "task '%s': num_fewshot is 0 in its config; --num-fewshot is "
         "ignored for it",
         t->name);
  v = mg_pv_dict_get(cfg, "repeats");
  if (v && v->type != MG_PV_NONE) {
    if (!is_int_like(v) || v->u.i < 1 || v->u.i > 1000) {
      mg_err_set(err, MG_ERR_DATA, "task '%s': repeats must be 1..1000",
                 t->name);
      goto fail;
    }
    t->repeats = (int)v->u.i;
  }
  /* generation_kwargs with lm-eval's defaults */
  v = mg_pv_dict_get(cfg, "generation_kwargs");
  if (v && v->type == MG_PV_DICT) {
    const struct mg_pv *temp;

    t->gen_kwargs = mg_pv_deepcopy(v);
    temp = mg_pv_dict_get(t->gen_kwargs, "temperature");
    if (temp && (temp->type == MG_PV_INT || temp->type == MG_PV_BOOL))
      mg_pv_dict_sets(t->gen_kwargs, "temperature",
                      mg_pv_float(mg_pv_num(temp)));
    if (!mg_pv_dict_get(t->gen_kwargs, "until")) {
      struct mg_pv *u = mg_pv_list();

      mg_pv_list_append(u, mg_pv_str(t->fewshot_delimiter));
      mg_pv_dict_sets(t->gen_kwargs, "until", u);
    }
  } else if (t->output == MG_OUT_GENERATE_UNTIL) {
    struct mg_pv *u = mg_pv_list();

    t->gen_kwargs = mg_pv_dict();
    mg_pv_list_append(u, mg_pv_str(t->fewshot_delimiter));
    mg_pv_dict_sets(t->gen_kwargs, "until", u);
    mg_pv_dict_sets(t->gen_kwargs, "do_sample", mg_pv_bool(0));
    mg_pv_dict_sets(t->gen_kwargs, "temperature", mg_pv_int(0));
  }
  if (t->gen_kwargs && L->o->gen_kwargs)
    for (size_t i = 0; i < L->o->gen_kwargs->u.dict.n; i++)
      mg_pv_dict_set(t->gen_kwargs, mg_pv_ref(L->o->gen_kwargs->u.dict.k[i]),
                     mg_pv_ref(L->o->gen_kwargs->u.dict.v[i]));
  if (parse_metrics(t, cfg, err) < 0 || parse_filters(t, cfg, err) < 0)
    goto fail;
  v = mg_pv_dict_get(cfg, "metadata");
  if (v && v->type == MG_PV_DICT && mg_pv_dict_get(v, "version"))
    t->version = mg_pv_ref(mg_pv_dict_get(v, "version"));

  /* data */
  {
    const char *test = cfg_str(cfg, "test_split");
    const char *val = cfg_str(cfg, "validation_split");
    const char *train = cfg_str(cfg, "training_split");
    const char *fs = cfg_str(cfg, "fewshot_split");
    const char *eval_split = test ? test : val;
    struct mg_pv *all;
    size_t n, lim;

    if (!eval_split) {
      mg_err_set(err, MG_ERR_DATA,
                 "task '%s': needs a test_split or validation_split", t->name);
      goto fail;
    }
    if (load_split(L, t, cfg, dir, eval_split, &all, err) < 0)
      goto fail;
    if (all->u.list.n == 0) {
      mg_pv_unref(all);
      mg_err_set(err, MG_ERR_DATA, "task '%s': split '%s' has no documents",
                 t->name, eval_split);
      goto fail;
    }
    n = all->u.list.n;
    t->n_original = n;
    lim = n;
    if (L->o->limit >= 0) {
      if (L->o->limit < 1.0)
        lim = (size_t)ceil((double)n * L->o->limit);
      else if (L->o->limit < (double)n)
        lim = (size_t)L->o->limit;
    }
    t->docs = mg_pv_list();
    for (size_t i = 0; i < lim; i++)
      mg_pv_list_append(t->docs, mg_pv_ref(all->u.list.v[i]));
    t->features = mg_pv_list();
    {
      const struct mg_pv *d0 = all->u.list.v[0];

      for (size_t k = 0; d0->type == MG_PV_DICT && k < d0->u.dict.n; k++)
        if (d0->u.dict.k[k]->type == MG_PV_STR)
          mg_pv_list_append(t->features, mg_pv_ref(d0->u.dict.k[k]));
    }
    t->fewshot_is_eval_split = fs && test && !strcmp(fs, test);
    if (t->num_fewshot > 0) {
      const struct mg_pv *samples = fsc ? mg_pv_dict_get(fsc, "samples") : NULL;

      if (samples && samples->type == MG_PV_LIST) {
        t->fewshot_docs = mg_pv_ref((struct mg_pv *)samples);
      } else {
        const char *src = fs ? fs : train ? train : val ? val : eval_split;

        if (!fs && !train && !val)
          warn(L,
               "task '%s': no training or validation docs; few-shot "
               "examples come from the test docs",
               t->name);
        if (!strcmp(src, eval_split)) {
          t->fewshot_docs = mg_pv_ref(all);
        } else if (load_split(L, t, cfg, dir, src, &t->fewshot_docs, err) < 0) {
          mg_pv_unref(all);
          mg_err_prefix(err, "few-shot examples (num_fewshot %d)",
                        t->num_fewshot);
          goto fail;
        }
      }
    }
    mg_pv_unref(all);
  }
  finalize_field(&t->text, t->features);
  finalize_field(&t->target, t->features);
  finalize_field(&t->choice, t->features);
  finalize_field(&t->gen_prefix, t->features);
  finalize_field(&t->fs_text, t->features);
  finalize_field(&t->fs_target, t->features);
  finalize_field(&t->fs_choice, t->features);
  /* lm-eval probes the first document to learn the task's shape */
  {
    struct mg_pv *d0 = t->docs->u.list.v[0], *x;

    if (t->choice.kind != MG_FIELD_NONE) {
      if (mg_task_field_value(t, &t->text, d0, MG_ROLE_TEXT, &x, err) < 0)
        goto fail;
      if (x->type == MG_PV_INT)
        t->multiple_input = 1;
      mg_pv_unref(x);
    }
    if (mg_task_field_value(t, &t->target, d0, MG_ROLE_TARGET, &x, err) < 0)
      goto fail;
    if (x->type == MG_PV_LIST)
      t->multiple_target = 1;
    mg_pv_unref(x);
  }
  t->config = dump_config(t, cfg);
  {
    struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

    mg_pv_dumps(&b, t->config, -1);
    mg_digest_sha256_hex(b.data ? b.data : "", b.len, t->config_sha256);
    mg_buf_release(&b);
  }
  *out = t;
  return 0;
fail:
  task_free(t);
  return -1;
}

/* ------------------------------------------------------------------ */
/* Field values                                                        */

static int all_digits(const struct mg_pv *s)
{
  if (s->u.str.len == 0)
    return 0;
  for (size_t i = 0; i < s->u.str.len; i++)
    if (s->u.str.s[i] < '0' || s->u.str.s[i] > '9')
      return 0;
  return 1;
}

static struct mg_pv *dict_values(const struct mg_pv *d)
{
  struct mg_pv *l = mg_pv_list();

  for (size_t i = 0; i < d->u.dict.n; i++)
    mg_pv_list_append(l, mg_pv_ref(d->u.dict.v[i]));
  return l;
}

int mg_task_field_value(const struct mg_task *t, const struct mg_task_field *f,
                        const struct mg_pv *doc, enum mg_task_role role,
                        struct mg_pv **out, struct mg_err *err)
{
  struct mg_pv *v = NULL;

  *out = NULL;
  switch (f->kind) {
  case MG_FIELD_NONE:
    *out = mg_pv_str("");
    return 0;
  case MG_FIELD_COLUMN:
    v = mg_pv_dict_get(doc, f->text);
    if (!v)
      return mg_err_set(err, MG_ERR_DATA, "task '%s': document has no '%s'",
                        t->name, f->text);
    *out = role == MG_ROLE_CHOICE && v->type == MG_PV_DICT ? dict_values(v)
                                                           : mg_pv_ref(v);
    return 0;
  case MG_FIELD_VALUE:
    *out = role == MG_ROLE_CHOICE && f->value->type == MG_PV_DICT
               ? dict_values(f->value)
               : mg_pv_ref(f->value);
    return 0;
  case MG_FIELD_TEMPLATE:
    break;
  }
  if (role == MG_ROLE_CHOICE && mg_tmpl_is_single_expr(f->tmpl)) {
    if (mg_tmpl_eval(f->tmpl, doc, &v, err) < 0)
      return mg_err_prefix(err, "task '%s'", t->name);
    if (v->type == MG_PV_LIST) {
      *out = v;
      return 0;
    }
    mg_pv_unref(v);
    v = NULL;
  }
  if (mg_tmpl_render_pv(f->tmpl, doc, &v, err) < 0)
    return mg_err_prefix(err, "task '%s'", t->name);
  switch (role) {
  case MG_ROLE_CHOICE: {
    struct mg_pv *l;

    if (mg_pv_parse(v->u.str.s, v->u.str.len, MG_PV_PYLIT, f->text, &l, err)
        < 0) {
      mg_pv_unref(v);
      return mg_err_prefix(err, "task '%s': doc_to_choice", t->name);
    }
    mg_pv_unref(v);
    *out = l->type == MG_PV_DICT ? dict_values(l) : mg_pv_ref(l);
    mg_pv_unref(l);
    return 0;
  }
  case MG_ROLE_TEXT:
  case MG_ROLE_TARGET:
    if (t->choice.kind != MG_FIELD_NONE && all_digits(v)) {
      *out = mg_pv_int(strtoll(v->u.str.s, NULL, 10));
      mg_pv_unref(v);
      return 0;
    }
    if (role == MG_ROLE_TARGET && v->u.str.len >= 2 && v->u.str.s[0] == '['
        && v->u.str.s[v->u.str.len - 1] == ']') {
      struct mg_pv *l;
      struct mg_err e2 = MG_ERR_INIT;

      if (mg_pv_parse(v->u.str.s, v->u.str.len, MG_PV_PYLIT, "target", &l, &e2)
          == 0) {
        mg_pv_unref(v);
        *out = l;
        return 0;
      }
    }
    *out = v;
    return 0;
  default:
    *out = v;
    return 0;
  }
}

/* ------------------------------------------------------------------ */
/* Selection: names, tags, groups                                      */

static struct mg_task *ts_find_task(struct mg_task_set *ts, const char *name)
{
  for (size_t i = 0; i < ts->ntasks; i++)
    if (!strcmp(ts->tasks[i]->name, name))
      return ts->tasks[i];
  return NULL;
}

static void ts_add_task(struct mg_task_set *ts, struct mg_task *t)
{
  ts->tasks = mg_xreallocarray(ts->tasks, ts->ntasks + 1, sizeof(*ts->tasks));
  ts->tasks[ts->ntasks++] = t;
}

static void items_add(struct mg_task_item **items, size_t *n, struct mg_task *t,
                      struct mg_group *g)
{
  *items = mg_xreallocarray(*items, *n + 1, sizeof(**items));
  (*items)[*n].task = t;
  (*items)[*n].group = g;
  (*n)++;
}

static int resolve_item(struct loader *L, const struct mg_pv *spec,
                        const char *dir, int depth, struct mg_task_item **items,
                        size_t *nitems, struct mg_err *err);

static int get_task(struct loader *L, const struct mg_pv *cfg, const char *path,
                    const char *dir, struct mg_task **out, struct mg_err *err)
{
  const char *name = cfg_str(cfg, "task");
  struct mg_task *t = name ? ts_find_task(L->ts, name) : NULL;

  if (t) {
    *out = t;
    return 0;
  }
  if (task_from_config(L, cfg, path, dir, &t, err) < 0)
    return -1;
  ts_add_task(L->ts, t);
  *out = t;
  return 0;
}

static void group_free(struct mg_group *g)
{
  if (!g)
    return;
  free(g->name);
  free(g->alias);
  mg_pv_unref(g->version);
  mg_pv_unref(g->config);
  free(g->items);
  for (size_t i = 0; i < g->nagg; i++) {
    free(g->agg[i].metric);
    mg_pv_unref(g->agg[i].filter_list);
  }
  free(g->agg);
  free(g);
}

static int build_group(struct loader *L, const struct mg_pv *cfg,
                       const char *dir, int depth, struct mg_group **out,
                       struct mg_err *err)
{
  struct mg_group *g;
  const struct mg_pv *tasks = mg_pv_dict_get(cfg, "task"), *agg, *md;
  const char *name = cfg_str(cfg, "group");

  *out = NULL;
  if (depth > 16)
    return mg_err_set(err, MG_ERR_DATA, "groups nested too deeply at '%s'",
                      name ? name : "?");
  for (size_t i = 0; name && i < L->ts->ngroups; i++)
    if (!strcmp(L->ts->groups[i]->name, name)) {
      *out = L->ts->groups[i];
      return 0;
    }
  g = mg_xcalloc(1, sizeof(*g));
  g->name = mg_xstrdup(name ? name : "?");
  g->alias = cfg_str(cfg, "group_alias")
                 ? mg_xstrdup(cfg_str(cfg, "group_alias"))
                 : NULL;
  g->config = mg_pv_ref((struct mg_pv *)cfg);
  md = mg_pv_dict_get(cfg, "metadata");
  if (md && mg_pv_dict_get(md, "version"))
    g->version = mg_pv_ref(mg_pv_dict_get(md, "version"));
  else if (mg_pv_dict_get(cfg, "version"))
    g->version = mg_pv_ref(mg_pv_dict_get(cfg, "version"));
  agg = mg_pv_dict_get(cfg, "aggregate_metric_list");
  if (agg && agg->type != MG_PV_NONE) {
    size_t na = agg->type == MG_PV_LIST ? agg->u.list.n : 1;

    g->agg = mg_xcalloc(na ? na : 1, sizeof(*g->agg));
    for (size_t i = 0; i < na; i++) {
      const struct mg_pv *a = agg->type == MG_PV_LIST ? agg->u.list.v[i] : agg;
      const struct mg_pv *fl, *w, *ag;

      if (a->type != MG_PV_DICT || !cfg_str(a, "metric")) {
        group_free(g);
        return mg_err_set(err, MG_ERR_DATA,
                          "group '%s': aggregate_metric_list item %zu needs a "
                          "metric",
                          name, i + 1);
      }
      ag = mg_pv_dict_get(a, "aggregation");
      if (ag && !(ag->type == MG_PV_STR && !strcmp(ag->u.str.s, "mean"))) {
        group_free(g);
        if (ag->type == MG_PV_TAGGED)
          return unsupported(err, name, "aggregate_metric_list.aggregation",
                             ag);
        return mg_err_set(err, MG_ERR_DATA,
                          "group '%s': only 'mean' aggregation is supported",
                          name);
      }
      g->agg[i].metric = mg_xstrdup(cfg_str(a, "metric"));
      fl = mg_pv_dict_get(a, "filter_list");
      if (fl && fl->type == MG_PV_STR) {
        g->agg[i].filter_list = mg_pv_list();
        mg_pv_list_append(g->agg[i].filter_list, mg_pv_ref((struct mg_pv *)fl));
      } else if (fl && fl->type == MG_PV_LIST) {
        g->agg[i].filter_list = mg_pv_ref((struct mg_pv *)fl);
      }
      w = mg_pv_dict_get(a, "weight_by_size");
      g->agg[i].weight_by_size = w ? mg_pv_truthy(w) : 1;
      g->nagg++;
    }
  }
  L->ts->groups = mg_xreallocarray(L->ts->groups, L->ts->ngroups + 1,
                                   sizeof(*L->ts->groups));
  L->ts->groups[L->ts->ngroups++] = g;
  if (!tasks || tasks->type != MG_PV_LIST)
    return mg_err_set(err, MG_ERR_DATA, "group '%s' has no task list", g->name);
  for (size_t i = 0; i < tasks->u.list.n; i++)
    if (resolve_item(L, tasks->u.list.v[i], dir, depth + 1, &g->items,
                     &g->nitems, err)
        < 0)
      return mg_err_prefix(err, "group '%s'", g->name);
  *out = g;
  return 0;
}

static int is_yaml_file(const char *s)
{
  struct stat st;

  return (has_ext(s, ".yaml") || has_ext(s, ".yml")) && stat(s, &st) == 0
         && S_ISREG(st.st_mode);
}

static int resolve_name(struct loader *L, const char *name, int depth,
                        struct mg_task_item **items, size_t *nitems,
                        struct mg_err *err)
{
  struct entry *e;
  struct tag *tag;

  if (is_yaml_file(name)) {
    struct mg_pv *cfg;
    const struct mg_pv *task;
    char *dir;
    int rc;

    if (load_config(L, name, 0, 0, &cfg, err) < 0)
      return -1;
    dir = dir_of(name);
    task = mg_pv_dict_get(cfg, "task");
    if (task && task->type == MG_PV_LIST) {
      struct mg_group *g;

      rc = build_group(L, cfg, dir, depth, &g, err);
      if (rc == 0)
        items_add(items, nitems, NULL, g);
    } else {
      struct mg_task *t;

      rc = get_task(L, cfg, name, dir, &t, err);
      if (rc == 0)
        items_add(items, nitems, t, NULL);
    }
    free(dir);
    mg_pv_unref(cfg);
    return rc;
  }
  e = find_entry(L, name, E_GROUP);
  if (e) {
    struct mg_group *g;

    if (build_group(L, e->cfg, e->dir, depth, &g, err) < 0)
      return -1;
    items_add(items, nitems, NULL, g);
    return 0;
  }
  e = find_entry(L, name, E_TASK);
  if (e) {
    struct mg_task *t;

    if (get_task(L, e->cfg, e->path, e->dir, &t, err) < 0)
      return -1;
    items_add(items, nitems, t, NULL);
    return 0;
  }
  tag = find_tag(L, name);
  if (tag) {
    for (size_t i = 0; i < tag->n; i++) {
      struct mg_pv *s = mg_pv_str(tag->tasks[i]);
      int rc = resolve_item(L, s, NULL, depth + 1, items, nitems, err);

      mg_pv_unref(s);
      if (rc < 0)
        return -1;
    }
    return 0;
  }
  if (L->bad_yaml)
    return mg_err_set(err, MG_ERR_DATA, "unknown task '%s' (and %s)", name,
                      L->bad_yaml);
  return mg_err_set(err, MG_ERR_USAGE,
                    "unknown task '%s': not a built-in task, group or tag, "
                    "nor in the --include-path directories",
                    name);
}

static int resolve_item(struct loader *L, const struct mg_pv *spec,
                        const char *dir, int depth, struct mg_task_item **items,
                        size_t *nitems, struct mg_err *err)
{
  if (depth > 32)
    return mg_err_set(err, MG_ERR_DATA, "task references nested too deeply");
  if (spec->type == MG_PV_STR)
    return resolve_name(L, spec->u.str.s, depth, items, nitems, err);
  if (spec->type == MG_PV_DICT) {
    const struct mg_pv *task = mg_pv_dict_get(spec, "task");

    if (mg_pv_dict_get(spec, "group")) {
      struct mg_group *g;

      if (build_group(L, spec, dir, depth, &g, err) < 0)
        return -1;
      items_add(items, nitems, NULL, g);
      return 0;
    }
    if (task && task->type == MG_PV_STR) {
      struct entry *e = find_entry(L, task->u.str.s, E_TASK);
      struct mg_pv *cfg;
      struct mg_task *t;
      int rc;

      if (e && spec->u.dict.n == 1)
        return resolve_name(L, task->u.str.s, depth, items, nitems, err);
      if (e && ts_find_task(L->ts, task->u.str.s))
        return mg_err_set(err, MG_ERR_DATA,
                          "task '%s' is selected twice with different "
                          "settings",
                          task->u.str.s);
      cfg = e ? mg_pv_copy(e->cfg) : mg_pv_dict();
      for (size_t i = 0; i < spec->u.dict.n; i++)
        mg_pv_dict_set(cfg, mg_pv_ref(spec->u.dict.k[i]),
                       mg_pv_ref(spec->u.dict.v[i]));
      rc = get_task(L, cfg, e ? e->path : "inline", e ? e->dir : dir, &t, err);
      mg_pv_unref(cfg);
      if (rc == 0)
        items_add(items, nitems, t, NULL);
      return rc;
    }
  }
  return mg_err_set(err, MG_ERR_DATA,
                    "a group's task list holds a %s, expected a name or a "
                    "mapping",
                    mg_pv_type_name(spec));
}

void mg_task_opts_init(struct mg_task_opts *o)
{
  memset(o, 0, sizeof(*o));
  o->num_fewshot = -1;
  o->limit = -1;
  o->fewshot_seed = 1234;
}

void mg_task_set_free(struct mg_task_set *ts)
{
  if (!ts)
    return;
  for (size_t i = 0; i < ts->ntasks; i++)
    task_free(ts->tasks[i]);
  free(ts->tasks);
  for (size_t i = 0; i < ts->ngroups; i++)
    group_free(ts->groups[i]);
  free(ts->groups);
  free(ts->top);
  for (size_t i = 0; i < ts->nwarnings; i++)
    free(ts->warnings[i]);
  free(ts->warnings);
  free(ts);
}

int mg_task_set_load(const char *const *names, size_t nnames,
                     const struct mg_task_opts *o, struct mg_task_set **out,
                     struct mg_err *err)
{
  struct loader L;
  int rc = 0;

  *out = NULL;
  memset(&L, 0, sizeof(L));
  L.o = o;
  L.ts = mg_xcalloc(1, sizeof(*L.ts));
  if (build_index(&L, err) < 0) {
    rc = -1;
    goto out;
  }
  for (size_t i = 0; i < nnames && rc == 0; i++) {
    struct mg_pv *s = mg_pv_str(names[i]);

    rc = resolve_item(&L, s, NULL, 0, &L.ts->top, &L.ts->ntop, err);
    mg_pv_unref(s);
  }
  if (rc == 0 && L.ts->ntasks == 0)
    rc = mg_err_set(err, MG_ERR_USAGE, "no tasks selected");
out:
  loader_release(&L);
  if (rc < 0) {
    mg_task_set_free(L.ts);
    return -1;
  }
  *out = L.ts;
  return 0;
}

int mg_task_list_all(const struct mg_task_opts *o, struct mg_pv **out,
                     struct mg_err *err)
{
  struct loader L;
  char **names = NULL;
  size_t n = 0;

  *out = NULL;
  memset(&L, 0, sizeof(L));
  L.o = o;
  L.ts = mg_xcalloc(1, sizeof(*L.ts));
  if (build_index(&L, err) < 0) {
    loader_release(&L);
    mg_task_set_free(L.ts);
    return -1;
  }
  for (size_t i = 0; i < L.ne + L.ntags; i++) {
    const char *nm = i < L.ne ? L.e[i].name : L.tags[i - L.ne].name;
    int dup = 0;

    for (size_t k = 0; k < n; k++)
      if (!strcmp(names[k], nm))
        dup = 1;
    if (dup)
      continue;
    names = mg_xreallocarray(names, n + 1, sizeof(char *));
    names[n++] = mg_xstrdup(nm);
  }
  qsort(names, n, sizeof(char *), cmp_str);
  *out = mg_pv_list();
  for (size_t i = 0; i < n; i++) {
    mg_pv_list_append(*out, mg_pv_str(names[i]));
    free(names[i]);
  }
  free(names);
  loader_release(&L);
  mg_task_set_free(L.ts);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Prompts                                                             */

void mg_task_docs_free(struct mg_task_doc *docs, size_t n)
{
  if (!docs)
    return;
  for (size_t i = 0; i < n; i++) {
    mg_pv_unref(docs[i].doc);
    mg_pv_unref(docs[i].ctx);
    mg_pv_unref(docs[i].messages);
    mg_pv_unref(docs[i].choices);
    mg_pv_unref(docs[i].target);
    mg_pv_unref(docs[i].golds);
  }
  free(docs);
}

static const struct mg_task_field *
fs_field(const struct mg_task_field *override, const struct mg_task_field *f)
{
  return override->kind != MG_FIELD_NONE ? override : f;
}

/* str(x) appended. */
static void add_str(struct mg_buf *b, const struct mg_pv *x)
{
  mg_pv_to_str(b, x);
}

/* The few-shot docs for one eval doc, as lm-eval's sampler picks them. */
static int draw_shots(const struct mg_task *t, struct mg_mt *rnd,
                      const struct mg_pv *doc, struct mg_pv **shots,
                      struct mg_err *err)
{
  size_t n = (size_t)t->num_fewshot, pool, nsamp, *idx;
  struct mg_pv *l = mg_pv_list();

  *shots = NULL;
  pool = t->fewshot_docs ? t->fewshot_docs->u.list.n : 0;
  nsamp = n + (t->fewshot_is_eval_split ? 1 : 0);
  if (nsamp > pool) {
    mg_pv_unref(l);
    return mg_err_set(err, MG_ERR_DATA,
                      "task '%s': %zu few-shot examples requested but only "
                      "%zu are available",
                      t->name, nsamp, pool);
  }
  idx = mg_xreallocarray(NULL, nsamp ? nsamp : 1, sizeof(*idx));
  if (t->sampler_first_n) {
    for (size_t i = 0; i < nsamp; i++)
      idx[i] = i;
  } else {
    mg_mt_sample(rnd, pool, nsamp, idx);
  }
  for (size_t i = 0; i < nsamp && l->u.list.n < n; i++) {
    struct mg_pv *x = t->fewshot_docs->u.list.v[idx[i]];

    if (!mg_pv_equal(x, doc))
      mg_pv_list_append(l, mg_pv_ref(x));
  }
  free(idx);
  *shots = l;
  return 0;
}

/* One shot's question text and answer text (answer NULL when the target
 * is ""). */
static int shot_parts(const struct mg_task *t, const struct mg_pv *shot,
                      struct mg_pv **q, struct mg_pv **a, struct mg_err *err)
{
  struct mg_pv *content = NULL, *target = NULL, *choices = NULL;
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  int rc = -1;

  *q = *a = NULL;
  if (mg_task_field_value(t, fs_field(&t->fs_text, &t->text), shot,
                          MG_ROLE_TEXT, &content, err)
          < 0
      || mg_task_field_value(t, fs_field(&t->fs_target, &t->target), shot,
                             MG_ROLE_TARGET, &target, err)
             < 0)
    goto out;
  if (content->type == MG_PV_STR) {
    *q = mg_pv_ref(content);
  } else if (content->type == MG_PV_INT) {
    const struct mg_pv *c;

    if (mg_task_field_value(t, fs_field(&t->fs_choice, &t->choice), shot,
                            MG_ROLE_CHOICE, &choices, err)
        < 0)
      goto out;
    c = mg_pv_at(choices, (size_t)content->u.i);
    if (!c) {
      mg_err_set(err, MG_ERR_DATA,
                 "task '%s': doc_to_text index %lld is "
                 "out of range",
                 t->name, content->u.i);
      goto out;
    }
    add_str(&b, c);
    *q = mg_pv_str_buf(&b);
  } else {
    *q = mg_pv_str("");
  }
  if (!(target->type == MG_PV_STR && target->u.str.len == 0)) {
    if (target->type == MG_PV_LIST) {
      if (target->u.list.n)
        add_str(&b, target->u.list.v[0]);
    } else if (t->choice.kind == MG_FIELD_NONE || target->type == MG_PV_STR) {
      if (target->type != MG_PV_STR) {
        mg_err_set(err, MG_ERR_DATA,
                   "task '%s': doc_to_target gives a %s without "
                   "doc_to_choice",
                   t->name, mg_pv_type_name(target));
        goto out;
      }
      add_str(&b, target);
    } else {
      const struct mg_pv *c;

      if (!choices
          && mg_task_field_value(t, fs_field(&t->fs_choice, &t->choice), shot,
                                 MG_ROLE_CHOICE, &choices, err)
                 < 0)
        goto out;
      c = target->type == MG_PV_INT ? mg_pv_at(choices, (size_t)target->u.i)
                                    : NULL;
      if (!c) {
        mg_err_set(err, MG_ERR_DATA,
                   "task '%s': few-shot target is not a valid choice index",
                   t->name);
        goto out;
      }
      add_str(&b, c);
    }
    *a = mg_pv_str_buf(&b);
  }
  rc = 0;
out:
  mg_buf_release(&b);
  mg_pv_unref(content);
  mg_pv_unref(target);
  mg_pv_unref(choices);
  if (rc < 0) {
    mg_pv_unref(*q);
    *q = NULL;
  }
  return rc;
}

static struct mg_pv *message(const char *role, struct mg_pv *content)
{
  struct mg_pv *m = mg_pv_dict();

  mg_pv_dict_sets(m, "role", mg_pv_str(role));
  mg_pv_dict_sets(m, "content", content);
  return m;
}

static int gold_of(const struct mg_task *t, struct mg_task_doc *td,
                   struct mg_err *err)
{
  struct mg_pv *g = td->target;
  size_t nc = td->choices ? td->choices->u.list.n : 0;
  struct mg_pv *text = NULL;

  td->gold = -100;
  if (t->multiple_input) {
    if (mg_task_field_value(t, &t->text, td->doc, MG_ROLE_TEXT, &text, err) < 0)
      return -1;
    g = text;
  }
  if (g->type == MG_PV_LIST) {
    td->golds = mg_pv_list();
    for (size_t i = 0; i < g->u.list.n; i++) {
      const struct mg_pv *x = g->u.list.v[i];
      long k =
          x->type == MG_PV_INT && x->u.i < (long long)nc ? (long)x->u.i : -100;

      mg_pv_list_append(td->golds, mg_pv_int(k));
    }
  } else if (g->type == MG_PV_INT) {
    /* check_gold_index_error: an index past the end is -100; a negative
     * one stays as it is (and never equals an argmax) */
    td->gold = g->u.i < (long long)nc ? (long)g->u.i : -100;
  } else if (g->type == MG_PV_STR) {
    for (size_t i = 0; i < nc; i++)
      if (mg_pv_equal(td->choices->u.list.v[i], g)) {
        td->gold = (long)i;
        break;
      }
  }
  mg_pv_unref(text);
  return 0;
}

static int prepare_doc(const struct mg_task *t, const struct mg_task_opts *o,
                       struct mg_mt *rnd, struct mg_task_doc *td,
                       struct mg_err *err)
{
  struct mg_pv *desc = NULL, *gp = NULL, *example = NULL, *shots = NULL;
  struct mg_buf sys = MG_BUF_INIT(MG_BUF_UNLIMITED);
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);
  const char *gen_prefix = NULL;
  int rc = -1;

  if (t->choice.kind != MG_FIELD_NONE) {
    if (mg_task_field_value(t, &t->choice, td->doc, MG_ROLE_CHOICE,
                            &td->choices, err)
        < 0)
      goto out;
    if (td->choices->type != MG_PV_LIST) {
      mg_err_set(err, MG_ERR_DATA,
                 "task '%s': doc_to_choice gives a %s, not "
                 "a list",
                 t->name, mg_pv_type_name(td->choices));
      goto out;
    }
  }
  if (mg_task_field_value(t, &t->target, td->doc, MG_ROLE_TARGET, &td->target,
                          err)
      < 0)
    goto out;
  if (t->output == MG_OUT_MULTIPLE_CHOICE && gold_of(t, td, err) < 0)
    goto out;
  if (t->description.kind != MG_FIELD_NONE
      && mg_task_field_value(t, &t->description, td->doc, MG_ROLE_PLAIN, &desc,
                             err)
             < 0)
    goto out;
  if (t->gen_prefix.kind != MG_FIELD_NONE) {
    if (mg_task_field_value(t, &t->gen_prefix, td->doc, MG_ROLE_PLAIN, &gp, err)
        < 0)
      goto out;
    gen_prefix = mg_pv_cstr(gp);
  }
  /* system prompt: system_instruction, fewshot_delimiter, description */
  if (o->system_instruction && desc && desc->u.str.len) {
    mg_buf_addstr(&sys, o->system_instruction, NULL);
    mg_buf_addstr(&sys, t->fewshot_delimiter, NULL);
    mg_buf_add(&sys, desc->u.str.s, desc->u.str.len, NULL);
  } else if (o->system_instruction) {
    mg_buf_addstr(&sys, o->system_instruction, NULL);
  } else if (desc) {
    mg_buf_add(&sys, desc->u.str.s, desc->u.str.len, NULL);
  }
  if (t->num_fewshot > 0 && draw_shots(t, rnd, td->doc, &shots, err) < 0)
    goto out;
  if (mg_task_field_value(t, &t->text, td->doc, MG_ROLE_TEXT, &example, err)
      < 0)
    goto out;
  if (example->type == MG_PV_INT && !t->multiple_input) {
    const struct mg_pv *c =
        td->choices ? mg_pv_at(td->choices, (size_t)example->u.i) : NULL;
    struct mg_pv *s;

    if (c)
      add_str(&b, c);
    else
      add_str(&b, example);
    s = mg_pv_str_buf(&b);
    mg_pv_unref(example);
    example = s;
  }
  if (example->type != MG_PV_STR && !t->multiple_input) {
    mg_err_set(err, MG_ERR_DATA, "task '%s': doc_to_text gives a %s", t->name,
               mg_pv_type_name(example));
    goto out;
  }
  if (o->apply_chat_template) {
    struct mg_pv *msgs = mg_pv_list();
    const char *pfx = gen_prefix && *gen_prefix ? gen_prefix : NULL;

    if (t->multiple_input) {
      mg_pv_unref(msgs);
      mg_err_set(err, MG_ERR_DATA,
                 "task '%s': multiple-input tasks with a chat template are "
                 "not supported",
                 t->name);
      goto out;
    }
    if (sys.len)
      mg_pv_list_append(msgs, message("system", mg_pv_strn(sys.data, sys.len)));
    for (size_t i = 0; shots && o->fewshot_as_multiturn && i < shots->u.list.n;
         i++) {
      struct mg_pv *q, *a;

      if (shot_parts(t, shots->u.list.v[i], &q, &a, err) < 0) {
        mg_pv_unref(msgs);
        goto out;
      }
      mg_pv_list_append(msgs, message("user", q));
      mg_buf_reset(&b);
      if (pfx) {
        mg_buf_addstr(&b, pfx, NULL);
        mg_buf_addch(&b, ' ', NULL);
      }
      if (a)
        mg_buf_add(&b, a->u.str.s, a->u.str.len, NULL);
      mg_pv_list_append(msgs, message("assistant", mg_pv_str_buf(&b)));
      mg_pv_unref(a);
    }
    mg_buf_reset(&b);
    for (size_t i = 0; shots && !o->fewshot_as_multiturn && i < shots->u.list.n;
         i++) {
      struct mg_pv *q, *a;

      if (shot_parts(t, shots->u.list.v[i], &q, &a, err) < 0) {
        mg_pv_unref(msgs);
        goto out;
      }
      mg_buf_add(&b, q->u.str.s, q->u.str.len, NULL);
      if (a) {
        mg_buf_addstr(&b, t->target_delimiter, NULL);
        if (pfx) {
          mg_buf_addstr(&b, pfx, NULL);
          mg_buf_addch(&b, ' ', NULL);
        }
        mg_buf_add(&b, a->u.str.s, a->u.str.len, NULL);
        mg_buf_addstr(&b, t->fewshot_delimiter, NULL);
      }
      mg_pv_unref(q);
      mg_pv_unref(a);
    }
    if (shots && !o->fewshot_as_multiturn)
      mg_pv_list_append(msgs, message("user", mg_pv_str_buf(&b)));
    /* append_target_question */
    {
      struct mg_pv *last =
          msgs->u.list.n ? msgs->u.list.v[msgs->u.list.n - 1] : NULL;
      const char *role = last ? mg_pv_cstr(mg_pv_dict_get(last, "role")) : NULL;

      if (!o->fewshot_as_multiturn && last && role && strcmp(role, "system")) {
        struct mg_pv *c = mg_pv_dict_get(last, "content");

        mg_buf_reset(&b);
        add_str(&b, c);
        mg_buf_add(&b, example->u.str.s, example->u.str.len, NULL);
        mg_pv_dict_sets(last, "content", mg_pv_str_buf(&b));
      } else {
        mg_pv_list_append(msgs, message("user", mg_pv_ref(example)));
      }
      if (pfx)
        mg_pv_list_append(msgs, message("assistant", mg_pv_str(pfx)));
    }
    td->messages = msgs;
    if (o->chat) {
      /* TemplateAPI.apply_chat_template with a Hugging Face tokenizer */
      if (mg_chat_render(o->chat, msgs, !pfx, pfx != NULL, &td->ctx, err) < 0)
        goto out;
      td->rendered = 1;
      rc = 0;
      goto out;
    }
    mg_buf_reset(&b);
    mg_pv_dumps(&b, msgs, -1);
    td->ctx = mg_pv_str_buf(&b);
    rc = 0;
    goto out;
  }
  /* plain text: SYS + shots + question [+ delimiter + gen_prefix] */
  mg_buf_add(&b, sys.data ? sys.data : "", sys.len, NULL);
  for (size_t i = 0; shots && i < shots->u.list.n; i++) {
    struct mg_pv *q, *a;

    if (shot_parts(t, shots->u.list.v[i], &q, &a, err) < 0)
      goto out;
    mg_buf_add(&b, q->u.str.s, q->u.str.len, NULL);
    if (a) {
      mg_buf_addstr(&b, t->target_delimiter, NULL);
      if (gen_prefix && *gen_prefix) {
        mg_buf_addstr(&b, gen_prefix, NULL);
        mg_buf_addch(&b, ' ', NULL);
      }
      mg_buf_add(&b, a->u.str.s, a->u.str.len, NULL);
      mg_buf_addstr(&b, t->fewshot_delimiter, NULL);
    }
    mg_pv_unref(q);
    mg_pv_unref(a);
  }
  if (!t->multiple_input) {
    mg_buf_add(&b, example->u.str.s, example->u.str.len, NULL);
    if (gen_prefix) {
      mg_buf_addstr(&b, t->target_delimiter, NULL);
      mg_buf_addstr(&b, gen_prefix, NULL);
    }
  }
  td->ctx = mg_pv_str_buf(&b);
  rc = 0;
out:
  mg_buf_release(&sys);
  mg_buf_release(&b);
  mg_pv_unref(desc);
  mg_pv_unref(gp);
  mg_pv_unref(example);
  mg_pv_unref(shots);
  return rc;
}

int mg_task_prepare(const struct mg_task *t, const struct mg_task_opts *o,
                    struct mg_task_doc **docs, struct mg_err *err)
{
  size_t n = t->docs->u.list.n;
  struct mg_task_doc *d = mg_xcalloc(n ? n : 1, sizeof(*d));
  struct mg_mt rnd;

  *docs = NULL;
  mg_mt_seed(&rnd, o->fewshot_seed);
  for (size_t i = 0; i < n; i++) {
    d[i].doc = mg_pv_ref(t->docs->u.list.v[i]);
    d[i].gold = -100;
    if (prepare_doc(t, o, &rnd, &d[i], err) < 0) {
      mg_err_prefix(err, "document %zu", i);
      mg_task_docs_free(d, n);
      return -1;
    }
  }
  *docs = d;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */

int mg_task_has_metric(const struct mg_task *t, const char *name)
{
  for (size_t i = 0; i < t->nmetrics; i++)
    if (!strcmp(t->metrics[i].name, name))
      return 1;
  return 0;
}

static struct mg_pv *pair(struct mg_pv *a, struct mg_pv *b)
{
  struct mg_pv *p = mg_pv_tuple();

  mg_pv_list_append(p, a);
  mg_pv_list_append(p, b);
  return p;
}

static struct mg_pv *delim_plus(const char *delim, const struct mg_pv *x)
{
  struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

  mg_buf_addstr(&b, delim, NULL);
  mg_pv_to_str(&b, x);
  return mg_pv_str_buf(&b);
}

struct mg_pv *mg_task_doc_args(const struct mg_task *t,
                               const struct mg_task_doc *td)
{
  struct mg_pv *l = mg_pv_list();
  const char *delim = td->messages ? "" : t->target_delimiter;

  switch (t->output) {
  case MG_OUT_MULTIPLE_CHOICE:
    for (size_t i = 0; td->choices && i < td->choices->u.list.n; i++) {
      const struct mg_pv *c = td->choices->u.list.v[i];

      if (t->multiple_input) {
        struct mg_buf b = MG_BUF_INIT(MG_BUF_UNLIMITED);

        mg_pv_to_str(&b, td->ctx);
        mg_pv_to_str(&b, c);
        mg_pv_list_append(
            l, pair(mg_pv_str_buf(&b), delim_plus(delim, td->target)));
      } else {
        mg_pv_list_append(l, pair(mg_pv_ref(td->ctx), delim_plus(delim, c)));
      }
    }
    if (mg_task_has_metric(t, "acc_mutual_info"))
      for (size_t i = 0; td->choices && i < td->choices->u.list.n; i++)
        mg_pv_list_append(l, pair(mg_pv_str(""),
                                  delim_plus(delim, td->choices->u.list.v[i])));
    break;
  case MG_OUT_LOGLIKELIHOOD:
    mg_pv_list_append(l, pair(mg_pv_ref(td->ctx), delim_plus("", td->target)));
    break;
  case MG_OUT_LOGLIKELIHOOD_ROLLING: {
    /* one request, (doc_to_target,): the text whose likelihood counts */
    struct mg_pv *one = mg_pv_tuple();

    mg_pv_list_append(one, delim_plus("", td->target));
    mg_pv_list_append(l, one);
    break;
  }
  default:
    for (int r = 0; r < t->repeats; r++)
      mg_pv_list_append(
          l, pair(mg_pv_ref(td->ctx), mg_pv_deepcopy(t->gen_kwargs)));
    break;
  }
  return l;
}

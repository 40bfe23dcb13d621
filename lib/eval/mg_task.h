#ifndef MG_TASK_H
#define MG_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_chat;
struct mg_err;
struct mg_pv;
struct mg_tmpl;

/*
 * lm-evaluation-harness tasks: the YAML task and group definitions (with
 * include, tags, groups and their aggregate_metric_list), the built-in
 * tasks (mmlu and its 57 subjects and 4 category groups, gsm8k, arc_easy,
 * arc_challenge, hellaswag) and user tasks from --include-path
 * directories, turned into documents, prompts and requests exactly as
 * lm-eval builds them for its API models (see
 * ../shared/reference/eval-anchors.md sections 1.2, 1.3, 2).
 *
 * What needs Python (a !function anywhere the task uses, process_results,
 * custom_dataset, class, multimodal fields, unsafe_code) is refused with a
 * message naming the task and the field.
 */

enum mg_task_output {
  MG_OUT_GENERATE_UNTIL = 0,
  MG_OUT_MULTIPLE_CHOICE,
  MG_OUT_LOGLIKELIHOOD,
  MG_OUT_LOGLIKELIHOOD_ROLLING,
};

/* A doc_to_* field: a column name, a template, or a literal value. */
struct mg_task_field {
  enum {
    MG_FIELD_NONE = 0,
    MG_FIELD_COLUMN,
    MG_FIELD_TEMPLATE,
    MG_FIELD_VALUE
  } kind;
  char *text;           /* the column name or template source */
  struct mg_tmpl *tmpl; /* MG_FIELD_TEMPLATE */
  struct mg_pv *value;  /* MG_FIELD_VALUE (int, list, dict) */
};

struct mg_task_metric {
  char *name;        /* acc, acc_norm, exact_match, f1, ... */
  char *aggregation; /* mean, f1, matthews_corrcoef, perplexity, ... */
  int higher_is_better;
  struct mg_pv *kwargs; /* the metric's other keys (dict) */
};

struct mg_task_filter_step {
  char *function;     /* regex, take_first, lowercase, ... */
  struct mg_pv *args; /* the step's other keys (dict) */
};

struct mg_task_filter {
  char *name; /* "none", "strict-match", ... */
  struct mg_task_filter_step *steps;
  size_t nsteps;
};

struct mg_task {
  char *name;
  char *alias;          /* task_alias, or NULL */
  char *source;         /* YAML path, or "builtin:<path>" */
  struct mg_pv *config; /* the task's config as lm-eval dumps it */
  char config_sha256[65];
  enum mg_task_output output;
  struct mg_task_field text, target, choice, description, gen_prefix;
  struct mg_task_field fs_text, fs_target, fs_choice; /* fewshot_config */
  char *target_delimiter;
  char *fewshot_delimiter;
  int num_fewshot;     /* effective */
  int sampler_first_n; /* 1: first_n, 0: lm-eval's default random */
  struct mg_pv *gen_kwargs;
  struct mg_task_metric *metrics;
  size_t nmetrics;
  struct mg_task_filter *filters;
  size_t nfilters;
  int repeats;
  struct mg_pv *version;      /* metadata.version, or NULL */
  struct mg_pv *docs;         /* evaluation docs after --limit (list) */
  size_t n_original;          /* evaluation docs before --limit */
  struct mg_pv *fewshot_docs; /* list, or NULL */
  int fewshot_is_eval_split;
  int multiple_input;     /* doc_to_text gives an index into the choices */
  int multiple_target;    /* doc_to_target gives a list */
  struct mg_pv *features; /* column names of the eval docs (list of str) */
};

struct mg_group;

struct mg_task_item {
  struct mg_task *task; /* exactly one of task and group is set */
  struct mg_group *group;
};

struct mg_group_agg {
  char *metric;
  struct mg_pv *filter_list; /* list of filter names, or NULL: discover */
  int weight_by_size;
};

struct mg_group {
  char *name;
  char *alias;
  struct mg_pv *version;
  struct mg_pv *config;
  struct mg_task_item *items;
  size_t nitems;
  struct mg_group_agg *agg; /* NULL when the group does not aggregate */
  size_t nagg;
};

struct mg_task_set {
  struct mg_task_item *top; /* selection in --tasks order */
  size_t ntop;
  struct mg_task **tasks; /* every leaf task once, evaluation order */
  size_t ntasks;
  struct mg_group **groups; /* every group once */
  size_t ngroups;
  char **warnings; /* for the user; the lib never prints */
  size_t nwarnings;
};

struct mg_task_opts {
  const char *data_dir; /* mirror of built-in datasets */
  const char *const *include_paths;
  size_t ninclude;
  long num_fewshot;               /* -1: as the task says */
  double limit;                   /* < 0: none; < 1: fraction */
  const char *system_instruction; /* or NULL */
  int apply_chat_template;
  int fewshot_as_multiturn;
  /* With apply_chat_template: the tokenizer's chat template (borrowed).
   * Set, the messages are rendered into the context string as
   * local-completions with a Hugging Face tokenizer does
   * (add_generation_prompt unless gen_prefix, then continue_final_message);
   * NULL, the context is the message list (local-chat-completions). */
  const struct mg_chat *chat;
  uint64_t fewshot_seed;          /* lm-eval's default 1234 */
  const struct mg_pv *gen_kwargs; /* --gen-kwargs dict, or NULL */
};

void mg_task_opts_init(struct mg_task_opts *o);

/*
 * Resolves names (task, group or tag names, or YAML file paths) against
 * the built-in tasks and the include paths, loads their data and prepares
 * every document. caller owns *out; free with mg_task_set_free. Errors:
 * MG_ERR_USAGE for an unknown name, MG_ERR_DATA for malformed YAML,
 * templates, data or unsupported features, MG_ERR_IO for missing files.
 */
int mg_task_set_load(const char *const *names, size_t nnames,
                     const struct mg_task_opts *o, struct mg_task_set **out,
                     struct mg_err *err);
void mg_task_set_free(struct mg_task_set *ts);

/* Names of every task, group and tag known (sorted), for --list-tasks.
 * caller owns the result (a list of str). */
int mg_task_list_all(const struct mg_task_opts *o, struct mg_pv **out,
                     struct mg_err *err);

/*
 * A prepared document: its prompt and what to score it against.
 * ctx is the context string (or, with a chat template, the JSON text of
 * the message list, or the rendered template when opts.chat is set;
 * messages then holds the list). choices is the list of answer choices
 * (multiple_choice), target the doc_to_target value.
 */
struct mg_task_doc {
  struct mg_pv *doc;
  struct mg_pv *ctx;
  struct mg_pv *messages;
  int rendered; /* ctx is messages rendered with opts.chat */
  struct mg_pv *choices;
  struct mg_pv *target;
  long gold;           /* resolved gold index (multiple_choice), -100 */
  struct mg_pv *golds; /* list of gold indices (multiple targets) */
};

/*
 * Builds the prompts of every document of t in order (advancing the
 * task's few-shot RNG doc by doc as lm-eval does). Fills *docs (an array
 * of t->docs length; free with mg_task_docs_free).
 */
int mg_task_prepare(const struct mg_task *t, const struct mg_task_opts *o,
                    struct mg_task_doc **docs, struct mg_err *err);
void mg_task_docs_free(struct mg_task_doc *docs, size_t n);

/*
 * A field's value for a doc, as lm-eval's doc_to_text / doc_to_target /
 * doc_to_choice compute it: a column is read as is; a template is rendered
 * and then, for text and target of a task with doc_to_choice, a string of
 * digits becomes an int; a target that looks like "[...]" becomes a list;
 * choices come from a lone expression's value or ast.literal_eval of the
 * rendering. caller owns *out.
 */
enum mg_task_role {
  MG_ROLE_TEXT = 0,
  MG_ROLE_TARGET,
  MG_ROLE_CHOICE,
  MG_ROLE_PLAIN, /* description, gen_prefix: the rendered string */
};
int mg_task_field_value(const struct mg_task *t, const struct mg_task_field *f,
                        const struct mg_pv *doc, enum mg_task_role role,
                        struct mg_pv **out, struct mg_err *err);

/*
 * The requests lm-eval builds for a prepared doc, as a list of 2-tuples:
 * (context, continuation) strings for loglikelihood requests (one per
 * choice, then the unconditional ("", continuation) ones when the task
 * uses acc_mutual_info), or (context, generation_kwargs) for generation
 * (one per repeat), or for loglikelihood_rolling one 1-tuple (text,) with
 * the doc_to_target string. caller owns the result.
 */
struct mg_pv *mg_task_doc_args(const struct mg_task *t,
                               const struct mg_task_doc *td);
/* 1 if the task's metrics include name. */
int mg_task_has_metric(const struct mg_task *t, const char *name);

const char *mg_task_output_name(enum mg_task_output o);

#endif

#ifndef MG_EVAL_OUT_H
#define MG_EVAL_OUT_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_buf;
struct mg_err;
struct mg_eval_run;
struct mg_json;
struct mg_pv;

/*
 * eval-run's outputs: the record's eval section, lm-eval's results JSON
 * and samples JSON Lines, written atomically as side files.
 */

struct mg_eval_meta {
  const char *model_args; /* as given (secrets never included) */
  const char *model_kind; /* "local-completions" / "local-chat-completions" */
  double limit;           /* < 0 none */
  long num_fewshot;       /* -1 none */
  uint64_t seed, fewshot_seed;
  const char *system_instruction;
  int apply_chat_template;
  int fewshot_as_multiturn;
  const struct mg_pv *gen_kwargs;
  const char *gen_kwargs_arg; /* --gen_kwargs as given, or NULL */
  long batch_size;
  const char *batch_size_arg; /* --batch_size as given (lm-eval 0.4.8 keeps
                                 the CLI string), or NULL (the int 1) */
  const char *label;          /* dataset label (eval.label), or NULL */
  const char *chat_template;  /* rendered locally with it, or NULL */
};

/* The record's "eval" section (docs/record-eval.md). samples_files[i] is
 * the side-file object of task i's samples, or NULL. caller owns it. */
struct mg_json *mg_eval_out_section(const struct mg_eval_run *r,
                                    const struct mg_eval_meta *meta,
                                    struct mg_json *const *samples_files,
                                    const struct mg_json *results_file);

/* lm-eval's results JSON (anchor 4.1) as text (indent 2, with a trailing
 * newline). caller owns the result; free with free(). */
char *mg_eval_out_results_json(const struct mg_eval_run *r,
                               const struct mg_eval_meta *meta, size_t *len);

/*
 * What lm-eval's CLI prints at the end (cli_evaluate): the line
 * "<model> (<model_args>), gen_kwargs: (<gen_kwargs>), limit: <limit>,
 * num_fewshot: <n>, batch_size: <b>", then make_table of the results and,
 * when there are aggregating groups, of the groups (mg_eval_table), each
 * followed by an empty line. Appends to out.
 */
void mg_eval_out_table(const struct mg_eval_run *r,
                       const struct mg_eval_meta *meta, struct mg_buf *out);

/* Task i's samples as JSON Lines (lm-eval's samples_<task>_<ts>.jsonl).
 * caller owns the result. */
char *mg_eval_out_samples_jsonl(const struct mg_eval_run *r, size_t task,
                                size_t *len);

/* Where the side files go. */
struct mg_eval_files {
  const char *output_path;  /* lm-eval layout: DIR/<model>/results_<ts>.json
                               and samples_<task>_<ts>.jsonl, or NULL */
  const char *results_file; /* lm-eval results JSON, or NULL */
  const char *samples_dir;  /* DIR/samples_<task>.jsonl, or NULL */
  int log_samples;          /* write samples (into samples_dir, else
                               output_path) */
};

/*
 * Writes the results and samples files atomically and builds the record's
 * eval section referencing them (side-file objects with their SHA-256).
 * caller owns *section. MG_ERR_IO when a file cannot be written.
 */
int mg_eval_out_write(const struct mg_eval_run *r,
                      const struct mg_eval_meta *meta,
                      const struct mg_eval_files *f, struct mg_json **section,
                      struct mg_err *err);

#endif

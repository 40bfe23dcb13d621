#ifndef MG_DATASET_H
#define MG_DATASET_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;
struct mg_pv;

/*
 * Datasets for eval-run, read from local files only (nothing is ever
 * downloaded). A split is a list of documents (dicts) with the column
 * semantics of the Hugging Face builders lm-evaluation-harness uses:
 *
 *   json  JSON Lines or a JSON array (or an object's "field" member); the
 *         columns are the union of all keys in first-seen order, a missing
 *         key is None, and a column holding both ints and floats becomes
 *         float everywhere (as pyarrow infers it).
 *   csv   a header row; a column whose every non-empty cell is an integer
 *         is int, else all-numeric is float, else str; empty cells None.
 *
 * and the published layouts of the built-in benchmarks under a mirror
 * directory (docs/tools/eval-run.md lists them):
 *
 *   cais/mmlu       DIR/mmlu/{test,dev,val}/<subject>_<split>.csv (the
 *                   hendrycks/test layout; no header: question, A, B, C,
 *                   D, answer letter) -> {question, subject, choices,
 *                   answer: index}
 *   gsm8k           DIR/gsm8k/{test,train}.jsonl
 *   allenai/ai2_arc DIR/arc/<name>/<name>-{Train,Dev,Test}.jsonl (AI2's
 *                   ARC-V1 files) or DIR/ai2_arc/<name>/{train,validation,
 *                   test}.jsonl (HF rows) -> {id, question, choices:
 *                   {text, label}, answerKey}
 *   Rowan/hellaswag DIR/hellaswag/hellaswag_{train,val}.jsonl (rowanz
 *                   layout) -> HF rows (label as a string)
 */

struct mg_dataset_spec {
  const char *path; /* dataset_path: builder name, hub id or directory */
  const char *name; /* dataset_name, or NULL */
  const struct mg_pv *kwargs; /* dataset_kwargs dict, or NULL */
  const char *data_dir;       /* mirror root for hub datasets, or NULL */
  const char *base_dir; /* directory of the task YAML, for relative files */
};

/*
 * Loads one split. caller owns *docs (a list of dicts). Fails with
 * MG_ERR_DATA (malformed file, unknown split) or MG_ERR_IO (missing or
 * unreadable file); the message names the file. *note, when not NULL,
 * receives a warning to show the user (or NULL); caller frees it.
 */
int mg_dataset_load(const struct mg_dataset_spec *spec, const char *split,
                    struct mg_pv **docs, char **note, struct mg_err *err);

/* Parsers, exposed for tests: JSON Lines / JSON text and CSV text. */
int mg_dataset_parse_json(const char *text, size_t len, const char *name,
                          const char *field, struct mg_pv **docs,
                          struct mg_err *err);
/* header: 1 = first row names the columns; 0 = rows as lists of str. */
int mg_dataset_parse_csv(const char *text, size_t len, const char *name,
                         int header, struct mg_pv **rows, struct mg_err *err);

/* HellaSwag's preprocessing (lm-eval's utils.process_docs, natively):
 * adds "query", "choices" and "gold" to each doc. Fails on a doc without
 * the expected fields. */
int mg_dataset_hellaswag(struct mg_pv *docs, struct mg_err *err);

#endif

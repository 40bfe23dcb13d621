#ifndef MG_FETCH_DS_H
#define MG_FETCH_DS_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;
struct mg_fetch_opts;
struct mg_json;

/*
 * The datasets of eval-run's built-in tasks, brought in from their
 * upstream sources through model-fetch's own ingestion (every byte's
 * sha256 checked while it streams, archives extracted within limits), into
 * the layout eval-run's --data-dir reads:
 *
 *   DIR/mmlu/{dev,val,test,auxiliary_train}/<subject>_<split>.csv
 *   DIR/gsm8k/{test,train}.jsonl
 *   DIR/arc/{ARC-Easy,ARC-Challenge}/<name>-{Train,Dev,Test}.jsonl
 *   DIR/hellaswag/hellaswag_{train,val}.jsonl
 *
 * A manifest is JSON:
 *   {"schema": "modelgate.dataset-manifest/v1",
 *    "datasets": [{"name": "gsm8k", "tasks": "...", "files": [
 *      {"url": "https://...", "sha256": "<64 hex>", "bytes": N,
 *       "license": "MIT", "origin": "...", "dest": "gsm8k",
 *       "extract": false}, ...]}, ...]}
 * url, sha256, license and dest (a relative directory without "..") are
 * required; bytes, origin and extract (default false: the file is stored
 * under its URL's base name; true: an archive whose contents, its single
 * top directory stripped, land in dest) are optional.
 */

/* The pinned manifest shipped with modelgate (JSON text, static). */
const char *mg_fetch_ds_builtin(void);

/*
 * Reads and checks a manifest (text of n bytes, named name in messages).
 * caller owns *out; free with mg_json_free. MG_ERR_DATA when malformed.
 */
int mg_fetch_ds_parse(const char *text, size_t n, const char *name,
                      struct mg_json **out, struct mg_err *err);

/*
 * Fetches the datasets named in names (comma-separated, or "all") of
 * manifest into dir, each file with mg_fetch_run using base's settings
 * (HTTP, limits, retries, progress; source, dest, sha256 and extract are
 * set per file). A file already in place with its sha256 (or an archive
 * whose marker says so) is not fetched again. *section gets the record's
 * "datasets" section: {"dir", "datasets": [{"name", "files": [{"uri",
 * "sha256", "bytes", "license", "origin", "dest", "files"}]}]}. caller
 * owns it. Errors: MG_ERR_USAGE (unknown dataset name), MG_ERR_DATA,
 * MG_ERR_IO, MG_ERR_REMOTE (a download failed or its digest differs).
 */
int mg_fetch_ds_run(const struct mg_json *manifest, const char *names,
                    const char *dir, const struct mg_fetch_opts *base,
                    struct mg_json **section, struct mg_err *err);

#endif

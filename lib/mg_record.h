#ifndef MG_RECORD_H
#define MG_RECORD_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;
struct mg_json;

/*
 * The record: the one JSON document every program reads and writes
 * (docs/record.md). A record is an object with "schema" ==
 * MG_RECORD_SCHEMA and one section per producer ("model", "verification",
 * "perf", "eval", "registry", "provenance", ...). A program replaces only
 * its own section and passes every other member through untouched.
 */
#define MG_RECORD_SCHEMA_NAME "modelgate.record"
#define MG_RECORD_SCHEMA_MAJOR 1
#define MG_RECORD_SCHEMA "modelgate.record/v1"

/* A new record with only the schema member; caller owns the result. */
struct mg_json *mg_record_new(void);

/*
 * Checks that j is a record this version can read: an object whose
 * "schema" is "modelgate.record/vN" with N == MG_RECORD_SCHEMA_MAJOR.
 * name is the input's name for messages. Fails with MG_ERR_DATA.
 */
int mg_record_check(const struct mg_json *j, const char *name,
                    struct mg_err *err);

/*
 * Reads and checks a record from path ("-" = stdin) with a size cap of
 * max bytes. Reading stdin when it is a terminal is refused with
 * MG_ERR_USAGE ("no input: give -i FILE or pipe a record"), so a tool never
 * waits silently. caller owns *out; free with mg_json_free.
 */
int mg_record_read(const char *path, size_t max, struct mg_json **out,
                   struct mg_err *err);
/* As mg_record_read, but an absent input (path is "-" and stdin is a
 * terminal, or an empty or whitespace-only pipe) gives a fresh empty
 * record instead of an error. A file given by name must hold a record. */
int mg_record_read_or_new(const char *path, size_t max, struct mg_json **out,
                          struct mg_err *err);

/* Replaces (or adds) section name, taking ownership of section. */
void mg_record_set_section(struct mg_json *rec, const char *name,
                           struct mg_json *section);
/* Borrowed section, or NULL. */
struct mg_json *mg_record_section(const struct mg_json *rec, const char *name);

/*
 * Serialises rec (compact, or pretty) with a trailing newline and writes it
 * atomically to path ("-" = stdout).
 */
int mg_record_write(const struct mg_json *rec, const char *path, int pretty,
                    struct mg_err *err);

/*
 * A side-file reference {"path": path, "bytes": n, "sha256": hex} for large
 * detail kept outside the record. Hashes the file as it is now.
 * caller owns *out.
 */
int mg_record_sidefile(const char *path, struct mg_json **out,
                       struct mg_err *err);

/*
 * Appends a provenance entry {"program", "version", "started", "finished",
 * "host", "args"} to rec's "provenance" array (creating it). started is
 * an RFC 3339 time taken when the run began (mg_time_rfc3339). args are
 * argv[1..argc-1]; user:password@ parts of URLs and credential query
 * values are removed, and --header values replaced by "REDACTED".
 */
void mg_record_add_provenance(struct mg_json *rec, const char *started,
                              int argc, char **argv);

/*
 * Copy of url without "user:password@" and with the values of query
 * parameters that carry credentials (token, sig, signature,
 * X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, access_token)
 * replaced by "REDACTED". caller owns the result; free with free().
 */
char *mg_record_redact_url(const char *url);

/*
 * The admission gate that perf-run, eval-run and registry-push hold. A
 * record with a "model" section may go on only when the model passed
 * model-verify: its "verification" verdict is "pass" (a section with
 * only "ok": true counts as pass) and, when the section lists files,
 * every file of model.files appears there with the same sha256 (the
 * verdict is about these bytes). A record started from the registry
 * (registry-push --get) has no verification section; the verdict the
 * registered version carries (registry.version_properties
 * "verify.verdict") stands for it. A record without a "model" section
 * (an endpoint measured on its own) passes.
 *
 * Returns 0 when the gate is open; -1 when it is closed, with err
 * (MG_ERR_FAIL: a negative verdict) one line naming the verdict and the
 * first error finding, e.g. "refusing model 'tiny': verdict 'fail':
 * pickle 'model.bin': global os.system is not allowed", or "refusing
 * model 'tiny': no verification verdict (run model-verify)". The tools
 * then say so, write the record unchanged and exit 1, unless given
 * --allow-unverified.
 */
int mg_record_gate(const struct mg_json *rec, struct mg_err *err);

#endif

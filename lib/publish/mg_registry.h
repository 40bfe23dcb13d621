#ifndef MG_REGISTRY_H
#define MG_REGISTRY_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;
struct mg_http_opts;
struct mg_json;

/*
 * Model registry: the Kubeflow Model Registry REST API
 * (/api/model_registry/v1alpha3, the registry behind OpenShift AI) and a
 * local directory registry that stores the same entities as JSON. Used by
 * registry-push; docs/record-registry.md describes the property names.
 *
 * Entities are exchanged as JSON objects shaped exactly as the REST API
 * shapes them (RegisteredModel, ModelVersion, ModelArtifact, DocArtifact),
 * whichever backend holds them.
 */
#define MG_REGISTRY_API_PATH "/api/model_registry/v1alpha3"
#define MG_REGISTRY_DIR_SCHEMA "modelgate.registry-dir/v1"
/* Largest magnitude written as MetadataIntValue: at most 9 digits, as the
 * int32 pattern of the current spec demands. Larger integers are written
 * as MetadataDoubleValue. */
#define MG_REGISTRY_INT_MAX 999999999LL

/*
 * Typed custom-property values (MetadataValue). Each returns a new object
 * {"metadataType": ..., "<type>_value": ...}; caller owns the result.
 * mg_registry_value_int falls back to a double outside +-MG_REGISTRY_INT_MAX.
 * mg_registry_value_double must get a finite value (MG_BUG otherwise).
 * A label is a string value "" (the dashboards show it as a chip).
 */
struct mg_json *mg_registry_value_string(const char *s);
struct mg_json *mg_registry_value_int(long long v);
struct mg_json *mg_registry_value_double(double v);
struct mg_json *mg_registry_value_bool(int v);

/*
 * The plain JSON value of a typed value: a string, number or bool.
 * MetadataIntValue becomes a number; struct and proto values are returned
 * as their base64 string. Fails with MG_ERR_DATA when v is not a
 * MetadataValue (what names it in the message). caller owns *out.
 */
int mg_registry_value_plain(const struct mg_json *v, const char *what,
                            struct mg_json **out, struct mg_err *err);

/*
 * Merges ours into theirs the way registry-push must before a PATCH (the
 * server replaces the whole customProperties map): every key of theirs is
 * kept, every key of ours is set. *merged is a new object (caller owns).
 * added and changed (arrays, may be NULL) get the names of keys that were
 * absent or different. Returns the number of added + changed keys.
 */
int mg_registry_props_merge(const struct mg_json *theirs,
                            const struct mg_json *ours, struct mg_json **merged,
                            struct mg_json *added, struct mg_json *changed);

/*
 * What to register, taken from a record (see mg_registry_target_from_record)
 * and the command line. Strings are borrowed. NULL means "not set".
 */
struct mg_registry_target {
  const char *model_name;    /* RegisteredModel.name (required) */
  const char *version_name;  /* ModelVersion.name (required) */
  const char *owner;         /* RegisteredModel.owner on create */
  const char *author;        /* ModelVersion.author on create */
  const char *description;   /* ModelVersion.description on create */
  const char *version_state; /* ModelVersion.state: set on create, and
                                PATCHed when it differs; NULL: LIVE on
                                create, left alone after */
  const char *artifact_name; /* NULL: model_name, as the Python client */
  const char *uri;           /* ModelArtifact.uri; NULL: no artifact */
  const char *format_name;
  const char *format_version;
  const char *storage_key;
  const char *storage_path;
  const char *service_account;
  const char *source_kind; /* modelSourceKind/Id/Name (provenance) */
  const char *source_id;
  const char *source_name;
  /* ModelVersion customProperties to set (typed values), borrowed. */
  const struct mg_json *props;
  /* Doc artifacts to find-or-create: array of {"name", "uri"}. */
  const struct mg_json *docs;
};

/*
 * Fills t from the record's "model" section (name, source, destination,
 * format) where t's members are still NULL, and builds the version
 * properties from every section (perf, eval, verification, model): the
 * headline figures with the dataset label in their keys, provenance and
 * labels, as docs/record-registry.md lists them. label overrides the
 * dataset label found in the sections ("baseline" when none); links is
 * an array of {"name", "uri"} (may be NULL) added as link.<label>.<name>
 * properties and as doc artifacts. per_rate adds every sweep step's
 * figures. *props and *docs are new (caller owns). t's strings borrow from
 * rec. Fails with MG_ERR_DATA on a malformed section or a missing name.
 */
int mg_registry_target_from_record(const struct mg_json *rec, const char *label,
                                   const struct mg_json *links, int per_rate,
                                   struct mg_registry_target *t,
                                   struct mg_json **props,
                                   struct mg_json **docs, struct mg_err *err);

/*
 * A registry connection: "dir:PATH" for a directory registry, anything
 * else a base URL of the REST service (the API path is appended unless
 * the URL already ends with it).
 *
 * REST: http is copied (its strings must outlive the registry); a probe
 * GET registered_models?pageSize=1 checks reachability and the token, as
 * the Python client does. page_size is the pageSize sent on list calls
 * (0: 100). Directory: the directory is created when create is set; the
 * whole registry is locked (shared for readonly, exclusive otherwise)
 * until mg_registry_free, so concurrent pushes cannot lose an update.
 * caller owns *out; free with mg_registry_free.
 */
struct mg_registry;

int mg_registry_open(const char *spec, const struct mg_http_opts *http,
                     int readonly, int create, unsigned page_size,
                     struct mg_registry **out, struct mg_err *err);
/* Releases the lock and frees. Unsaved directory changes are dropped.
 * Accepts NULL. */
void mg_registry_free(struct mg_registry *r);
/* "kubeflow" or "dir". */
const char *mg_registry_kind(const struct mg_registry *r);
/* The URL (credentials redacted) or "dir:PATH"; borrowed. */
const char *mg_registry_url(const struct mg_registry *r);
/* Number of write requests (POST/PATCH, or directory writes) so far. */
long mg_registry_writes(const struct mg_registry *r);

/*
 * Registers t, idempotently, as the model-registry Python client's
 * register_model does but without failing on an existing version:
 *   1. find the RegisteredModel by name, create it if absent;
 *   2. find the ModelVersion by name within it, create it (with t->props)
 *      if absent, else GET, merge t->props into its customProperties and
 *      PATCH only if something changed, then re-read and repair if a
 *      concurrent writer dropped our keys;
 *   3. find-or-create the ModelArtifact (named t->artifact_name) and PATCH
 *      the fields that differ; 4. the same for each doc artifact.
 * A directory registry is saved atomically when something changed.
 * *section gets the record's "registry" section (caller owns).
 */
int mg_registry_push(struct mg_registry *r, const struct mg_registry_target *t,
                     struct mg_json **section, struct mg_err *err);

/*
 * Discovery: every registered model (or only model_name) with its
 * versions (or only version_name) and their artifacts, walking every page.
 * *out is {"kind", "url", "models": [RegisteredModel + "versions":
 * [ModelVersion + "properties" (plain values) + "artifacts": [...]]]}.
 * A named model or version that does not exist fails with MG_ERR_REMOTE.
 * caller owns *out.
 */
int mg_registry_list(struct mg_registry *r, const char *model_name,
                     const char *version_name, struct mg_json **out,
                     struct mg_err *err);

/*
 * 1 if key is one registry-push writes (docs/record-registry.md §3):
 * "modelgate", "<label> results", perf.*, eval.*, verify.*, source.*,
 * destination.*, model.*, link.*. Others' properties give 0.
 */
int mg_registry_key_is_ours(const char *key);

/*
 * The start of an AI engineer's benchmark (registry-push --get): the
 * registered model model_name, its version version_name (NULL: the most
 * recently created version that is not ARCHIVED) and that version's
 * model artifact (the one named like the model, else the first).
 *
 * *model gets a "model" section (docs/record-model.md shape): name,
 * version, source {uri, kind, revision} from the version's provenance
 * properties (else the artifact's modelSource*), destination {uri, kind}
 * from the artifact, format (modelFormatName, else property model.format).
 * *section gets a "registry" section: kind, url, the ids and names,
 * model_version_state, model_artifact (the entity without its
 * customProperties) and version_properties, the version's modelgate
 * properties (mg_registry_key_is_ours) as plain values.
 * A model or version that does not exist fails with MG_ERR_REMOTE; a
 * version without a model artifact gives a model without destination.
 * caller owns *model and *section.
 */
int mg_registry_get(struct mg_registry *r, const char *model_name,
                    const char *version_name, struct mg_json **model,
                    struct mg_json **section, struct mg_err *err);

#endif

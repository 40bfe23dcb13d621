#ifndef MG_OCI_H
#define MG_OCI_H

#include <stddef.h>
#include <stdint.h>

#include "mg_banned.h"

struct mg_err;
struct mg_http_opts;
struct mg_json;
struct mg_archive_limits;
struct mg_archive_file_cb;

/*
 * An OCI distribution-spec registry client (push and pull, Bearer token
 * flow and Basic auth) and KServe modelcar images:
 *   - one uncompressed tar layer (application/vnd.oci.image.layer.v1.tar)
 *     per model file at models/<relpath>, GNU format, uid/gid 0, modes
 *     0664/0775, mtime 0, so digest == diff_id and the same file gives
 *     the same layer; olot's layer annotations
 *     (org.opencontainers.image.title, olot.layer.content.*);
 *   - on top of an optional base image (its layers mounted from the same
 *     registry), so the image can run as a KServe modelcar sidecar;
 *   - the model card (a top-level README.md) as the last layer, tar+gzip
 *     (application/vnd.oci.image.layer.v1.tar+gzip, deterministic gzip),
 *     annotated io.opendatahub.modelcar.layer.type=modelcard and named by
 *     the manifest annotation io.opendatahub.layers.modelcard, as olot does;
 *   - config application/vnd.oci.image.config.v1+json with rootfs.diff_ids
 *     and history extended; manifest pushed last, its digest computed over
 *     the exact bytes sent and checked against Docker-Content-Digest.
 * Blobs the registry already has (HEAD 200) are not sent again. Blobs up to
 * the chunk size go up in one PUT; larger ones in PATCH chunks
 * (Content-Range, newest Location each time, OCI-Chunk-Min-Length
 * honoured), resumed after a 416, a 5xx or a broken connection from what
 * GET <location> reports, and cancelled (DELETE) on failure.
 */
#define MG_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MG_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MG_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MG_OCI_LAYER_TAR "application/vnd.oci.image.layer.v1.tar"
#define MG_OCI_LAYER_TGZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define MG_DOCKER_MANIFEST                                                     \
  "application/vnd.docker.distribution.manifest.v2+json"
#define MG_DOCKER_LIST                                                         \
  "application/vnd.docker.distribution.manifest.list.v2+json"
#define MG_DOCKER_LAYER_TGZ "application/vnd.docker.image.rootfs.diff.tar.gzip"

struct mg_oci_ref {
  char *registry; /* "host[:port]" */
  char *repo;     /* "org/name" */
  char *tag;      /* NULL when pinned by digest only */
  char *digest;   /* "sha256:<hex>" or NULL */
};

/* Parses "oci://host[:port]/repo[:tag][@sha256:hex]" (the scheme may be
 * omitted). The repository and tag must match the distribution-spec
 * grammar. Neither tag nor digest: tag "latest". MG_ERR_USAGE. */
int mg_oci_parse(const char *uri, struct mg_oci_ref *ref, struct mg_err *err);
void mg_oci_ref_release(struct mg_oci_ref *ref);
/* "host/repo@sha256:..." or "host/repo:tag"; caller owns. */
char *mg_oci_ref_string(const struct mg_oci_ref *ref, int by_digest);

struct mg_note;
struct mg_oci_client;

/* caller owns the result; free with mg_oci_client_free. http is copied;
 * auth ("user:password", may be NULL) is copied and wiped on free. */
struct mg_oci_client *mg_oci_client_new(const struct mg_http_opts *http,
                                        const char *auth, int plain_http);
void mg_oci_client_free(struct mg_oci_client *c);
/* Blobs larger than bytes are pushed in chunks of that size (0: the
 * default, 64 MiB); see mg_oci_push_modelcar. */
void mg_oci_client_set_chunk_size(struct mg_oci_client *c, uint64_t bytes);
/* Where the client's notes go ("pulling layer sha256:..."); copied. */
void mg_oci_client_set_note(struct mg_oci_client *c,
                            const struct mg_note *note);

/*
 * Pulls ref and extracts the files below models/ of every tar layer into
 * destdir (safe extraction, mg_archive rules, whiteouts refused). Each
 * blob is verified against its digest while it downloads; a layer whose
 * olot.layer.content.digest annotation disagrees with the extracted file
 * fails. *info gets {manifest_digest, layers, reference}. Fails with
 * MG_ERR_REMOTE (registry, digest), MG_ERR_DATA (no model files, unsafe
 * layers).
 */
int mg_oci_pull(struct mg_oci_client *c, const struct mg_oci_ref *ref,
                const char *destdir, const struct mg_archive_limits *lim,
                const struct mg_archive_file_cb *cb, struct mg_json **info,
                struct mg_err *err);

/*
 * Builds and pushes a modelcar image of the files (model.files entries:
 * path, sha256) in dir to ref, on top of base (NULL: no base image; the
 * image then has only the model layers). *info gets {uri
 * ("oci://host/repo@sha256:..."), manifest_digest, reference,
 * model_layers, blobs_skipped, chunked_uploads, model_card_layer, base}.
 * Fails with MG_ERR_REMOTE or MG_ERR_IO.
 */
int mg_oci_push_modelcar(struct mg_oci_client *c, const struct mg_oci_ref *ref,
                         const char *dir, const struct mg_json *files,
                         const struct mg_oci_ref *base, struct mg_json **info,
                         struct mg_err *err);

/* Parses a WWW-Authenticate challenge: scheme ("Bearer"/"Basic") and the
 * realm, service and scope parameters (NULL when absent). caller owns the
 * strings. Returns -1 when it cannot be parsed. */
int mg_oci_parse_challenge(const char *h, char **scheme, char **realm,
                           char **service, char **scope);

#endif

#ifndef MG_FETCH_H
#define MG_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "fetch/mg_s3.h"
#include "mg_archive.h"
#include "mg_banned.h"
#include "mg_note.h"

struct mg_err;
struct mg_http_opts;
struct mg_json;

/*
 * model-fetch's engine: copy a model between places, the way cp copies a
 * file, proving every byte on the way.
 *
 * Sources: hf://org/name[@rev] (Hub listing with sizes and LFS sha256,
 * resolve downloads, the resolved commit recorded), http(s):// files and
 * archives (extracted safely), s3://bucket/prefix (ListObjectsV2, SigV4;
 * see mg_s3.h), oci://registry/repo:tag|@digest modelcar images (layers
 * verified by digest, /models extracted), local directories, files and
 * archives.
 * Destinations: a local directory, oci://registry/repo:tag (a KServe
 * modelcar image built and pushed; see mg_oci.h) or s3://bucket/prefix
 * (one object per file, with its sha256 as checksum and metadata).
 *
 * Every file is hashed (sha256) while it streams and checked against what
 * the source states (LFS sha256, git blob id, OCI digest, --sha256);
 * downloads land in "<path>.incomplete" inside "<dest>.partial/" and are
 * renamed when verified; the staging directory becomes <dest> only when
 * everything is there. An interrupted run leaves the staging directory,
 * and the next run resumes its partial files with Range (restarting when
 * the server ignores it). A mismatch deletes the partial file and fails
 * with MG_ERR_REMOTE: the source served bad bytes.
 */
struct mg_fetch_opts {
  const char *source;
  const char *dest;           /* NULL: ./<model name> */
  const char *const *include; /* Hub-style patterns, NULL: all */
  const char *const *exclude;
  const char *hf_endpoint; /* NULL: $HF_ENDPOINT or the Hub */
  const char *token;       /* Hub bearer token; not owned */
  const char *sha256;      /* expected digest of an http object */
  int extract;             /* -1 by name, 0 never, 1 always */
  int jobs;                /* parallel downloads (default 4) */
  int retries;             /* per file, resuming (default 5) */
  int force;               /* replace an existing destination */
  const struct mg_http_opts *http;
  struct mg_archive_limits limits;
  const char *oci_base;    /* modelcar base image (oci://...) */
  const char *oci_auth;    /* "user:password" for the registry */
  int oci_plain_http;      /* talk http:// to the registry */
  uint64_t oci_chunk_size; /* push larger blobs in chunks; 0: 64 MiB */
  struct mg_s3_settings s3;
  int keep_top_dir; /* keep an archive's single top-level directory */
  /*
   * What the engine reports while it works (the library never prints):
   * notes for -v ("resuming 'x' at byte N"), and progress: bytes done of
   * the bytes the source announced so far (0 while unknown), under a
   * label (the model name); final is 1 on the last call. NULL: nothing.
   */
  struct mg_note note;
  void (*progress)(void *arg, const char *label, uint64_t done,
                   uint64_t expected, int final);
  void *progress_arg;
};

/* Fills the defaults. Cannot fail. */
void mg_fetch_opts_init(struct mg_fetch_opts *o);

/*
 * Runs the copy. *model gets the record's "model" section (caller owns
 * it): name, source {uri, kind, revision, requested_revision}, path (the
 * local directory), destination {uri, kind, ...}, format, files [{path,
 * size, sha256, verified_by}], total_bytes, fetched_at. Errors: MG_ERR_USAGE
 * (bad URI), MG_ERR_DATA (unsafe archive or listing), MG_ERR_IO (local),
 * MG_ERR_REMOTE (network, HTTP, registry, corrupt download).
 */
int mg_fetch_run(const struct mg_fetch_opts *o, struct mg_json **model,
                 struct mg_err *err);

/* The model name a source implies ("org/name" -> "name", an archive URL
 * -> its base name without extensions). caller owns the result. */
char *mg_fetch_model_name(const char *source);

#endif

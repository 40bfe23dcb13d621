/*
 * model-fetch - copy a model between places (Hugging Face Hub, http(s)
 * files and archives, S3, OCI modelcar images, local directories),
 * verifying the sha256 of every file while it streams.
 *
 * Input:  optionally a record (-i FILE, or a non-empty stdin) to add the
 *         model to; otherwise a new record.
 * Output: the record with its "model" section: source and resolved
 *         revision, local path, destination URI, files with size and
 *         sha256.
 * Exit:   0 ok, 2 usage, 3 bad input (record, unsafe archive or
 *         listing), 4 local I/O, 5 network, registry or Hub failure,
 *         including a download whose digest does not match the source.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fetch/mg_fetch.h"
#include "fetch/mg_fetch_ds.h"
#include "mg_buf.h"
#include "mg_cli.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_io.h"
#include "mg_json.h"
#include "mg_mem.h"
#include "mg_note.h"
#include "mg_progress.h"
#include "mg_record.h"
#include "mg_time.h"

static const char usage_text[] =
    "usage: model-fetch [-hqv] [--pretty] [-i FILE] [-o FILE] [-j N]\n"
    "                   [--include PATTERN]... [--exclude PATTERN]...\n"
    "                   [--endpoint URL] [--token-file FILE] [--sha256 HEX]\n"
    "                   [--extract | --no-extract] [--force] [--retries N]\n"
    "                   [--base IMAGE] [--oci-auth-file FILE] [--plain-http]\n"
    "                   [--oci-chunk-size BYTES]\n"
    "                   [--cacert FILE] [--insecure] [--timeout SEC]\n"
    "                   [--max-entries N] [--max-bytes BYTES] "
    "[--keep-top-dir]\n"
    "                   [--s3-endpoint URL] [--s3-region REGION]\n"
    "                   [--s3-path-style] [--s3-part-size BYTES]\n"
    "                   [--s3-multipart-threshold BYTES]\n"
    "                   SOURCE [DEST]\n"
    "       model-fetch --dataset NAME[,NAME...]|all [--manifest FILE] DIR\n"
    "       model-fetch --dataset list [--manifest FILE]\n"
    "\n"
    "Copies a model like cp copies a file and prints the record. SOURCE is\n"
    "hf://org/name[@revision], an http(s):// file or archive (.tar, .tar.gz,\n"
    ".tgz, .tar.xz, .tar.zst, .zip), s3://bucket/prefix,\n"
    "oci://host/repo:tag|@sha256:... (a modelcar image; /models is\n"
    "extracted) or a local directory, file or archive. DEST is a directory\n"
    "(default: ./<model name>), oci://host/repo:tag (a KServe modelcar image\n"
    "is built and pushed) or s3://bucket/prefix. Every file's sha256 is\n"
    "computed while it streams and checked against the source (LFS sha256,\n"
    "git blob id, OCI digest, S3 checksum or ETag, --sha256).\n"
    "\n"
    "  -i, --input FILE        add the model to this record (default: a\n"
    "                          record on stdin if one is piped, else new)\n"
    "  -o, --output FILE       where the record goes (default: stdout)\n"
    "      --include PATTERN   only files matching (Hub rules: '*' crosses\n"
    "                          '/', 'dir/' is the whole folder); repeatable\n"
    "      --exclude PATTERN   skip files matching; repeatable\n"
    "      --endpoint URL      Hub endpoint (default: $HF_ENDPOINT or\n"
    "                          https://huggingface.co)\n"
    "      --token-file FILE   Hub token (default: $HF_TOKEN,\n"
    "                          $HUGGING_FACE_HUB_TOKEN, $HF_TOKEN_PATH or\n"
    "                          $HF_HOME/token)\n"
    "      --sha256 HEX        expected digest of an http(s) download\n"
    "      --dataset NAMES     fetch the upstream sources of eval-run's\n"
    "                          built-in tasks (mmlu, gsm8k, arc, hellaswag,\n"
    "                          all) into DIR in eval-run's --data-dir\n"
    "                          layout, each file checked against the pinned\n"
    "                          sha256; 'list' prints the manifest\n"
    "      --manifest FILE     use this dataset manifest instead of the\n"
    "                          built-in one (e.g. internal mirror URLs)\n"
    "      --extract           extract the download whatever its name\n"
    "      --no-extract        never extract\n"
    "      --force             replace an existing destination directory\n"
    "  -j, --jobs N            parallel downloads (default: 4)\n"
    "      --retries N         attempts per file after the first, resuming\n"
    "                          with Range (default: 5)\n"
    "      --base IMAGE        modelcar base image in the same registry, e.g.\n"
    "                          oci://host/busybox:1.36 (default: none)\n"
    "      --oci-auth-file FILE\n"
    "                          registry credentials as user:password\n"
    "      --oci-chunk-size BYTES\n"
    "                          push layers larger than this in chunks\n"
    "                          (PATCH, resumable; default: 64 MiB)\n"
    "      --plain-http        talk http:// to the registry (automatic for\n"
    "                          localhost and 127.x)\n"
    "      --cacert FILE       CA bundle for TLS\n"
    "      --insecure          do not verify TLS certificates\n"
    "      --timeout SEC       give up on a stalled transfer after SEC\n"
    "                          seconds without data (default: 60)\n"
    "      --max-entries N     archive entry limit (default: 100000)\n"
    "      --max-bytes BYTES   archive expanded size limit (default: 4 TiB)\n"
    "      --keep-top-dir      keep an archive's single top-level directory\n"
    "                          (default: stripped, like tar\n"
    "                          --strip-components=1)\n"
    "      --s3-endpoint URL   S3 endpoint (default: $AWS_ENDPOINT_URL_S3,\n"
    "                          $AWS_ENDPOINT_URL, else AWS); credentials come\n"
    "                          from $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY\n"
    "                          ($AWS_SESSION_TOKEN) or ~/.aws/credentials\n"
    "      --s3-region REGION  signing region (default: $AWS_REGION,\n"
    "                          $AWS_DEFAULT_REGION, ~/.aws/config, us-east-1)\n"
    "      --s3-path-style     path-style URLs on AWS too (always used with\n"
    "                          a custom endpoint)\n"
    "      --s3-part-size BYTES\n"
    "                          multipart upload part size (default: 64 MiB)\n"
    "      --s3-multipart-threshold BYTES\n"
    "                          upload files this large in parts (default:\n"
    "                          256 MiB)\n" MG_CLI_STD_USAGE "\n"
    "Exit: 0 ok, 2 usage, 3 bad input, 4 local I/O, 5 network, registry or\n"
    "Hub failure (a digest mismatch is 5: the source served bad bytes).\n";

struct fetch_opts {
  int argc;
  char **argv;
  struct mg_cli_std std; /* -i -o --max-input --pretty */
  const char *source;
  const char *dest;
  const char *dataset;
  const char *manifest;
  const char **include;
  size_t n_include;
  const char **exclude;
  size_t n_exclude;
  const char *endpoint;
  const char *token_file;
  const char *sha256;
  const char *base;
  const char *oci_auth_file;
  uint64_t oci_chunk_size;
  const char *cacert;
  int insecure;
  int plain_http;
  int extract;
  int force;
  int jobs;
  int retries;
  long timeout_s;
  uint64_t max_entries;
  uint64_t max_bytes;
  int keep_top_dir;
  const char *s3_endpoint;
  const char *s3_region;
  int s3_path_style;
  uint64_t s3_part_size;
  uint64_t s3_multipart_from;
};

enum {
  OPT_BASE = 256,
  OPT_CACERT,
  OPT_DATASET,
  OPT_ENDPOINT,
  OPT_EXCLUDE,
  OPT_EXTRACT,
  OPT_FORCE,
  OPT_INCLUDE,
  OPT_INSECURE,
  OPT_KEEP_TOP_DIR,
  OPT_MAX_BYTES,
  OPT_MANIFEST,
  OPT_MAX_ENTRIES,
  OPT_NO_EXTRACT,
  OPT_OCI_AUTH_FILE,
  OPT_OCI_CHUNK_SIZE,
  OPT_PLAIN_HTTP,
  OPT_RETRIES,
  OPT_S3_ENDPOINT,
  OPT_S3_MULTIPART_THRESHOLD,
  OPT_S3_PART_SIZE,
  OPT_S3_PATH_STYLE,
  OPT_S3_REGION,
  OPT_SHA256,
  OPT_TIMEOUT,
  OPT_TOKEN_FILE,
};

static const char shortopts[] = MG_CLI_STD_SHORTOPTS "j:";

static const struct option longopts[] = {
  MG_CLI_STD_LONGOPTS,
  { "base", required_argument, NULL, OPT_BASE },
  { "cacert", required_argument, NULL, OPT_CACERT },
  { "dataset", required_argument, NULL, OPT_DATASET },
  { "endpoint", required_argument, NULL, OPT_ENDPOINT },
  { "exclude", required_argument, NULL, OPT_EXCLUDE },
  { "extract", no_argument, NULL, OPT_EXTRACT },
  { "force", no_argument, NULL, OPT_FORCE },
  { "include", required_argument, NULL, OPT_INCLUDE },
  { "insecure", no_argument, NULL, OPT_INSECURE },
  { "jobs", required_argument, NULL, 'j' },
  { "keep-top-dir", no_argument, NULL, OPT_KEEP_TOP_DIR },
  { "manifest", required_argument, NULL, OPT_MANIFEST },
  { "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
  { "max-entries", required_argument, NULL, OPT_MAX_ENTRIES },
  { "no-extract", no_argument, NULL, OPT_NO_EXTRACT },
  { "oci-auth-file", required_argument, NULL, OPT_OCI_AUTH_FILE },
  { "oci-chunk-size", required_argument, NULL, OPT_OCI_CHUNK_SIZE },
  { "plain-http", no_argument, NULL, OPT_PLAIN_HTTP },
  { "retries", required_argument, NULL, OPT_RETRIES },
  { "s3-endpoint", required_argument, NULL, OPT_S3_ENDPOINT },
  { "s3-multipart-threshold", required_argument, NULL,
    OPT_S3_MULTIPART_THRESHOLD },
  { "s3-part-size", required_argument, NULL, OPT_S3_PART_SIZE },
  { "s3-path-style", no_argument, NULL, OPT_S3_PATH_STYLE },
  { "s3-region", required_argument, NULL, OPT_S3_REGION },
  { "sha256", required_argument, NULL, OPT_SHA256 },
  { "timeout", required_argument, NULL, OPT_TIMEOUT },
  { "token-file", required_argument, NULL, OPT_TOKEN_FILE },
  { NULL, 0, NULL, 0 },
};

static void push_pattern(const char ***list, size_t *n, const char *p)
{
  *list = mg_xreallocarray(*list, *n + 2, sizeof(**list));
  (*list)[(*n)++] = p;
  (*list)[*n] = NULL;
}

static void free_patterns(struct fetch_opts *o)
{
  free(o->include);
  free(o->exclude);
  o->include = o->exclude = NULL;
}

static void parse_args(int argc, char **argv, struct fetch_opts *o)
{
  int c;

  o->argc = argc;
  o->argv = argv;
  while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case 'j':
      o->jobs = (int)mg_opt_uint(optarg, 1, 64, "--jobs");
      break;
    case OPT_BASE:
      o->base = optarg;
      break;
    case OPT_CACERT:
      o->cacert = optarg;
      break;
    case OPT_DATASET:
      o->dataset = optarg;
      break;
    case OPT_ENDPOINT:
      o->endpoint = optarg;
      break;
    case OPT_EXCLUDE:
      push_pattern(&o->exclude, &o->n_exclude, optarg);
      break;
    case OPT_EXTRACT:
      o->extract = 1;
      break;
    case OPT_FORCE:
      o->force = 1;
      break;
    case OPT_INCLUDE:
      push_pattern(&o->include, &o->n_include, optarg);
      break;
    case OPT_INSECURE:
      o->insecure = 1;
      break;
    case OPT_KEEP_TOP_DIR:
      o->keep_top_dir = 1;
      break;
    case OPT_MANIFEST:
      o->manifest = optarg;
      break;
    case OPT_MAX_BYTES:
      o->max_bytes = mg_opt_uint(optarg, 1, UINT64_MAX / 2, "--max-bytes");
      break;
    case OPT_MAX_ENTRIES:
      o->max_entries = mg_opt_uint(optarg, 1, 100000000, "--max-entries");
      break;
    case OPT_NO_EXTRACT:
      o->extract = 0;
      break;
    case OPT_OCI_AUTH_FILE:
      o->oci_auth_file = optarg;
      break;
    case OPT_OCI_CHUNK_SIZE:
      o->oci_chunk_size =
          mg_opt_uint(optarg, 1024, (uint64_t)4 << 30, "--oci-chunk-size");
      break;
    case OPT_PLAIN_HTTP:
      o->plain_http = 1;
      break;
    case OPT_RETRIES:
      o->retries = (int)mg_opt_uint(optarg, 0, 100, "--retries");
      break;
    case OPT_S3_ENDPOINT:
      o->s3_endpoint = optarg;
      break;
    case OPT_S3_MULTIPART_THRESHOLD:
      o->s3_multipart_from =
          mg_opt_uint(optarg, 1, UINT64_MAX / 2, "--s3-multipart-threshold");
      break;
    case OPT_S3_PART_SIZE:
      o->s3_part_size = mg_opt_uint(optarg, (uint64_t)5 << 20,
                                    (uint64_t)5 << 30, "--s3-part-size");
      break;
    case OPT_S3_PATH_STYLE:
      o->s3_path_style = 1;
      break;
    case OPT_S3_REGION:
      o->s3_region = optarg;
      break;
    case OPT_SHA256:
      o->sha256 = optarg;
      break;
    case OPT_TIMEOUT:
      o->timeout_s = (long)mg_opt_uint(optarg, 1, 86400, "--timeout");
      break;
    case OPT_TOKEN_FILE:
      o->token_file = optarg;
      break;
    default:
      if (mg_cli_std_option(c, optarg, usage_text, &o->std))
        break;
      free_patterns(o);
      mg_usage_error("unknown option");
    }
  }
  if (o->dataset) {
    /* --dataset NAMES DIR, or --dataset list */
    if (!strcmp(o->dataset, "list")) {
      if (optind < argc)
        mg_usage_error("unexpected operand '%s'", argv[optind]);
      return;
    }
    if (optind >= argc)
      mg_usage_error("--dataset needs the directory to fill: DIR");
    o->dest = argv[optind++];
    if (optind < argc)
      mg_usage_error("unexpected operand '%s'", argv[optind]);
    return;
  }
  if (o->manifest)
    mg_usage_error("--manifest goes with --dataset");
  if (optind >= argc) {
    free_patterns(o);
    mg_usage_error("missing SOURCE");
  }
  o->source = argv[optind++];
  if (optind < argc)
    o->dest = argv[optind++];
  if (optind < argc) {
    free_patterns(o);
    mg_usage_error("unexpected operand '%s'", argv[optind]);
  }
  if (o->sha256 && strlen(o->sha256) != 64) {
    free_patterns(o);
    mg_usage_error("invalid value '%s' for --sha256: expected 64 hex "
                   "digits",
                   o->sha256);
  }
}

/* The input record: -i FILE, a non-empty piped stdin, or a new one. */
static int read_input(const struct fetch_opts *o, struct mg_json **rec,
                      struct mg_err *err)
{
  return mg_record_read_or_new(o->std.input, o->std.max_input, rec, err);
}

/* The Hub token, in huggingface_hub's order. */
static int load_token(const struct fetch_opts *o, char **tok,
                      struct mg_err *err)
{
  const char *home, *path = o->token_file;
  char *def = NULL;
  int rc;

  *tok = NULL;
  if (!path) {
    if (mg_http_secret_load(NULL, "HF_TOKEN", tok, err) < 0)
      return -1;
    if (!*tok
        && mg_http_secret_load(NULL, "HUGGING_FACE_HUB_TOKEN", tok, err) < 0)
      return -1;
    if (*tok)
      return 0;
    path = getenv("HF_TOKEN_PATH");
    if (!path || !*path) {
      home = getenv("HF_HOME");
      if (home && *home)
        def = mg_xasprintf("%s/token", home);
      else if ((home = getenv("XDG_CACHE_HOME")) && *home)
        def = mg_xasprintf("%s/huggingface/token", home);
      else if ((home = getenv("HOME")) && *home)
        def = mg_xasprintf("%s/.cache/huggingface/token", home);
      if (!def || access(def, R_OK) != 0) {
        free(def);
        return 0;
      }
      path = def;
    }
  }
  rc = mg_http_secret_load(path, NULL, tok, err);
  free(def);
  return rc;
}

/* 1 if both file lists hold the same paths with the same digests. */
static int same_files(const struct mg_json *a, const struct mg_json *b)
{
  if (mg_json_size(a) != mg_json_size(b))
    return 0;
  for (struct mg_json *f = mg_json_first(a); f; f = mg_json_next(f)) {
    const char *p = mg_json_string(mg_json_get(f, "path"));
    const char *h = mg_json_string(mg_json_get(f, "sha256"));
    int found = 0;

    for (struct mg_json *g = mg_json_first(b); g && !found; g = mg_json_next(g))
      found = p && h && mg_json_string(mg_json_get(g, "path"))
              && mg_json_string(mg_json_get(g, "sha256"))
              && strcmp(p, mg_json_string(mg_json_get(g, "path"))) == 0
              && strcmp(h, mg_json_string(mg_json_get(g, "sha256"))) == 0;
    if (!found)
      return 0;
  }
  return 1;
}

/*
 * Storing a fetched (and verified) copy: when SOURCE is the directory the
 * input record's model lives in and the files are unchanged, the model
 * keeps its name and original source, so provenance survives the
 * "store internally" step; only the destination is new.
 */
static void keep_origin(const struct mg_json *prev, struct mg_json *model,
                        const char *source)
{
  const char *ppath = mg_json_string(mg_json_get(prev, "path"));
  char *a, *b;
  int same;

  if (!ppath || !mg_json_get(prev, "source"))
    return;
  a = realpath(ppath, NULL);
  b = realpath(source, NULL);
  same = a && b && strcmp(a, b) == 0;
  free(a);
  free(b);
  if (!same
      || !same_files(mg_json_get(prev, "files"), mg_json_get(model, "files")))
    return;
  if (mg_json_get(prev, "name"))
    mg_json_set(model, "name", mg_json_dup(mg_json_get(prev, "name")));
  mg_json_set(model, "source", mg_json_dup(mg_json_get(prev, "source")));
}

/* The engine's progress, drawn on stderr by mg_progress. */
struct show {
  struct mg_progress p;
  int started;
};

static void show_progress(void *arg, const char *label, uint64_t done,
                          uint64_t expected, int final)
{
  struct show *s = arg;

  if (!s->started) {
    mg_progress_init(&s->p, label, 0);
    s->started = 1;
  }
  s->p.total = (long long)expected;
  if (final)
    mg_progress_end(&s->p);
  else
    mg_progress_update(&s->p, (long long)done);
}

static int run(const struct fetch_opts *o)
{
  struct mg_fetch_opts fo;
  struct show show = { .started = 0 };
  struct mg_http_opts http;
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *rec = NULL, *model = NULL, *manifest = NULL;
  char *token = NULL, *auth = NULL;
  int rc, http_up = 0;
  char started[40];

  mg_time_rfc3339(started, sizeof(started));
  if (o->dataset) {
    /* the manifest first: a bad one is refused before anything else */
    struct mg_buf mb = MG_BUF_INIT((size_t)4 << 20);
    const char *text = mg_fetch_ds_builtin();
    size_t tn = strlen(text);

    if (o->manifest) {
      if (mg_io_read_file(o->manifest, &mb, &err) < 0) {
        mg_buf_release(&mb);
        goto fail;
      }
      text = mb.data ? mb.data : "";
      tn = mb.len;
    }
    rc = mg_fetch_ds_parse(text, tn,
                           o->manifest ? o->manifest : "built-in manifest",
                           &manifest, &err);
    if (rc == 0 && !strcmp(o->dataset, "list")) {
      char *s = mg_json_print(manifest, MG_JSON_PRETTY | MG_JSON_NEWLINE);

      fputs(s, stdout);
      free(s);
      mg_buf_release(&mb);
      rc = MG_EXIT_OK;
      goto out;
    }
    mg_buf_release(&mb);
    if (rc < 0)
      goto fail;
  }
  if (read_input(o, &rec, &err) < 0)
    goto fail;
  if (load_token(o, &token, &err) < 0)
    goto fail;
  if (o->oci_auth_file
      && mg_http_secret_load(o->oci_auth_file, NULL, &auth, &err) < 0)
    goto fail;
  if (mg_http_global_init(&err) < 0)
    goto fail;
  http_up = 1;
  mg_http_opts_init(&http);
  http.cacert = o->cacert;
  http.insecure = o->insecure;
  http.low_speed_ms = o->timeout_s * 1000;
  /* Big reads: fewer receive and write calls per GB of model. */
  http.recv_buffer = 512L << 10;
  http.verbose = mg_verbosity() >= MG_DEBUG;
  mg_fetch_opts_init(&fo);
  fo.source = o->source;
  fo.dest = o->dest;
  fo.include = o->include;
  fo.exclude = o->exclude;
  fo.hf_endpoint = o->endpoint;
  fo.token = token;
  fo.sha256 = o->sha256;
  fo.extract = o->extract;
  fo.jobs = o->jobs;
  fo.retries = o->retries;
  fo.force = o->force;
  fo.note = (struct mg_note){ mg_cli_note, NULL };
  if (mg_verbosity() >= MG_NORMAL) {
    fo.progress = show_progress;
    fo.progress_arg = &show;
  }
  fo.http = &http;
  if (o->max_entries)
    fo.limits.max_entries = o->max_entries;
  if (o->max_bytes)
    fo.limits.max_total_bytes = fo.limits.max_entry_bytes = o->max_bytes;
  fo.oci_base = o->base;
  fo.oci_auth = auth;
  fo.oci_plain_http = o->plain_http;
  fo.keep_top_dir = o->keep_top_dir;
  fo.oci_chunk_size = o->oci_chunk_size;
  fo.s3.endpoint = o->s3_endpoint;
  fo.s3.region = o->s3_region;
  fo.s3.path_style = o->s3_path_style;
  fo.s3.part_size = o->s3_part_size;
  fo.s3.multipart_from = o->s3_multipart_from;
  if (o->dataset) {
    if (mg_fetch_ds_run(manifest, o->dataset, o->dest, &fo, &model, &err) < 0)
      goto fail;
    mg_record_set_section(rec, "datasets", model);
  } else {
    if (mg_fetch_run(&fo, &model, &err) < 0)
      goto fail;
    keep_origin(mg_record_section(rec, "model"), model, o->source);
    mg_record_set_section(rec, "model", model);
  }
  mg_record_add_provenance(rec, started, o->argc, o->argv);
  if (mg_record_write(rec, o->std.output, o->std.pretty, &err) < 0)
    goto fail;
  rc = MG_EXIT_OK;
  goto out;
fail:
  rc = mg_report_err(&err);
out:
  mg_http_secret_free(token);
  mg_http_secret_free(auth);
  mg_json_free(rec);
  mg_json_free(manifest);
  if (http_up)
    mg_http_global_cleanup();
  return rc;
}

int main(int argc, char **argv)
{
  struct fetch_opts opts = { .std = MG_CLI_STD_INIT,
                             .extract = -1,
                             .jobs = 4,
                             .retries = 5,
                             .timeout_s = 60 };
  int rc;

  mg_init(argv[0]);
  parse_args(argc, argv, &opts);
  rc = run(&opts);
  free_patterns(&opts);
  return mg_finish(rc);
}

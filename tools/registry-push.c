/*
 * registry-push - register a model, its version, artifact and results in
 * the Kubeflow Model Registry (the OpenShift AI model registry) or in a
 * local directory registry.
 *
 * Input:  a record (stdin or -i FILE): "model" names the model, version
 *         and artifact URI; "perf", "eval" and "verification" give the
 *         headline figures written as typed custom properties.
 * Output: the record with a "registry" section (ids, URL, the property
 *         keys written, what was created or changed). With --list: a
 *         record whose "registry_list" holds the registry's models,
 *         versions, artifacts and properties. With --get: a new record
 *         for one registered version ("model" and "registry" sections),
 *         the start of a benchmark with perf-run and eval-run.
 * Exit:   0 ok, 2 usage, 3 bad input record, 4 local I/O, 5 registry or
 *         network failure (401/403/404/409, schema rejection, 5xx).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_cli.h"
#include "mg_err.h"
#include "mg_http.h"
#include "mg_json.h"
#include "mg_record.h"
#include "mg_time.h"
#include "publish/mg_registry.h"

#define MG_DEFAULT_REGISTRY_DIR "modelgate-registry"

static const char usage_text[] =
    "usage: registry-push [-hqv] [--pretty] [-i FILE] [-o FILE]\n"
    "                     (--registry URL|dir:PATH | --registry-dir DIR)\n"
    "                     [--model NAME] [--model-version NAME]\n"
    "                     [--label LABEL]\n"
    "                     [--link NAME=URI]... [--per-rate] [--uri URI]\n"
    "                     [--format-name NAME] [--format-version V]\n"
    "                     [--storage-key KEY] [--storage-path PATH]\n"
    "                     [--service-account NAME] [--owner NAME]\n"
    "                     [--author NAME] [--description TEXT]\n"
    "                     [--token-file FILE] [--cacert FILE] [--insecure]\n"
    "                     [--retries N] [--retry-delay MS] [--timeout SEC]\n"
    "                     [--page-size N] [--max-input BYTES]\n"
    "       registry-push --list [--model NAME [--model-version NAME]] "
    "[registry options]\n"
    "       registry-push --get --model NAME [--model-version NAME] "
    "[registry options]\n"
    "\n"
    "Registers the record's model as RegisteredModel / ModelVersion /\n"
    "ModelArtifact (find-or-create, idempotent) and writes its headline\n"
    "results as typed custom properties on the version, keyed by dataset\n"
    "label (perf.<label>.*, eval.<label>.<task>.*), merged with the\n"
    "properties already there. --get writes the starting record of a\n"
    "benchmark of a registered version (its model, artifact URI and\n"
    "properties) for perf-run and eval-run; push their merged results\n"
    "back with the same --label.\n"
    "\n"
    "  -i, --input FILE        record to push (default: stdin)\n"
    "  -o, --output FILE       where the record goes (default: stdout)\n"
    "      --registry SPEC     http(s)://HOST[:PORT] of the Model Registry\n"
    "                          REST service, or dir:PATH for a directory\n"
    "                          registry (default: $MG_REGISTRY, else\n"
    "                          dir:" MG_DEFAULT_REGISTRY_DIR ")\n"
    "      --registry-dir DIR  the same as --registry dir:DIR\n"
    "      --list              list models, versions and properties instead\n"
    "      --get               write a record for one registered version\n"
    "                          (--model; --model-version, default: the\n"
    "                          latest that is not archived) instead\n"
    "      --model NAME        RegisteredModel name (default: model.name)\n"
    "      --model-version NAME\n"
    "                          ModelVersion name (default: model.version,\n"
    "                          else model.source.revision)\n"
    "      --label LABEL       dataset label in property keys (default: the\n"
    "                          sections' dataset.label, else 'baseline')\n"
    "      --link NAME=URI     a full report or result file: property\n"
    "                          link.<label>.NAME and a doc artifact\n"
    "      --per-rate          also write every sweep step's figures\n"
    "      --uri URI           ModelArtifact uri (default:\n"
    "                          model.destination.uri, else model.source.uri)\n"
    "      --format-name NAME, --format-version V, --storage-key KEY,\n"
    "      --storage-path PATH, --service-account NAME\n"
    "                          ModelArtifact fields\n"
    "      --owner NAME        RegisteredModel owner (on create)\n"
    "      --author NAME       ModelVersion author (on create)\n"
    "      --allow-unverified  register a model that did not pass\n"
    "                          model-verify, as an ARCHIVED version (else:\n"
    "                          exit 1, record passed on)\n"
    "      --description TEXT  ModelVersion description (on create)\n"
    "      --token-file FILE   bearer token file (default: "
    "$MG_REGISTRY_TOKEN,\n"
    "                          else the file named by\n"
    "                          $KF_PIPELINES_SA_TOKEN_PATH, else the\n"
    "                          Kubernetes service-account token if present)\n"
    "      --cacert FILE       CA bundle to verify the registry's TLS with\n"
    "      --insecure          do not verify TLS (never in production)\n"
    "      --retries N         retries on 5xx and connection errors (3)\n"
    "      --retry-delay MS    first backoff step (500)\n"
    "      --timeout SEC       per-request timeout (60)\n"
    "      --page-size N       pageSize of list calls (100)\n" MG_CLI_STD_USAGE;

#define SA_TOKEN "/var/run/secrets/kubernetes.io/serviceaccount/token"

struct push_opts {
  struct mg_cli_std std; /* -i -o --max-input --pretty */
  int allow_unverified;
  const char *registry;
  const char *model;
  const char *version;
  const char *label;
  const char *uri;
  const char *format_name;
  const char *format_version;
  const char *storage_key;
  const char *storage_path;
  const char *service_account;
  const char *owner;
  const char *author;
  const char *description;
  const char *token_file;
  const char *cacert;
  struct mg_json *links; /* [{"name", "uri"}] */
  unsigned long long retries;
  unsigned long long retry_delay;
  unsigned long long timeout;
  unsigned long long page_size;
  int get;
  int insecure;
  int list;
  int per_rate;
  int argc;
  char **argv;
};

enum {
  OPT_ALLOW_UNVERIFIED = 256,
  OPT_AUTHOR,
  OPT_CACERT,
  OPT_DESCRIPTION,
  OPT_FORMAT_NAME,
  OPT_FORMAT_VERSION,
  OPT_GET,
  OPT_INSECURE,
  OPT_LABEL,
  OPT_LINK,
  OPT_LIST,
  OPT_MODEL,
  OPT_OWNER,
  OPT_PAGE_SIZE,
  OPT_PER_RATE,
  OPT_REGISTRY,
  OPT_REGISTRY_DIR,
  OPT_RETRIES,
  OPT_RETRY_DELAY,
  OPT_SERVICE_ACCOUNT,
  OPT_STORAGE_KEY,
  OPT_STORAGE_PATH,
  OPT_TIMEOUT,
  OPT_TOKEN_FILE,
  OPT_URI,
  OPT_VERSION_NAME,
};

static const char shortopts[] = MG_CLI_STD_SHORTOPTS;

static const struct option longopts[] = {
  MG_CLI_STD_LONGOPTS,
  { "allow-unverified", no_argument, NULL, OPT_ALLOW_UNVERIFIED },
  { "author", required_argument, NULL, OPT_AUTHOR },
  { "cacert", required_argument, NULL, OPT_CACERT },
  { "description", required_argument, NULL, OPT_DESCRIPTION },
  { "format-name", required_argument, NULL, OPT_FORMAT_NAME },
  { "format-version", required_argument, NULL, OPT_FORMAT_VERSION },
  { "get", no_argument, NULL, OPT_GET },
  { "insecure", no_argument, NULL, OPT_INSECURE },
  { "label", required_argument, NULL, OPT_LABEL },
  { "link", required_argument, NULL, OPT_LINK },
  { "list", no_argument, NULL, OPT_LIST },
  { "model", required_argument, NULL, OPT_MODEL },
  { "model-version", required_argument, NULL, OPT_VERSION_NAME },
  { "owner", required_argument, NULL, OPT_OWNER },
  { "page-size", required_argument, NULL, OPT_PAGE_SIZE },
  { "per-rate", no_argument, NULL, OPT_PER_RATE },
  { "registry", required_argument, NULL, OPT_REGISTRY },
  { "registry-dir", required_argument, NULL, OPT_REGISTRY_DIR },
  { "retries", required_argument, NULL, OPT_RETRIES },
  { "retry-delay", required_argument, NULL, OPT_RETRY_DELAY },
  { "service-account", required_argument, NULL, OPT_SERVICE_ACCOUNT },
  { "storage-key", required_argument, NULL, OPT_STORAGE_KEY },
  { "storage-path", required_argument, NULL, OPT_STORAGE_PATH },
  { "timeout", required_argument, NULL, OPT_TIMEOUT },
  { "token-file", required_argument, NULL, OPT_TOKEN_FILE },
  { "uri", required_argument, NULL, OPT_URI },
  { NULL, 0, NULL, 0 },
};

static void add_link(struct push_opts *o, const char *arg)
{
  const char *eq = strchr(arg, '=');
  struct mg_json *l;

  if (!eq || eq == arg || !eq[1])
    mg_usage_error("invalid value '%s' for --link: expected NAME=URI", arg);
  l = mg_json_new_object();
  mg_json_set(l, "name", mg_json_new_stringn(arg, (size_t)(eq - arg)));
  mg_json_set_string(l, "uri", eq + 1);
  mg_json_append(o->links, l);
}

static void parse_args(int argc, char **argv, struct push_opts *o)
{
  int c;
  char *dirspec = NULL;

  o->argc = argc;
  o->argv = argv;
  while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case OPT_ALLOW_UNVERIFIED:
      o->allow_unverified = 1;
      break;
    case OPT_AUTHOR:
      o->author = optarg;
      break;
    case OPT_CACERT:
      o->cacert = optarg;
      break;
    case OPT_DESCRIPTION:
      o->description = optarg;
      break;
    case OPT_FORMAT_NAME:
      o->format_name = optarg;
      break;
    case OPT_FORMAT_VERSION:
      o->format_version = optarg;
      break;
    case OPT_GET:
      o->get = 1;
      break;
    case OPT_INSECURE:
      o->insecure = 1;
      break;
    case OPT_LABEL:
      o->label = optarg;
      break;
    case OPT_LINK:
      add_link(o, optarg);
      break;
    case OPT_LIST:
      o->list = 1;
      break;
    case OPT_MODEL:
      o->model = optarg;
      break;
    case OPT_OWNER:
      o->owner = optarg;
      break;
    case OPT_PAGE_SIZE:
      o->page_size = mg_opt_uint(optarg, 1, 999999999, "--page-size");
      break;
    case OPT_PER_RATE:
      o->per_rate = 1;
      break;
    case OPT_REGISTRY:
      o->registry = optarg;
      break;
    case OPT_REGISTRY_DIR:
      o->registry = NULL;
      dirspec = optarg;
      break;
    case OPT_RETRIES:
      o->retries = mg_opt_uint(optarg, 0, 20, "--retries");
      break;
    case OPT_RETRY_DELAY:
      o->retry_delay = mg_opt_uint(optarg, 0, 600000, "--retry-delay");
      break;
    case OPT_SERVICE_ACCOUNT:
      o->service_account = optarg;
      break;
    case OPT_STORAGE_KEY:
      o->storage_key = optarg;
      break;
    case OPT_STORAGE_PATH:
      o->storage_path = optarg;
      break;
    case OPT_TIMEOUT:
      o->timeout = mg_opt_uint(optarg, 1, 86400, "--timeout");
      break;
    case OPT_TOKEN_FILE:
      o->token_file = optarg;
      break;
    case OPT_URI:
      o->uri = optarg;
      break;
    case OPT_VERSION_NAME:
      o->version = optarg;
      break;
    default:
      if (!mg_cli_std_option(c, optarg, usage_text, &o->std))
        mg_usage_error("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    mg_usage_error("unexpected operand '%s'", argv[optind]);
  if (dirspec && o->registry)
    mg_usage_error("--registry and --registry-dir are mutually exclusive");
  if (dirspec) {
    /* kept for the whole run: freed by the exit of main */
    static char spec[4096];

    if ((size_t)snprintf(spec, sizeof(spec), "dir:%s", dirspec) >= sizeof(spec))
      mg_usage_error("invalid value for --registry-dir: path too long");
    o->registry = spec;
  }
  if (!o->registry)
    o->registry = getenv("MG_REGISTRY");
  if (!o->registry || !*o->registry) {
    /* The embedded default, for people without a cluster. */
    o->registry = "dir:" MG_DEFAULT_REGISTRY_DIR;
    mg_info("no --registry given: using the directory registry '%s'",
            MG_DEFAULT_REGISTRY_DIR);
  }
  /* An empty value (a pipeline parameter left blank) means "not given". */
  if (o->version && !*o->version)
    o->version = NULL;
  if (o->list && o->get)
    mg_usage_error("--list and --get are mutually exclusive");
  if (o->version && !o->model && (o->list || o->get))
    mg_usage_error("--model-version needs --model with --%s",
                   o->list ? "list" : "get");
  if (o->get && (!o->model || !*o->model))
    mg_usage_error("--get needs --model NAME");
  if ((o->list || o->get)
      && (mg_json_size(o->links) || o->uri || o->per_rate || o->label))
    mg_usage_error("--%s takes no push options", o->list ? "list" : "get");
}

/* The bearer token, from the first source that has one. */
static int load_token(const struct push_opts *o, char **tok, struct mg_err *err)
{
  const char *kf;

  *tok = NULL;
  if (o->token_file)
    return mg_http_secret_load(o->token_file, NULL, tok, err);
  if (mg_http_secret_load(NULL, "MG_REGISTRY_TOKEN", tok, err) < 0 || *tok)
    return *tok ? 0 : -1;
  kf = getenv("KF_PIPELINES_SA_TOKEN_PATH");
  if (kf && *kf)
    return mg_http_secret_load(kf, NULL, tok, err);
  if (access(SA_TOKEN, R_OK) == 0)
    return mg_http_secret_load(SA_TOKEN, NULL, tok, err);
  return 0;
}

static int run(const struct push_opts *o)
{
  struct mg_err err = MG_ERR_INIT;
  struct mg_http_opts http;
  struct mg_registry *reg = NULL;
  struct mg_registry_target t = { 0 };
  struct mg_json *rec = NULL, *props = NULL, *docs = NULL, *section = NULL;
  char *token = NULL;
  char started[40], why[sizeof(err.msg) + 64];
  int gate_closed = 0;
  int is_dir = strncmp(o->registry, "dir:", 4) == 0;
  int reading = o->list || o->get;
  int rc = MG_EXIT_OK, http_up = 0;

  mg_time_rfc3339(started, sizeof(started));
  if (!reading) {
    if (mg_record_read(o->std.input, o->std.max_input, &rec, &err) < 0)
      goto fail;
    if (mg_record_gate(rec, &err) < 0) {
      if (!o->allow_unverified)
        goto refuse;
      /* Registered for the record, but not for use: ARCHIVED, and why. */
      mg_warn("--allow-unverified: registering as ARCHIVED: %s", err.msg);
      (void)snprintf(why, sizeof(why), "registered with --allow-unverified: %s",
                     err.msg);
      err = (struct mg_err)MG_ERR_INIT;
      gate_closed = 1;
      t.version_state = "ARCHIVED";
    }
    t.model_name = o->model;
    t.version_name = o->version;
    t.owner = o->owner;
    t.author = o->author;
    t.description = o->description;
    t.uri = o->uri;
    t.format_name = o->format_name;
    t.format_version = o->format_version;
    t.storage_key = o->storage_key;
    t.storage_path = o->storage_path;
    t.service_account = o->service_account;
    if (mg_registry_target_from_record(rec, o->label, o->links, o->per_rate, &t,
                                       &props, &docs, &err)
        < 0)
      goto fail;
    if (gate_closed)
      mg_json_set(props, "verify.gate", mg_registry_value_string(why));
  }
  mg_http_opts_init(&http);
  if (!is_dir) {
    if (load_token(o, &token, &err) < 0)
      goto fail;
    if (mg_http_global_init(&err) < 0)
      goto fail;
    http_up = 1;
    http.cacert = o->cacert;
    http.insecure = o->insecure;
    http.retries = (int)o->retries;
    http.retry_base_ms = (long)o->retry_delay;
    http.timeout_ms = (long)o->timeout * 1000;
    http.bearer = token;
    http.verbose = mg_verbosity() >= MG_DEBUG;
    if (o->insecure)
      mg_warn("TLS verification is off (--insecure)");
  }
  if (mg_registry_open(o->registry, &http, reading, !reading,
                       (unsigned)o->page_size, &reg, &err)
      < 0)
    goto fail;
  if (o->get) {
    struct mg_json *model;
    const char *state;

    if (mg_registry_get(reg, o->model, o->version, &model, &section, &err) < 0)
      goto fail;
    state = mg_json_string(mg_json_get(section, "model_version_state"));
    if (state && strcmp(state, "ARCHIVED") == 0)
      mg_warn("version '%s' of model '%s' is archived",
              mg_json_string(mg_json_get(model, "version")), o->model);
    if (!mg_json_get(model, "destination"))
      mg_warn("version '%s' of model '%s' has no model artifact",
              mg_json_string(mg_json_get(model, "version")), o->model);
    rec = mg_record_new();
    mg_record_set_section(rec, "model", model);
    mg_record_set_section(rec, "registry", section);
    section = NULL;
    mg_record_add_provenance(rec, started, o->argc, o->argv);
  } else if (o->list) {
    struct mg_json *list;

    if (mg_registry_list(reg, o->model, o->version, &list, &err) < 0)
      goto fail;
    rec = mg_record_new();
    mg_json_set(rec, "registry_list", list);
  } else {
    if (mg_registry_push(reg, &t, &section, &err) < 0)
      goto fail;
    mg_info("%s: model '%s' version '%s' (%zu properties, %zu added, %zu "
            "changed, %.0f writes)",
            mg_registry_url(reg), t.model_name, t.version_name,
            mg_json_size(props), mg_json_size(mg_json_get(section, "added")),
            mg_json_size(mg_json_get(section, "changed")),
            mg_json_number(mg_json_get(section, "writes")));
    mg_record_set_section(rec, "registry", section);
    mg_record_add_provenance(rec, started, o->argc, o->argv);
  }
  if (mg_record_write(rec, o->std.output, o->std.pretty, &err) < 0)
    goto fail;
  goto out;
refuse:
  /* The gate holds: say why, pass the record on unchanged, verdict 1. */
  (void)snprintf(why, sizeof(why), "%s", err.msg);
  mg_err_set(&err, MG_ERR_FAIL, "%.300s (--allow-unverified overrides)", why);
  rc = mg_report_err(&err);
  if (mg_record_write(rec, o->std.output, o->std.pretty, &err) < 0)
    rc = mg_report_err(&err);
  goto out;
fail:
  rc = mg_report_err(&err);
out:
  mg_registry_free(reg);
  mg_http_secret_free(token);
  if (http_up)
    mg_http_global_cleanup();
  mg_json_free(props);
  mg_json_free(docs);
  mg_json_free(rec);
  return rc;
}

int main(int argc, char **argv)
{
  struct push_opts opts = {
    .std = MG_CLI_STD_INIT, .retries = 3, .retry_delay = 500, .timeout = 60
  };
  int rc;

  mg_init(argv[0]);
  opts.links = mg_json_new_array();
  parse_args(argc, argv, &opts);
  rc = run(&opts);
  mg_json_free(opts.links);
  return mg_finish(rc);
}

/*
 * model-verify - gate a model before admission: digests, format safety
 * (safetensors, GGUF, pickle opcodes against an allowlist, chat templates,
 * code), OpenSSF model signing signatures and policy.
 *
 * Input:  a record (stdin or -i FILE) whose "model" section names the
 *         directory (model.path) and its files with sha256 (model.files),
 *         as model-fetch writes it; or just --dir DIR.
 * Output: the record with a "verification" section: verdict, summary,
 *         every finding, per-file format and digest, signature result and
 *         the effective policy.
 * Exit:   0 pass, 1 fail (the record is still written), 2 usage, 3 bad
 *         input record or policy, 4 local I/O.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg_buf.h"
#include "mg_cli.h"
#include "mg_err.h"
#include "mg_json.h"
#include "mg_record.h"
#include "mg_time.h"
#include "verify/mg_verify.h"

static const char usage_text[] =
    "usage: model-verify [-hqv] [--pretty] [-i FILE] [-o FILE] [-d DIR]\n"
    "                    [-p POLICY] [--public-key PEM] [--signature FILE]\n"
    "                    [--require-signature] [-j N] [--max-input BYTES]\n"
    "\n"
    "Checks the model a record describes: re-hashes every file against\n"
    "model.files, validates safetensors and GGUF, walks every pickle (plain,\n"
    "in PyTorch/numpy archives, numpy object arrays) against an allowlist,\n"
    "flags code and suspicious chat templates, verifies an OpenSSF model\n"
    "signing bundle with a key, and applies the policy. Writes the record\n"
    "with a \"verification\" section; exits 1 when the verdict is \"fail\".\n"
    "\n"
    "  -i, --input FILE        record to check (default: stdin; none when\n"
    "                          stdin is a terminal and --dir is given)\n"
    "  -o, --output FILE       where the record goes (default: stdout)\n"
    "  -d, --dir DIR           model directory (default: model.path)\n"
    "  -p, --policy FILE       policy, JSON or YAML (default: safe defaults)\n"
    "      --public-key PEM    verify the signature with this EC public key\n"
    "      --signature FILE    signature bundle (default: DIR/model.sig)\n"
    "      --require-signature fail unless a valid signature is present\n"
    "  -j, --jobs N            files checked in parallel (default: "
    "2)\n" MG_CLI_STD_USAGE "\n"
    "Exit: 0 pass, 1 fail, 2 usage, 3 bad record or policy, 4 local I/O.\n";

struct verify_opts {
  int argc;
  char **argv;
  struct mg_cli_std std; /* -i -o --max-input --pretty */
  const char *dir;
  const char *policy;
  const char *public_key;
  const char *signature;
  int require_signature;
  int jobs;
};

enum {
  OPT_PUBLIC_KEY = 256,
  OPT_REQUIRE_SIGNATURE,
  OPT_SIGNATURE,
};

static const char shortopts[] = MG_CLI_STD_SHORTOPTS "d:j:p:";

static const struct option longopts[] = {
  MG_CLI_STD_LONGOPTS,
  { "dir", required_argument, NULL, 'd' },
  { "jobs", required_argument, NULL, 'j' },
  { "policy", required_argument, NULL, 'p' },
  { "public-key", required_argument, NULL, OPT_PUBLIC_KEY },
  { "require-signature", no_argument, NULL, OPT_REQUIRE_SIGNATURE },
  { "signature", required_argument, NULL, OPT_SIGNATURE },
  { NULL, 0, NULL, 0 },
};

static void parse_args(int argc, char **argv, struct verify_opts *o)
{
  int c;

  o->argc = argc;
  o->argv = argv;
  while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
    switch (c) {
    case 'd':
      o->dir = optarg;
      break;
    case 'j':
      o->jobs = (int)mg_opt_uint(optarg, 1, 16, "--jobs");
      break;
    case 'p':
      o->policy = optarg;
      break;
    case OPT_PUBLIC_KEY:
      o->public_key = optarg;
      break;
    case OPT_REQUIRE_SIGNATURE:
      o->require_signature = 1;
      break;
    case OPT_SIGNATURE:
      o->signature = optarg;
      break;
    default:
      if (!mg_cli_std_option(c, optarg, usage_text, &o->std))
        mg_usage_error("unknown option");
    }
  }
  if (optind < argc)
    mg_usage_error("unexpected operand '%s'", argv[optind]);
}

/*
 * The input record. With --dir, a terminal or an empty stdin means "no
 * record": checking a bare directory needs none.
 */
static int read_input(const struct verify_opts *o, struct mg_json **rec,
                      struct mg_err *err)
{
  if (!o->dir)
    return mg_record_read(o->std.input, o->std.max_input, rec, err);
  return mg_record_read_or_new(o->std.input, o->std.max_input, rec, err);
}

static int run(const struct verify_opts *o)
{
  struct mg_verify_policy pol;
  struct mg_verify_opts vo;
  struct mg_err err = MG_ERR_INIT;
  struct mg_json *rec = NULL, *sec = NULL, *model;
  const char *dir = o->dir;
  int passed = 0, rc;
  char started[40];

  mg_time_rfc3339(started, sizeof(started));
  mg_verify_policy_init(&pol);
  if (o->policy && mg_verify_policy_load(o->policy, &pol, &err) < 0)
    goto fail;
  if (o->require_signature)
    pol.require_signature = 1;
  if (read_input(o, &rec, &err) < 0)
    goto fail;
  model = mg_record_section(rec, "model");
  if (!dir
      && mg_json_opt_string(model, "path", "section 'model'", NULL, &dir, &err)
             < 0)
    goto fail;
  if (!dir) {
    mg_err_set(&err, MG_ERR_DATA,
               "no model directory: the record has no model.path "
               "(give --dir)");
    goto fail;
  }
  memset(&vo, 0, sizeof(vo));
  vo.dir = dir;
  vo.expected = mg_json_get(model, "files");
  vo.signature = o->signature;
  vo.public_key = o->public_key;
  vo.policy = &pol;
  vo.jobs = o->jobs;
  mg_verbose("checking '%s'", dir);
  if (mg_verify_run(&vo, &sec, &passed, &err) < 0)
    goto fail;
  if (!passed) {
    const struct mg_json *f;
    for (f = mg_json_first(mg_json_get(sec, "findings")); f;
         f = mg_json_next(f))
      if (strcmp(mg_json_string(mg_json_get(f, "severity")), "error") == 0)
        break;
    mg_warn("verdict fail: %s%s%s",
            f && mg_json_get(f, "path") ? mg_json_string(mg_json_get(f, "path"))
                                        : "",
            f && mg_json_get(f, "path") ? ": " : "",
            f ? mg_json_string(mg_json_get(f, "message")) : "");
  }
  mg_record_set_section(rec, "verification", sec);
  mg_record_add_provenance(rec, started, o->argc, o->argv);
  if (mg_record_write(rec, o->std.output, o->std.pretty, &err) < 0)
    goto fail;
  rc = passed ? MG_EXIT_OK : MG_EXIT_FAIL;
  goto out;
fail:
  rc = mg_report_err(&err);
out:
  mg_json_free(rec);
  mg_verify_policy_release(&pol);
  return rc;
}

int main(int argc, char **argv)
{
  struct verify_opts opts = { .std = MG_CLI_STD_INIT, .jobs = 2 };

  mg_init(argv[0]);
  parse_args(argc, argv, &opts);
  return mg_finish(run(&opts));
}

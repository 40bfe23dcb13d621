#ifndef MG_SIGN_H
#define MG_SIGN_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;
struct mg_json;

/*
 * OpenSSF model signing (sigstore/model-transparency, model_signing 1.x),
 * key mode, verified offline:
 *   1. the bundle's mediaType is application/vnd.dev.sigstore.bundle.v0.3
 *      +json and it carries a DSSE envelope with one signature over an
 *      in-toto payload (payloadType application/vnd.in-toto+json);
 *   2. the public key's hint (sha256 of its PEM SubjectPublicKeyInfo text)
 *      matches verificationMaterial.publicKey.hint when one is given;
 *   3. the ECDSA signature (P-256/SHA-256, P-384/SHA-384, P-521/SHA-512)
 *      verifies over PAE(payloadType, payload);
 *   4. the statement is in-toto Statement v1 with predicateType
 *      https://model_signing/signature/v1.0 (or the legacy Digests/v0.1),
 *      one subject whose sha256 is the digest of the resources' digests;
 *   5. the directory, re-hashed with the recorded serialization (files or
 *      shards; sha256 or blake2b; ignore_paths, the signature file and
 *      .git/, .gitattributes, .github/, .gitignore left out), has exactly
 *      the signed resources with equal digests (extra files allowed only
 *      with MG_SIGN_IGNORE_UNSIGNED).
 */
enum mg_sign_flags {
  MG_SIGN_IGNORE_UNSIGNED = 1 << 0,
};

/*
 * Verifies the bundle at sig_path for the model in dir with the PEM public
 * key at key_path. *report gets {"status": "verified"|"failed", "method":
 * "key", "curve", "key_hint", "predicate_type", "subject", "serialization",
 * "covered_files", "problems": [...]} (caller owns it) whenever the bundle
 * could be read. Returns 0 when verified; -1 with MG_ERR_FAIL when the
 * signature or the digests do not match (the first problem in err),
 * MG_ERR_DATA for a malformed bundle or key, MG_ERR_IO when a file cannot
 * be read.
 */
int mg_sign_verify(const char *sig_path, const char *key_path, const char *dir,
                   unsigned flags, struct mg_json **report, struct mg_err *err);

/* "DSSEv1 <len(type)> <type> <len(payload)> <payload>": the DSSE
 * pre-authentication encoding. caller owns *out; free with free(). */
void mg_sign_pae(const char *type, const unsigned char *payload, size_t n,
                 unsigned char **out, size_t *out_len);

#endif

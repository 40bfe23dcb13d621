#ifndef MG_PROPKEY_H
#define MG_PROPKEY_H

#include <stddef.h>

#include "mg_banned.h"

/*
 * Registry property keys: the scheme results and registry share
 * (docs/record-registry.md), perf.<label>[.r<rate>].<figure>,
 * eval.<label>.<task>.<metric>, verify.*, link.<label>.<name>, ...
 * mg_results flattens summaries into such keys and mg_registry writes
 * them; neither needs the other for the keys themselves.
 */

/* Keys are kept this short: the registry's property-option views only
 * index values of at most 100 characters. */
#define MG_PROPKEY_MAX 100

/*
 * Builds a property key by joining parts with '.', each part sanitised:
 * characters other than [A-Za-z0-9_+-] become '_', an empty part is "_".
 * A key longer than MG_PROPKEY_MAX is cut and ended with '~' and 8 hex
 * digits of the SHA-256 of the full key, so distinct long keys stay
 * distinct. caller owns the result; free with free().
 */
char *mg_propkey_join(const char *const *parts, size_t n);

#endif

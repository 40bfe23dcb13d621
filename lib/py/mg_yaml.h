#ifndef MG_YAML_H
#define MG_YAML_H

#include <stddef.h>

#include "mg_banned.h"

struct mg_err;
struct mg_pv;

/*
 * YAML documents as Python-like values, resolved the way PyYAML's
 * SafeLoader/FullLoader does for lm-evaluation-harness task files (YAML
 * 1.1 plain scalars: yes/no/on/off/true/false are bools, "1.0" is a float
 * but "1e3" is a string, "~"/"null"/empty are None, 0x/0o/0b/0-prefixed
 * ints). Quoted scalars are strings. Anchors, aliases and "<<" merge keys
 * are supported. A scalar with a local tag ("!function utils.fn") becomes
 * an MG_PV_TAGGED value so the caller can refuse it with a precise
 * message; standard tags (!!str, !!int, !!float, !!bool, !!null) are
 * honoured. This module is the only one that includes yaml.h.
 */

/*
 * Parses the first document of text[0..len). name is for messages. An
 * empty document gives None. On failure *out is NULL and err holds
 * MG_ERR_DATA "malformed YAML in 'name' at line L column C: problem".
 * caller owns *out; drop with mg_pv_unref.
 */
int mg_yaml_parse(const char *text, size_t len, const char *name,
                  struct mg_pv **out, struct mg_err *err);

/* Reads path (MG_ERR_IO if unreadable; 16 MiB cap) and parses it. */
int mg_yaml_load(const char *path, struct mg_pv **out, struct mg_err *err);

#endif

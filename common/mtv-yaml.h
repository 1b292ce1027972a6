#pragma once
#include <json-glib/json-glib.h>

/* YAML <-> JSON with libyaml, for manifests and `-o yaml`. YAML 1.2 core
 * schema: unquoted true/false/null/numbers are typed, everything else is a
 * string; quoted scalars are always strings. Anchors and aliases are refused. */

/* Parses one YAML (or JSON) document; the error names @what and the line. */
JsonNode *mtv_yaml_parse (const char *text, gsize length, const char *what, GError **error);

/* Emits @node as a YAML document (block style, strings quoted where a reader
 * would otherwise take them for another type). */
char *mtv_yaml_emit (JsonNode *node);

#pragma once
#include "mtv-kinds.h"
#include "providers/mtv-provider-types.h"

/* What network maps, storage maps and plans share: a source and a target
 * provider, and a status that follows theirs. */

/* The two provider references every map and plan starts with. */
#define MTV_PROVIDER_REFERENCE_FIELDS                                                          \
  { .key = "sourceProvider", .json_path = "provider.source", .type = MTV_FIELD_REFERENCE,      \
    .flags = MTV_FIELD_REQUIRED, .ref_kind = MTV_KIND_PROVIDER },                              \
  { .key = "targetProvider", .json_path = "provider.destination", .type = MTV_FIELD_REFERENCE, \
    .flags = MTV_FIELD_REQUIRED, .ref_kind = MTV_KIND_PROVIDER }

/* Checks that the provider named at @key of @spec can play @role. */
gboolean mtv_check_provider_role (MtvDaemon *daemon, JsonObject *spec, const char *json_path,
                                  const char *key, MtvProviderRole role, GError **error);

/* Adds @condition_type (Critical) unless the referenced item is Ready. */
void mtv_status_require_ready (MtvDaemon *daemon, MtvStatusBuilder *status, MtvKind kind,
                               JsonObject *spec, const char *json_path, const char *condition_type);

/* The source side of a map pair: {"id"} or {"name"} (plus qualifiers). */
gboolean mtv_check_pair_source (JsonObject *item, GError **error);

/* A map pair's shape: only "source" and "destination", a valid source, and a
 * destination dictionary of strings among @dest_keys, returned. */
JsonObject *mtv_check_pair_shape (JsonObject *item, const char *const *dest_keys, GError **error);

/* Validation shared by both kinds of map. */
gboolean mtv_map_validate (MtvDaemon *daemon, const char *name, JsonObject *spec, GError **error);
void mtv_map_compute_status (MtvDaemon *daemon, const MtvRecord *record, MtvStatusBuilder *status);

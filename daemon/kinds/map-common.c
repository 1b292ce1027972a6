#include "map-common.h"
#include "mtv-error.h"
#include "mtv-json.h"

gboolean
mtv_check_provider_role (MtvDaemon *daemon, JsonObject *spec, const char *json_path,
                         const char *key, MtvProviderRole role, GError **error)
{
  const char *name = mtv_reference_name (mtv_json_lookup_path (spec, json_path));
  const MtvRecord *provider = mtv_daemon_lookup_record (daemon, MTV_KIND_PROVIDER, name);
  if (provider == NULL)
    return TRUE; /* reported as NotFound by the caller's reference check */
  const char *type_name = json_object_get_string_member (provider->spec, "type");
  const MtvProviderType *type = mtv_provider_type_lookup (type_name);
  if (type && (type->roles & role))
    return TRUE;
  g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: provider \"%s\" is of type %s, which "
               "cannot be a migration %s", key, name, type_name,
               role == MTV_ROLE_SOURCE ? "source" : "target");
  return FALSE;
}

void
mtv_status_require_ready (MtvDaemon *daemon, MtvStatusBuilder *status, MtvKind kind,
                          JsonObject *spec, const char *json_path, const char *condition_type)
{
  const char *name = mtv_reference_name (mtv_json_lookup_path (spec, json_path));
  if (name == NULL)
    return;
  const MtvRecord *other = mtv_daemon_lookup_record (daemon, kind, name);
  if (other == NULL)
    mtv_status_add (status, condition_type, "Critical", "NotFound", "%s \"%s\" does not exist.",
                    mtv_kind_to_string (kind), name);
  else if (g_strcmp0 (mtv_record_phase (other), "Ready") != 0)
    mtv_status_add (status, condition_type, "Critical", "NotReady", "%s \"%s\" is not ready.",
                    mtv_kind_to_string (kind), name);
}

gboolean
mtv_check_pair_source (JsonObject *item, GError **error)
{
  static const char *const keys[] = { "id", "name", "namespace", "type", "vlan", NULL };
  JsonObject *source =
    mtv_spec_check_string_object (json_object_get_member (item, "source"), "source", keys, error);
  if (source == NULL)
    return FALSE;
  if (*json_object_get_string_member_with_default (source, "id", "") == '\0'
      && *json_object_get_string_member_with_default (source, "name", "") == '\0')
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "source: needs an \"id\" or a \"name\"");
      return FALSE;
    }
  return TRUE;
}

JsonObject *
mtv_check_pair_shape (JsonObject *item, const char *const *dest_keys, GError **error)
{
  static const char *const item_keys[] = { "source", "destination", NULL };
  if (!mtv_spec_check_members (item, item_keys, error) || !mtv_check_pair_source (item, error))
    return NULL;
  return mtv_spec_check_string_object (json_object_get_member (item, "destination"), "destination", dest_keys, error);
}

gboolean
mtv_map_validate (MtvDaemon *daemon, const char *name, JsonObject *spec, GError **error)
{
  return mtv_check_provider_role (daemon, spec, "provider.source", "sourceProvider",
                                  MTV_ROLE_SOURCE, error)
      && mtv_check_provider_role (daemon, spec, "provider.destination", "targetProvider",
                                  MTV_ROLE_TARGET, error);
}

void
mtv_map_compute_status (MtvDaemon *daemon, const MtvRecord *record, MtvStatusBuilder *status)
{
  mtv_status_require_ready (daemon, status, MTV_KIND_PROVIDER, record->spec, "provider.source",
                            "SourceProviderNotReady");
  mtv_status_require_ready (daemon, status, MTV_KIND_PROVIDER, record->spec,
                            "provider.destination", "DestinationProviderNotReady");
}

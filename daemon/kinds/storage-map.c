/* StorageMap: source storage to storage classes with volume and access modes. */
#include "map-common.h"
#include "mtv-error.h"
#include "mtv-dbus-generated.h"

static gboolean
check_choice (JsonObject *dest, const char *key, const char *const *allowed, GError **error)
{
  const char *value = json_object_get_string_member_with_default (dest, key, NULL);
  if (value == NULL || g_strv_contains (allowed, value))
    return TRUE;
  g_autofree char *known = g_strjoinv (", ", (char **) allowed);
  g_autofree char *shown = g_strescape (value, NULL);
  g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "destination.%s: \"%s\" is not one of %s",
               key, shown, known);
  return FALSE;
}

static gboolean
check_pair (JsonObject *item, GError **error)
{
  static const char *const dest_keys[] = { "storageClass", "volumeMode", "accessMode", NULL };
  static const char *const volume_modes[] = { "Filesystem", "Block", NULL };
  static const char *const access_modes[] = { "ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany", NULL };
  JsonObject *dest = mtv_check_pair_shape (item, dest_keys, error);
  if (dest == NULL)
    return FALSE;
  /* Storage class names are DNS-1123 subdomains; a label check is close and strict. */
  const char *sc = json_object_get_string_member_with_default (dest, "storageClass", "");
  for (const char *p = sc; *p; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '-' || *p == '.'))
      {
        g_autofree char *shown = g_strescape (sc, NULL);
        g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                     "destination.storageClass: \"%s\" is not a valid storage class name", shown);
        return FALSE;
      }
  if (*sc == '\0')
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "destination.storageClass: is required");
      return FALSE;
    }
  return check_choice (dest, "volumeMode", volume_modes, error)
      && check_choice (dest, "accessMode", access_modes, error);
}

static const MtvField fields[] = {
  MTV_PROVIDER_REFERENCE_FIELDS,
  { .key = "pairs", .json_path = "map", .type = MTV_FIELD_LIST, .flags = MTV_FIELD_REQUIRED,
    .check_item = check_pair },
};

const MtvKindInfo mtv_kind_storage_map = {
  .kind = MTV_KIND_STORAGE_MAP,
  .fields = fields,
  .n_fields = G_N_ELEMENTS (fields),
  .manage_action = MTV_ACTION_MANAGE_PLANS,
  .skeleton_type = mtv_storage_map_skeleton_get_type,
  .validate = mtv_map_validate,
  .compute_status = mtv_map_compute_status,
  .ready_message = "The storage map is ready.",
};

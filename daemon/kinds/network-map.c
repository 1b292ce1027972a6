/* NetworkMap: source networks to pod, Multus or ignored. */
#include "map-common.h"
#include "mtv-error.h"
#include "mtv-dbus-generated.h"

static gboolean
check_pair (JsonObject *item, GError **error)
{
  static const char *const dest_keys[] = { "type", "name", "namespace", NULL };
  JsonObject *dest = mtv_check_pair_shape (item, dest_keys, error);
  if (dest == NULL)
    return FALSE;

  const char *type = json_object_get_string_member_with_default (dest, "type", "");
  const char *name = json_object_get_string_member_with_default (dest, "name", "");
  const char *ns = json_object_get_string_member_with_default (dest, "namespace", "");
  if (g_strcmp0 (type, "multus") == 0)
    {
      if (!mtv_name_validate (name, "destination.name (the NetworkAttachmentDefinition)", error))
        return FALSE;
      return *ns == '\0' || mtv_name_validate (ns, "destination.namespace", error);
    }
  if (g_strcmp0 (type, "pod") == 0 || g_strcmp0 (type, "ignored") == 0)
    {
      if (*name != '\0' || *ns != '\0')
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                       "destination: a %s network takes no name or namespace", type);
          return FALSE;
        }
      return TRUE;
    }
  g_autofree char *shown = g_strescape (type, NULL);
  g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
               "destination.type: \"%s\" is not one of pod, multus, ignored", shown);
  return FALSE;
}

static const MtvField fields[] = {
  MTV_PROVIDER_REFERENCE_FIELDS,
  { .key = "pairs", .json_path = "map", .type = MTV_FIELD_LIST, .flags = MTV_FIELD_REQUIRED,
    .check_item = check_pair },
};

const MtvKindInfo mtv_kind_network_map = {
  .kind = MTV_KIND_NETWORK_MAP,
  .fields = fields,
  .n_fields = G_N_ELEMENTS (fields),
  .manage_action = MTV_ACTION_MANAGE_PLANS,
  .skeleton_type = mtv_network_map_skeleton_get_type,
  .validate = mtv_map_validate,
  .compute_status = mtv_map_compute_status,
  .ready_message = "The network map is ready.",
};

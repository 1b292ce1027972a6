/* A plan checked against its target cluster's inventory (openshift
 * providers): what the VMs will need there must exist. */
#include "plan-target.h"
#include "mtv-json.h"
#include "mtv-provider-runtime.h"

#include <string.h>

static gboolean
has_entry (JsonObject *inventory, const char *kind, const char *namespace, const char *name)
{
  JsonNode *list = json_object_get_member (inventory, kind);
  if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list))
    return FALSE;
  JsonArray *a = json_node_get_array (list);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonObject *e = json_array_get_object_element (a, i);
      if (g_strcmp0 (json_object_get_string_member_with_default (e, "name", ""), name) == 0
          && (namespace == NULL || g_strcmp0 (json_object_get_string_member_with_default (e, "namespace", ""), namespace) == 0))
        return TRUE;
    }
  return FALSE;
}

static gboolean
has_feature_gate (JsonObject *inventory, const char *gate)
{
  JsonNode *gates = json_object_get_member (inventory, "featureGates");
  if (gates == NULL || !JSON_NODE_HOLDS_ARRAY (gates))
    return FALSE;
  for (guint i = 0; i < json_array_get_length (json_node_get_array (gates)); i++)
    if (g_strcmp0 (json_array_get_string_element (json_node_get_array (gates), i), gate) == 0)
      return TRUE;
  return FALSE;
}

static JsonArray *
map_pairs (MtvDaemon *daemon, MtvKind kind, JsonObject *spec, const char *path)
{
  const MtvRecord *map = mtv_daemon_lookup_record (daemon, kind, mtv_reference_name (mtv_json_lookup_path (spec, path)));
  JsonNode *pairs = map ? json_object_get_member (map->spec, "map") : NULL;
  return pairs && JSON_NODE_HOLDS_ARRAY (pairs) ? json_node_get_array (pairs) : NULL;
}

static void
note (GString *list, const char *item)
{
  if (strstr (list->str, item) == NULL)
    g_string_append_printf (list, "%s%s", list->len ? ", " : "", item);
}

void
mtv_plan_check_target (MtvDaemon *daemon, JsonObject *spec, MtvStatusBuilder *status)
{
  const MtvRecord *target = mtv_daemon_lookup_record (daemon, MTV_KIND_PROVIDER,
                                                      mtv_reference_name (mtv_json_lookup_path (spec, "provider.destination")));
  MtvProviderRuntime *rt = target ? mtv_daemon_provider_runtime (daemon, target->name) : NULL;
  if (rt == NULL || rt->inventory == NULL || !json_object_has_member (rt->inventory, "namespaces"))
    return;   /* not a cluster, or its own condition says why */
  const char *ns = json_object_get_string_member_with_default (spec, "targetNamespace", "default");
  if (!has_entry (rt->inventory, "namespaces", NULL, ns))
    mtv_status_add (status, "TargetNamespaceNotValid", "Critical", "NotFound",
                    "The target namespace \"%s\" does not exist in the cluster of provider %s.", ns, target->name);

  g_autoptr (GString) classes = g_string_new (NULL);
  JsonArray *pairs = map_pairs (daemon, MTV_KIND_STORAGE_MAP, spec, "map.storage");
  for (guint i = 0; pairs && i < json_array_get_length (pairs); i++)
    {
      JsonObject *dest = json_object_get_object_member (json_array_get_object_element (pairs, i), "destination");
      const char *sc = dest ? json_object_get_string_member_with_default (dest, "storageClass", NULL) : NULL;
      if (sc && !has_entry (rt->inventory, "storages", NULL, sc))
        note (classes, sc);
    }
  if (classes->len)
    mtv_status_add (status, "DestinationStorageNotValid", "Critical", "NotFound",
                    "Storage classes the storage map names are not in the target cluster: %s.", classes->str);

  g_autoptr (GString) nads = g_string_new (NULL);
  pairs = map_pairs (daemon, MTV_KIND_NETWORK_MAP, spec, "map.network");
  for (guint i = 0; pairs && i < json_array_get_length (pairs); i++)
    {
      JsonObject *dest = json_object_get_object_member (json_array_get_object_element (pairs, i), "destination");
      if (dest == NULL || g_strcmp0 (json_object_get_string_member_with_default (dest, "type", ""), "multus") != 0)
        continue;
      const char *nad_ns = json_object_get_string_member_with_default (dest, "namespace", ns);
      const char *name = json_object_get_string_member_with_default (dest, "name", "");
      if (!has_entry (rt->inventory, "networks", nad_ns, name))
        {
          g_autofree char *full = g_strdup_printf ("%s/%s", nad_ns, name);
          note (nads, full);
        }
    }
  if (nads->len)
    mtv_status_add (status, "DestinationNetworkNotValid", "Critical", "NotFound",
                    "NetworkAttachmentDefinitions the network map names are not in the target cluster: %s.", nads->str);

  if (g_strcmp0 (json_object_get_string_member_with_default (spec, "type", "cold"), "live") == 0
      && !has_feature_gate (rt->inventory, "DecentralizedLiveMigration"))
    mtv_status_add (status, "LiveMigrationNotEnabled", "Critical", "FeatureGate",
                    "Live migration needs KubeVirt's feature gate DecentralizedLiveMigration in the target cluster "
                    "(provider %s).", target->name);
}

/* libFuzzer target for the openshift inventory: whatever JSON a cluster's
 * API answers, mtv_openshift_inventory() builds an inventory or skips what
 * is not what the API documents, never a crash or a GLib critical. The
 * input is one JSON object with the lists ("vms", "dvs", ...). */
#include "openshift/openshift-inventory.h"
#include "mtv-json.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, (const char *) data, (gssize) size, NULL))
    return 0;
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    return 0;
  JsonObject *o = json_node_get_object (root);
  MtvOpenshiftLists lists = {
    .kubernetes_version = mtv_json_string (o, "version"),
    .kubevirts = mtv_json_array (o, "kubevirts"), .cdis = mtv_json_array (o, "cdis"),
    .namespaces = mtv_json_array (o, "namespaces"), .storage_classes = mtv_json_array (o, "storageclasses"),
    .nads = mtv_json_array (o, "nads"), .vms = mtv_json_array (o, "vms"), .dvs = mtv_json_array (o, "dvs"),
    .pvcs = mtv_json_array (o, "pvcs"), .vmis = mtv_json_array (o, "vmis"),
  };
  g_autoptr (JsonObject) inventory = mtv_openshift_inventory (&lists);
  g_assert (json_object_has_member (inventory, "vms"));
  JsonArray *vms = mtv_json_array (inventory, "vms");
  for (guint i = 0; i < mtv_json_array_length (vms); i++)
    g_assert (mtv_json_int (mtv_json_array_object (vms, i), "cpuCount", 0) >= 1);
  return 0;
}

#include "mtv-inventory.h"
#include "mtv-names.h"

static const char *
member (JsonObject *o, const char *key)
{
  return o ? json_object_get_string_member_with_default (o, key, "") : "";
}

JsonObject *
mtv_inventory_find_vm (JsonObject *inventory, JsonObject *plan_vm)
{
  if (inventory == NULL || !json_object_has_member (inventory, "vms"))
    return NULL;
  const char *id = member (plan_vm, "id");
  const char *name = member (plan_vm, "name");
  JsonArray *vms = json_object_get_array_member (inventory, "vms");
  for (guint i = 0; i < json_array_get_length (vms); i++)
    {
      JsonObject *vm = json_array_get_object_element (vms, i);
      if ((*id && g_str_equal (id, member (vm, "id"))) || (!*id && *name && g_str_equal (name, member (vm, "name"))))
        return vm;
    }
  return NULL;
}

JsonObject *
mtv_inventory_find_pair (JsonObject *map_spec, const char *id, const char *name)
{
  JsonArray *pairs = map_spec && json_object_has_member (map_spec, "map") ? json_object_get_array_member (map_spec, "map") : NULL;
  for (guint i = 0; pairs && i < json_array_get_length (pairs); i++)
    {
      JsonObject *pair = json_array_get_object_element (pairs, i);
      JsonObject *source = json_object_get_object_member (pair, "source");
      const char *sid = member (source, "id"), *sname = member (source, "name");
      if ((*sid && id && g_str_equal (sid, id)) || (*sname && name && g_str_equal (sname, name)))
        return pair;
    }
  return NULL;
}

JsonObject *
mtv_inventory_disk_pair (JsonObject *map_spec, JsonObject *vm, JsonObject *disk)
{
  JsonNode *storage = json_object_get_member (disk, "storage");
  if (storage && JSON_NODE_HOLDS_OBJECT (storage))
    return mtv_inventory_find_pair (map_spec, member (json_node_get_object (storage), "id"),
                                    member (json_node_get_object (storage), "name"));
  g_autofree char *name = g_strdup_printf ("%s/%s", member (vm, "name"), member (disk, "name"));
  return mtv_inventory_find_pair (map_spec, member (disk, "id"), name);
}

/* The VM's network that @nic is on: {"id", "name"}, or NULL. */
static JsonObject *
nic_network (JsonObject *vm, JsonObject *nic, const char **name)
{
  JsonNode *n = json_object_get_member (nic, "network");
  const char *by_id = n && JSON_NODE_HOLDS_OBJECT (n) ? member (json_node_get_object (n), "id") : NULL;
  const char *by_name = n && JSON_NODE_HOLDS_VALUE (n) ? member (nic, "network") : NULL;
  *name = by_name;
  JsonNode *nets = json_object_get_member (vm, "networks");
  for (guint i = 0; nets && JSON_NODE_HOLDS_ARRAY (nets) && i < json_array_get_length (json_node_get_array (nets)); i++)
    {
      JsonObject *net = json_array_get_object_element (json_node_get_array (nets), i);
      if ((by_id && *by_id && g_str_equal (by_id, member (net, "id")))
          || (by_name && g_str_equal (by_name, member (net, "name"))))
        {
          *name = member (net, "name");
          return net;
        }
    }
  return NULL;
}

JsonObject *
mtv_inventory_nic_pair (JsonObject *map_spec, JsonObject *vm, JsonObject *nic)
{
  const char *name = NULL;
  JsonObject *net = nic_network (vm, nic, &name);
  return mtv_inventory_find_pair (map_spec, net ? member (net, "id") : NULL, name);
}

const char *
mtv_inventory_nic_network_name (JsonObject *vm, JsonObject *nic)
{
  const char *name = NULL;
  nic_network (vm, nic, &name);
  return name ? name : "?";
}

char **
mtv_inventory_target_names (JsonObject *inventory, JsonArray *plan_vms)
{
  guint n = json_array_get_length (plan_vms);
  char **names = g_new0 (char *, n + 1);
  g_autoptr (GHashTable) taken = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < n; i++)
    {
      const char *explicit_name = member (json_array_get_object_element (plan_vms, i), "targetName");
      if (*explicit_name)
        {
          names[i] = g_strdup (explicit_name);
          g_hash_table_add (taken, names[i]);
        }
    }
  for (guint i = 0; i < n; i++)
    {
      if (names[i])
        continue;
      JsonObject *vm = mtv_inventory_find_vm (inventory, json_array_get_object_element (plan_vms, i));
      if (vm == NULL)
        {
          names[i] = g_strdup ("");
          continue;
        }
      char *name = mtv_name_from_vm (member (vm, "name"));
      /* Room for "-xxxx" within 63 characters. */
      g_autofree char *base = g_strndup (name, 58);
      for (guint round = 0; g_hash_table_contains (taken, name); round++)
        {
          g_autofree char *seed = g_strdup_printf ("%s/%u", member (vm, "id"), round);
          g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, seed, -1);
          g_free (name);
          name = g_strdup_printf ("%s-%.4s", base, hash);
        }
      names[i] = name;
      g_hash_table_add (taken, name);
    }
  return names;
}

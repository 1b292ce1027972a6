#include "mtv-inventory.h"

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

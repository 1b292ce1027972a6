#pragma once
#include <json-glib/json-glib.h>

/* Looking things up in a provider's inventory ({"vms": [...], ...}). */

/* The inventory VM a plan's VM entry ({"id"} or {"name"}) means, or NULL. */
JsonObject *mtv_inventory_find_vm (JsonObject *inventory, JsonObject *plan_vm);

/* The map pair (of a NetworkMap or StorageMap spec) whose source is @id or
 * @name, or NULL. */
JsonObject *mtv_inventory_find_pair (JsonObject *map_spec, const char *id, const char *name);

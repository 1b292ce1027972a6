#pragma once
#include <json-glib/json-glib.h>

/* Looking things up in a provider's inventory ({"vms": [...], ...}). */

/* The inventory VM a plan's VM entry ({"id"} or {"name"}) means, or NULL. */
JsonObject *mtv_inventory_find_vm (JsonObject *inventory, JsonObject *plan_vm);

/* The map pair (of a NetworkMap or StorageMap spec) whose source is @id or
 * @name, or NULL. */
JsonObject *mtv_inventory_find_pair (JsonObject *map_spec, const char *id, const char *name);

/* The storage pair of @vm's @disk: by the storage the disk names
 * ({"storage": {"id", "name"}}: a vSphere datastore), else by the disk's
 * id or "vm/disk" name (an OVA's disks). */
JsonObject *mtv_inventory_disk_pair (JsonObject *map_spec, JsonObject *vm, JsonObject *disk);
/* The network pair of @vm's @nic, whose "network" is the network's name
 * (OVA) or a reference {"kind", "id"} (vSphere), resolved through the VM's
 * "networks" ([{"id", "name"}]). */
JsonObject *mtv_inventory_nic_pair (JsonObject *map_spec, JsonObject *vm, JsonObject *nic);
/* The NIC's network name, for messages. */
const char *mtv_inventory_nic_network_name (JsonObject *vm, JsonObject *nic);

/* The target names of a plan's VMs ({"id"|"name", "targetName"?} each, in
 * order): targetName where given, else the VM's name as a DNS-1123 label
 * (mtv_name_from_vm), made unique in the plan with "-" and four hex digits
 * of a hash of the VM's id (the same on every call) where it would clash.
 * A NULL-terminated array as long as @plan_vms ("" for a VM not in the
 * inventory). Two equal targetNames stay equal: the plan says so. */
char **mtv_inventory_target_names (JsonObject *inventory, JsonArray *plan_vms);

#pragma once
/* vSphere objects as mtv's inventory holds them: Forklift's vSphere model
 * names (its pkg/controller/provider/model/vsphere), which rules/vsphere.rules
 * and queries read, from the properties mtv_vsphere_retrieve brings. Pure:
 * unit-tested and fuzzed. */
#include <json-glib/json-glib.h>

/* The objects of a list value: an array, or a single object where the reply
 * had one item (vsphere-client.h). Borrowed from @n. */
GPtrArray *mtv_vsphere_objects (JsonNode *n);

/* The property paths a VM model is made from (NULL-terminated). */
extern const char *const mtv_vsphere_vm_paths[];

/* The VM of a retrieved object ({"id", "type", "props"}): id (the moref:
 * VMs are told apart by it, never by their BIOS UUID alone), uuid, name,
 * powerState, guest identity, CPU and memory, firmware, hot add, change
 * tracking, disks (key, file, datastore, capacity in bytes, shared, rdm,
 * mode, bus, controllerKey, unitNumber), nics (mac, network, deviceType),
 * devices (kind), guest networks and disks, snapshot. */
JsonObject *mtv_vsphere_vm_model (JsonObject *object);

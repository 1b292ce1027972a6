/* vSphere inventory model: see vsphere-model.h. Leaves come as text
 * (vsphere-client.h): numbers and booleans are read here, with bounds. */
#include "vsphere-model.h"

#include <string.h>

const char *const mtv_vsphere_vm_paths[] = {
  "name", "parent", "config.uuid", "config.template", "config.guestId", "config.guestFullName", "config.firmware",
  "config.bootOptions.efiSecureBootEnabled", "config.hardware.numCPU", "config.hardware.numCoresPerSocket",
  "config.hardware.memoryMB", "config.hardware.device", "config.cpuHotAddEnabled", "config.cpuHotRemoveEnabled",
  "config.memoryHotAddEnabled", "config.changeTrackingEnabled", "config.cpuAffinity", "config.extraConfig",
  "summary.config.tpmPresent", "runtime.powerState", "runtime.host", "runtime.connectionState",
  "runtime.faultToleranceState", "runtime.consolidationNeeded", "guest.guestFullName", "guest.hostName",
  "guest.net", "guest.disk", "snapshot",
  NULL,
};

/* ---- reading values --------------------------------------------------------------- */

/* @o's member @path, dotted ("backing.fileName"). */
static JsonNode *
member (JsonObject *o, const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, ".", -1);
  JsonNode *n = NULL;
  for (guint i = 0; o && parts[i]; i++)
    {
      n = json_object_get_member (o, parts[i]);
      o = n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      if (parts[i + 1] && o == NULL)
        return NULL;
    }
  return n;
}

static const char *
text (JsonObject *o, const char *path)
{
  JsonNode *n = member (o, path);
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING ? json_node_get_string (n)
                                                                                         : NULL;
}

static gboolean
set_text (JsonObject *out, const char *name, JsonObject *o, const char *path)
{
  const char *t = text (o, path);
  if (t)
    json_object_set_string_member (out, name, t);
  return t != NULL;
}

static gint64
parse_number (const char *t, gint64 fallback)
{
  if (t == NULL || *t == '\0')
    return fallback;
  char *end = NULL;
  gint64 v = g_ascii_strtoll (t, &end, 10);
  return end && *end == '\0' ? v : fallback;
}

static gint64
number (JsonObject *o, const char *path, gint64 fallback)
{
  return parse_number (text (o, path), fallback);
}

static void
set_number (JsonObject *out, const char *name, JsonObject *o, const char *path)
{
  if (text (o, path))
    json_object_set_int_member (out, name, number (o, path, 0));
}

GPtrArray *
mtv_vsphere_objects (JsonNode *n)
{
  GPtrArray *out = g_ptr_array_new ();
  if (n && JSON_NODE_HOLDS_OBJECT (n))
    g_ptr_array_add (out, json_node_get_object (n));
  for (guint i = 0; n && JSON_NODE_HOLDS_ARRAY (n) && i < json_array_get_length (json_node_get_array (n)); i++)
    if (JSON_NODE_HOLDS_OBJECT (json_array_get_element (json_node_get_array (n), i)))
      g_ptr_array_add (out, json_array_get_object_element (json_node_get_array (n), i));
  return out;
}

/* @each for every object of the list value @n (mtv_vsphere_objects). */
static void
each_object (JsonNode *n, void (*each) (JsonObject *item, gpointer data), gpointer data)
{
  g_autoptr (GPtrArray) items = mtv_vsphere_objects (n);
  for (guint i = 0; i < items->len; i++)
    each (items->pdata[i], data);
}

static JsonObject *
ref (const char *kind, const char *id)
{
  JsonObject *r = json_object_new ();
  json_object_set_string_member (r, "kind", kind ? kind : "");
  json_object_set_string_member (r, "id", id ? id : "");
  return r;
}

/* ---- devices ---------------------------------------------------------------------- */

typedef struct {
  GHashTable *controllers;   /* key -> bus ("scsi", "sata", "ide", "nvme") */
  JsonArray *disks, *nics, *devices;
} Devices;

static const char *
bus_of (const char *type)
{
  if (type == NULL)
    return NULL;
  if (strstr (type, "SCSIController") || g_str_has_prefix (type, "VirtualLsiLogic") || g_str_equal (type, "VirtualBusLogicController"))
    return "scsi";
  if (g_str_equal (type, "VirtualAHCIController") || g_str_equal (type, "VirtualSATAController"))
    return "sata";
  if (g_str_equal (type, "VirtualIDEController"))
    return "ide";
  if (g_str_equal (type, "VirtualNVMEController"))
    return "nvme";
  return NULL;
}

static gboolean
is_nic (const char *type)
{
  static const char *const nics[] = { "VirtualE1000", "VirtualE1000e", "VirtualVmxnet", "VirtualVmxnet2",
                                      "VirtualVmxnet3", "VirtualVmxnet3Vrdma", "VirtualPCNet32",
                                      "VirtualSriovEthernetCard", NULL };
  return type && g_strv_contains (nics, type);
}

static void
find_controller (JsonObject *d, gpointer data)
{
  Devices *devs = data;
  const char *bus = bus_of (text (d, "_type"));
  if (bus && text (d, "key"))
    g_hash_table_insert (devs->controllers, g_strdup (text (d, "key")), (gpointer) bus);
}

static void
add_disk (Devices *devs, JsonObject *d)
{
  JsonObject *disk = json_object_new ();
  set_number (disk, "key", d, "key");
  set_text (disk, "file", d, "backing.fileName");
  json_object_set_object_member (disk, "datastore", ref ("Datastore", text (d, "backing.datastore.value")));
  /* Older APIs and the simulator give only capacityInKB. */
  gint64 bytes = number (d, "capacityInBytes", 0);
  json_object_set_int_member (disk, "capacity", bytes > 0 ? bytes : number (d, "capacityInKB", 0) * 1024);
  const char *sharing = text (d, "backing.sharing");
  json_object_set_boolean_member (disk, "shared", g_strcmp0 (sharing, "sharingMultiWriter") == 0);
  json_object_set_boolean_member (disk, "rdm", g_strcmp0 (text (d, "backing._type"),
                                                          "VirtualDiskRawDiskMappingVer1BackingInfo") == 0);
  /* An RDM's: physicalMode passes SCSI through, and no snapshot holds it. */
  set_text (disk, "compatibilityMode", d, "backing.compatibilityMode");
  set_text (disk, "mode", d, "backing.diskMode");
  const char *bus = text (d, "controllerKey") ? g_hash_table_lookup (devs->controllers, text (d, "controllerKey")) : NULL;
  json_object_set_string_member (disk, "bus", bus ? bus : "");
  set_number (disk, "controllerKey", d, "controllerKey");
  set_number (disk, "unitNumber", d, "unitNumber");
  json_object_set_boolean_member (disk, "changeTrackingEnabled", text (d, "backing.changeId") != NULL);
  json_array_add_object_element (devs->disks, disk);
}

static void
add_nic (Devices *devs, JsonObject *d, const char *type)
{
  JsonObject *nic = json_object_new ();
  set_text (nic, "mac", d, "macAddress");
  /* A standard port group, a distributed one, or an NSX (opaque) network. */
  const char *id = text (d, "backing.network.value");
  const char *kind = "Network";
  if (id == NULL && (id = text (d, "backing.port.portgroupKey")))
    kind = "DistributedVirtualPortgroup";
  if (id == NULL && (id = text (d, "backing.opaqueNetworkId")))
    kind = "OpaqueNetwork";
  json_object_set_object_member (nic, "network", ref (kind, id));
  json_object_set_string_member (nic, "deviceType", type + strlen ("Virtual"));
  json_array_add_object_element (devs->nics, nic);
}

static void
add_device (JsonObject *d, gpointer data)
{
  Devices *devs = data;
  const char *type = text (d, "_type");
  if (type == NULL)
    return;
  if (g_str_equal (type, "VirtualDisk"))
    add_disk (devs, d);
  else if (is_nic (type))
    add_nic (devs, d, type);
  /* Every device by its kind: the rules look for USB, PCI passthrough, SR-IOV. */
  JsonObject *dev = json_object_new ();
  json_object_set_string_member (dev, "kind", type);
  set_number (dev, "key", d, "key");
  json_array_add_object_element (devs->devices, dev);
}

/* ---- the guest -------------------------------------------------------------------- */

static JsonArray *
strings_of (JsonNode *n)
{
  JsonArray *a = json_array_new ();
  if (n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
    json_array_add_string_element (a, json_node_get_string (n));
  for (guint i = 0; n && JSON_NODE_HOLDS_ARRAY (n) && i < json_array_get_length (json_node_get_array (n)); i++)
    {
      JsonNode *e = json_array_get_element (json_node_get_array (n), i);
      if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING)
        json_array_add_string_element (a, json_node_get_string (e));
    }
  return a;
}

static void
add_guest_network (JsonObject *n, gpointer data)
{
  JsonObject *net = json_object_new ();
  set_text (net, "mac", n, "macAddress");
  set_text (net, "network", n, "network");
  json_object_set_array_member (net, "ip", strings_of (member (n, "ipAddress")));
  json_array_add_object_element (data, net);
}

static void
add_guest_disk (JsonObject *d, gpointer data)
{
  JsonObject *disk = json_object_new ();
  set_text (disk, "diskPath", d, "diskPath");
  set_number (disk, "capacity", d, "capacity");
  set_number (disk, "freeSpace", d, "freeSpace");
  /* The virtual disk it is on (vSphere 7 and later). */
  JsonNode *mapping = member (d, "mappings");
  if (mapping && JSON_NODE_HOLDS_OBJECT (mapping))
    set_number (disk, "key", json_node_get_object (mapping), "key");
  json_array_add_object_element (data, disk);
}

typedef struct {
  gboolean disk_uuid;
  const char *numa;   /* numa.nodeAffinity: "0,1"; the last one counts */
} Extra;

static void
extra_config (JsonObject *o, gpointer data)
{
  Extra *extra = data;
  const char *key = text (o, "key") ? text (o, "key") : "", *value = text (o, "value") ? text (o, "value") : "";
  if (g_ascii_strcasecmp (key, "disk.EnableUUID") == 0)
    extra->disk_uuid = g_ascii_strcasecmp (value, "true") == 0;
  else if (g_ascii_strcasecmp (key, "numa.nodeAffinity") == 0)
    extra->numa = value;
}


/* ---- the VM ----------------------------------------------------------------------- */

JsonObject *
mtv_vsphere_vm_model (JsonObject *object)
{
  JsonObject *p = json_object_get_object_member (object, "props");
  JsonObject *vm = json_object_new ();
  json_object_set_string_member (vm, "id", json_object_get_string_member_with_default (object, "id", ""));
  /* Properties come by their full paths: a flat object. */
  JsonObject *flat = p ? p : json_object_new ();
#define PROP(path) (json_object_get_member (flat, path))
#define PTEXT(path) (PROP (path) && JSON_NODE_HOLDS_VALUE (PROP (path)) ? json_node_get_string (PROP (path)) : NULL)
  const char *name = PTEXT ("name");
  json_object_set_string_member (vm, "name", name ? name : "");
  if (PTEXT ("config.uuid"))
    json_object_set_string_member (vm, "uuid", PTEXT ("config.uuid"));
  const char *power = PTEXT ("runtime.powerState");
  json_object_set_string_member (vm, "powerState", power ? power : "");
  if (PTEXT ("config.guestId"))
    json_object_set_string_member (vm, "guestId", PTEXT ("config.guestId"));
  if (PTEXT ("config.guestFullName"))
    json_object_set_string_member (vm, "guestName", PTEXT ("config.guestFullName"));
  if (PTEXT ("guest.guestFullName"))
    json_object_set_string_member (vm, "guestNameFromVmwareTools", PTEXT ("guest.guestFullName"));
  json_object_set_string_member (vm, "hostName", PTEXT ("guest.hostName") ? PTEXT ("guest.hostName") : "");
  static const char *const counts[][2] = { { "cpuCount", "config.hardware.numCPU" },
                                           { "coresPerSocket", "config.hardware.numCoresPerSocket" },
                                           { "memoryMB", "config.hardware.memoryMB" } };
  for (gsize i = 0; i < G_N_ELEMENTS (counts); i++)
    if (PTEXT (counts[i][1]))
      json_object_set_int_member (vm, counts[i][0], parse_number (PTEXT (counts[i][1]), 0));
  const char *firmware = PTEXT ("config.firmware");
  json_object_set_string_member (vm, "firmware", firmware ? firmware : "bios");
  static const char *const flags[][2] = {
    { "secureBoot", "config.bootOptions.efiSecureBootEnabled" }, { "isTemplate", "config.template" },
    { "cpuHotAddEnabled", "config.cpuHotAddEnabled" }, { "cpuHotRemoveEnabled", "config.cpuHotRemoveEnabled" },
    { "memoryHotAddEnabled", "config.memoryHotAddEnabled" }, { "changeTrackingEnabled", "config.changeTrackingEnabled" },
    { "tpmEnabled", "summary.config.tpmPresent" }, { "consolidationNeeded", "runtime.consolidationNeeded" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (flags); i++)
    json_object_set_boolean_member (vm, flags[i][0], g_strcmp0 (PTEXT (flags[i][1]), "true") == 0);
  const char *ft = PTEXT ("runtime.faultToleranceState");
  json_object_set_boolean_member (vm, "faultToleranceEnabled", ft && !g_str_equal (ft, "notConfigured"));
  JsonNode *parent = PROP ("parent");
  if (parent && JSON_NODE_HOLDS_OBJECT (parent))
    json_object_set_object_member (vm, "parent", ref ("Folder", text (json_node_get_object (parent), "value")));
  JsonNode *host = PROP ("runtime.host");
  if (host && JSON_NODE_HOLDS_OBJECT (host))
    json_object_set_object_member (vm, "host", ref ("Host", text (json_node_get_object (host), "value")));
  JsonNode *affinity = PROP ("config.cpuAffinity");
  json_object_set_array_member (vm, "cpuAffinity", strings_of (affinity && JSON_NODE_HOLDS_OBJECT (affinity)
                                                                 ? member (json_node_get_object (affinity), "affinitySet")
                                                                 : NULL));
  Extra extra = { FALSE, NULL };
  each_object (PROP ("config.extraConfig"), extra_config, &extra);
  json_object_set_boolean_member (vm, "diskEnableUuid", extra.disk_uuid);
  JsonArray *numa = json_array_new ();
  g_auto (GStrv) nodes = g_strsplit (extra.numa ? extra.numa : "", ",", 64);
  for (guint i = 0; nodes[i]; i++)
    if (*g_strstrip (nodes[i]))
      json_array_add_string_element (numa, nodes[i]);
  json_object_set_array_member (vm, "numaNodeAffinity", numa);

  Devices devs = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL), json_array_new (), json_array_new (),
                   json_array_new () };
  each_object (PROP ("config.hardware.device"), find_controller, &devs);
  each_object (PROP ("config.hardware.device"), add_device, &devs);
  g_hash_table_unref (devs.controllers);
  json_object_set_array_member (vm, "disks", devs.disks);
  json_object_set_array_member (vm, "nics", devs.nics);
  json_object_set_array_member (vm, "devices", devs.devices);

  /* Guest information needs VMware Tools: absent, the rules say unknown. */
  if (PROP ("guest.net"))
    {
      JsonArray *nets = json_array_new ();
      each_object (PROP ("guest.net"), add_guest_network, nets);
      json_object_set_array_member (vm, "guestNetworks", nets);
    }
  JsonArray *guest_disks = json_array_new ();
  each_object (PROP ("guest.disk"), add_guest_disk, guest_disks);
  json_object_set_array_member (vm, "guestDisks", guest_disks);
  JsonNode *snapshot = PROP ("snapshot");
  JsonNode *current = snapshot && JSON_NODE_HOLDS_OBJECT (snapshot)
                        ? member (json_node_get_object (snapshot), "currentSnapshot") : NULL;
  if (current && JSON_NODE_HOLDS_OBJECT (current))
    json_object_set_object_member (vm, "snapshot", ref ("VirtualMachineSnapshot",
                                                        text (json_node_get_object (current), "value")));
#undef PTEXT
#undef PROP
  if (flat != p)
    json_object_unref (flat);
  return vm;
}

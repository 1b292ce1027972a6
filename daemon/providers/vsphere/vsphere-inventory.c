/* A vSphere inventory, object by object: see vsphere-inventory.h. */
#include "vsphere-inventory.h"
#include "vsphere-model.h"
#include "mtv-json.h"

#include <string.h>

/* ---- the models of the kinds other than VMs ----------------------------------------- */

typedef enum { TEXT, NUMBER, FLAG, REF, REFS } FieldType;

typedef struct {
  const char *name;   /* Forklift's */
  const char *path;   /* the property, then dotted inside it */
  FieldType type;
} Field;

/* @path in the flat props: the longest property name that starts it, then members. */
static JsonNode *
lookup (JsonObject *props, const char *path)
{
  g_autofree char *head = g_strdup (path);
  for (;;)
    {
      JsonNode *n = json_object_get_member (props, head);
      if (n)
        {
          const char *rest = path + strlen (head);
          g_auto (GStrv) parts = g_strsplit (*rest == '.' ? rest + 1 : rest, ".", -1);
          for (guint i = 0; n && *rest && parts[i]; i++)
            n = JSON_NODE_HOLDS_OBJECT (n) ? json_object_get_member (json_node_get_object (n), parts[i]) : NULL;
          return n;
        }
      char *dot = strrchr (head, '.');
      if (dot == NULL)
        return NULL;
      *dot = '\0';
    }
}

static const char *
leaf (JsonNode *n)
{
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING ? json_node_get_string (n) : NULL;
}

/* {"kind", "id"} of a reference value {"type", "value"}. */
static JsonObject *
ref_from (JsonObject *o)
{
  JsonObject *r = json_object_new ();
  json_object_set_string_member (r, "kind", json_object_get_string_member_with_default (o, "type", ""));
  json_object_set_string_member (r, "id", json_object_get_string_member_with_default (o, "value", ""));
  return r;
}

static JsonObject *
ref_of (JsonNode *n)
{
  return n && JSON_NODE_HOLDS_OBJECT (n) ? ref_from (json_node_get_object (n)) : NULL;
}

static JsonObject *
model_of (JsonObject *object, const Field *fields)
{
  JsonObject *props = json_object_get_object_member (object, "props");
  JsonObject *m = json_object_new ();
  json_object_set_string_member (m, "id", json_object_get_string_member_with_default (object, "id", ""));
  json_object_set_string_member (m, "variant", json_object_get_string_member_with_default (object, "type", ""));
  for (const Field *f = fields; f->name; f++)
    {
      JsonNode *n = props ? lookup (props, f->path) : NULL;
      switch (f->type)
        {
        case TEXT:
          json_object_set_string_member (m, f->name, leaf (n) ? leaf (n) : "");
          break;
        case NUMBER:
          json_object_set_int_member (m, f->name, leaf (n) ? g_ascii_strtoll (leaf (n), NULL, 10) : 0);
          break;
        case FLAG:
          json_object_set_boolean_member (m, f->name, g_strcmp0 (leaf (n), "true") == 0);
          break;
        case REF:
          {
            JsonObject *r = ref_of (n);
            if (r)
              json_object_set_object_member (m, f->name, r);
            break;
          }
        case REFS:
          {
            /* An ArrayOfManagedObjectReference, or one reference alone. */
            JsonArray *a = json_array_new ();
            g_autoptr (GPtrArray) refs = mtv_vsphere_objects (n);
            for (guint i = 0; i < refs->len; i++)
              json_array_add_object_element (a, ref_from (refs->pdata[i]));
            json_object_set_array_member (m, f->name, a);
            break;
          }
        }
    }
  return m;
}

static const Field folder_fields[] = { { "name", "name", TEXT }, { "parent", "parent", REF }, { NULL, NULL, TEXT } };
static const Field datacenter_fields[] = {
  { "name", "name", TEXT }, { "parent", "parent", REF }, { "vms", "vmFolder", REF }, { "clusters", "hostFolder", REF },
  { "datastores", "datastoreFolder", REF }, { "networks", "networkFolder", REF }, { NULL, NULL, TEXT },
};
static const Field cluster_fields[] = {
  { "name", "name", TEXT }, { "parent", "parent", REF }, { "hosts", "host", REFS }, { "datastores", "datastore", REFS },
  { "networks", "network", REFS }, { "dasEnabled", "configurationEx.dasConfig.enabled", FLAG },
  { "drsEnabled", "configurationEx.drsConfig.enabled", FLAG },
  { "drsBehavior", "configurationEx.drsConfig.defaultVmBehavior", TEXT },
  { "dpmEnabled", "configurationEx.dpmConfigInfo.enabled", FLAG }, { NULL, NULL, TEXT },
};
static const Field host_fields[] = {
  { "name", "name", TEXT }, { "parent", "parent", REF }, { "inMaintenance", "runtime.inMaintenanceMode", FLAG },
  { "status", "runtime.connectionState", TEXT }, { "productName", "summary.config.product.name", TEXT },
  { "productVersion", "summary.config.product.version", TEXT }, { "thumbprint", "summary.config.sslThumbprint", TEXT },
  { "cpuSockets", "summary.hardware.numCpuPkgs", NUMBER }, { "cpuCores", "summary.hardware.numCpuCores", NUMBER },
  { "memoryBytes", "summary.hardware.memorySize", NUMBER }, { "datastores", "datastore", REFS },
  { "networks", "network", REFS }, { "vms", "vm", REFS }, { NULL, NULL, TEXT },
};
static const Field datastore_fields[] = {
  { "name", "name", TEXT }, { "parent", "parent", REF }, { "type", "summary.type", TEXT },
  { "capacity", "summary.capacity", NUMBER }, { "free", "summary.freeSpace", NUMBER },
  { "maintenance", "summary.maintenanceMode", TEXT }, { NULL, NULL, TEXT },
};
static const Field network_fields[] = {
  { "name", "name", TEXT }, { "parent", "parent", REF }, { "key", "key", TEXT },
  { "dvSwitch", "config.distributedVirtualSwitch", REF }, { NULL, NULL, TEXT },
};

#define MODEL(fn, fields) \
  static JsonObject *fn (JsonObject *object) { return model_of (object, fields); }
MODEL (folder_model, folder_fields)
MODEL (datacenter_model, datacenter_fields)

/* The VMs that enabled VM-host affinity rules keep on some hosts: the
 * members of the VM groups those rules name (Forklift's hostAffinityVms). */
static JsonArray *
host_affinity_vms (JsonObject *config)
{
  JsonArray *vms = json_array_new ();
  if (config == NULL)
    return vms;
  g_autoptr (GHashTable) groups = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) rules = mtv_vsphere_objects (json_object_get_member (config, "rule"));
  for (guint i = 0; i < rules->len; i++)
    {
      JsonObject *r = rules->pdata[i];
      if (g_strcmp0 (mtv_json_string (r, "_type"), "ClusterVmHostRuleInfo") == 0
          && g_strcmp0 (mtv_json_string (r, "enabled"), "false") != 0 && mtv_json_string (r, "vmGroupName"))
        g_hash_table_add (groups, (gpointer) mtv_json_string (r, "vmGroupName"));
    }
  g_autoptr (GPtrArray) all = mtv_vsphere_objects (json_object_get_member (config, "group"));
  for (guint i = 0; i < all->len; i++)
    {
      JsonObject *g = all->pdata[i];
      if (g_strcmp0 (mtv_json_string (g, "_type"), "ClusterVmGroup") != 0
          || !g_hash_table_contains (groups, mtv_json_string (g, "name") ? mtv_json_string (g, "name") : ""))
        continue;
      g_autoptr (GPtrArray) members = mtv_vsphere_objects (json_object_get_member (g, "vm"));
      for (guint k = 0; k < members->len; k++)
        {
          JsonObject *r = json_object_new ();
          json_object_set_string_member (r, "kind", "VM");
          json_object_set_string_member (r, "id", json_object_get_string_member_with_default (members->pdata[k],
                                                                                               "value", ""));
          json_array_add_object_element (vms, r);
        }
    }
  return vms;
}

static JsonObject *
cluster_model (JsonObject *object)
{
  JsonObject *m = model_of (object, cluster_fields);
  JsonObject *props = json_object_get_object_member (object, "props");
  json_object_set_array_member (m, "hostAffinityVms", host_affinity_vms (props ? mtv_json_object (props, "configurationEx")
                                                                               : NULL));
  return m;
}

MODEL (host_model, host_fields)
MODEL (datastore_model, datastore_fields)
MODEL (network_model, network_fields)

/* Paths from the fields, at compile time would need a generator: listed. */
static const char *const folder_paths[] = { "name", "parent", NULL };
static const char *const datacenter_paths[] = { "name", "parent", "vmFolder", "hostFolder", "datastoreFolder",
                                                "networkFolder", NULL };
static const char *const cluster_paths[] = { "name", "parent", "host", "datastore", "network", "configurationEx", NULL };
static const char *const host_paths[] = { "name", "parent", "runtime.inMaintenanceMode", "runtime.connectionState",
                                          "summary.config.product", "summary.config.sslThumbprint",
                                          "summary.hardware.numCpuPkgs", "summary.hardware.numCpuCores",
                                          "summary.hardware.memorySize", "datastore", "network", "vm", NULL };
static const char *const datastore_paths[] = { "name", "parent", "summary.type", "summary.capacity", "summary.freeSpace",
                                               "summary.maintenanceMode", NULL };
/* key and distributedVirtualSwitch are a port group's: read from the
 * subtype (mtv_vsphere_kinds lists it after the Network kind). */
static const char *const network_paths[] = { "name", "parent", NULL };
static const char *const portgroup_paths[] = { "name", "parent", "key", "config.distributedVirtualSwitch", NULL };
/* A VM changes as a whole: what a rename, a power change, a reconfigure
 * (changeVersion; the simulator instead reports the device list, whose
 * counts are in the summary) or a snapshot touches. */
static const char *const vm_watch[] = { "name", "parent", "runtime.powerState", "runtime.host", "config.changeVersion",
                                        "config.template", "summary.config.numCpu", "summary.config.memorySizeMB",
                                        "summary.config.numVirtualDisks", "summary.config.numEthernetCards", "snapshot",
                                        "guest.net", NULL };

const MtvVsphereKind mtv_vsphere_kinds[] = {
  { "folders", "Folder", folder_paths, folder_paths, folder_model },
  { "datacenters", "Datacenter", datacenter_paths, datacenter_paths, datacenter_model },
  { "clusters", "ComputeResource", cluster_paths,
    (const char *const[]) { "name", "parent", "host", "configurationEx", NULL }, cluster_model },
  { "hosts", "HostSystem", host_paths, (const char *const[]) { "name", "parent", "runtime.inMaintenanceMode",
                                                               "runtime.connectionState", NULL }, host_model },
  { "datastores", "Datastore", datastore_paths, (const char *const[]) { "name", "parent", "summary.maintenanceMode", NULL },
    datastore_model },
  { "networks", "Network", network_paths, network_paths, network_model },
  { "networks", "DistributedVirtualPortgroup", portgroup_paths, NULL, network_model },
  { "vms", "VirtualMachine", mtv_vsphere_vm_paths, vm_watch, mtv_vsphere_vm_model },
  { NULL, NULL, NULL, NULL, NULL },
};

const MtvVsphereKind *
mtv_vsphere_kind_of_type (const char *type)
{
  /* The most specific first: a port group is a Network too. */
  static const char *const subtypes[][2] = {
    { "ClusterComputeResource", "ComputeResource" }, { "DistributedVirtualPortgroup", "DistributedVirtualPortgroup" },
    { "OpaqueNetwork", "Network" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (subtypes); i++)
    if (g_strcmp0 (type, subtypes[i][0]) == 0)
      type = subtypes[i][1];
  for (const MtvVsphereKind *k = mtv_vsphere_kinds; k->kind; k++)
    if (g_strcmp0 (k->type, type) == 0)
      return k;
  return NULL;
}

/* ---- the inventory ---------------------------------------------------------------- */

struct _MtvVsphereInventory {
  GHashTable *objects;   /* id -> model */
  GHashTable *kinds;     /* id -> kind name (static) */
  GHashTable *linked;    /* VM id -> linked model, until it or what it links to changes */
};

MtvVsphereInventory *
mtv_vsphere_inventory_new (void)
{
  MtvVsphereInventory *inv = g_new0 (MtvVsphereInventory, 1);
  inv->objects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_object_unref);
  inv->kinds = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  inv->linked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_object_unref);
  return inv;
}

void
mtv_vsphere_inventory_free (MtvVsphereInventory *inv)
{
  if (inv == NULL)
    return;
  g_hash_table_unref (inv->objects);
  g_hash_table_unref (inv->kinds);
  g_hash_table_unref (inv->linked);
  g_free (inv);
}

static void
changed (MtvVsphereInventory *inv, const char *id, const char *kind)
{
  if (g_strcmp0 (kind, "vms") == 0)
    g_hash_table_remove (inv->linked, id);
  else
    g_hash_table_remove_all (inv->linked);   /* a name or a parent every VM may show */
}

JsonObject *
mtv_vsphere_model (JsonObject *object, const char **kind)
{
  const MtvVsphereKind *k = mtv_vsphere_kind_of_type (json_object_get_string_member_with_default (object, "type", ""));
  const char *id = json_object_get_string_member_with_default (object, "id", "");
  if (k == NULL || *id == '\0')
    return NULL;
  *kind = k->kind;
  return k->model (object);
}

void
mtv_vsphere_inventory_put_model (MtvVsphereInventory *inv, const char *id, const char *kind, JsonObject *model)
{
  /* Its kind by name, as the table spells it (kept as a static string). */
  const char *static_kind = NULL;
  for (const MtvVsphereKind *k = mtv_vsphere_kinds; k->kind && static_kind == NULL; k++)
    if (g_str_equal (k->kind, kind))
      static_kind = k->kind;
  if (static_kind == NULL)
    {
      json_object_unref (model);
      return;
    }
  changed (inv, id, static_kind);
  g_hash_table_replace (inv->objects, g_strdup (id), model);
  g_hash_table_replace (inv->kinds, g_strdup (id), (gpointer) static_kind);
}

gboolean
mtv_vsphere_inventory_put (MtvVsphereInventory *inv, JsonObject *object)
{
  const char *kind = NULL;
  JsonObject *model = mtv_vsphere_model (object, &kind);
  if (model == NULL)
    return FALSE;
  mtv_vsphere_inventory_put_model (inv, json_object_get_string_member (object, "id"), kind, model);
  return TRUE;
}

void
mtv_vsphere_inventory_remove (MtvVsphereInventory *inv, const char *id)
{
  changed (inv, id, g_hash_table_lookup (inv->kinds, id));
  g_hash_table_remove (inv->objects, id);
  g_hash_table_remove (inv->kinds, id);
}

guint
mtv_vsphere_inventory_count (MtvVsphereInventory *inv, const char *kind)
{
  guint n = 0;
  GHashTableIter it;
  gpointer value;
  g_hash_table_iter_init (&it, inv->kinds);
  while (g_hash_table_iter_next (&it, NULL, &value))
    n += g_strcmp0 (value, kind) == 0;
  return n;
}

static JsonObject *
object_at (MtvVsphereInventory *inv, JsonObject *ref)
{
  const char *id = ref ? json_object_get_string_member_with_default (ref, "id", NULL) : NULL;
  return id ? g_hash_table_lookup (inv->objects, id) : NULL;
}

static JsonObject *
parent_of (MtvVsphereInventory *inv, JsonObject *o)
{
  return object_at (inv, mtv_json_object (o, "parent"));
}

/* "/DC0/vm/VM0": the names from below the root folder (bounded: a cycle in
 * what a server says must not hang us). */
static char *
path_of (MtvVsphereInventory *inv, JsonObject *o, JsonObject **datacenter)
{
  GPtrArray *names = g_ptr_array_new ();
  *datacenter = NULL;
  for (guint depth = 0; o && depth < 64; depth++, o = parent_of (inv, o))
    {
      if (parent_of (inv, o) == NULL && g_strcmp0 (mtv_json_string (o, "variant"), "Folder") == 0)
        break;   /* the root folder ("Datacenters") */
      if (*datacenter == NULL && g_strcmp0 (mtv_json_string (o, "variant"), "Datacenter") == 0)
        *datacenter = o;
      g_ptr_array_insert (names, 0, (gpointer) json_object_get_string_member_with_default (o, "name", ""));
    }
  GString *path = g_string_new (NULL);
  for (guint i = 0; i < names->len; i++)
    g_string_append_printf (path, "/%s", (const char *) names->pdata[i]);
  g_ptr_array_unref (names);
  return g_string_free (path, FALSE);
}

static JsonObject *
named_ref (const char *kind, JsonObject *o)
{
  JsonObject *r = json_object_new ();
  json_object_set_string_member (r, "kind", kind);
  json_object_set_string_member (r, "id", mtv_json_string (o, "id"));
  json_object_set_string_member (r, "name", json_object_get_string_member_with_default (o, "name", ""));
  return r;
}

/* A VM with what it refers to resolved: a new object sharing the model's
 * values (which no one changes), with members of its own set. */
static JsonObject *
link_vm (MtvVsphereInventory *inv, JsonObject *model)
{
  JsonObject *vm = mtv_json_object_shallow_copy (model);
  JsonObject *dc = NULL;
  g_autofree char *path = path_of (inv, parent_of (inv, vm), &dc);
  g_autofree char *full = g_strdup_printf ("%s/%s", path, json_object_get_string_member_with_default (vm, "name", ""));
  json_object_set_string_member (vm, "path", full);
  if (dc)
    {
      JsonObject *ignored;
      g_autofree char *dc_path = path_of (inv, dc, &ignored);
      json_object_set_object_member (vm, "datacenter", named_ref ("Datacenter", dc));
      json_object_set_string_member (vm, "datacenterPath", dc_path + 1);
    }
  /* The host with its cluster inside, as Forklift's validation reads them
   * (host.cluster.drsEnabled). */
  JsonObject *host = object_at (inv, mtv_json_object (vm, "host"));
  JsonObject *cluster = host ? parent_of (inv, host) : NULL;
  if (host)
    {
      JsonObject *h = named_ref ("Host", host);
      if (cluster)
        {
          JsonObject *c = named_ref ("Cluster", cluster);
          static const char *const flags[] = { "dasEnabled", "drsEnabled", "dpmEnabled" };
          for (gsize i = 0; i < G_N_ELEMENTS (flags); i++)
            json_object_set_boolean_member (c, flags[i], json_object_get_boolean_member_with_default (cluster, flags[i],
                                                                                                     FALSE));
          JsonNode *affinity = json_object_get_member (cluster, "hostAffinityVms");
          json_object_set_array_member (c, "hostAffinityVms", affinity && JSON_NODE_HOLDS_ARRAY (affinity)
                                                                ? json_array_ref (json_node_get_array (affinity))
                                                                : json_array_new ());
          json_object_set_object_member (h, "cluster", c);
          json_object_set_object_member (vm, "cluster", named_ref ("Cluster", cluster));
        }
      json_object_set_object_member (vm, "host", h);
    }
  /* The networks its NICs are on: what network maps pair. */
  JsonArray *networks = json_array_new ();
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  JsonNode *nics = json_object_get_member (vm, "nics");
  for (guint i = 0; nics && JSON_NODE_HOLDS_ARRAY (nics) && i < json_array_get_length (json_node_get_array (nics)); i++)
    {
      JsonObject *nic = json_array_get_object_element (json_node_get_array (nics), i);
      JsonObject *ref = mtv_json_object (nic, "network");
      JsonObject *net = object_at (inv, ref);
      if (ref == NULL || !g_hash_table_add (seen, (gpointer) mtv_json_string (ref, "id")))
        continue;
      JsonObject *r = mtv_json_object_copy (ref);
      json_object_set_string_member (r, "name", net ? json_object_get_string_member_with_default (net, "name", "") : "");
      json_array_add_object_element (networks, r);
    }
  json_object_set_array_member (vm, "networks", networks);
  /* Disks: a name, and the storage (datastore) storage maps pair. */
  JsonNode *disks = json_object_get_member (model, "disks");
  JsonArray *linked_disks = json_array_new ();
  for (guint i = 0; disks && JSON_NODE_HOLDS_ARRAY (disks) && i < json_array_get_length (json_node_get_array (disks)); i++)
    {
      JsonObject *disk = mtv_json_object_shallow_copy (json_array_get_object_element (json_node_get_array (disks), i));
      json_array_add_object_element (linked_disks, disk);
      const char *file = json_object_get_string_member_with_default (disk, "file", "");
      /* "[LocalDS_0] VM0/disk1.vmdk" is disk1.vmdk. */
      const char *slash = strrchr (file, '/');
      const char *bracket = strchr (file, ']');
      g_autofree char *name = g_strstrip (g_strdup (slash ? slash + 1 : bracket ? bracket + 1 : file));
      json_object_set_string_member (disk, "name", name);
      JsonObject *ds = object_at (inv, mtv_json_object (disk, "datastore"));
      JsonObject *storage = json_object_new ();
      json_object_set_string_member (storage, "id", mtv_json_string (mtv_json_object (disk, "datastore"), "id"));
      json_object_set_string_member (storage, "name", ds ? json_object_get_string_member_with_default (ds, "name", "") : "");
      json_object_set_object_member (disk, "storage", storage);
    }
  json_object_set_array_member (vm, "disks", linked_disks);
  return vm;
}

static JsonObject *
link_other (MtvVsphereInventory *inv, JsonObject *model, const char *kind)
{
  JsonObject *o = mtv_json_object_shallow_copy (model);
  JsonObject *dc = NULL;
  g_autofree char *path = path_of (inv, o, &dc);
  json_object_set_string_member (o, "path", path);
  if (dc && dc != model)
    json_object_set_object_member (o, "datacenter", named_ref ("Datacenter", dc));
  if (g_str_equal (kind, "hosts"))
    {
      JsonObject *cluster = parent_of (inv, model);
      if (cluster)
        json_object_set_object_member (o, "cluster", named_ref ("Cluster", cluster));
    }
  return o;
}

static int
by_path (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (mtv_json_string (*(JsonObject **) a, "path"), mtv_json_string (*(JsonObject **) b, "path"));
}

JsonObject *
mtv_vsphere_inventory_build (MtvVsphereInventory *inv, const char *about)
{
  g_autoptr (GHashTable) lists = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) g_ptr_array_unref);
  for (const MtvVsphereKind *k = mtv_vsphere_kinds; k->kind; k++)
    if (!g_hash_table_contains (lists, k->kind))
      g_hash_table_insert (lists, (gpointer) k->kind, g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref));
  GHashTableIter it;
  gpointer key, value;
  g_hash_table_iter_init (&it, inv->objects);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      const char *kind = g_hash_table_lookup (inv->kinds, key);
      JsonObject *linked;
      if (g_str_equal (kind, "vms"))
        {
          linked = g_hash_table_lookup (inv->linked, key);
          if (linked == NULL)
            {
              linked = link_vm (inv, value);
              g_hash_table_insert (inv->linked, g_strdup (key), linked);
            }
          json_object_ref (linked);
        }
      else
        linked = link_other (inv, value, kind);
      g_ptr_array_add (g_hash_table_lookup (lists, kind), linked);
    }
  JsonObject *out = json_object_new ();
  if (about)
    json_object_set_string_member (out, "about", about);
  g_hash_table_iter_init (&it, lists);
  while (g_hash_table_iter_next (&it, &key, &value))
    {
      GPtrArray *list = value;
      /* A stable order: the same inventory publishes the same JSON. */
      g_ptr_array_sort (list, by_path);
      JsonArray *a = json_array_sized_new (list->len);
      for (guint i = 0; i < list->len; i++)
        json_array_add_object_element (a, json_object_ref (list->pdata[i]));
      json_object_set_array_member (out, key, a);
    }
  return out;
}

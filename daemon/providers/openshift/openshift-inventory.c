#include "openshift-inventory.h"
#include "mtv-json.h"

#include <string.h>

static const char *
or_empty (const char *s)
{
  return s ? s : "";
}

static JsonObject *
named_entry (JsonObject *item, gboolean namespaced)
{
  JsonObject *meta = mtv_json_object (item, "metadata");
  JsonObject *e = json_object_new ();
  json_object_set_string_member (e, "id", or_empty (mtv_json_string (meta, "uid")));
  json_object_set_string_member (e, "name", or_empty (mtv_json_string (meta, "name")));
  if (namespaced)
    json_object_set_string_member (e, "namespace", or_empty (mtv_json_string (meta, "namespace")));
  return e;
}

/* The version a component's operator CR reports, or NULL. */
static char *
operator_version (JsonArray *crs, const char *field)
{
  for (guint i = 0; i < mtv_json_array_length (crs); i++)
    {
      const char *v = mtv_json_string (mtv_json_object (mtv_json_array_object (crs, i), "status"), field);
      if (v && *v)
        return g_strdup (v);
    }
  return NULL;
}

/* "10Gi", "500M", "1073741824": bytes (0 when it is not a quantity, or
 * beyond what 63 bits hold). */
static gint64
quantity_bytes (const char *q)
{
  if (q == NULL)
    return 0;
  char *end;
  double v = g_ascii_strtod (q, &end);
  static const struct { const char *suffix; double factor; } units[] = {
    { "Ki", 1024.0 }, { "Mi", 1048576.0 }, { "Gi", 1073741824.0 }, { "Ti", 1099511627776.0 },
    { "k", 1e3 }, { "M", 1e6 }, { "G", 1e9 }, { "T", 1e12 }, { "", 1 },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (g_str_equal (end, units[i].suffix))
      {
        double bytes = v * units[i].factor;
        return bytes >= 0 && bytes < 9.2e18 ? (gint64) bytes : 0;
      }
  return 0;
}

static gboolean
is_named (JsonObject *item, const char *ns, const char *name)
{
  JsonObject *meta = mtv_json_object (item, "metadata");
  return g_strcmp0 (mtv_json_string (meta, "name"), name) == 0 && g_strcmp0 (mtv_json_string (meta, "namespace"), ns) == 0;
}

static const char *
requested_storage (JsonObject *spec)
{
  return mtv_json_string (mtv_json_object (mtv_json_object (spec, "resources"), "requests"), "storage");
}

/* The requested size of a DataVolume or PVC named @claim in @ns. */
static gint64
claim_size (JsonArray *dvs, JsonArray *pvcs, const char *ns, const char *claim)
{
  for (guint i = 0; i < mtv_json_array_length (pvcs); i++)
    {
      JsonObject *pvc = mtv_json_array_object (pvcs, i);
      if (is_named (pvc, ns, claim))
        return quantity_bytes (requested_storage (mtv_json_object (pvc, "spec")));
    }
  for (guint i = 0; i < mtv_json_array_length (dvs); i++)
    {
      JsonObject *dv = mtv_json_array_object (dvs, i);
      if (!is_named (dv, ns, claim))
        continue;
      JsonObject *spec = mtv_json_object (dv, "spec");
      JsonObject *storage = mtv_json_object (spec, "storage") ? mtv_json_object (spec, "storage") : mtv_json_object (spec, "pvc");
      return quantity_bytes (requested_storage (storage));
    }
  return 0;
}

/* Whether the VM's instance says it can live-migrate: LiveMigratable True and
 * StorageLiveMigratable not False. */
static gboolean
live_migratable (JsonArray *vmis, const char *ns, const char *name)
{
  for (guint i = 0; i < mtv_json_array_length (vmis); i++)
    {
      JsonObject *vmi = mtv_json_array_object (vmis, i);
      if (!is_named (vmi, ns, name))
        continue;
      JsonArray *conditions = mtv_json_array (mtv_json_object (vmi, "status"), "conditions");
      gboolean live = FALSE;
      for (guint k = 0; k < mtv_json_array_length (conditions); k++)
        {
          JsonObject *c = mtv_json_array_object (conditions, k);
          const char *type = mtv_json_string (c, "type");
          /* Both the VM and its storage must be able to move. */
          if ((g_strcmp0 (type, "LiveMigratable") == 0 || g_strcmp0 (type, "StorageLiveMigratable") == 0)
              && g_strcmp0 (mtv_json_string (c, "status"), "True") != 0)
            return FALSE;
          if (g_strcmp0 (type, "LiveMigratable") == 0)
            live = TRUE;
        }
      return live;
    }
  return FALSE;
}

static JsonArray *
vm_disks (JsonObject *tspec, const char *ns, JsonArray *dvs, JsonArray *pvcs)
{
  JsonArray *disks = json_array_new ();
  JsonArray *volumes = mtv_json_array (tspec, "volumes");
  for (guint i = 0; i < mtv_json_array_length (volumes); i++)
    {
      JsonObject *vol = mtv_json_array_object (volumes, i);
      const char *claim = mtv_json_string (mtv_json_object (vol, "dataVolume"), "name");
      if (claim == NULL)
        claim = mtv_json_string (mtv_json_object (vol, "persistentVolumeClaim"), "claimName");
      if (claim == NULL)
        continue;   /* containerDisk, cloudInit...: nothing to copy */
      JsonObject *d = json_object_new ();
      g_autofree char *id = g_strdup_printf ("%s/%s", or_empty (ns), claim);
      json_object_set_string_member (d, "id", id);
      json_object_set_string_member (d, "name", claim);
      json_object_set_string_member (d, "volume", or_empty (mtv_json_string (vol, "name")));
      json_object_set_int_member (d, "capacity", claim_size (dvs, pvcs, ns, claim));
      json_array_add_object_element (disks, d);
    }
  return disks;
}

/* The VM's networks and NICs (a NIC's MAC from the interface of its name). */
static void
vm_networks (JsonObject *e, JsonObject *tspec, const char *ns)
{
  JsonArray *networks = json_array_new (), *nics = json_array_new ();
  JsonArray *nets = mtv_json_array (tspec, "networks");
  JsonArray *ifaces = mtv_json_array (mtv_json_object (mtv_json_object (tspec, "domain"), "devices"), "interfaces");
  for (guint i = 0; i < mtv_json_array_length (nets); i++)
    {
      JsonObject *net = mtv_json_array_object (nets, i);
      const char *multus = mtv_json_string (mtv_json_object (net, "multus"), "networkName");
      g_autofree char *id = multus ? (strchr (multus, '/') ? g_strdup (multus) : g_strdup_printf ("%s/%s", or_empty (ns), multus))
                                   : g_strdup ("pod");
      JsonObject *n = json_object_new ();
      json_object_set_string_member (n, "id", id);
      json_object_set_string_member (n, "name", id);
      json_array_add_object_element (networks, n);
      const char *mac = "";
      for (guint k = 0; k < mtv_json_array_length (ifaces); k++)
        {
          JsonObject *iface = mtv_json_array_object (ifaces, k);
          if (g_strcmp0 (mtv_json_string (iface, "name"), mtv_json_string (net, "name")) == 0 && mtv_json_string (iface, "macAddress"))
            mac = mtv_json_string (iface, "macAddress");
        }
      JsonObject *nic = json_object_new ();
      json_object_set_string_member (nic, "name", or_empty (mtv_json_string (net, "name")));
      json_object_set_string_member (nic, "mac", mac);
      json_object_set_string_member (nic, "network", id);
      json_array_add_object_element (nics, nic);
    }
  json_object_set_array_member (e, "networks", networks);
  json_object_set_array_member (e, "nics", nics);
}

/* A count from the API, within what a VM can have. */
static gint64
count (JsonObject *o, const char *name)
{
  return CLAMP (mtv_json_int (o, name, 1), 1, 4096);
}

/* A VirtualMachine as an inventory VM with Forklift's field names: its
 * disks (one per DataVolume or PVC volume), networks and NICs. */
static JsonObject *
vm_entry (JsonObject *vm, JsonArray *dvs, JsonArray *pvcs, JsonArray *vmis)
{
  JsonObject *e = named_entry (vm, TRUE);
  JsonObject *meta = mtv_json_object (vm, "metadata");
  const char *ns = mtv_json_string (meta, "namespace");
  JsonObject *spec = mtv_json_object (vm, "spec");
  JsonObject *tspec = mtv_json_object (mtv_json_object (spec, "template"), "spec");
  JsonObject *status = mtv_json_object (vm, "status");
  json_object_set_string_member (e, "runStrategy", or_empty (mtv_json_string (spec, "runStrategy")));
  json_object_set_boolean_member (e, "liveMigratable", live_migratable (vmis, ns, mtv_json_string (meta, "name")));
  json_object_set_string_member (e, "powerState",
                                 g_strcmp0 (mtv_json_string (status, "printableStatus"), "Running") == 0 ? "On" : "Off");
  json_object_set_array_member (e, "disks", vm_disks (tspec, ns, dvs, pvcs));
  vm_networks (e, tspec, ns);
  JsonObject *domain = mtv_json_object (tspec, "domain");
  JsonObject *bootloader = mtv_json_object (mtv_json_object (domain, "firmware"), "bootloader");
  json_object_set_string_member (e, "firmware", mtv_json_object (bootloader, "efi") ? "efi" : "bios");
  /* CPU and memory as the other providers name them, so the VM built on the
   * target has the source's size. */
  JsonObject *cpu = mtv_json_object (domain, "cpu");
  gint64 sockets = count (cpu, "sockets"), cores = count (cpu, "cores"), threads = count (cpu, "threads");
  json_object_set_int_member (e, "cpuCount", sockets * cores * threads);
  json_object_set_int_member (e, "coresPerSocket", cores * threads);
  const char *memory = mtv_json_string (mtv_json_object (domain, "memory"), "guest");
  if (memory == NULL)
    memory = mtv_json_string (mtv_json_object (mtv_json_object (domain, "resources"), "requests"), "memory");
  json_object_set_int_member (e, "memoryMB", MAX (1, quantity_bytes (memory) >> 20));
  /* Instance type and preference, as the VM names them (kept on the target). */
  json_object_set_string_member (e, "instanceType", or_empty (mtv_json_string (mtv_json_object (spec, "instancetype"), "name")));
  json_object_set_string_member (e, "preference", or_empty (mtv_json_string (mtv_json_object (spec, "preference"), "name")));
  json_object_set_object_member (e, "object", json_object_ref (vm));
  json_object_set_array_member (e, "concerns", json_array_new ());
  return e;
}

static JsonArray *
entries (JsonArray *items, gboolean namespaced)
{
  JsonArray *out = json_array_new ();
  for (guint i = 0; i < mtv_json_array_length (items); i++)
    if (mtv_json_array_object (items, i))
      json_array_add_object_element (out, named_entry (mtv_json_array_object (items, i), namespaced));
  return out;
}

JsonObject *
mtv_openshift_inventory (const MtvOpenshiftLists *l)
{
  JsonObject *inventory = json_object_new ();
  g_autofree char *kubevirt_version = operator_version (l->kubevirts, "observedKubeVirtVersion");
  g_autofree char *cdi_version = operator_version (l->cdis, "observedVersion");
  g_autofree char *about = g_strdup_printf ("Kubernetes %s, KubeVirt %s, CDI %s",
                                            l->kubernetes_version ? l->kubernetes_version : "?",
                                            kubevirt_version ? kubevirt_version : "?", cdi_version ? cdi_version : "?");
  json_object_set_string_member (inventory, "about", about);

  JsonArray *out_sc = json_array_new ();
  for (guint i = 0; i < mtv_json_array_length (l->storage_classes); i++)
    {
      JsonObject *sc = mtv_json_array_object (l->storage_classes, i);
      if (sc == NULL)
        continue;
      JsonObject *e = named_entry (sc, FALSE);
      JsonObject *annotations = mtv_json_object (mtv_json_object (sc, "metadata"), "annotations");
      json_object_set_string_member (e, "provisioner", or_empty (mtv_json_string (sc, "provisioner")));
      json_object_set_boolean_member (e, "default",
                                      g_strcmp0 (mtv_json_string (annotations, "storageclass.kubernetes.io/is-default-class"),
                                                 "true") == 0);
      json_array_add_object_element (out_sc, e);
    }
  JsonArray *out_vms = json_array_new ();
  for (guint i = 0; i < mtv_json_array_length (l->vms); i++)
    if (mtv_json_array_object (l->vms, i))
      json_array_add_object_element (out_vms, vm_entry (mtv_json_array_object (l->vms, i), l->dvs, l->pvcs, l->vmis));
  /* What live migration needs of the cluster. */
  JsonArray *gates = json_array_new ();
  for (guint i = 0; i < mtv_json_array_length (l->kubevirts); i++)
    {
      JsonObject *dev = mtv_json_object (mtv_json_object (mtv_json_object (mtv_json_array_object (l->kubevirts, i), "spec"),
                                                          "configuration"), "developerConfiguration");
      JsonArray *list = mtv_json_array (dev, "featureGates");
      for (guint k = 0; k < mtv_json_array_length (list); k++)
        {
          JsonNode *gate = json_array_get_element (list, k);
          if (JSON_NODE_HOLDS_VALUE (gate) && json_node_get_value_type (gate) == G_TYPE_STRING)
            json_array_add_string_element (gates, json_node_get_string (gate));
        }
    }
  json_object_set_array_member (inventory, "featureGates", gates);
  /* PVCs and DataVolumes, Forklift's openshift inventory kinds pvcs and data-volumes. */
  JsonArray *out_pvcs = json_array_new (), *out_dvs = json_array_new ();
  for (guint i = 0; i < mtv_json_array_length (l->pvcs); i++)
    {
      JsonObject *pvc = mtv_json_array_object (l->pvcs, i);
      if (pvc == NULL)
        continue;
      JsonObject *e = named_entry (pvc, TRUE);
      JsonObject *pspec = mtv_json_object (pvc, "spec");
      json_object_set_string_member (e, "storageClass", or_empty (mtv_json_string (pspec, "storageClassName")));
      json_object_set_int_member (e, "capacity", quantity_bytes (requested_storage (pspec)));
      json_object_set_string_member (e, "phase", or_empty (mtv_json_string (mtv_json_object (pvc, "status"), "phase")));
      json_array_add_object_element (out_pvcs, e);
    }
  for (guint i = 0; i < mtv_json_array_length (l->dvs); i++)
    {
      JsonObject *dv = mtv_json_array_object (l->dvs, i);
      if (dv == NULL)
        continue;
      JsonObject *e = named_entry (dv, TRUE);
      JsonObject *meta = mtv_json_object (dv, "metadata");
      json_object_set_int_member (e, "capacity", claim_size (l->dvs, NULL, mtv_json_string (meta, "namespace"),
                                                             mtv_json_string (meta, "name")));
      json_object_set_string_member (e, "phase", or_empty (mtv_json_string (mtv_json_object (dv, "status"), "phase")));
      json_array_add_object_element (out_dvs, e);
    }
  json_object_set_array_member (inventory, "pvcs", out_pvcs);
  json_object_set_array_member (inventory, "datavolumes", out_dvs);
  json_object_set_array_member (inventory, "namespaces", entries (l->namespaces, FALSE));
  json_object_set_array_member (inventory, "storages", out_sc);
  json_object_set_array_member (inventory, "networks", entries (l->nads, TRUE));
  json_object_set_array_member (inventory, "vms", out_vms);
  return inventory;
}

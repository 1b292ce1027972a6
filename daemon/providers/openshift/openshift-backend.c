/* The openshift (kubevirt) provider: a KubeVirt cluster, as a migration
 * target (and, later, source). Its backend connects with the provider's URL
 * and token (or a kubeconfig, or the pod's service account), checks that
 * KubeVirt and CDI are there, and publishes what plans are validated against:
 * namespaces, storage classes, NetworkAttachmentDefinitions and VMs, with
 * Forklift's openshift inventory names. It polls every refreshInterval. */
#include "kube-client.h"
#include "mtv-json.h"
#include "openshift-connection.h"
#include "mtv-provider-backend.h"
#include "mtv-provider-types.h"

#include <string.h>

#define REFRESH_SECONDS 30

typedef struct {
  char *name;
  const MtvInventorySink *sink;
  gpointer host;
  MtvKube **kube;         /* a counted box: a poll in flight holds it too; NULL content: unusable configuration */
  char *config_failure;
  GCancellable *cancellable;
  gboolean polling;
  guint timer;
  guint interval;
} Openshift;

typedef struct {
  JsonObject *inventory;
  char *failure;
} Poll;

static JsonObject *
named_entry (JsonObject *item, gboolean namespaced)
{
  JsonObject *meta = mtv_json_object (item, "metadata");
  JsonObject *e = json_object_new ();
  json_object_set_string_member (e, "id", mtv_json_string (meta, "uid") ? mtv_json_string (meta, "uid") : "");
  json_object_set_string_member (e, "name", mtv_json_string (meta, "name") ? mtv_json_string (meta, "name") : "");
  if (namespaced)
    json_object_set_string_member (e, "namespace", mtv_json_string (meta, "namespace") ? mtv_json_string (meta, "namespace") : "");
  return e;
}

/* A list, or an empty one when the API is not installed (404). */
static JsonArray *
list_or_empty (MtvKube *kube, const MtvKubeResource *r, gboolean *installed, GError **error)
{
  GError *local = NULL;
  JsonArray *items = mtv_kube_list (kube, r, NULL, NULL, 0, NULL, &local);
  if (installed)
    *installed = items != NULL;
  if (items == NULL && g_error_matches (local, MTV_KUBE_ERROR, 404))
    {
      g_error_free (local);
      return json_array_new ();
    }
  if (local)
    g_propagate_error (error, local);
  return items;
}

/* The version a component's operator CR reports, or NULL. */
static char *
operator_version (JsonArray *crs, const char *field)
{
  for (guint i = 0; i < json_array_get_length (crs); i++)
    {
      const char *v = mtv_json_string (mtv_json_object (json_array_get_object_element (crs, i), "status"), field);
      if (v && *v)
        return g_strdup (v);
    }
  return NULL;
}

/* "10Gi", "500M", "1073741824": bytes (0 when it is not a quantity). */
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
      return (gint64) (v * units[i].factor);
  return 0;
}

/* The requested size of a DataVolume or PVC named @claim in @ns. */
static gint64
claim_size (JsonArray *dvs, JsonArray *pvcs, const char *ns, const char *claim)
{
  for (guint i = 0; i < json_array_get_length (pvcs); i++)
    {
      JsonObject *pvc = json_array_get_object_element (pvcs, i);
      JsonObject *meta = mtv_json_object (pvc, "metadata");
      if (g_strcmp0 (mtv_json_string (meta, "name"), claim) == 0 && g_strcmp0 (mtv_json_string (meta, "namespace"), ns) == 0)
        return quantity_bytes (mtv_json_string (mtv_json_object (mtv_json_object (mtv_json_object (pvc, "spec"),
                                                                                  "resources"), "requests"), "storage"));
    }
  for (guint i = 0; i < json_array_get_length (dvs); i++)
    {
      JsonObject *dv = json_array_get_object_element (dvs, i);
      JsonObject *meta = mtv_json_object (dv, "metadata");
      if (g_strcmp0 (mtv_json_string (meta, "name"), claim) != 0 || g_strcmp0 (mtv_json_string (meta, "namespace"), ns) != 0)
        continue;
      JsonObject *spec = mtv_json_object (dv, "spec");
      JsonObject *storage = mtv_json_object (spec, "storage") ? mtv_json_object (spec, "storage") : mtv_json_object (spec, "pvc");
      return quantity_bytes (mtv_json_string (mtv_json_object (mtv_json_object (storage, "resources"), "requests"), "storage"));
    }
  return 0;
}

/* A VirtualMachine as an inventory VM with Forklift's field names: its
 * disks (one per DataVolume or PVC volume), networks and NICs. */
/* Whether the VM's instance says it can live-migrate: LiveMigratable True and
 * StorageLiveMigratable not False. */
static gboolean
live_migratable (JsonArray *vmis, const char *ns, const char *name)
{
  for (guint i = 0; i < json_array_get_length (vmis); i++)
    {
      JsonObject *vmi = json_array_get_object_element (vmis, i);
      JsonObject *meta = mtv_json_object (vmi, "metadata");
      if (g_strcmp0 (mtv_json_string (meta, "name"), name) != 0 || g_strcmp0 (mtv_json_string (meta, "namespace"), ns) != 0)
        continue;
      JsonObject *status = mtv_json_object (vmi, "status");
      JsonNode *conditions = status ? json_object_get_member (status, "conditions") : NULL;
      gboolean live = FALSE;
      for (guint k = 0; conditions && JSON_NODE_HOLDS_ARRAY (conditions)
                        && k < json_array_get_length (json_node_get_array (conditions)); k++)
        {
          JsonObject *c = json_array_get_object_element (json_node_get_array (conditions), k);
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

static JsonObject *
vm_entry (JsonObject *vm, JsonArray *dvs, JsonArray *pvcs, JsonArray *vmis)
{
  JsonObject *e = named_entry (vm, TRUE);
  const char *ns = mtv_json_string (mtv_json_object (vm, "metadata"), "namespace");
  JsonObject *spec = mtv_json_object (vm, "spec");
  JsonObject *tspec = mtv_json_object (mtv_json_object (spec, "template"), "spec");
  JsonObject *status = mtv_json_object (vm, "status");
  const char *strategy = mtv_json_string (spec, "runStrategy");
  json_object_set_string_member (e, "runStrategy", strategy ? strategy : "");
  json_object_set_boolean_member (e, "liveMigratable",
                                  live_migratable (vmis, ns, mtv_json_string (mtv_json_object (vm, "metadata"), "name")));
  json_object_set_string_member (e, "powerState",
                                 g_strcmp0 (mtv_json_string (status, "printableStatus"), "Running") == 0 ? "On" : "Off");
  JsonArray *disks = json_array_new ();
  JsonNode *volumes = tspec ? json_object_get_member (tspec, "volumes") : NULL;
  for (guint i = 0; volumes && JSON_NODE_HOLDS_ARRAY (volumes) && i < json_array_get_length (json_node_get_array (volumes)); i++)
    {
      JsonObject *vol = json_array_get_object_element (json_node_get_array (volumes), i);
      const char *claim = mtv_json_string (mtv_json_object (vol, "dataVolume"), "name");
      if (claim == NULL)
        claim = mtv_json_string (mtv_json_object (vol, "persistentVolumeClaim"), "claimName");
      if (claim == NULL)
        continue;   /* containerDisk, cloudInit...: nothing to copy */
      JsonObject *d = json_object_new ();
      g_autofree char *id = g_strdup_printf ("%s/%s", ns ? ns : "", claim);
      json_object_set_string_member (d, "id", id);
      json_object_set_string_member (d, "name", claim);
      json_object_set_string_member (d, "volume", mtv_json_string (vol, "name") ? mtv_json_string (vol, "name") : "");
      json_object_set_int_member (d, "capacity", claim_size (dvs, pvcs, ns, claim));
      json_array_add_object_element (disks, d);
    }
  JsonArray *networks = json_array_new (), *nics = json_array_new ();
  JsonNode *nets = tspec ? json_object_get_member (tspec, "networks") : NULL;
  JsonObject *devices = mtv_json_object (mtv_json_object (tspec, "domain"), "devices");
  JsonNode *ifaces = devices ? json_object_get_member (devices, "interfaces") : NULL;
  for (guint i = 0; nets && JSON_NODE_HOLDS_ARRAY (nets) && i < json_array_get_length (json_node_get_array (nets)); i++)
    {
      JsonObject *net = json_array_get_object_element (json_node_get_array (nets), i);
      const char *multus = mtv_json_string (mtv_json_object (net, "multus"), "networkName");
      g_autofree char *id = multus ? (strchr (multus, '/') ? g_strdup (multus) : g_strdup_printf ("%s/%s", ns, multus))
                                   : g_strdup ("pod");
      JsonObject *n = json_object_new ();
      json_object_set_string_member (n, "id", id);
      json_object_set_string_member (n, "name", id);
      json_array_add_object_element (networks, n);
      const char *mac = "";
      for (guint k = 0; ifaces && JSON_NODE_HOLDS_ARRAY (ifaces) && k < json_array_get_length (json_node_get_array (ifaces)); k++)
        {
          JsonObject *iface = json_array_get_object_element (json_node_get_array (ifaces), k);
          if (g_strcmp0 (mtv_json_string (iface, "name"), mtv_json_string (net, "name")) == 0 && mtv_json_string (iface, "macAddress"))
            mac = mtv_json_string (iface, "macAddress");
        }
      JsonObject *nic = json_object_new ();
      json_object_set_string_member (nic, "name", mtv_json_string (net, "name") ? mtv_json_string (net, "name") : "");
      json_object_set_string_member (nic, "mac", mac);
      json_object_set_string_member (nic, "network", id);
      json_array_add_object_element (nics, nic);
    }
  json_object_set_array_member (e, "disks", disks);
  json_object_set_array_member (e, "networks", networks);
  json_object_set_array_member (e, "nics", nics);
  JsonObject *domain = mtv_json_object (tspec, "domain");
  JsonObject *bootloader = mtv_json_object (mtv_json_object (domain, "firmware"), "bootloader");
  json_object_set_string_member (e, "firmware", mtv_json_object (bootloader, "efi") ? "efi" : "bios");
  /* CPU and memory as the other providers name them, so the VM built on the
   * target has the source's size. */
  JsonObject *cpu = mtv_json_object (domain, "cpu");
  gint64 sockets = cpu && json_object_has_member (cpu, "sockets") ? json_object_get_int_member (cpu, "sockets") : 1;
  gint64 cores = cpu && json_object_has_member (cpu, "cores") ? json_object_get_int_member (cpu, "cores") : 1;
  gint64 threads = cpu && json_object_has_member (cpu, "threads") ? json_object_get_int_member (cpu, "threads") : 1;
  json_object_set_int_member (e, "cpuCount", MAX (1, sockets) * MAX (1, cores) * MAX (1, threads));
  json_object_set_int_member (e, "coresPerSocket", MAX (1, cores) * MAX (1, threads));
  const char *memory = mtv_json_string (mtv_json_object (domain, "memory"), "guest");
  if (memory == NULL)
    memory = mtv_json_string (mtv_json_object (mtv_json_object (domain, "resources"), "requests"), "memory");
  json_object_set_int_member (e, "memoryMB", MAX (1, quantity_bytes (memory) >> 20));
  /* Instance type and preference, as the VM names them (kept on the target). */
  const char *instancetype = mtv_json_string (mtv_json_object (spec, "instancetype"), "name");
  const char *preference = mtv_json_string (mtv_json_object (spec, "preference"), "name");
  json_object_set_string_member (e, "instanceType", instancetype ? instancetype : "");
  json_object_set_string_member (e, "preference", preference ? preference : "");
  json_object_set_object_member (e, "object", json_object_ref (vm));
  json_object_set_array_member (e, "concerns", json_array_new ());
  return e;
}

static JsonObject *
collect (MtvKube *kube, GError **error)
{
  g_autoptr (JsonNode) version = mtv_kube_request (kube, "GET", "/version", NULL, NULL, error);
  if (version == NULL)
    return NULL;
  const char *k8s = JSON_NODE_HOLDS_OBJECT (version) ? mtv_json_string (json_node_get_object (version), "gitVersion") : NULL;
  gboolean have_kubevirt, have_cdi;
  g_autoptr (JsonArray) kubevirts = list_or_empty (kube, &MTV_KUBE_KUBEVIRTS, &have_kubevirt, error);
  g_autoptr (JsonArray) cdis = kubevirts ? list_or_empty (kube, &MTV_KUBE_CDIS, &have_cdi, error) : NULL;
  if (cdis == NULL)
    return NULL;
  if (!have_kubevirt || !have_cdi)
    {
      g_set_error (error, MTV_KUBE_ERROR, 404, "the cluster (Kubernetes %s) has no %s: install it to migrate VMs there",
                   k8s ? k8s : "?", !have_kubevirt ? "KubeVirt (kubevirt.io/v1)" : "CDI (cdi.kubevirt.io/v1beta1)");
      return NULL;
    }
  g_autofree char *kubevirt_version = operator_version (kubevirts, "observedKubeVirtVersion");
  g_autofree char *cdi_version = operator_version (cdis, "observedVersion");
  g_autoptr (JsonArray) namespaces = mtv_kube_list (kube, &MTV_KUBE_NAMESPACES, NULL, NULL, 0, NULL, error);
  g_autoptr (JsonArray) classes = namespaces ? mtv_kube_list (kube, &MTV_KUBE_STORAGE_CLASSES, NULL, NULL, 0, NULL, error)
                                             : NULL;
  g_autoptr (JsonArray) nads = classes ? list_or_empty (kube, &MTV_KUBE_NADS, NULL, error) : NULL;
  g_autoptr (JsonArray) vms = nads ? mtv_kube_list (kube, &MTV_KUBE_VIRTUAL_MACHINES, NULL, NULL, 0, NULL, error) : NULL;
  g_autoptr (JsonArray) dvs = vms ? list_or_empty (kube, &MTV_KUBE_DATAVOLUMES, NULL, error) : NULL;
  g_autoptr (JsonArray) pvcs = dvs ? mtv_kube_list (kube, &MTV_KUBE_PVCS, NULL, NULL, 0, NULL, error) : NULL;
  g_autoptr (JsonArray) vmis = pvcs ? mtv_kube_list (kube, &MTV_KUBE_VIRTUAL_MACHINE_INSTANCES, NULL, NULL, 0, NULL, error)
                                    : NULL;
  if (vmis == NULL)
    return NULL;

  JsonObject *inventory = json_object_new ();
  g_autofree char *about = g_strdup_printf ("Kubernetes %s, KubeVirt %s, CDI %s", k8s ? k8s : "?",
                                            kubevirt_version ? kubevirt_version : "?", cdi_version ? cdi_version : "?");
  json_object_set_string_member (inventory, "about", about);
  JsonArray *out_ns = json_array_new (), *out_sc = json_array_new (), *out_nets = json_array_new (),
            *out_vms = json_array_new ();
  for (guint i = 0; i < json_array_get_length (namespaces); i++)
    json_array_add_object_element (out_ns, named_entry (json_array_get_object_element (namespaces, i), FALSE));
  for (guint i = 0; i < json_array_get_length (classes); i++)
    {
      JsonObject *sc = json_array_get_object_element (classes, i);
      JsonObject *e = named_entry (sc, FALSE);
      JsonObject *annotations = mtv_json_object (mtv_json_object (sc, "metadata"), "annotations");
      json_object_set_string_member (e, "provisioner", mtv_json_string (sc, "provisioner") ? mtv_json_string (sc, "provisioner") : "");
      json_object_set_boolean_member (e, "default",
                                      g_strcmp0 (mtv_json_string (annotations, "storageclass.kubernetes.io/is-default-class"),
                                                 "true") == 0);
      json_array_add_object_element (out_sc, e);
    }
  for (guint i = 0; i < json_array_get_length (nads); i++)
    json_array_add_object_element (out_nets, named_entry (json_array_get_object_element (nads, i), TRUE));
  for (guint i = 0; i < json_array_get_length (vms); i++)
    json_array_add_object_element (out_vms, vm_entry (json_array_get_object_element (vms, i), dvs, pvcs, vmis));
  /* What live migration needs of the cluster. */
  JsonArray *gates = json_array_new ();
  for (guint i = 0; i < json_array_get_length (kubevirts); i++)
    {
      JsonObject *dev = mtv_json_object (mtv_json_object (mtv_json_object (json_array_get_object_element (kubevirts, i), "spec"),
                                                          "configuration"), "developerConfiguration");
      JsonNode *list = dev ? json_object_get_member (dev, "featureGates") : NULL;
      for (guint k = 0; list && JSON_NODE_HOLDS_ARRAY (list) && k < json_array_get_length (json_node_get_array (list)); k++)
        json_array_add_string_element (gates, json_array_get_string_element (json_node_get_array (list), k));
    }
  json_object_set_array_member (inventory, "featureGates", gates);
  /* PVCs and DataVolumes, Forklift's openshift inventory kinds pvcs and data-volumes. */
  JsonArray *out_pvcs = json_array_new (), *out_dvs = json_array_new ();
  g_autoptr (JsonArray) no_pvcs = json_array_new ();
  for (guint i = 0; i < json_array_get_length (pvcs); i++)
    {
      JsonObject *pvc = json_array_get_object_element (pvcs, i);
      JsonObject *e = named_entry (pvc, TRUE);
      JsonObject *pspec = mtv_json_object (pvc, "spec");
      const char *sc = mtv_json_string (pspec, "storageClassName");
      json_object_set_string_member (e, "storageClass", sc ? sc : "");
      json_object_set_int_member (e, "capacity", quantity_bytes (mtv_json_string (mtv_json_object (mtv_json_object (pspec,
                                                                                                          "resources"), "requests"), "storage")));
      json_object_set_string_member (e, "phase", mtv_json_string (mtv_json_object (pvc, "status"), "phase")
                                                   ? mtv_json_string (mtv_json_object (pvc, "status"), "phase") : "");
      json_array_add_object_element (out_pvcs, e);
    }
  for (guint i = 0; i < json_array_get_length (dvs); i++)
    {
      JsonObject *dv = json_array_get_object_element (dvs, i);
      JsonObject *e = named_entry (dv, TRUE);
      const char *ns = mtv_json_string (mtv_json_object (dv, "metadata"), "namespace");
      json_object_set_int_member (e, "capacity", claim_size (dvs, no_pvcs, ns,
                                                             mtv_json_string (mtv_json_object (dv, "metadata"), "name")));
      const char *phase = mtv_json_string (mtv_json_object (dv, "status"), "phase");
      json_object_set_string_member (e, "phase", phase ? phase : "");
      json_array_add_object_element (out_dvs, e);
    }
  json_object_set_array_member (inventory, "pvcs", out_pvcs);
  json_object_set_array_member (inventory, "datavolumes", out_dvs);
  json_object_set_array_member (inventory, "namespaces", out_ns);
  json_object_set_array_member (inventory, "storages", out_sc);
  json_object_set_array_member (inventory, "networks", out_nets);
  json_object_set_array_member (inventory, "vms", out_vms);
  return inventory;
}

static void
poll_free (Poll *p)
{
  g_clear_pointer (&p->inventory, json_object_unref);
  g_free (p->failure);
  g_free (p);
}

static void
clear_kube (gpointer box)
{
  mtv_kube_free (*(MtvKube **) box);
}

static void
release_kube (gpointer box)
{
  g_atomic_rc_box_release_full (box, clear_kube);
}

static void
poll_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  MtvKube *kube = *(MtvKube **) data;
  Poll *p = g_new0 (Poll, 1);
  g_autoptr (GError) error = NULL;
  p->inventory = collect (kube, &error);
  if (p->inventory == NULL)
    p->failure = g_strdup (error->message);
  g_task_return_pointer (task, p, (GDestroyNotify) poll_free);
}

static gboolean start_poll (gpointer data);

static void
poll_done (GObject *source, GAsyncResult *result, gpointer data)
{
  GCancellable *cancellable = g_task_get_cancellable (G_TASK (result));
  Poll *p = g_task_propagate_pointer (G_TASK (result), NULL);
  if (g_cancellable_is_cancelled (cancellable))
    {
      /* Stopped meanwhile: the instance is gone, only the poll is left. */
      if (p)
        poll_free (p);
      return;
    }
  Openshift *o = data;
  o->polling = FALSE;
  g_autoptr (GPtrArray) faults = g_ptr_array_new ();
  o->sink->publish (o->host, p ? g_steal_pointer (&p->inventory) : NULL, p ? p->failure : "no answer", faults);
  if (p)
    poll_free (p);
  o->timer = g_timeout_add_seconds (o->interval, start_poll, o);
}

static gboolean
start_poll (gpointer data)
{
  Openshift *o = data;
  o->timer = 0;
  if (*o->kube == NULL)
    {
      g_autoptr (GPtrArray) faults = g_ptr_array_new ();
      o->sink->publish (o->host, NULL, o->config_failure, faults);
      return G_SOURCE_REMOVE;
    }
  o->polling = TRUE;
  g_autoptr (GTask) task = g_task_new (NULL, o->cancellable, poll_done, o);
  /* The task holds the client: it outlives a stop while a poll is in flight. */
  g_task_set_task_data (task, g_atomic_rc_box_acquire (o->kube), release_kube);
  g_task_run_in_thread (task, poll_thread);
  return G_SOURCE_REMOVE;
}

static guint
refresh_interval (JsonObject *spec)
{
  const char *text = mtv_json_string (mtv_json_object (spec, "settings"), "refreshInterval");
  guint64 v;
  if (text && g_ascii_string_to_unsigned (text, 10, 1, 86400, &v, NULL))
    return (guint) v;
  return REFRESH_SECONDS;
}

static gpointer
openshift_start (const char *name, JsonObject *spec, JsonObject *credentials, const MtvInventorySink *sink,
                 gpointer host)
{
  Openshift *o = g_new0 (Openshift, 1);
  o->name = g_strdup (name);
  o->sink = sink;
  o->host = host;
  o->cancellable = g_cancellable_new ();
  o->interval = refresh_interval (spec);
  g_autoptr (GError) error = NULL;
  MtvKubeConfig *config = mtv_openshift_connection (spec, credentials, &error);
  o->kube = g_atomic_rc_box_new0 (MtvKube *);
  if (config)
    *o->kube = mtv_kube_new (config);
  else
    o->config_failure = g_strdup (error->message);
  o->timer = g_idle_add (start_poll, o);
  return o;
}

static void
openshift_stop (gpointer instance)
{
  Openshift *o = instance;
  if (o->timer)
    g_source_remove (o->timer);
  /* A poll in flight finishes in its thread, then its task drops the client. */
  g_cancellable_cancel (o->cancellable);
  release_kube (o->kube);
  g_object_unref (o->cancellable);
  g_free (o->config_failure);
  g_free (o->name);
  g_free (o);
}

static const char *const kinds[] = { "vms", "namespaces", "networks", "storages", "pvcs", "datavolumes", NULL };

const MtvProviderBackend mtv_openshift_backend = {
  .type = "openshift",
  .inventory_kinds = kinds,
  .start = openshift_start,
  .stop = openshift_stop,
};

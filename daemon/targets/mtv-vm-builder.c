#include "mtv-vm-builder.h"
#include "mtv-error.h"
#include "mtv-inventory.h"
#include "kube-client.h"
#include "migration/target-adapter.h"

/* Raw copy mode keeps the guest as it is, so it gets devices every guest
 * has drivers for (SATA, E1000E) unless compatibility mode is turned off. */
static gboolean
compatibility_mode (const MtvVmBuildInput *in)
{
  return json_object_get_boolean_member_with_default (in->plan_spec, "skipGuestConversion", FALSE)
      && json_object_get_boolean_member_with_default (in->plan_spec, "useCompatibilityMode", TRUE);
}

static const char *
str (JsonObject *o, const char *key)
{
  return o ? json_object_get_string_member_with_default (o, key, "") : "";
}

static JsonArray *
array (JsonObject *o, const char *key)
{
  return o && json_object_has_member (o, key) ? json_object_get_array_member (o, key) : NULL;
}

char *
mtv_vm_disk_volume_name (const char *vm_name, guint index)
{
  return g_strdup_printf ("%.50s-disk-%u", vm_name, index);
}

/* The storage pair of a disk: by its id, or by "vm/disk" name. */
static JsonObject *
storage_for (const MtvVmBuildInput *in, JsonObject *disk)
{
  JsonObject *pair = mtv_inventory_disk_pair (in->storage_map, in->vm, disk);
  return pair ? json_object_get_object_member (pair, "destination") : NULL;
}

/* The network pair destination of a NIC. */
static JsonObject *
network_for (const MtvVmBuildInput *in, JsonObject *nic)
{
  JsonObject *pair = mtv_inventory_nic_pair (in->network_map, in->vm, nic);
  return pair ? json_object_get_object_member (pair, "destination") : NULL;
}

/* The NIC's network destination, or NULL and an error naming the network. */
static JsonObject *
require_network (const MtvVmBuildInput *in, JsonObject *nic, GError **error)
{
  JsonObject *dest = network_for (in, nic);
  if (dest == NULL)
    g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "network %s of VM %s is not in the network map",
                 mtv_inventory_nic_network_name (in->vm, nic), str (in->vm, "name"));
  return dest;
}

static const char *
run_strategy (const MtvVmBuildInput *in)
{
  const char *state = json_object_get_string_member_with_default (in->plan_vm, "targetPowerState", NULL);
  if (state == NULL)
    state = json_object_get_string_member_with_default (in->plan_spec, "targetPowerState", "auto");
  /* "auto" follows the source's power state before the migration; an OVA
   * has none, so it stays off. */
  if (g_strcmp0 (state, "auto") == 0)
    {
      /* OVA says "On", vSphere "poweredOn". */
      const char *power = str (in->vm, "powerState");
      return g_strcmp0 (power, "On") == 0 || g_strcmp0 (power, "poweredOn") == 0 ? "Always" : "Halted";
    }
  return g_strcmp0 (state, "on") == 0 ? "Always" : "Halted";
}

JsonObject *
mtv_vm_build_labels (const MtvVmBuildInput *in)
{
  JsonObject *l = json_object_new ();
  json_object_set_string_member (l, "app", in->name);
  json_object_set_string_member (l, "plan", in->plan_uid);
  json_object_set_string_member (l, "migration", in->migration_id);
  json_object_set_string_member (l, "vmID", str (in->vm, "id"));
  return l;
}

static JsonObject *
data_volume (const MtvVmBuildInput *in, JsonObject *disk, JsonObject *dest, guint index)
{
  g_autofree char *name = mtv_vm_disk_volume_name (in->name, index);
  JsonObject *dv = mtv_kube_object_new ("cdi.kubevirt.io/v1beta1", "DataVolume", in->namespace, name, NULL,
                                        mtv_vm_build_labels (in));

  JsonObject *spec = json_object_new ();
  JsonObject *source = json_object_new ();
  json_object_set_object_member (source, "upload", json_object_new ());
  json_object_set_object_member (spec, "source", source);
  JsonObject *storage = json_object_new ();
  JsonObject *resources = json_object_new ();
  JsonObject *requests = json_object_new ();
  g_autofree char *size = g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member_with_default (disk, "capacity", 0));
  json_object_set_string_member (requests, "storage", size);
  json_object_set_object_member (resources, "requests", requests);
  json_object_set_object_member (storage, "resources", resources);
  json_object_set_string_member (storage, "storageClassName", str (dest, "storageClass"));
  if (*str (dest, "volumeMode"))
    json_object_set_string_member (storage, "volumeMode", str (dest, "volumeMode"));
  if (*str (dest, "accessMode"))
    {
      JsonArray *modes = json_array_new ();
      json_array_add_string_element (modes, str (dest, "accessMode"));
      json_object_set_array_member (storage, "accessModes", modes);
    }
  json_object_set_object_member (spec, "storage", storage);
  json_object_set_object_member (dv, "spec", spec);
  return dv;
}

/* A KubeVirt source VM (its object in the inventory) keeps what its own
 * template says — CPU model and topology, memory, firmware, machine,
 * features, clock, other devices, eviction and such, its instance type and
 * preference — with the disks, interfaces, volumes and networks the maps
 * gave, as Forklift recreates the VM from the export's manifest. */
static void
keep_source_template (const MtvVmBuildInput *in, JsonObject *spec, JsonObject *tspec, JsonObject *domain)
{
  JsonNode *object = json_object_get_member (in->vm, "object");
  if (object == NULL || !JSON_NODE_HOLDS_OBJECT (object))
    return;
  JsonObject *src_spec = json_object_get_object_member (json_node_get_object (object), "spec");
  JsonObject *src_tmpl = src_spec && json_object_has_member (src_spec, "template")
                           ? json_object_get_object_member (src_spec, "template") : NULL;
  JsonObject *src_tspec = src_tmpl && json_object_has_member (src_tmpl, "spec")
                            ? json_object_get_object_member (src_tmpl, "spec") : NULL;
  if (src_tspec == NULL)
    return;
  const char *const own[] = { "instancetype", "preference" };
  for (gsize i = 0; i < G_N_ELEMENTS (own); i++)
    if (json_object_has_member (src_spec, own[i]))
      json_object_set_member (spec, own[i], json_node_copy (json_object_get_member (src_spec, own[i])));
  g_autoptr (GList) members = json_object_get_members (src_tspec);
  for (GList *l = members; l; l = l->next)
    if (!g_str_equal (l->data, "domain") && !g_str_equal (l->data, "volumes") && !g_str_equal (l->data, "networks")
        && !json_object_has_member (tspec, l->data))
      json_object_set_member (tspec, l->data, json_node_copy (json_object_get_member (src_tspec, l->data)));
  JsonObject *src_domain = json_object_has_member (src_tspec, "domain") ? json_object_get_object_member (src_tspec, "domain")
                                                                         : NULL;
  if (src_domain == NULL)
    return;
  /* The domain is the source's, but for the disks and interfaces built above. */
  JsonObject *devices = json_object_get_object_member (domain, "devices");
  JsonNode *disks = json_node_copy (json_object_get_member (devices, "disks"));
  JsonNode *interfaces = json_node_copy (json_object_get_member (devices, "interfaces"));
  g_autoptr (GList) names = json_object_get_members (domain);
  for (GList *l = names; l; l = l->next)
    json_object_remove_member (domain, l->data);
  g_autoptr (GList) src_names = json_object_get_members (src_domain);
  for (GList *l = src_names; l; l = l->next)
    json_object_set_member (domain, l->data, json_node_copy (json_object_get_member (src_domain, l->data)));
  if (!json_object_has_member (domain, "devices"))
    json_object_set_object_member (domain, "devices", json_object_new ());
  devices = json_object_get_object_member (domain, "devices");
  json_object_set_member (devices, "disks", disks);
  json_object_set_member (devices, "interfaces", interfaces);
}

JsonArray *
mtv_vm_build_manifests (const MtvVmBuildInput *in, GError **error)
{
  g_autoptr (JsonArray) out = json_array_new ();
  gboolean compat = compatibility_mode (in);
  g_autoptr (JsonArray) disk_list = json_array_new ();
  g_autoptr (JsonArray) volumes = json_array_new ();
  g_autoptr (JsonArray) interfaces = json_array_new ();
  g_autoptr (JsonArray) networks = json_array_new ();

  JsonArray *disks = array (in->vm, "disks");
  for (guint i = 0; disks && i < json_array_get_length (disks); i++)
    {
      JsonObject *disk = json_array_get_object_element (disks, i);
      JsonObject *dest = storage_for (in, disk);
      if (dest == NULL)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "disk %s of VM %s is not in the storage map",
                       str (disk, "name"), str (in->vm, "name"));
          return NULL;
        }
      json_array_add_object_element (out, data_volume (in, disk, dest, i));
      g_autofree char *vol = g_strdup_printf ("vol-%u", i);
      g_autofree char *dv_name = mtv_vm_disk_volume_name (in->name, i);
      JsonObject *d = json_object_new ();
      json_object_set_string_member (d, "name", vol);
      JsonObject *target = json_object_new ();
      json_object_set_string_member (target, "bus", compat ? "sata" : "virtio");
      json_object_set_object_member (d, "disk", target);
      if (i == 0)
        json_object_set_int_member (d, "bootOrder", 1);
      json_array_add_object_element (disk_list, d);
      JsonObject *v = json_object_new ();
      json_object_set_string_member (v, "name", vol);
      JsonObject *dvref = json_object_new ();
      json_object_set_string_member (dvref, "name", dv_name);
      json_object_set_object_member (v, "dataVolume", dvref);
      json_array_add_object_element (volumes, v);
    }

  JsonArray *nics = array (in->vm, "nics");
  guint n = 0;
  for (guint i = 0; nics && i < json_array_get_length (nics); i++)
    {
      JsonObject *nic = json_array_get_object_element (nics, i);
      JsonObject *dest = require_network (in, nic, error);
      if (dest == NULL)
        return NULL;
      const char *type = str (dest, "type");
      if (g_str_equal (type, "ignored"))
        continue;
      g_autofree char *net_name = g_strdup_printf ("net-%u", n++);
      JsonObject *iface = json_object_new ();
      json_object_set_string_member (iface, "name", net_name);
      json_object_set_string_member (iface, "model", compat ? "e1000e" : "virtio");
      if (*str (nic, "mac"))
        json_object_set_string_member (iface, "macAddress", str (nic, "mac"));
      JsonObject *network = json_object_new ();
      json_object_set_string_member (network, "name", net_name);
      if (g_str_equal (type, "pod"))
        {
          json_object_set_object_member (iface, "masquerade", json_object_new ());
          json_object_set_object_member (network, "pod", json_object_new ());
        }
      else
        {
          json_object_set_object_member (iface, "bridge", json_object_new ());
          JsonObject *multus = json_object_new ();
          g_autofree char *nad = *str (dest, "namespace") ? g_strdup_printf ("%s/%s", str (dest, "namespace"), str (dest, "name"))
                                                          : g_strdup (str (dest, "name"));
          json_object_set_string_member (multus, "networkName", nad);
          json_object_set_object_member (network, "multus", multus);
        }
      json_array_add_object_element (interfaces, iface);
      json_array_add_object_element (networks, network);
    }

  g_autoptr (JsonObject) vm = mtv_kube_object_new ("kubevirt.io/v1", "VirtualMachine", in->namespace, in->name, NULL,
                                                   mtv_vm_build_labels (in));

  JsonObject *spec = json_object_new ();
  json_object_set_string_member (spec, "runStrategy", run_strategy (in));
  JsonObject *tmpl = json_object_new ();
  JsonObject *tmeta = json_object_new ();
  JsonObject *tlabels = mtv_vm_build_labels (in);
  JsonObject *extra = json_object_has_member (in->plan_spec, "targetLabels")
                        ? json_object_get_object_member (in->plan_spec, "targetLabels") : NULL;
  g_autoptr (GList) keys = extra ? json_object_get_members (extra) : NULL;
  for (GList *l = keys; l; l = l->next)
    json_object_set_string_member (tlabels, l->data, json_object_get_string_member (extra, l->data));
  json_object_set_object_member (tmeta, "labels", tlabels);
  json_object_set_object_member (tmpl, "metadata", tmeta);

  JsonObject *tspec = json_object_new ();
  JsonObject *domain = json_object_new ();
  gint64 cpus = MAX (1, json_object_get_int_member_with_default (in->vm, "cpuCount", 1));
  gint64 cores = MAX (1, json_object_get_int_member_with_default (in->vm, "coresPerSocket", 1));
  if (cpus % cores != 0)
    cores = 1;
  JsonObject *cpu = json_object_new ();
  json_object_set_int_member (cpu, "cores", cores);
  json_object_set_int_member (cpu, "sockets", cpus / cores);
  json_object_set_int_member (cpu, "threads", 1);
  json_object_set_object_member (domain, "cpu", cpu);
  JsonObject *memory = json_object_new ();
  g_autofree char *guest = g_strdup_printf ("%" G_GINT64_FORMAT "Mi",
                                            MAX (1, json_object_get_int_member_with_default (in->vm, "memoryMB", 1024)));
  json_object_set_string_member (memory, "guest", guest);
  json_object_set_object_member (domain, "memory", memory);
  JsonObject *firmware = json_object_new ();
  JsonObject *bootloader = json_object_new ();
  gboolean secure = json_object_get_boolean_member_with_default (in->vm, "secureBoot", FALSE);
  if (g_strcmp0 (str (in->vm, "firmware"), "efi") == 0)
    {
      JsonObject *efi = json_object_new ();
      json_object_set_boolean_member (efi, "secureBoot", secure);
      json_object_set_object_member (bootloader, "efi", efi);
      if (secure)
        {
          /* Secure boot needs SMM. */
          JsonObject *features = json_object_new ();
          JsonObject *smm = json_object_new ();
          json_object_set_boolean_member (smm, "enabled", TRUE);
          json_object_set_object_member (features, "smm", smm);
          json_object_set_object_member (domain, "features", features);
        }
    }
  else
    json_object_set_object_member (bootloader, "bios", json_object_new ());
  json_object_set_object_member (firmware, "bootloader", bootloader);
  json_object_set_object_member (domain, "firmware", firmware);
  JsonObject *devices = json_object_new ();
  json_object_set_array_member (devices, "disks", g_steal_pointer (&disk_list));
  json_object_set_array_member (devices, "interfaces", g_steal_pointer (&interfaces));
  json_object_set_object_member (domain, "devices", devices);
  json_object_set_object_member (tspec, "domain", domain);
  json_object_set_array_member (tspec, "networks", g_steal_pointer (&networks));
  json_object_set_array_member (tspec, "volumes", g_steal_pointer (&volumes));
  if (json_object_has_member (in->plan_spec, "targetNodeSelector"))
    json_object_set_member (tspec, "nodeSelector",
                            json_node_copy (json_object_get_member (in->plan_spec, "targetNodeSelector")));
  JsonNode *affinity = json_object_get_member (in->plan_spec, "targetAffinity");
  if (affinity && JSON_NODE_HOLDS_OBJECT (affinity) && json_object_get_size (json_node_get_object (affinity)) > 0)
    json_object_set_member (tspec, "affinity", json_node_copy (affinity));
  json_object_set_object_member (tmpl, "spec", tspec);
  json_object_set_object_member (spec, "template", tmpl);
  json_object_set_object_member (vm, "spec", spec);
  keep_source_template (in, spec, tspec, domain);
  json_array_add_object_element (out, g_steal_pointer (&vm));
  return g_steal_pointer (&out);
}

static void
element (GString *xml, int indent, const char *fmt, ...) G_GNUC_PRINTF (3, 4);
static void
element (GString *xml, int indent, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *line = g_markup_vprintf_escaped (fmt, ap);
  va_end (ap);
  g_string_append_printf (xml, "%*s%s\n", indent, "", line);
}

char *
mtv_vm_build_domain_xml (const MtvVmBuildInput *in, GError **error)
{
  g_autoptr (GString) xml = g_string_new (NULL);
  gboolean compat = compatibility_mode (in);
  gint64 cpus = MAX (1, json_object_get_int_member_with_default (in->vm, "cpuCount", 1));
  gint64 cores = MAX (1, json_object_get_int_member_with_default (in->vm, "coresPerSocket", 1));
  if (cpus % cores != 0)
    cores = 1;
  gboolean efi = g_strcmp0 (str (in->vm, "firmware"), "efi") == 0;
  gboolean secure = json_object_get_boolean_member_with_default (in->vm, "secureBoot", FALSE);

  element (xml, 0, "<domain type=\"kvm\">");
  element (xml, 2, "<name>%s</name>", in->name);
  element (xml, 2, "<metadata>");
  element (xml, 4, "<mtv:migration xmlns:mtv=\"" MTV_VM_XMLNS "\" plan=\"%s\" migration=\"%s\" vmID=\"%s\"/>",
           in->plan_name, in->migration_id, str (in->vm, "id"));
  element (xml, 2, "</metadata>");
  element (xml, 2, "<memory unit=\"MiB\">%" G_GINT64_FORMAT "</memory>",
           MAX (1, json_object_get_int_member_with_default (in->vm, "memoryMB", 1024)));
  element (xml, 2, "<vcpu>%" G_GINT64_FORMAT "</vcpu>", cpus);
  element (xml, 2, efi ? "<os firmware=\"efi\">" : "<os>");
  element (xml, 4, "<type arch=\"x86_64\" machine=\"q35\">hvm</type>");
  if (efi)
    {
      element (xml, 4, "<firmware>");
      element (xml, 6, "<feature enabled=\"%s\" name=\"secure-boot\"/>", secure ? "yes" : "no");
      element (xml, 4, "</firmware>");
    }
  element (xml, 2, "</os>");
  element (xml, 2, "<features>");
  element (xml, 4, "<acpi/>");
  element (xml, 4, "<apic/>");
  if (secure)
    element (xml, 4, "<smm state=\"on\"/>");
  element (xml, 2, "</features>");
  element (xml, 2, "<cpu mode=\"host-model\">");
  element (xml, 4, "<topology sockets=\"%" G_GINT64_FORMAT "\" dies=\"1\" cores=\"%" G_GINT64_FORMAT "\" threads=\"1\"/>",
           cpus / cores, cores);
  element (xml, 2, "</cpu>");
  element (xml, 2, "<devices>");
  JsonArray *disks = array (in->vm, "disks");
  for (guint i = 0; disks && i < json_array_get_length (disks); i++)
    {
      const char *file = in->disk_files ? in->disk_files[i] : NULL;
      const char *format = in->disk_formats ? in->disk_formats[i] : "raw";
      g_autofree char *dev = g_strdup_printf ("%s%c", compat ? "sd" : "vd", 'a' + (i % 26));
      element (xml, 4, "<disk type=\"file\" device=\"disk\">");
      element (xml, 6, "<driver name=\"qemu\" type=\"%s\"/>", format);
      if (file)
        element (xml, 6, "<source file=\"%s\"/>", file);
      element (xml, 6, "<target dev=\"%s\" bus=\"%s\"/>", dev, compat ? "sata" : "virtio");
      if (i == 0)
        element (xml, 6, "<boot order=\"1\"/>");
      element (xml, 4, "</disk>");
    }
  JsonArray *nics = array (in->vm, "nics");
  for (guint i = 0; nics && i < json_array_get_length (nics); i++)
    {
      JsonObject *nic = json_array_get_object_element (nics, i);
      JsonObject *dest = require_network (in, nic, error);
      if (dest == NULL)
        return NULL;
      if (g_str_equal (str (dest, "type"), "ignored"))
        continue;
      /* Pod networking has no host equivalent: libvirt's default NAT network
       * plays its part; a Multus network becomes a bridge of its name. */
      if (g_str_equal (str (dest, "type"), "pod"))
        {
          element (xml, 4, "<interface type=\"network\">");
          element (xml, 6, "<source network=\"default\"/>");
        }
      else
        {
          element (xml, 4, "<interface type=\"bridge\">");
          element (xml, 6, "<source bridge=\"%s\"/>", str (dest, "name"));
        }
      if (*str (nic, "mac"))
        element (xml, 6, "<mac address=\"%s\"/>", str (nic, "mac"));
      element (xml, 6, "<model type=\"%s\"/>", compat ? "e1000e" : "virtio");
      element (xml, 4, "</interface>");
    }
  element (xml, 4, "<console type=\"pty\"/>");
  element (xml, 2, "</devices>");
  element (xml, 0, "</domain>");
  return g_string_free (g_steal_pointer (&xml), FALSE);
}

MtvVmBuildInput
mtv_vm_build_input (const MtvTargetContext *ctx)
{
  return (MtvVmBuildInput) {
    .name = ctx->name,
    .namespace = ctx->namespace,
    .plan_name = ctx->plan_name,
    .plan_uid = ctx->plan_uid,
    .migration_id = ctx->migration_id,
    .plan_spec = ctx->plan_spec,
    .plan_vm = ctx->plan_vm,
    .vm = ctx->vm,
    .network_map = ctx->network_map,
    .storage_map = ctx->storage_map,
  };
}

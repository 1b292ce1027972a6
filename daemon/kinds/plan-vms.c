/* A plan's VMs checked against the source provider's inventory, as
 * Forklift's plan validation does: found, networks and disks mapped, no
 * Critical concerns, a migration type and mode the source supports, and
 * target names that are valid and unique. */
#include "plan-vms.h"
#include "mtv-inventory.h"
#include "mtv-json.h"
#include "mtv-provider-runtime.h"

/* Appends "item" to a comma-separated list. */
static void
note (GString *list, const char *fmt, ...) G_GNUC_PRINTF (2, 3);
static void
note (GString *list, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  if (list->len)
    g_string_append (list, ", ");
  g_string_append_vprintf (list, fmt, ap);
  va_end (ap);
}

static const MtvRecord *
referenced (MtvDaemon *daemon, MtvKind kind, JsonObject *spec, const char *path)
{
  return mtv_daemon_lookup_record (daemon, kind, mtv_reference_name (mtv_json_lookup_path (spec, path)));
}

/* What a warm migration needs of a VM (vSphere's model): change tracking
 * on it and on every disk, no snapshot of its own, no independent disk nor
 * RDM in physical mode. */
static void
check_warm (JsonObject *vm, const char *name, GString *no_cbt, GString *snapshots, GString *independent)
{
  if (!json_object_get_boolean_member_with_default (vm, "changeTrackingEnabled", FALSE))
    note (no_cbt, "%s", name);
  JsonNode *snapshot = json_object_get_member (vm, "snapshot");
  if (snapshot && !JSON_NODE_HOLDS_NULL (snapshot))
    note (snapshots, "%s", name);
  JsonArray *disks = mtv_json_array (vm, "disks");
  for (guint j = 0; j < mtv_json_array_length (disks); j++)
    {
      JsonObject *disk = mtv_json_array_object (disks, j);
      const char *disk_name = json_object_get_string_member_with_default (disk, "name", "");
      if (json_object_get_boolean_member_with_default (vm, "changeTrackingEnabled", FALSE)
          && !json_object_get_boolean_member_with_default (disk, "changeTrackingEnabled", FALSE))
        note (no_cbt, "%s (disk %s)", name, disk_name);
      if (g_str_has_prefix (json_object_get_string_member_with_default (disk, "mode", ""), "independent"))
        note (independent, "%s (disk %s, independent)", name, disk_name);
      else if (g_strcmp0 (mtv_json_string (disk, "compatibilityMode"), "physicalMode") == 0)
        note (independent, "%s (disk %s, an RDM in physical mode)", name, disk_name);
    }
}

void
mtv_plan_check_vms (MtvDaemon *daemon, JsonObject *spec, MtvStatusBuilder *status)
{
  const MtvRecord *source = referenced (daemon, MTV_KIND_PROVIDER, spec, "provider.source");
  const MtvRecord *net_map = referenced (daemon, MTV_KIND_NETWORK_MAP, spec, "map.network");
  const MtvRecord *storage_map = referenced (daemon, MTV_KIND_STORAGE_MAP, spec, "map.storage");
  MtvProviderRuntime *rt = source ? mtv_daemon_provider_runtime (daemon, source->name) : NULL;
  if (rt == NULL || rt->inventory == NULL)
    return; /* the provider's own condition says why */

  const MtvProviderType *type = mtv_provider_type_lookup (json_object_get_string_member (source->spec, "type"));
  const char *plan_type = json_object_get_string_member_with_default (spec, "type", "cold");
  if (!g_strv_contains (type->plan_types, plan_type))
    mtv_status_add (status, "MigrationTypeNotValid", "Critical", "NotSupported",
                    "A %s source does not support %s migration.", type->type, plan_type);
  if (type->needs_conversion && !json_object_get_boolean_member_with_default (spec, "skipGuestConversion", FALSE))
    mtv_status_add (status, "GuestConversionNotAvailable", "Critical", "NotBuilt",
                    "Guest conversion (virt-v2v) is not built into this mtvd yet; set skipGuestConversion "
                    "(raw copy mode) to migrate the disks as they are.");

  g_autoptr (GString) missing = g_string_new (NULL);
  g_autoptr (GString) concerns = g_string_new (NULL);
  g_autoptr (GString) warnings = g_string_new (NULL);
  g_autoptr (GString) not_live = g_string_new (NULL);
  gboolean live = g_strcmp0 (plan_type, "live") == 0;
  g_autoptr (GString) networks = g_string_new (NULL);
  g_autoptr (GString) storages = g_string_new (NULL);
  g_autoptr (GString) pod = g_string_new (NULL);
  g_autoptr (GString) renamed = g_string_new (NULL);
  g_autoptr (GString) duplicate = g_string_new (NULL);
  g_autoptr (GHashTable) targets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  gboolean warm = g_strcmp0 (plan_type, "warm") == 0 && g_strv_contains (type->plan_types, plan_type);
  g_autoptr (GString) no_cbt = g_string_new (NULL);
  g_autoptr (GString) snapshots = g_string_new (NULL);
  g_autoptr (GString) independent = g_string_new (NULL);

  JsonArray *vms = json_object_get_array_member (spec, "vms");
  g_auto (GStrv) target_names = mtv_inventory_target_names (rt->inventory, vms);
  for (guint i = 0; i < json_array_get_length (vms); i++)
    {
      JsonObject *want = json_array_get_object_element (vms, i);
      JsonObject *vm = mtv_inventory_find_vm (rt->inventory, want);
      const char *label = json_object_get_string_member_with_default (want, "name", NULL);
      if (label == NULL)
        label = json_object_get_string_member_with_default (want, "id", "");
      if (vm == NULL)
        {
          note (missing, "%s", label);
          continue;
        }
      const char *name = json_object_get_string_member_with_default (vm, "name", "");
      if (live && !json_object_get_boolean_member_with_default (vm, "liveMigratable", FALSE))
        note (not_live, "%s", name);

      JsonArray *c = json_object_has_member (vm, "concerns") ? json_object_get_array_member (vm, "concerns") : NULL;
      for (guint j = 0; c && j < json_array_get_length (c); j++)
        {
          JsonObject *concern = json_array_get_object_element (c, j);
          const char *category = json_object_get_string_member_with_default (concern, "category", "");
          if (g_strcmp0 (category, "Critical") == 0)
            note (concerns, "%s: %s", name, json_object_get_string_member_with_default (concern, "assessment", ""));
          else if (g_strcmp0 (category, "Warning") == 0)
            note (warnings, "%s: %s", name, json_object_get_string_member_with_default (concern, "label", ""));
        }

      guint pod_count = 0;
      JsonArray *nets = json_object_has_member (vm, "networks") ? json_object_get_array_member (vm, "networks") : NULL;
      for (guint j = 0; nets && j < json_array_get_length (nets); j++)
        {
          JsonObject *net = json_array_get_object_element (nets, j);
          JsonObject *pair = net_map ? mtv_inventory_find_pair (net_map->spec, json_object_get_string_member (net, "id"),
                                                                json_object_get_string_member (net, "name"))
                                     : NULL;
          if (pair == NULL)
            note (networks, "%s: %s", name, json_object_get_string_member (net, "name"));
          else if (g_strcmp0 (json_object_get_string_member_with_default (
                                json_object_get_object_member (pair, "destination"), "type", ""), "pod") == 0)
            pod_count++;
        }
      if (pod_count > 1)
        note (pod, "%s", name);

      JsonArray *disks = json_object_has_member (vm, "disks") ? json_object_get_array_member (vm, "disks") : NULL;
      for (guint j = 0; disks && j < json_array_get_length (disks); j++)
        {
          JsonObject *disk = json_array_get_object_element (disks, j);
          if (storage_map == NULL || mtv_inventory_disk_pair (storage_map->spec, vm, disk) == NULL)
            note (storages, "%s: %s", name, json_object_get_string_member_with_default (disk, "name", ""));
        }

      if (warm)
        check_warm (vm, name, no_cbt, snapshots, independent);

      const char *explicit_target = json_object_get_string_member_with_default (want, "targetName", NULL);
      const char *target = target_names[i];
      if (explicit_target == NULL && !g_str_equal (target, name))
        note (renamed, "%s -> %s", name, target);
      if (!g_hash_table_add (targets, g_strdup (target)))
        note (duplicate, "%s", target);
    }

  if (missing->len)
    mtv_status_add (status, "VMNotFound", "Critical", "NotFound", "VMs not found in the source inventory: %s.", missing->str);
  if (concerns->len)
    mtv_status_add (status, "VMCriticalConcerns", "Critical", "Concerns", "VMs with critical concerns: %s.", concerns->str);
  if (not_live->len)
    mtv_status_add (status, "VMNotLiveMigratable", "Critical", "NotLiveMigratable",
                    "VMs that cannot be live-migrated (not running, or KubeVirt says LiveMigratable is not True): %s.",
                    not_live->str);
  if (warnings->len)
    mtv_status_add (status, "VMWarnings", "Warning", "Concerns", "VMs with warnings: %s.", warnings->str);
  if (networks->len)
    mtv_status_add (status, "VMNetworksNotMapped", "Critical", "NotMapped", "Networks not mapped: %s.", networks->str);
  if (storages->len)
    mtv_status_add (status, "VMStorageNotMapped", "Critical", "NotMapped", "Disks not mapped: %s.", storages->str);
  if (pod->len)
    mtv_status_add (status, "VMMultiplePodNetworkMappings", "Critical", "NotValid",
                    "VMs with more than one network mapped to the pod network: %s.", pod->str);
  if (duplicate->len)
    mtv_status_add (status, "VMTargetNameNotUnique", "Critical", "NotUnique",
                    "Target names used by more than one VM: %s; give them targetName.", duplicate->str);
  /* Forklift's warm conditions; it found a disk without CBT only at VM
   * creation, after a silent full copy at cutover. */
  if (no_cbt->len)
    mtv_status_add (status, "VMMissingChangedBlockTracking", "Critical", "MissingChangedBlockTracking",
                    "Changed Block Tracking (CBT) is not enabled, a prerequisite of warm migration: %s.", no_cbt->str);
  if (snapshots->len)
    mtv_status_add (status, "VMHasSnapshots", "Critical", "NotValid",
                    "VMs with snapshots from before the plan, which warm migration cannot work with: %s.",
                    snapshots->str);
  if (independent->len)
    mtv_status_add (status, "VMMigrationTypeUnsupported", "Critical", "NotSupported",
                    "Independent disks and RDMs in physical mode are left out of snapshots, so a warm migration "
                    "cannot copy them: %s.",
                    independent->str);
  if (renamed->len)
    mtv_status_add (status, "VMNameNotValid", "Warning", "Renamed",
                    "VM names that are not DNS-1123 labels will be renamed: %s.", renamed->str);
}

/* Plan: which VMs move, from where to where, with which maps and how. */
#include "map-common.h"
#include "plan-vms.h"
#include "plan-target.h"
#include "plan-hooks.h"
#include "migration/run.h"
#include "mtv-error.h"
#include "mtv-json.h"
#include "mtv-dbus-generated.h"

static const char *const plan_types[] = { "cold", "warm", "live", "conversion", NULL };
static const char *const power_states[] = { "on", "off", "auto", NULL };

static gboolean
check_namespace (const char *value, GError **error)
{
  return mtv_name_validate (value, "namespace", error);
}

static gboolean
check_string_member (JsonObject *item, const char *key, GError **error)
{
  JsonNode *node = json_object_get_member (item, key);
  if (node == NULL || (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING))
    return TRUE;
  g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: expected a string", key);
  return FALSE;
}

/* A plan hook: {"hook": "name" or {"name"}, "step": "PreHook"|"PostHook"};
 * stored in Forklift's shape. */
static gboolean
check_vm_hook (JsonObject *hook, guint index, GError **error)
{
  static const char *const keys[] = { "hook", "step", NULL };
  static const char *const steps[] = { "PreHook", "PostHook", NULL };
  g_autoptr (GError) local_error = NULL;
  const char *name = mtv_reference_name (json_object_get_member (hook, "hook"));
  const char *step = json_object_get_string_member_with_default (hook, "step", "");

  if (!mtv_spec_check_members (hook, keys, &local_error)
      || !mtv_name_validate (name, "hook", &local_error))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "hooks[%u]: %s", index, local_error->message);
      return FALSE;
    }
  if (!g_strv_contains (steps, step))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "hooks[%u].step: \"%s\" is not one of PreHook, PostHook", index, step);
      return FALSE;
    }
  JsonObject *ref = json_object_new ();
  json_object_set_string_member (ref, "name", name);
  json_object_set_object_member (hook, "hook", ref);
  return TRUE;
}

static gboolean
check_vm (JsonObject *vm, GError **error)
{
  static const char *const keys[] = {
    "id", "name", "namespace", "targetName", "targetPowerState", "rootDisk", "instanceType",
    "pvcNameTemplate", "volumeNameTemplate", "networkNameTemplate", "hooks",
    "deleteVmOnFailMigration", "migrateSharedDisks", NULL,
  };
  static const char *const strings[] = {
    "id", "name", "namespace", "targetName", "targetPowerState", "rootDisk", "instanceType",
    "pvcNameTemplate", "volumeNameTemplate", "networkNameTemplate", NULL,
  };
  if (!mtv_spec_check_members (vm, keys, error))
    return FALSE;
  for (guint i = 0; strings[i]; i++)
    if (!check_string_member (vm, strings[i], error))
      return FALSE;
  if (*json_object_get_string_member_with_default (vm, "id", "") == '\0'
      && *json_object_get_string_member_with_default (vm, "name", "") == '\0')
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "a VM needs an \"id\" or a \"name\"");
      return FALSE;
    }
  const char *target = json_object_get_string_member_with_default (vm, "targetName", NULL);
  if (target && !mtv_name_validate (target, "targetName", error))
    return FALSE;
  const char *power = json_object_get_string_member_with_default (vm, "targetPowerState", NULL);
  if (power && !g_strv_contains (power_states, power))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "targetPowerState: \"%s\" is not one of on, off, auto", power);
      return FALSE;
    }
  JsonNode *hooks = json_object_get_member (vm, "hooks");
  if (hooks == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (hooks))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "hooks: expected a list of dictionaries");
      return FALSE;
    }
  JsonArray *list = json_node_get_array (hooks);
  for (guint i = 0; i < json_array_get_length (list); i++)
    {
      JsonNode *h = json_array_get_element (list, i);
      if (!JSON_NODE_HOLDS_OBJECT (h))
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "hooks[%u]: expected a dictionary", i);
          return FALSE;
        }
      if (!check_vm_hook (json_node_get_object (h), i, error))
        return FALSE;
    }
  return TRUE;
}

static const MtvField fields[] = {
  MTV_PROVIDER_REFERENCE_FIELDS,
  { .key = "networkMap", .json_path = "map.network", .type = MTV_FIELD_REFERENCE,
    .flags = MTV_FIELD_REQUIRED, .ref_kind = MTV_KIND_NETWORK_MAP },
  { .key = "storageMap", .json_path = "map.storage", .type = MTV_FIELD_REFERENCE,
    .flags = MTV_FIELD_REQUIRED, .ref_kind = MTV_KIND_STORAGE_MAP },
  { .key = "vms", .json_path = "vms", .type = MTV_FIELD_LIST,
    .flags = MTV_FIELD_REQUIRED | MTV_FIELD_NON_EMPTY, .check_item = check_vm, .max = MTV_PLAN_MAX_VMS },
  { .key = "type", .json_path = "type", .type = MTV_FIELD_STRING, .allowed = plan_types,
    .default_value = "cold" },
  { .key = "targetNamespace", .json_path = "targetNamespace", .type = MTV_FIELD_STRING,
    .flags = MTV_FIELD_REQUIRED, .default_value = "default", .check_string = check_namespace },
  { .key = "description", .json_path = "description", .type = MTV_FIELD_STRING },
  { .key = "transferNetwork", .json_path = "transferNetwork",
    .type = MTV_FIELD_NAMESPACED_REFERENCE },
  { .key = "preserveStaticIPs", .json_path = "preserveStaticIPs", .type = MTV_FIELD_BOOLEAN },
  { .key = "skipGuestConversion", .json_path = "skipGuestConversion", .type = MTV_FIELD_BOOLEAN },
  { .key = "useCompatibilityMode", .json_path = "useCompatibilityMode", .type = MTV_FIELD_BOOLEAN },
  { .key = "migrateSharedDisks", .json_path = "migrateSharedDisks", .type = MTV_FIELD_BOOLEAN },
  { .key = "installLegacyDrivers", .json_path = "installLegacyDrivers", .type = MTV_FIELD_BOOLEAN },
  { .key = "deleteVmOnFailMigration", .json_path = "deleteVmOnFailMigration",
    .type = MTV_FIELD_BOOLEAN },
  { .key = "preserveClusterCpuModel", .json_path = "preserveClusterCpuModel",
    .type = MTV_FIELD_BOOLEAN },
  { .key = "targetPowerState", .json_path = "targetPowerState", .type = MTV_FIELD_STRING,
    .allowed = power_states },
  { .key = "targetLabels", .json_path = "targetLabels", .type = MTV_FIELD_STRING_MAP },
  { .key = "targetNodeSelector", .json_path = "targetNodeSelector", .type = MTV_FIELD_STRING_MAP },
  { .key = "targetAffinity", .json_path = "targetAffinity", .type = MTV_FIELD_JSON_OBJECT },
  { .key = "pvcNameTemplate", .json_path = "pvcNameTemplate", .type = MTV_FIELD_STRING },
  { .key = "volumeNameTemplate", .json_path = "volumeNameTemplate", .type = MTV_FIELD_STRING },
  { .key = "networkNameTemplate", .json_path = "networkNameTemplate", .type = MTV_FIELD_STRING },
  { .key = "archived", .json_path = "archived", .type = MTV_FIELD_BOOLEAN },
};

static void
collect_references (JsonObject *spec, GPtrArray *refs)
{
  JsonArray *vms = json_object_get_array_member (spec, "vms");
  for (guint i = 0; vms && i < json_array_get_length (vms); i++)
    {
      JsonObject *vm = json_array_get_object_element (vms, i);
      JsonArray *hooks = json_object_has_member (vm, "hooks") ? json_object_get_array_member (vm, "hooks") : NULL;
      for (guint j = 0; hooks && j < json_array_get_length (hooks); j++)
        {
          JsonObject *h = json_array_get_object_element (hooks, j);
          g_autofree char *where = g_strdup_printf ("vms[%u].hooks[%u]", i, j);
          mtv_reference_add (refs, MTV_KIND_HOOK,
                             mtv_reference_name (json_object_get_member (h, "hook")), where);
        }
    }
}

/* The maps a plan uses must map between the plan's own providers. */
static gboolean
check_map_providers (MtvDaemon *daemon, JsonObject *spec, MtvKind kind, const char *path,
                     const char *key, GError **error)
{
  const char *map_name = mtv_reference_name (mtv_json_lookup_path (spec, path));
  const MtvRecord *map = mtv_daemon_lookup_record (daemon, kind, map_name);
  if (map == NULL)
    return TRUE;
  static const char *const sides[] = { "provider.source", "provider.destination" };
  for (guint i = 0; i < G_N_ELEMENTS (sides); i++)
    {
      const char *want = mtv_reference_name (mtv_json_lookup_path (spec, sides[i]));
      const char *have = mtv_reference_name (mtv_json_lookup_path (map->spec, sides[i]));
      if (g_strcmp0 (want, have) != 0)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                       "%s: map \"%s\" maps from provider \"%s\" to \"%s\", but the plan goes from "
                       "\"%s\" to \"%s\"", key, map_name,
                       mtv_reference_name (mtv_json_lookup_path (map->spec, sides[0])),
                       mtv_reference_name (mtv_json_lookup_path (map->spec, sides[1])),
                       mtv_reference_name (mtv_json_lookup_path (spec, sides[0])),
                       mtv_reference_name (mtv_json_lookup_path (spec, sides[1])));
          return FALSE;
        }
    }
  return TRUE;
}

/* Two VMs of one plan may not be the same VM or land under the same name. */
static gboolean
check_vms_unique (JsonObject *spec, GError **error)
{
  g_autoptr (GHashTable) sources = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) targets = g_hash_table_new (g_str_hash, g_str_equal);
  JsonArray *vms = json_object_get_array_member (spec, "vms");
  for (guint i = 0; i < json_array_get_length (vms); i++)
    {
      JsonObject *vm = json_array_get_object_element (vms, i);
      const char *id = json_object_get_string_member_with_default (vm, "id", "");
      const char *name = json_object_get_string_member_with_default (vm, "name", "");
      const char *source = *id ? id : name;
      const char *target = json_object_get_string_member_with_default (vm, "targetName", NULL);
      if (!g_hash_table_add (sources, (gpointer) source))
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "vms[%u]: VM \"%s\" is listed twice",
                       i, source);
          return FALSE;
        }
      if (target && !g_hash_table_add (targets, (gpointer) target))
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                       "vms[%u].targetName: \"%s\" is used by another VM of this plan", i, target);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
validate (MtvDaemon *daemon, const char *name, JsonObject *spec, GError **error)
{
  return mtv_check_provider_role (daemon, spec, "provider.source", "sourceProvider",
                                  MTV_ROLE_SOURCE, error)
      && mtv_check_provider_role (daemon, spec, "provider.destination", "targetProvider",
                                  MTV_ROLE_TARGET, error)
      && check_map_providers (daemon, spec, MTV_KIND_NETWORK_MAP, "map.network", "networkMap", error)
      && check_map_providers (daemon, spec, MTV_KIND_STORAGE_MAP, "map.storage", "storageMap", error)
      && check_vms_unique (spec, error);
}

static void
compute_status (MtvDaemon *daemon, const MtvRecord *record, MtvStatusBuilder *status)
{
  JsonObject *spec = record->spec;
  mtv_status_require_ready (daemon, status, MTV_KIND_PROVIDER, spec, "provider.source",
                            "SourceProviderNotReady");
  mtv_status_require_ready (daemon, status, MTV_KIND_PROVIDER, spec, "provider.destination",
                            "DestinationProviderNotReady");
  mtv_status_require_ready (daemon, status, MTV_KIND_NETWORK_MAP, spec, "map.network",
                            "NetworkMapNotReady");
  mtv_status_require_ready (daemon, status, MTV_KIND_STORAGE_MAP, spec, "map.storage",
                            "StorageMapNotReady");
  mtv_plan_check_vms (daemon, spec, status);
  mtv_plan_check_target (daemon, spec, status);
  mtv_plan_check_hooks (daemon, spec, status);

  /* A plan that ran shows its latest migration, as Forklift's plan does. */
  MtvRun *run = mtv_daemon_plan_run (daemon, record->name);
  if (run)
    {
      const char *phase = mtv_run_phase (run);
      if (g_str_equal (phase, "Running"))
        {
          mtv_status_add (status, "Executing", "Advisory", "Started", "The plan is executing (migration %s).",
                          mtv_run_id (run));
          status->phase = "Executing";
        }
      else
        {
          mtv_status_add (status, phase, "Advisory", "Completed", "Migration %s %s.", mtv_run_id (run),
                          g_str_equal (phase, "Succeeded") ? "succeeded" : g_str_equal (phase, "Failed") ? "failed" : "was canceled");
          status->phase = phase;
        }
    }
  if (json_object_get_boolean_member_with_default (spec, "archived", FALSE))
    mtv_status_add (status, "Archived", "Advisory", "UserRequested", "The plan is archived.");
}

static void
export_status (MtvDaemon *daemon, const MtvRecord *record, JsonObject *status)
{
  MtvRun *run = mtv_daemon_plan_run (daemon, record->name);
  if (run)
    json_object_set_object_member (status, "migration", mtv_run_status (run));
}

const MtvKindInfo mtv_kind_plan = {
  .kind = MTV_KIND_PLAN,
  .fields = fields,
  .n_fields = G_N_ELEMENTS (fields),
  .manage_action = MTV_ACTION_MANAGE_PLANS,
  .skeleton_type = mtv_plan_skeleton_get_type,
  .validate = validate,
  .collect_references = collect_references,
  .compute_status = compute_status,
  .ready_message = "The migration plan is ready.",
  .export_status = export_status,
};

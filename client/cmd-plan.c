/* mtvctl create plan / patch plan */
#include "mtv-ctl.h"
#include "mtv-error.h"
#include "mtv-json.h"
#include "mtv-pairs.h"
#include "mtv-yaml.h"

static const MtvFlag plan_flags[] = {
  { "source", 'S', MTV_FLAG_STRING, "sourceProvider", "Source provider", "PROVIDER" },
  { "target", 't', MTV_FLAG_STRING, "targetProvider", "Target provider (default: the only local or openshift provider)", "PROVIDER" },
  { "vms", 0, MTV_FLAG_RAW, NULL, "VMs: \"vm1,vm2\" or @file (YAML/JSON list, as `get inventory vms -o planvms` prints)", "VMS" },
  { "network-mapping", 0, MTV_FLAG_STRING, "networkMap", "Network mapping to use", "MAPPING" },
  { "storage-mapping", 0, MTV_FLAG_STRING, "storageMap", "Storage mapping to use", "MAPPING" },
  { "network-pairs", 0, MTV_FLAG_RAW, NULL, "Create the network mapping PLAN-network from these pairs", "PAIRS" },
  { "storage-pairs", 0, MTV_FLAG_RAW, NULL, "Create the storage mapping PLAN-storage from these pairs", "PAIRS" },
  { "migration-type", 'm', MTV_FLAG_STRING, "type", "cold (default), warm, live or conversion", "TYPE" },
  { "warm", 0, MTV_FLAG_RAW, NULL, "Same as --migration-type warm", NULL },
  { "target-namespace", 0, MTV_FLAG_STRING, "targetNamespace", "Namespace the VMs land in (default: default)", "NAMESPACE" },
  { "description", 0, MTV_FLAG_STRING, "description", "Description", "TEXT" },
  { "transfer-network", 0, MTV_FLAG_STRING, "transferNetwork", "NetworkAttachmentDefinition for disk transfer", "NAMESPACE/NAME" },
  { "skip-guest-conversion", 0, MTV_FLAG_BOOL, "skipGuestConversion", "Raw copy mode: copy disks without virt-v2v", NULL },
  { "use-compatibility-mode", 0, MTV_FLAG_BOOL, "useCompatibilityMode", "In raw copy mode, SATA disks and E1000E NICs", NULL },
  { "preserve-static-ips", 0, MTV_FLAG_BOOL, "preserveStaticIPs", "Keep the guests' static IP addresses", NULL },
  { "migrate-shared-disks", 0, MTV_FLAG_BOOL, "migrateSharedDisks", "Migrate disks shared between VMs", NULL },
  { "install-legacy-drivers", 0, MTV_FLAG_BOOL, "installLegacyDrivers", "Install legacy virtio drivers in old Windows guests", NULL },
  { "delete-vm-on-fail-migration", 0, MTV_FLAG_BOOL, "deleteVmOnFailMigration", "Remove the target VM when its migration fails", NULL },
  { "preserve-cluster-cpu-model", 0, MTV_FLAG_BOOL, "preserveClusterCpuModel", "Keep the source cluster's CPU model", NULL },
  { "target-power-state", 0, MTV_FLAG_STRING, "targetPowerState", "on, off or auto (as the source)", "STATE" },
  { "target-labels", 'L', MTV_FLAG_MAP, "targetLabels", "Labels for the target VMs, k=v,k2=v2", "LABELS" },
  { "target-node-selector", 0, MTV_FLAG_MAP, "targetNodeSelector", "Node selector for the target VMs, k=v,...", "SELECTOR" },
  { "target-affinity", 0, MTV_FLAG_RAW, NULL,
    "Kubernetes affinity of the target VMs: JSON or YAML, or @file (kubectl-mtv's KARL syntax is not supported)",
    "AFFINITY" },
  { "pvc-name-template", 0, MTV_FLAG_STRING, "pvcNameTemplate", "Template for PVC names", "TEMPLATE" },
  { "volume-name-template", 0, MTV_FLAG_STRING, "volumeNameTemplate", "Template for volume names", "TEMPLATE" },
  { "network-name-template", 0, MTV_FLAG_STRING, "networkNameTemplate", "Template for network names", "TEMPLATE" },
  { "archived", 0, MTV_FLAG_BOOL, "archived", "Archive the plan", NULL },
  { "pre-hook", 0, MTV_FLAG_RAW, NULL, "Hook to run before each VM", "HOOK" },
  { "post-hook", 0, MTV_FLAG_RAW, NULL, "Hook to run after each VM", "HOOK" },
  { "plan-name", 0, MTV_FLAG_RAW, NULL, "The plan's name (patch; same as NAME)", "NAME" },
};

static void
add_hook (GVariantDict *vm, const char *hook, const char *step)
{
  GVariantBuilder hooks;
  g_variant_builder_init (&hooks, G_VARIANT_TYPE ("av"));
  g_autoptr (GVariant) old = g_variant_dict_lookup_value (vm, "hooks", G_VARIANT_TYPE ("av"));
  if (old)
    {
      GVariantIter iter;
      GVariant *child;
      g_variant_iter_init (&iter, old);
      while ((child = g_variant_iter_next_value (&iter)))
        g_variant_builder_add_value (&hooks, child), g_variant_unref (child);
    }
  GVariantDict h;
  g_variant_dict_init (&h, NULL);
  g_variant_dict_insert (&h, "hook", "s", hook);
  g_variant_dict_insert (&h, "step", "s", step);
  g_variant_builder_add (&hooks, "v", g_variant_dict_end (&h));
  g_variant_dict_insert_value (vm, "hooks", g_variant_builder_end (&hooks));
}

/* patch plan --pre-hook/--post-hook without --vms: the plan's VMs as they
 * are, each with that step's hook replaced by the one given. */
static GVariant *
vms_with_hooks (MtvClient *client, const char *plan, const char *pre_hook, const char *post_hook, GError **error)
{
  g_autoptr (MtvObject) object = mtv_client_get (client, MTV_KIND_PLAN, plan, error);
  if (object == NULL)
    return NULL;
  GVariant *vms = mtv_plan_get_vms (mtv_object_peek_plan (object));
  if (vms == NULL || g_variant_n_children (vms) == 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "plan %s has no VMs to give hooks to", plan);
      return NULL;
    }
  GVariantBuilder list;
  g_variant_builder_init (&list, G_VARIANT_TYPE ("aa{sv}"));
  for (gsize i = 0; i < g_variant_n_children (vms); i++)
    {
      g_autoptr (GVariant) entry = g_variant_get_child_value (vms, i);
      GVariantDict vm;
      g_variant_dict_init (&vm, entry);
      g_autoptr (GVariant) old = g_variant_dict_lookup_value (&vm, "hooks", G_VARIANT_TYPE ("av"));
      GVariantBuilder kept;
      g_variant_builder_init (&kept, G_VARIANT_TYPE ("av"));
      for (gsize j = 0; old && j < g_variant_n_children (old); j++)
        {
          g_autoptr (GVariant) boxed = g_variant_get_child_value (old, j);
          g_autoptr (GVariant) hook = g_variant_get_variant (boxed);
          const char *step = NULL;
          if (g_variant_is_of_type (hook, G_VARIANT_TYPE_VARDICT))
            g_variant_lookup (hook, "step", "&s", &step);
          if ((pre_hook && g_strcmp0 (step, "PreHook") == 0) || (post_hook && g_strcmp0 (step, "PostHook") == 0))
            continue;
          g_variant_builder_add_value (&kept, boxed);
        }
      g_variant_dict_insert_value (&vm, "hooks", g_variant_builder_end (&kept));
      if (pre_hook)
        add_hook (&vm, pre_hook, "PreHook");
      if (post_hook)
        add_hook (&vm, post_hook, "PostHook");
      g_variant_builder_add_value (&list, g_variant_dict_end (&vm));
    }
  return g_variant_builder_end (&list);
}

/* The source provider of the plan being created (-S) or changed (its spec). */
static char *
plan_source (MtvClient *client, MtvFlagValues *values, const char *plan, GError **error)
{
  const char *source = NULL;
  if (g_variant_dict_lookup (&values->spec, "sourceProvider", "&s", &source))
    return g_strdup (source);
  g_autoptr (JsonObject) exported = mtv_client_export (client, MTV_KIND_PLAN, plan, NULL);
  JsonNode *name = exported ? json_object_get_member (exported, "spec") : NULL;
  const char *path[] = { "provider", "source", "name" };
  for (gsize i = 0; name && i < G_N_ELEMENTS (path); i++)
    name = JSON_NODE_HOLDS_OBJECT (name) ? json_object_get_member (json_node_get_object (name), path[i]) : NULL;
  if (name && JSON_NODE_HOLDS_VALUE (name))
    return g_strdup (json_node_get_string (name));
  g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "--vms \"where ...\" needs the source provider (-S)");
  return NULL;
}

/* --vms "where QUERY": the source's VMs the query selects, by id and name. */
static JsonNode *
vms_from_query (MtvClient *client, const char *source, const char *query, GError **error)
{
  guint64 revision;
  g_autoptr (JsonArray) array = mtv_client_query_inventory (client, source, "vms", query, &revision, error);
  if (array == NULL)
    {
      g_prefix_error (error, "--vms: ");
      return NULL;
    }
  if (json_array_get_length (array) == 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "--vms: no VM of provider %s matches \"%s\"", source, query);
      return NULL;
    }
  JsonArray *vms = json_array_new ();
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonObject *row = json_array_get_object_element (array, i);
      JsonObject *vm = json_object_new ();
      if (json_object_has_member (row, "id"))
        json_object_set_string_member (vm, "id", json_object_get_string_member (row, "id"));
      if (json_object_has_member (row, "name"))
        json_object_set_string_member (vm, "name", json_object_get_string_member (row, "name"));
      json_array_add_object_element (vms, vm);
    }
  JsonNode *node = json_node_init_array (json_node_alloc (), vms);
  json_array_unref (vms);
  return node;
}

/* --vms "a,b" | @file | "where QUERY". A file holds a list of names or of
 * Plan VM entries (as `get inventory vms -o planvms` prints). */
static GVariant *
parse_vms (MtvClient *client, const char *source, const char *text, const char *pre_hook, const char *post_hook,
           GError **error)
{
  g_autoptr (JsonNode) list = NULL;
  if (g_ascii_strncasecmp (text, "where ", 6) == 0)
    {
      if ((list = vms_from_query (client, source, text, error)) == NULL)
        return NULL;
    }
  else if (text[0] == '@')
    {
      g_autofree char *contents = NULL;
      gsize length;
      if (!g_file_get_contents (text + 1, &contents, &length, error))
        {
          g_prefix_error (error, "--vms: ");
          return NULL;
        }
      list = mtv_yaml_parse (contents, length, text + 1, error);
      if (list == NULL)
        return NULL;
      if (!JSON_NODE_HOLDS_ARRAY (list))
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "--vms: %s must hold a list of VMs", text + 1);
          return NULL;
        }
    }
  else
    {
      list = json_node_init_array (json_node_alloc (), json_array_new ());
      json_array_unref (json_node_get_array (list));
      g_auto (GStrv) names = g_strsplit (text, ",", -1);
      for (guint i = 0; names[i]; i++)
        if (*g_strstrip (names[i]) != '\0')
          json_array_add_string_element (json_node_get_array (list), names[i]);
    }

  GVariantBuilder vms;
  g_variant_builder_init (&vms, G_VARIANT_TYPE ("aa{sv}"));
  JsonArray *array = json_node_get_array (list);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *entry = json_array_get_element (array, i);
      GVariantDict vm;
      g_variant_dict_init (&vm, NULL);
      if (JSON_NODE_HOLDS_VALUE (entry) && json_node_get_value_type (entry) == G_TYPE_STRING)
        g_variant_dict_insert (&vm, "name", "s", json_node_get_string (entry));
      else if (JSON_NODE_HOLDS_OBJECT (entry))
        {
          g_autoptr (GVariant) v = json_gvariant_deserialize (entry, "a{sv}", error);
          if (v == NULL)
            {
              g_variant_dict_clear (&vm);
              g_variant_builder_clear (&vms);
              return NULL;
            }
          g_variant_dict_clear (&vm);
          g_variant_dict_init (&vm, v);
        }
      else
        {
          g_variant_dict_clear (&vm);
          g_variant_builder_clear (&vms);
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                       "--vms: entry %u is neither a name nor a dictionary", i);
          return NULL;
        }
      if (pre_hook)
        add_hook (&vm, pre_hook, "PreHook");
      if (post_hook)
        add_hook (&vm, post_hook, "PostHook");
      g_variant_builder_add_value (&vms, g_variant_dict_end (&vm));
    }
  return g_variant_builder_end (&vms);
}

/* The target provider when none is given: the only one that can be a target. */
static char *
default_target (MtvClient *client, GError **error)
{
  g_autolist (MtvObject) providers = mtv_client_list (client, MTV_KIND_PROVIDER, error);
  if (providers == NULL && error && *error)
    return NULL;
  char *found = NULL;
  guint n = 0;
  for (GList *l = providers; l; l = l->next)
    {
      const char *type = mtv_provider_get_type_ (mtv_object_peek_provider (l->data));
      if (g_strv_contains ((const char *const[]) { "local", "openshift", "kubevirt", NULL }, type))
        {
          n++;
          g_free (found);
          found = g_strdup (mtv_resource_get_name (mtv_object_peek_resource (l->data)));
        }
    }
  if (n == 1)
    return found;
  g_free (found);
  g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
               "--target is required: there are %u providers that can be a target", n);
  return NULL;
}

/* Creates MAP-network / MAP-storage from pairs (or empty) when the plan
 * names no mapping; remembers them so a failed plan creation removes them. */
static gboolean
ensure_mapping (MtvClient *client, MtvFlagValues *values, const char *plan, MtvKind kind,
                GPtrArray *created, GError **error)
{
  gboolean network = kind == MTV_KIND_NETWORK_MAP;
  const char *key = network ? "networkMap" : "storageMap";
  const char *pairs_text = g_hash_table_lookup (values->raw, network ? "network-pairs" : "storage-pairs");
  if (g_variant_dict_contains (&values->spec, key))
    {
      if (pairs_text == NULL)
        return TRUE;
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "give either --%s-mapping or --%s-pairs, not both",
                   network ? "network" : "storage", network ? "network" : "storage");
      return FALSE;
    }
  GVariant *pairs = network ? mtv_pairs_parse_network (pairs_text ? pairs_text : "", error)
                            : mtv_pairs_parse_storage (pairs_text ? pairs_text : "", NULL, NULL, error);
  if (pairs == NULL)
    return FALSE;
  g_autofree char *map_name = g_strdup_printf ("%s-%s", plan, network ? "network" : "storage");
  GVariantDict spec;
  g_variant_dict_init (&spec, NULL);
  GVariant *v;
  if ((v = g_variant_dict_lookup_value (&values->spec, "sourceProvider", NULL)))
    g_variant_dict_insert_value (&spec, "sourceProvider", v), g_variant_unref (v);
  if ((v = g_variant_dict_lookup_value (&values->spec, "targetProvider", NULL)))
    g_variant_dict_insert_value (&spec, "targetProvider", v), g_variant_unref (v);
  g_variant_dict_insert_value (&spec, "pairs", pairs);
  g_autofree char *path = mtv_client_create (client, kind, map_name, g_variant_dict_end (&spec), error);
  if (path == NULL)
    return FALSE;
  g_ptr_array_add (created, g_strdup (map_name));
  g_variant_dict_insert (&values->spec, key, "s", map_name);
  return TRUE;
}

static int
run_plan (MtvCtl *ctl, int argc, char **argv, gboolean create)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GPtrArray) created = g_ptr_array_new_with_free_func (g_free);
  MtvFlagValues values;
  mtv_flag_values_init (&values, plan_flags, G_N_ELEMENTS (plan_flags));

  gboolean ok = FALSE;
  const char *name = NULL;
  MtvClient *client = NULL;
  if (!mtv_ctl_parse ("NAME", create ? "Create a migration plan." : "Change a migration plan.",
                      &argc, &argv, &values, &name_flag, NULL, &error))
    goto out;
  if (g_hash_table_contains (values.raw, "plan-name") && name_flag == NULL)
    name_flag = g_strdup (g_hash_table_lookup (values.raw, "plan-name"));
  if (!(name = mtv_ctl_single_name (argc, argv, name_flag, "plan", &error))
      || !(client = mtv_ctl_client (ctl, &error)))
    goto out;

  const char *affinity = g_hash_table_lookup (values.raw, "target-affinity");
  if (affinity)
    {
      g_autofree char *text = mtv_flags_value_or_file (affinity, "--target-affinity", &error);
      g_autoptr (JsonNode) node = text ? mtv_yaml_parse (text, strlen (text), "--target-affinity", &error) : NULL;
      if (node == NULL)
        goto out;
      if (!JSON_NODE_HOLDS_OBJECT (node))
        {
          g_set_error (&error, MTV_ERROR, MTV_ERROR_INVALID, "--target-affinity: not an object (an Affinity, "
                       "with nodeAffinity, podAffinity or podAntiAffinity)");
          goto out;
        }
      g_autofree char *json = json_to_string (node, FALSE);
      g_variant_dict_insert (&values.spec, "targetAffinity", "s", json);
    }
  if (g_hash_table_contains (values.raw, "warm"))
    g_variant_dict_insert (&values.spec, "type", "s", "warm");
  const char *vms = g_hash_table_lookup (values.raw, "vms");
  const char *pre = g_hash_table_lookup (values.raw, "pre-hook");
  const char *post = g_hash_table_lookup (values.raw, "post-hook");
  if (vms)
    {
      g_autofree char *source = g_ascii_strncasecmp (vms, "where ", 6) == 0
                                    ? plan_source (client, &values, name, &error) : NULL;
      GVariant *list = (source || error == NULL) ? parse_vms (client, source, vms, pre, post, &error) : NULL;
      if (list == NULL)
        goto out;
      g_variant_dict_insert_value (&values.spec, "vms", list);
    }
  else if ((pre || post) && create)
    {
      g_set_error (&error, MTV_ERROR, MTV_ERROR_INVALID, "--pre-hook and --post-hook apply to the VMs given with --vms");
      goto out;
    }
  else if (pre || post)
    {
      GVariant *list = vms_with_hooks (client, name, pre, post, &error);
      if (list == NULL)
        goto out;
      g_variant_dict_insert_value (&values.spec, "vms", list);
    }

  if (create)
    {
      if (vms == NULL)
        {
          g_set_error (&error, MTV_ERROR, MTV_ERROR_INVALID, "--vms is required");
          goto out;
        }
      if (!g_variant_dict_contains (&values.spec, "targetProvider"))
        {
          g_autofree char *target = default_target (client, &error);
          if (target == NULL)
            goto out;
          g_variant_dict_insert (&values.spec, "targetProvider", "s", target);
        }
      if (!ensure_mapping (client, &values, name, MTV_KIND_NETWORK_MAP, created, &error)
          || !ensure_mapping (client, &values, name, MTV_KIND_STORAGE_MAP, created, &error))
        goto out;
      path = mtv_client_create (client, MTV_KIND_PLAN, name,
                                                 g_variant_dict_end (&values.spec), &error);
      if ((ok = path != NULL))
        g_print ("plan/%s created\n", name);
    }
  else
    {
      if (g_hash_table_contains (values.raw, "network-pairs") || g_hash_table_contains (values.raw, "storage-pairs"))
        {
          g_set_error (&error, MTV_ERROR, MTV_ERROR_INVALID,
                       "patch plan takes --network-mapping/--storage-mapping; change pairs on the mapping itself");
          goto out;
        }
      ok = mtv_client_update (client, MTV_KIND_PLAN, name, g_variant_dict_end (&values.spec), NULL, &error);
      if (ok)
        g_print ("plan/%s patched\n", name);
    }
out:
  /* Leave nothing behind when the plan itself could not be created. */
  for (guint i = 0; !ok && client && i < created->len; i++)
    {
      const char *map = created->pdata[i];
      MtvKind kind = g_str_has_suffix (map, "-network") ? MTV_KIND_NETWORK_MAP : MTV_KIND_STORAGE_MAP;
      mtv_client_delete (client, kind, map, NULL);
    }
  mtv_flag_values_clear (&values);
  return mtv_ctl_finish (ok, error);
}

int
mtv_cmd_create_plan (MtvCtl *ctl, int argc, char **argv)
{
  return run_plan (ctl, argc, argv, TRUE);
}

int
mtv_cmd_patch_plan (MtvCtl *ctl, int argc, char **argv)
{
  return run_plan (ctl, argc, argv, FALSE);
}

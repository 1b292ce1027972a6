#include "mtv-provider-runtime.h"
#include "mtv-json.h"
#include "mtv-rules.h"

/* Serves @raw with the rules' concerns; TRUE when that changed what is served. */
static gboolean
serve (MtvProviderRuntime *rt, JsonObject *raw)
{
  g_autoptr (JsonObject) applied = raw ? mtv_rules_apply_cached (rt->host->rules (rt->host->data), rt->backend->type, raw,
                                                                 &rt->applied_vms)
                                      : NULL;
  if (raw != rt->raw)
    {
      g_clear_pointer (&rt->raw, json_object_unref);
      rt->raw = raw ? json_object_ref (raw) : NULL;
    }
  if ((applied == NULL) == (rt->inventory == NULL) && (applied == NULL || mtv_json_object_equal (applied, rt->inventory)))
    return FALSE;
  g_clear_pointer (&rt->inventory, json_object_unref);
  rt->inventory = g_steal_pointer (&applied);
  rt->revision++;
  return TRUE;
}

static void
publish (gpointer host, JsonObject *inventory, const char *failure, GPtrArray *faults)
{
  MtvProviderRuntime *rt = host;
  gboolean changed = serve (rt, inventory);
  if (inventory)
    json_object_unref (inventory);
  g_free (rt->failure);
  rt->failure = failure ? g_utf8_make_valid (failure, -1) : NULL;   /* quoted in replies and conditions */
  g_ptr_array_set_size (rt->faults, 0);
  for (guint i = 0; faults && i < faults->len; i++)
    g_ptr_array_add (rt->faults, g_utf8_make_valid (faults->pdata[i], -1));
  rt->reported = TRUE;
  rt->host->reported (rt->host->data, rt->name, changed);
}

gboolean
mtv_provider_runtime_reapply (MtvProviderRuntime *rt)
{
  /* Other rules: every VM's concerns anew. */
  g_hash_table_remove_all (rt->applied_vms);
  return rt->raw && serve (rt, rt->raw);
}

static const MtvInventorySink sink = { .publish = publish };

MtvProviderRuntime *
mtv_provider_runtime_start (const MtvProviderRuntimeHost *host, const MtvRecord *record, JsonObject *credentials,
                            JsonObject *stored, gboolean serve_stored)
{
  const MtvProviderType *type = mtv_provider_type_lookup (json_object_get_string_member (record->spec, "type"));
  if (type == NULL || type->backend == NULL)
    return NULL;
  MtvProviderRuntime *rt = g_new0 (MtvProviderRuntime, 1);
  rt->host = host;
  rt->name = g_strdup (record->name);
  rt->backend = type->backend;
  rt->faults = g_ptr_array_new_with_free_func (g_free);
  rt->applied_vms = mtv_rules_cache_new ();
  if (stored)
    {
      rt->revision = (guint64) json_object_get_int_member_with_default (stored, "revision", 0);
      JsonNode *inventory = json_object_get_member (stored, "inventory");
      JsonNode *raw = json_object_get_member (stored, "raw");
      if (serve_stored && inventory && JSON_NODE_HOLDS_OBJECT (inventory) && raw && JSON_NODE_HOLDS_OBJECT (raw))
        {
          /* What was served, at its revision; the current rules may add to it. */
          rt->inventory = json_object_ref (json_node_get_object (inventory));
          serve (rt, json_node_get_object (raw));
          rt->reported = TRUE;
        }
    }
  rt->instance = rt->backend->start (record->name, record->spec, credentials, &sink, rt);
  return rt;
}

void
mtv_provider_runtime_free (MtvProviderRuntime *rt)
{
  if (rt == NULL)
    return;
  rt->backend->stop (rt->instance);
  g_clear_pointer (&rt->inventory, json_object_unref);
  g_clear_pointer (&rt->raw, json_object_unref);
  g_ptr_array_unref (rt->faults);
  g_hash_table_unref (rt->applied_vms);
  g_free (rt->failure);
  g_free (rt->name);
  g_free (rt);
}

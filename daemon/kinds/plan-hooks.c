#include "plan-hooks.h"
#include "mtv-json.h"
#include "migration/target-adapter.h"
#include "providers/mtv-provider-types.h"

void
mtv_plan_check_hooks (MtvDaemon *daemon, JsonObject *spec, MtvStatusBuilder *status)
{
  const MtvRecord *target = mtv_daemon_lookup_record (daemon, MTV_KIND_PROVIDER,
                                                      mtv_reference_name (mtv_json_lookup_path (spec, "provider.destination")));
  const MtvProviderType *type = target ? mtv_provider_type_lookup (mtv_json_string (target->spec, "type")) : NULL;
  if (type == NULL || type->target == NULL)
    return;   /* the target's own condition says why */
  g_autoptr (GString) problems = g_string_new (NULL);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  JsonArray *vms = json_object_get_array_member (spec, "vms");
  for (guint i = 0; vms && i < json_array_get_length (vms); i++)
    {
      JsonNode *hooks = json_object_get_member (json_array_get_object_element (vms, i), "hooks");
      for (guint h = 0; hooks && JSON_NODE_HOLDS_ARRAY (hooks) && h < json_array_get_length (json_node_get_array (hooks)); h++)
        {
          const char *name = mtv_reference_name (
            json_object_get_member (json_array_get_object_element (json_node_get_array (hooks), h), "hook"));
          const MtvRecord *hook = mtv_daemon_lookup_record (daemon, MTV_KIND_HOOK, name);
          if (hook == NULL || !g_hash_table_add (seen, (gpointer) name))
            continue;
          g_autoptr (GError) error = NULL;
          if (type->target->check_hook && !type->target->check_hook (hook->spec, &error))
            g_string_append_printf (problems, "%s%s: %s", problems->len ? "; " : "", name, error->message);
        }
    }
  if (problems->len)
    mtv_status_add (status, "HookNotValid", "Critical", "NotRunnable", "Hooks that cannot run on a %s target: %s.",
                    type->type, problems->str);
}

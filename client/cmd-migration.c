/* mtvctl get migrations [PLAN], and what describe plan shows of a plan's
 * migrations: each VM's status, phase and error, and the runs kept. */
#include "mtv-ctl.h"
#include "mtv-error.h"
#include "mtv-json.h"

#include <stdio.h>
#include <string.h>

static const char *
or_dash (const char *s)
{
  return s && *s ? s : "-";
}

/* The migration's VMs (MigrationVm proxies). */
static GPtrArray *
migration_vms (MtvClient *client, MtvMigration *migration)
{
  GPtrArray *vms = g_ptr_array_new_with_free_func (g_object_unref);
  const char *const *paths = mtv_migration_get_vms (migration);
  for (guint i = 0; paths && paths[i]; i++)
    {
      g_autoptr (MtvObject) o = mtv_client_object (client, paths[i], NULL);
      MtvMigrationVm *vm = o ? mtv_object_get_migration_vm (o) : NULL;
      if (vm)
        g_ptr_array_add (vms, vm);
    }
  return vms;
}

static JsonObject *
migration_json (MtvClient *client, MtvObject *object)
{
  MtvMigration *m = mtv_object_peek_migration (object);
  JsonObject *o = json_object_new ();
  const char *path = g_dbus_object_get_object_path (G_DBUS_OBJECT (object));
  json_object_set_string_member (o, "id", strrchr (path, '/') + 1);
  json_object_set_string_member (o, "plan", mtv_migration_get_plan (m));
  json_object_set_string_member (o, "phase", mtv_migration_get_phase (m));
  json_object_set_string_member (o, "started", mtv_migration_get_started (m));
  json_object_set_string_member (o, "completed", mtv_migration_get_completed (m));
  json_object_set_string_member (o, "cutover", mtv_migration_get_cutover (m));
  JsonArray *vms = json_array_new ();
  g_autoptr (GPtrArray) list = migration_vms (client, m);
  for (guint i = 0; i < list->len; i++)
    {
      MtvMigrationVm *vm = list->pdata[i];
      JsonObject *v = json_object_new ();
      json_object_set_string_member (v, "name", mtv_migration_vm_get_name (vm));
      json_object_set_string_member (v, "targetName", mtv_migration_vm_get_target_name (vm));
      json_object_set_string_member (v, "status", mtv_migration_vm_get_status (vm));
      json_object_set_string_member (v, "phase", mtv_migration_vm_get_phase (vm));
      json_object_set_string_member (v, "error", mtv_migration_vm_get_error (vm));
      json_array_add_object_element (vms, v);
    }
  json_object_set_array_member (o, "vms", vms);
  return o;
}

static guint
count_status (JsonObject *migration, const char *status)
{
  JsonArray *vms = json_object_get_array_member (migration, "vms");
  guint n = 0;
  for (guint i = 0; i < json_array_get_length (vms); i++)
    n += g_strcmp0 (mtv_json_string (json_array_get_object_element (vms, i), "status"), status) == 0;
  return n;
}

int
mtv_cmd_get_migrations (MtvCtl *ctl, int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL, *output = NULL;
  MtvOutputFormat format;
  MtvClient *client;
  if (!mtv_ctl_parse ("[PLAN]", "List the migrations mtvd keeps (the last 10 of each plan), or a plan's.", &argc, &argv,
                      NULL, &name_flag, &output, &error)
      || !mtv_output_format_parse (output, &format, &error)
      || !(client = mtv_ctl_client (ctl, &error)))
    return mtv_ctl_finish (FALSE, error);
  g_auto (GStrv) plans = mtv_ctl_requested_names (argc, argv, name_flag);
  /* By plan, each plan's oldest first (its Migrations property's order). */
  g_autolist (MtvObject) objects = NULL;
  if (plans[0])
    for (guint i = 0; plans[i]; i++)
      {
        MtvObject *plan = mtv_client_get (client, MTV_KIND_PLAN, plans[i], &error);
        if (plan == NULL)
          return mtv_ctl_finish (FALSE, error);
        objects = g_list_append (objects, plan);
      }
  else if ((objects = mtv_client_list (client, MTV_KIND_PLAN, &error)) == NULL && error)
    return mtv_ctl_finish (FALSE, error);
  g_autoptr (JsonArray) rows = json_array_new ();
  for (GList *l = objects; l; l = l->next)
    {
      const char *const *paths = mtv_plan_get_migrations (mtv_object_peek_plan (l->data));
      for (guint i = 0; paths && paths[i]; i++)
        {
          g_autoptr (MtvObject) m = mtv_client_object (client, paths[i], NULL);
          if (m && mtv_object_peek_migration (m))
            json_array_add_object_element (rows, migration_json (client, m));
        }
    }
  if (format != MTV_OUTPUT_TABLE)
    {
      g_autoptr (JsonNode) node = json_node_init_array (json_node_alloc (), rows);
      mtv_output_print_node (node, format);
      return 0;
    }
  if (json_array_get_length (rows) == 0)
    {
      g_printerr ("No migrations found.\n");
      return 0;
    }
  g_autoptr (MtvTable) table = mtv_table_new ("ID", "PLAN", "PHASE", "SUCCEEDED", "STARTED", "COMPLETED", "CUTOVER",
                                              NULL);
  for (guint i = 0; i < json_array_get_length (rows); i++)
    {
      JsonObject *m = json_array_get_object_element (rows, i);
      g_autofree char *vms = g_strdup_printf ("%u/%u", count_status (m, "Succeeded"),
                                              json_array_get_length (json_object_get_array_member (m, "vms")));
      mtv_table_add_row (table, mtv_json_string (m, "id"), mtv_json_string (m, "plan"), mtv_json_string (m, "phase"),
                         vms, or_dash (mtv_json_string (m, "started")), or_dash (mtv_json_string (m, "completed")),
                         or_dash (mtv_json_string (m, "cutover")));
    }
  mtv_table_print (table);
  return 0;
}

static char *
size_note (JsonObject *annotations, const char *key)
{
  const char *v = mtv_json_string (annotations, key);
  return v ? g_format_size (g_ascii_strtoull (v, NULL, 10)) : NULL;
}

char *
mtv_warm_summary (JsonObject *migration)
{
  g_autoptr (GString) out = g_string_new (NULL);
  JsonArray *vms = mtv_json_array (migration, "vms");
  for (guint i = 0; i < mtv_json_array_length (vms); i++)
    {
      JsonObject *vm = mtv_json_array_object (vms, i);
      JsonObject *warm = mtv_json_object (vm, "warm");
      if (warm == NULL)
        continue;
      JsonObject *notes = NULL;
      JsonArray *steps = mtv_json_array (vm, "pipeline");
      for (guint s = 0; s < mtv_json_array_length (steps); s++)
        if (g_strcmp0 (mtv_json_string (mtv_json_array_object (steps, s), "name"), "DiskTransfer") == 0)
          notes = mtv_json_object (mtv_json_array_object (steps, s), "annotations");
      g_string_append_printf (out, "  %s: %" G_GINT64_FORMAT " copy rounds", mtv_json_string (vm, "name"),
                              mtv_json_int (warm, "successes", 0));
      if (mtv_json_string (warm, "nextPrecopyAt"))
        g_string_append_printf (out, ", next at %s", mtv_json_string (warm, "nextPrecopyAt"));
      g_autofree char *last = size_note (notes, "lastRoundBytesRead"), *churn = size_note (notes, "churnBytesPerSecond");
      g_autofree char *delta = size_note (notes, "projectedFinalDeltaBytes");
      if (last)
        g_string_append_printf (out, "; last round read %s", last);
      if (churn)
        g_string_append_printf (out, "; churn %s/s", churn);
      if (delta)
        g_string_append_printf (out, "; a cutover now: about %s to copy, %s s down", delta,
                                mtv_json_string (notes, "projectedDowntimeSeconds") ? mtv_json_string (notes, "projectedDowntimeSeconds")
                                                                            : "?");
      if (mtv_json_string (notes, "downtimeMilliseconds"))
        g_string_append_printf (out, "; downtime %.1f s",
                                g_ascii_strtod (mtv_json_string (notes, "downtimeMilliseconds"), NULL) / 1000);
      g_string_append_c (out, '\n');
    }
  return out->len ? g_string_free (g_steal_pointer (&out), FALSE) : NULL;
}

void
mtv_describe_plan_migrations (MtvClient *client, const char *plan_name, JsonObject *manifest)
{
  JsonObject *migration = mtv_json_object (mtv_json_object (manifest, "status"), "migration");
  if (migration)
    {
      printf ("\nMigration %s: %s (started %s%s%s%s%s)\n", mtv_json_string (migration, "id"),
              mtv_json_string (migration, "phase"), or_dash (mtv_json_string (migration, "started")),
              mtv_json_string (migration, "completed") ? ", completed " : "",
              mtv_json_string (migration, "completed") ? mtv_json_string (migration, "completed") : "",
              mtv_json_string (migration, "cutover") ? ", cutover " : "",
              mtv_json_string (migration, "cutover") ? mtv_json_string (migration, "cutover") : "");
      g_autoptr (MtvTable) table = mtv_table_new ("  VM", "TARGET", "STATUS", "PHASE", "ERROR", NULL);
      JsonArray *vms = json_object_get_array_member (migration, "vms");
      for (guint i = 0; vms && i < json_array_get_length (vms); i++)
        {
          JsonObject *vm = json_array_get_object_element (vms, i);
          JsonNode *reasons = json_object_get_member (mtv_json_object (vm, "error") ? mtv_json_object (vm, "error") : vm,
                                                      "reasons");
          const char *error = reasons && JSON_NODE_HOLDS_ARRAY (reasons) && json_array_get_length (json_node_get_array (reasons))
                                ? json_array_get_string_element (json_node_get_array (reasons), 0)
                                : "";
          g_autofree char *name = g_strdup_printf ("  %s", mtv_json_string (vm, "name"));
          mtv_table_add_row (table, name, mtv_json_string (vm, "targetName"), mtv_json_string (vm, "status"),
                             mtv_json_string (vm, "phase"), error);
        }
      mtv_table_print (table);
      g_autofree char *warm = mtv_warm_summary (migration);
      if (warm)
        printf ("\nWarm:\n%s", warm);
    }
  g_autoptr (MtvObject) plan = mtv_client_get (client, MTV_KIND_PLAN, plan_name, NULL);
  const char *const *paths = plan ? mtv_plan_get_migrations (mtv_object_peek_plan (plan)) : NULL;
  if (paths == NULL || paths[0] == NULL)
    return;
  printf ("\nMigrations (kept: the last 10):\n");
  g_autoptr (MtvTable) table = mtv_table_new ("  ID", "PHASE", "STARTED", "COMPLETED", NULL);
  for (guint i = 0; paths[i]; i++)
    {
      g_autoptr (MtvObject) o = mtv_client_object (client, paths[i], NULL);
      MtvMigration *m = o ? mtv_object_peek_migration (o) : NULL;
      if (m == NULL)
        continue;
      g_autofree char *id = g_strdup_printf ("  %s", strrchr (paths[i], '/') + 1);
      mtv_table_add_row (table, id, mtv_migration_get_phase (m), or_dash (mtv_migration_get_started (m)),
                         or_dash (mtv_migration_get_completed (m)));
    }
  mtv_table_print (table);
}

/* mtvctl start plan, cancel plan, archive/unarchive plan, and the progress
 * view of describe plan --watch / start plan --wait. */
#include "mtv-ctl.h"
#include "mtv-error.h"
#include "mtv-json.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char *
duration (guint64 seconds)
{
  if (seconds >= 3600)
    return g_strdup_printf ("%" G_GUINT64_FORMAT ":%02" G_GUINT64_FORMAT ":%02" G_GUINT64_FORMAT, seconds / 3600,
                            seconds / 60 % 60, seconds % 60);
  return g_strdup_printf ("%" G_GUINT64_FORMAT ":%02" G_GUINT64_FORMAT, seconds / 60, seconds % 60);
}

/* One line per VM: name, step, a bar, percent, rate and time left. */
static char *
vm_line (MtvMigrationVm *vm, guint name_width)
{
  const char *status = mtv_migration_vm_get_status (vm);
  double progress = CLAMP (mtv_migration_vm_get_progress (vm), 0.0, 1.0);
  const int width = 30;
  int filled = (int) (progress * width);
  g_autoptr (GString) bar = g_string_new (NULL);
  for (int i = 0; i < width; i++)
    g_string_append (bar, i < filled ? "#" : "-");
  g_autofree char *rate = mtv_migration_vm_get_rate (vm) > 0
                            ? g_strdup_printf ("%s/s", g_format_size ((guint64) mtv_migration_vm_get_rate (vm)))
                            : g_strdup ("");
  g_autofree char *eta = NULL;
  guint64 end = mtv_migration_vm_get_expected_end_time (vm);
  gint64 now = g_get_real_time ();
  if (end > (guint64) now && g_strcmp0 (status, "Running") == 0)
    {
      g_autofree char *left = duration ((end - (guint64) now) / G_USEC_PER_SEC);
      eta = g_strdup_printf ("ETA %s", left);
    }
  const char *what = g_strcmp0 (status, "Running") == 0 ? mtv_migration_vm_get_step (vm) : status;
  g_autofree char *line = g_strdup_printf ("%-*s  %-24s [%s] %3.0f%%  %-12s %s", (int) name_width,
                                           mtv_migration_vm_get_name (vm), what, bar->str, progress * 100, rate,
                                           eta ? eta : "");
  if (*mtv_migration_vm_get_error (vm))
    {
      g_autofree char *with_error = g_strdup_printf ("%s\n%*s  %s", line, (int) name_width, "", mtv_migration_vm_get_error (vm));
      return g_steal_pointer (&with_error);
    }
  return g_steal_pointer (&line);
}

/* Follows a migration until it ends, drawing its VMs; 0 if every VM succeeded.
 * With @plan, a warm plan's rounds and downtime figures too (its status,
 * asked for every two seconds). */
static int
watch (MtvClient *client, const char *migration_path, const char *plan, GError **error)
{
  g_autofree char *warm = NULL;
  gint64 warm_asked = 0;
  g_autoptr (GDBusObjectManager) manager = mtv_object_manager_client_new_sync (
    client->bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE, MTV_BUS_NAME, MTV_ROOT_PATH, NULL, error);
  if (manager == NULL)
    return 1;
  gboolean tty = isatty (STDOUT_FILENO);
  guint drawn = 0;
  g_autofree char *last = NULL;
  GMainContext *ctx = g_main_context_default ();
  for (;;)
    {
      while (g_main_context_iteration (ctx, FALSE))
        ;
      g_autoptr (GDBusObject) object = g_dbus_object_manager_get_object (manager, migration_path);
      MtvMigration *migration = object ? mtv_object_peek_migration (MTV_OBJECT (object)) : NULL;
      if (migration == NULL)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_NOT_FOUND, "migration %s is gone", migration_path);
          return 1;
        }
      const char *const *paths = mtv_migration_get_vms (migration);
      guint width = 4;
      g_autoptr (GPtrArray) vms = g_ptr_array_new_with_free_func (g_object_unref);
      for (guint i = 0; paths && paths[i]; i++)
        {
          GDBusObject *o = g_dbus_object_manager_get_object (manager, paths[i]);
          MtvMigrationVm *vm = o ? mtv_object_get_migration_vm (MTV_OBJECT (o)) : NULL;
          g_clear_object (&o);
          if (vm)
            {
              width = MAX (width, strlen (mtv_migration_vm_get_name (vm)));
              g_ptr_array_add (vms, vm);
            }
        }
      g_autoptr (GString) screen = g_string_new (NULL);
      for (guint i = 0; i < vms->len; i++)
        {
          g_autofree char *line = vm_line (vms->pdata[i], width);
          g_string_append_printf (screen, "%s\n", line);
        }
      const char *phase = mtv_migration_get_phase (migration);
      gboolean done = g_strcmp0 (phase, "Running") != 0;
      if (plan && (done || g_get_monotonic_time () - warm_asked > 2 * G_USEC_PER_SEC))
        {
          warm_asked = g_get_monotonic_time ();
          g_autoptr (JsonObject) manifest = mtv_client_export (client, MTV_KIND_PLAN, plan, NULL);
          g_free (warm);
          warm = manifest ? mtv_warm_summary (mtv_json_object (mtv_json_object (manifest, "status"), "migration"))
                          : NULL;
        }
      if (warm)
        g_string_append (screen, warm);
      if (tty)
        {
          for (guint i = 0; i < drawn; i++)
            fputs ("\033[1A\033[2K", stdout);
          fputs (screen->str, stdout);
          drawn = 0;
          for (const char *p = screen->str; *p; p++)
            drawn += *p == '\n';
        }
      else if (g_strcmp0 (last, screen->str) != 0 && (done || last == NULL || vms->len))
        {
          /* Not a terminal: print a snapshot when something changed, at most every second. */
          fputs (screen->str, stdout);
        }
      fflush (stdout);
      g_free (last);
      last = g_strdup (screen->str);
      if (done)
        {
          printf ("Migration %s.\n", phase);
          return g_strcmp0 (phase, "Succeeded") == 0 ? 0 : 1;
        }
      g_usleep (tty ? 200000 : 1000000);
    }
}

/* A cutover time as given (RFC 3339, checked by mtvd) or "now". */
static char *
cutover_time (const char *given)
{
  if (given == NULL || g_str_equal (given, "now"))
    {
      g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
      return g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
    }
  return g_strdup (given);
}

static const MtvFlag start_flags[] = {
  { "cutover", 'c', MTV_FLAG_RAW, NULL, "When a warm plan cuts over: RFC 3339 (2026-12-24T22:00:00Z) or now", "TIME" },
};

int
mtv_cmd_start_plan (MtvCtl *ctl, int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL;
  gboolean wait = FALSE;
  for (int i = 1; i < argc; i++)
    if (g_str_equal (argv[i], "--wait") || g_str_equal (argv[i], "-w"))
      {
        wait = TRUE;
        memmove (&argv[i], &argv[i + 1], (size_t) (argc - i) * sizeof (char *));
        argc--, i--;
      }
  MtvFlagValues values;
  mtv_flag_values_init (&values, start_flags, G_N_ELEMENTS (start_flags));
  MtvClient *client;
  const char *name;
  if (!mtv_ctl_parse ("NAME [--wait] [--cutover TIME]", "Start a migration plan; --wait follows it with progress bars.",
                      &argc, &argv, &values, &name_flag, NULL, &error)
      || !(name = mtv_ctl_single_name (argc, argv, name_flag, "plan", &error))
      || !(client = mtv_ctl_client (ctl, &error)))
    {
      mtv_flag_values_clear (&values);
      return mtv_ctl_finish (FALSE, error);
    }
  const char *given = g_hash_table_lookup (values.raw, "cutover");
  g_autofree char *cutover = given ? cutover_time (given) : NULL;
  mtv_flag_values_clear (&values);
  g_autofree char *path = mtv_client_start_plan (client, name, cutover, &error);
  if (path == NULL)
    return mtv_ctl_finish (FALSE, error);
  g_print ("plan/%s started (migration %s)%s%s\n", name, strrchr (path, '/') + 1, cutover ? ", cutover at " : "",
           cutover ? cutover : "");
  if (!wait)
    return 0;
  int status = watch (client, path, name, &error);
  if (error)
    return mtv_ctl_finish (FALSE, error);
  return status;
}

/* The path of the plan's latest migration, or NULL with why there is none. */
static char *
latest_migration (MtvClient *client, const char *plan, GError **error)
{
  g_autoptr (MtvObject) object = mtv_client_get (client, MTV_KIND_PLAN, plan, error);
  if (object == NULL)
    return NULL;
  const char *path = mtv_plan_get_migration (mtv_object_peek_plan (object));
  if (path == NULL || g_str_equal (path, "/"))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "plan \"%s\" has not been started", plan);
      return NULL;
    }
  return g_strdup (path);
}

static const MtvFlag cutover_flags[] = {
  { "cutover", 'c', MTV_FLAG_RAW, NULL, "When to cut over: RFC 3339 (2026-12-24T22:00:00Z) or now (the default)", "TIME" },
};

int
mtv_cmd_cutover_plan (MtvCtl *ctl, int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL;
  gboolean all = FALSE;
  for (int i = 1; i < argc; i++)
    if (g_str_equal (argv[i], "--all"))
      {
        all = TRUE;
        memmove (&argv[i], &argv[i + 1], (size_t) (argc - i) * sizeof (char *));
        argc--, i--;
      }
  MtvFlagValues values;
  mtv_flag_values_init (&values, cutover_flags, G_N_ELEMENTS (cutover_flags));
  MtvClient *client = NULL;
  if (!mtv_ctl_parse ("NAME[,NAME...] | --all [--cutover TIME|now]",
                      "Set or move the cutover of running warm plans (default: now).", &argc, &argv, &values,
                      &name_flag, NULL, &error)
      || !(client = mtv_ctl_client (ctl, &error)))
    {
      mtv_flag_values_clear (&values);
      return mtv_ctl_finish (FALSE, error);
    }
  g_autofree char *when = cutover_time (g_hash_table_lookup (values.raw, "cutover"));
  mtv_flag_values_clear (&values);
  g_auto (GStrv) names = mtv_ctl_requested_names (argc, argv, name_flag);
  g_autoptr (GPtrArray) plans = g_ptr_array_new_with_free_func (g_free);
  for (guint n = 0; names[n]; n++)
    g_ptr_array_add (plans, g_strdup (names[n]));
  if (all)
    {
      /* Every plan whose latest migration runs. */
      g_autolist (MtvObject) list = mtv_client_list (client, MTV_KIND_PLAN, &error);
      if (error)
        return mtv_ctl_finish (FALSE, error);
      for (GList *l = list; l; l = l->next)
        {
          const char *path = mtv_plan_get_migration (mtv_object_peek_plan (l->data));
          g_autoptr (MtvObject) m = path && !g_str_equal (path, "/") ? mtv_client_object (client, path, NULL) : NULL;
          if (m && g_strcmp0 (mtv_migration_get_phase (mtv_object_peek_migration (m)), "Running") == 0)
            g_ptr_array_add (plans, g_strdup (mtv_resource_get_name (mtv_object_peek_resource (l->data))));
        }
    }
  if (plans->len == 0)
    {
      g_set_error (&error, MTV_ERROR, MTV_ERROR_INVALID, all ? "no plan is running" : "a plan name (or --all) is required");
      return mtv_ctl_finish (FALSE, error);
    }
  int status = 0;
  for (guint n = 0; n < plans->len; n++)
    {
      g_autoptr (GError) one = NULL;
      g_autofree char *path = latest_migration (client, plans->pdata[n], &one);
      if (path && mtv_client_cutover (client, path, when, &one))
        g_print ("plan/%s: cutover at %s\n", (char *) plans->pdata[n], when);
      else
        {
          mtv_client_print_error (one);
          status = 1;
        }
    }
  return status;
}

int
mtv_cmd_watch_plan (MtvCtl *ctl, const char *name)
{
  g_autoptr (GError) error = NULL;
  MtvClient *client = mtv_ctl_client (ctl, &error);
  g_autoptr (MtvObject) plan = client ? mtv_client_get (client, MTV_KIND_PLAN, name, &error) : NULL;
  if (plan == NULL)
    return mtv_ctl_finish (FALSE, error);
  const char *path = mtv_plan_get_migration (mtv_object_peek_plan (plan));
  if (path == NULL || g_str_equal (path, "/"))
    {
      g_set_error (&error, MTV_ERROR, MTV_ERROR_NOT_FOUND, "plan \"%s\" has not been started", name);
      return mtv_ctl_finish (FALSE, error);
    }
  g_autofree char *copy = g_strdup (path);
  int status = watch (client, copy, name, &error);
  if (error)
    return mtv_ctl_finish (FALSE, error);
  return status;
}

int
mtv_cmd_cancel_plan (MtvCtl *ctl, int argc, char **argv)
{
  static const MtvFlag flags[] = {
    { "vms", 0, MTV_FLAG_RAW, NULL, "The VMs to cancel: \"a,b\" (default: all that have not finished)", "VMS" },
  };
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL;
  MtvFlagValues values;
  mtv_flag_values_init (&values, flags, G_N_ELEMENTS (flags));
  MtvClient *client = NULL;
  const char *name = NULL;
  gboolean ok = FALSE;
  g_autoptr (MtvObject) plan = NULL;
  g_auto (GStrv) vms = NULL;
  if (!mtv_ctl_parse ("NAME [--vms a,b]", "Cancel VMs of a running plan.", &argc, &argv, &values, &name_flag, NULL, &error)
      || !(name = mtv_ctl_single_name (argc, argv, name_flag, "plan", &error))
      || !(client = mtv_ctl_client (ctl, &error)))
    goto out;
  plan = mtv_client_get (client, MTV_KIND_PLAN, name, &error);
  if (plan == NULL)
    goto out;
  const char *path = mtv_plan_get_migration (mtv_object_peek_plan (plan));
  if (path == NULL || g_str_equal (path, "/"))
    {
      g_set_error (&error, MTV_ERROR, MTV_ERROR_INVALID, "plan \"%s\" has not been started", name);
      goto out;
    }
  const char *list = g_hash_table_lookup (values.raw, "vms");
  vms = list ? g_strsplit (list, ",", -1) : g_new0 (char *, 1);
  if ((ok = mtv_client_cancel (client, path, (const char *const *) vms, &error)))
    g_print ("plan/%s: %s canceled\n", name, list ? list : "all unfinished VMs");
out:
  mtv_flag_values_clear (&values);
  return mtv_ctl_finish (ok, error);
}

static int
set_archived (MtvCtl *ctl, int argc, char **argv, gboolean archived)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL;
  MtvClient *client;
  if (!mtv_ctl_parse ("NAME[,NAME...]", archived ? "Archive plans." : "Unarchive plans.", &argc, &argv, NULL,
                      &name_flag, NULL, &error)
      || !(client = mtv_ctl_client (ctl, &error)))
    return mtv_ctl_finish (FALSE, error);
  g_auto (GStrv) names = mtv_ctl_requested_names (argc, argv, name_flag);
  if (names[0] == NULL)
    {
      g_set_error (&error, MTV_ERROR, MTV_ERROR_INVALID, "a plan name is required");
      return mtv_ctl_finish (FALSE, error);
    }
  int status = 0;
  for (guint n = 0; names[n]; n++)
    {
      g_autoptr (GError) one = NULL;
      GVariantDict spec;
      g_variant_dict_init (&spec, NULL);
      g_variant_dict_insert (&spec, "archived", "b", archived);
      if (mtv_client_update (client, MTV_KIND_PLAN, names[n], g_variant_dict_end (&spec), NULL, &one))
        g_print ("plan/%s %s\n", names[n], archived ? "archived" : "unarchived");
      else
        {
          mtv_client_print_error (one);
          status = 1;
        }
    }
  return status;
}

int
mtv_cmd_archive_plan (MtvCtl *ctl, int argc, char **argv)
{
  return set_archived (ctl, argc, argv, TRUE);
}

int
mtv_cmd_unarchive_plan (MtvCtl *ctl, int argc, char **argv)
{
  return set_archived (ctl, argc, argv, FALSE);
}

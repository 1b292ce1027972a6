/* The D-Bus side of a run: the Migration object and one MigrationVm object
 * per VM, their properties (which are the progress stream), and the
 * Migration's methods: check polkit, parse, call the run, reply. */
#include "engine.h"
#include "itinerary.h"
#include "run.h"
#include "mtv-auth.h"
#include "mtv-error.h"

/* ---- properties ------------------------------------------------------------------------- */

void
mtv_run_object_init (MtvRun *run)
{
  run->object = mtv_object_skeleton_new (run->path);
  run->iface = mtv_migration_skeleton_new ();
  mtv_migration_set_plan (run->iface, run->plan);
  mtv_migration_set_cutover (run->iface, "");
  mtv_object_skeleton_set_migration (run->object, run->iface);
}

void
mtv_vm_object_init (MtvVm *v)
{
  v->path = g_strdup_printf ("%s/vms/%u", v->run->path, v->index);
  v->object = mtv_object_skeleton_new (v->path);
  v->iface = mtv_migration_vm_skeleton_new ();
  mtv_migration_vm_set_name (v->iface, v->name);
  mtv_migration_vm_set_id (v->iface, v->id);
  mtv_migration_vm_set_target_name (v->iface, v->target_name);
  mtv_object_skeleton_set_migration_vm (v->object, v->iface);
}

void
mtv_vm_object_free (MtvVm *v)
{
  g_dbus_object_manager_server_unexport (v->run->host->objects, v->path);
  g_clear_object (&v->iface);
  g_clear_object (&v->object);
  g_free (v->path);
}

void
mtv_vm_show (MtvVm *v)
{
  guint64 done = v->bytes_base + v->bytes_now;
  mtv_migration_vm_set_status (v->iface, v->status);
  mtv_migration_vm_set_phase (v->iface, v->phase);
  mtv_migration_vm_set_step (v->iface, mtv_itinerary_step_of (v->run->itinerary, v->phase));
  mtv_migration_vm_set_error (v->iface, v->error ? v->error : "");
  const char *destination = json_object_get_string_member_with_default (v->target, "destination", "");
  mtv_migration_vm_set_destination (v->iface, destination);
  mtv_migration_vm_set_bytes_total (v->iface, v->bytes_total);
  mtv_migration_vm_set_bytes_transferred (v->iface, done);
  mtv_migration_vm_set_rate (v->iface, v->rate);
  double progress = g_str_equal (v->status, "Succeeded") ? 1.0 : v->bytes_total ? (double) done / v->bytes_total : 0.0;
  mtv_migration_vm_set_progress (v->iface, MIN (progress, 1.0));
  guint64 eta = 0;
  if (v->rate > 0 && done < v->bytes_total && g_str_equal (v->status, "Running"))
    eta = (guint64) g_get_real_time () + (guint64) ((v->bytes_total - done) / v->rate * 1e6);
  mtv_migration_vm_set_expected_end_time (v->iface, eta);
}

void
mtv_run_show (MtvRun *run)
{
  mtv_migration_set_phase (run->iface, run->phase);
  mtv_migration_set_started (run->iface, run->started ? run->started : "");
  mtv_migration_set_completed (run->iface, run->completed ? run->completed : "");
  mtv_migration_set_cutover (run->iface, run->cutover ? run->cutover : "");
}

void
mtv_vm_emit_progress (MtvVm *v)
{
  mtv_vm_show (v);
  mtv_migration_emit_progress (v->run->iface, v->path, v->bytes_base + v->bytes_now, v->bytes_total);
}

/* ---- methods ------------------------------------------------------------------------------- */

/* The run a call was for, looked up again once polkit answered: it may be
 * gone by then (its plan deleted). */
typedef struct {
  MtvRun *run;
  GCancellable *alive;
} Call;

static Call *
call_new (MtvRun *run)
{
  Call *c = g_new0 (Call, 1);
  c->run = run;
  c->alive = g_object_ref (run->alive);
  return c;
}

static void
call_free (Call *c)
{
  g_object_unref (c->alive);
  g_free (c);
}

static MtvRun *
call_run (Call *c, GDBusMethodInvocation *invocation)
{
  if (!g_cancellable_is_cancelled (c->alive))
    return c->run;
  g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_NOT_FOUND, "the migration is gone");
  return NULL;
}

static void
do_cancel (GDBusMethodInvocation *invocation, gpointer data)
{
  MtvRun *run = call_run (data, invocation);
  if (run == NULL)
    return;
  g_autofree const char **vms = NULL;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(^a&s@a{sv})", &vms, NULL);
  g_autoptr (GError) error = NULL;
  gboolean ok = mtv_run_cancel (run, vms, &error);
  mtv_reply (invocation, ok, error);
}

static void
do_cutover (GDBusMethodInvocation *invocation, gpointer data)
{
  MtvRun *run = call_run (data, invocation);
  if (run == NULL)
    return;
  const char *when;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s@a{sv})", &when, NULL);
  g_autoptr (GError) error = NULL;
  gboolean ok = mtv_run_set_cutover (run, when, &error);
  mtv_reply (invocation, ok, error);
}

static gboolean
handle_cancel (MtvMigration *iface, GDBusMethodInvocation *invocation, const char *const *vms, GVariant *options,
               gpointer user_data)
{
  MtvRun *run = user_data;
  mtv_auth_check (run->host->auth, invocation, MTV_ACTION_RUN_MIGRATIONS, options, run->plan, do_cancel, call_new (run),
                  (GDestroyNotify) call_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_cutover (MtvMigration *iface, GDBusMethodInvocation *invocation, const char *when, GVariant *options,
                gpointer user_data)
{
  MtvRun *run = user_data;
  mtv_auth_check (run->host->auth, invocation, MTV_ACTION_RUN_MIGRATIONS, options, run->plan, do_cutover,
                  call_new (run), (GDestroyNotify) call_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

void
mtv_run_object_export (MtvRun *run)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new ();
  for (guint i = 0; i < run->vms->len; i++)
    {
      MtvVm *v = run->vms->pdata[i];
      g_ptr_array_add (paths, v->path);
      mtv_vm_show (v);
      g_dbus_object_manager_server_export (run->host->objects, G_DBUS_OBJECT_SKELETON (v->object));
    }
  g_ptr_array_add (paths, NULL);
  mtv_migration_set_vms (run->iface, (const char *const *) paths->pdata);
  mtv_run_show (run);
  g_signal_connect (run->iface, "handle-cancel", G_CALLBACK (handle_cancel), run);
  g_signal_connect (run->iface, "handle-cutover", G_CALLBACK (handle_cutover), run);
  g_dbus_object_manager_server_export (run->host->objects, G_DBUS_OBJECT_SKELETON (run->object));
}

void
mtv_run_object_unexport (MtvRun *run)
{
  g_dbus_object_manager_server_unexport (run->host->objects, run->path);
  if (run->iface)
    g_signal_handlers_disconnect_by_data (run->iface, run);
  g_clear_object (&run->iface);
  g_clear_object (&run->object);
}

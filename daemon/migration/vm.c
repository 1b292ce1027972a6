/* One VM of a run, taken through its itinerary: the phase is stored before
 * its function acts; adapters are called in workers through one job helper;
 * the end (success, failure, cancel) cleans up as the VM's state says. */
#include "engine.h"
#include "disk-copy.h"
#include "itinerary.h"
#include "run.h"
#include "mtv-json.h"
#include "mtv-record.h"
#include "mtv-status.h"
#include "mtv-text.h"

#include <string.h>
#include <unistd.h>

MtvVm *
mtv_vm_new (MtvRun *run, guint index, JsonObject *plan_vm, JsonObject *vm, const char *target_name)
{
  MtvVm *v = g_new0 (MtvVm, 1);
  v->run = run;
  v->index = index;
  v->plan_vm = json_object_ref (plan_vm);
  v->vm = json_object_ref (vm);
  v->name = g_strdup (json_object_get_string_member_with_default (vm, "name", ""));
  v->id = g_strdup (json_object_get_string_member_with_default (vm, "id", ""));
  v->target_name = g_strdup (target_name);
  v->status = g_strdup ("Pending");
  v->phase = g_strdup ("Pending");
  v->copies = json_array_new ();
  v->session = json_object_new ();
  v->target = json_object_new ();
  v->snapshots = g_ptr_array_new_with_free_func (g_free);
  v->disks_done = g_array_new (FALSE, FALSE, sizeof (guint));
  v->copying = g_ptr_array_new_with_free_func ((GDestroyNotify) mtv_disk_copy_free);
  v->precopy_log = json_array_new ();
  v->stop = g_cancellable_new ();
  JsonNode *disks = json_object_get_member (vm, "disks");
  for (guint i = 0; disks && JSON_NODE_HOLDS_ARRAY (disks) && i < json_array_get_length (json_node_get_array (disks)); i++)
    v->bytes_total += (guint64) json_object_get_int_member_with_default (
      json_array_get_object_element (json_node_get_array (disks), i), "capacity", 0);
  mtv_vm_object_init (v);
  return v;
}

void
mtv_vm_free (MtvVm *v)
{
  if (v->wait_source)
    g_source_remove (v->wait_source);
  if (v->flush_source)
    g_source_remove (v->flush_source);
  g_cancellable_cancel (v->stop);
  g_object_unref (v->stop);
  mtv_copy_free (v);
  g_ptr_array_unref (v->copying);
  g_array_unref (v->disks_done);
  json_array_unref (v->precopy_log);
  mtv_vm_object_free (v);
  json_object_unref (v->plan_vm);
  json_object_unref (v->vm);
  json_object_unref (v->session);
  json_object_unref (v->target);
  g_clear_pointer (&v->checkpoint, json_object_unref);
  g_clear_pointer (&v->next_checkpoint, json_object_unref);
  g_clear_pointer (&v->source_disks, json_array_unref);
  g_ptr_array_unref (v->snapshots);
  json_array_unref (v->copies);
  g_free (v->name), g_free (v->id), g_free (v->target_name), g_free (v->status), g_free (v->phase);
  g_free (v->error), g_free (v->started), g_free (v->completed), g_free (v->power), g_free (v->snapshot);
  g_free (v->copy_round);
  g_free (v->release_error);
  g_free (v);
}

void
mtv_vm_flush (MtvVm *v)
{
  if (v->flush_source)
    g_source_remove (v->flush_source), v->flush_source = 0;
  if (!v->dirty)
    return;
  v->dirty = FALSE;
  mtv_vm_save (v);
  mtv_vm_show (v);
}

static gboolean
flush_when_idle (gpointer data)
{
  MtvVm *v = data;
  v->flush_source = 0;
  mtv_vm_flush (v);
  return G_SOURCE_REMOVE;
}

void
mtv_vm_commit (MtvVm *v)
{
  v->dirty = TRUE;
  if (v->flush_source == 0)
    v->flush_source = g_idle_add (flush_when_idle, v);
}

JsonArray *
mtv_vm_disks (MtvVm *v)
{
  if (v->source_disks)
    return v->source_disks;
  JsonNode *disks = json_object_get_member (v->vm, "disks");
  return disks && JSON_NODE_HOLDS_ARRAY (disks) ? json_node_get_array (disks) : NULL;
}

const char *
mtv_vm_hook (MtvVm *v, const char *step)
{
  JsonNode *hooks = json_object_get_member (v->plan_vm, "hooks");
  for (guint i = 0; hooks && JSON_NODE_HOLDS_ARRAY (hooks) && i < json_array_get_length (json_node_get_array (hooks)); i++)
    {
      JsonObject *h = json_array_get_object_element (json_node_get_array (hooks), i);
      if (g_strcmp0 (mtv_json_string (h, "step"), step) == 0)
        return mtv_json_string (mtv_json_object (h, "hook"), "name");
    }
  return NULL;
}

char *
mtv_vm_checkpoint_path (MtvVm *v, guint disk, const char *what)
{
  g_autofree char *name = g_strdup_printf ("%s-%u-%u.%s", v->run->id, v->index, disk, what);
  return g_build_filename (v->run->host->checkpoint_dir, name, NULL);
}

static gboolean
finished (MtvVm *v)
{
  return g_str_equal (v->status, "Succeeded") || g_str_equal (v->status, "Failed") || g_str_equal (v->status, "Canceled");
}

/* ---- going from phase to phase ------------------------------------------------------- */

static void
enter (MtvVm *v, const MtvPhase *phase)
{
  g_free (v->phase);
  v->phase = g_strdup (phase->name);
  v->resumed = v->resume;
  v->resume = FALSE;
  v->phase_done = FALSE;
  g_message ("migration %s: VM %s: %s", v->run->id, v->name, phase->name);
  mtv_vm_commit (v);
  phase->run (v);
}

void
mtv_vm_phase_done (MtvVm *v)
{
  v->phase_done = TRUE;
  mtv_vm_commit (v);
  mtv_vm_flush (v);
}

void
mtv_vm_next (MtvVm *v)
{
  if (v->cancel_requested)
    {
      mtv_vm_finish (v, "Canceled", NULL);
      return;
    }
  const MtvPhase *next = mtv_itinerary_next (v->run->itinerary, v->phase, v);
  if (next == NULL)
    mtv_vm_fail (v, "the %s itinerary has no phase after %s", v->run->itinerary->type, v->phase);
  else
    enter (v, next);
}

void
mtv_vm_goto (MtvVm *v, const char *name)
{
  const MtvPhase *phase = mtv_itinerary_phase (v->run->itinerary, name);
  if (v->cancel_requested)
    mtv_vm_finish (v, "Canceled", NULL);
  else if (phase == NULL)
    mtv_vm_fail (v, "the %s itinerary has no phase %s", v->run->itinerary->type, name);
  else
    enter (v, phase);
}

void
mtv_vm_begin (MtvVm *v)
{
  g_free (v->status);
  v->status = g_strdup ("Running");
  mtv_run_update_phase (v->run);
  const MtvPhase *phase = mtv_itinerary_phase (v->run->itinerary, v->phase);
  if (v->resume && phase && v->phase_done)
    {
      /* It had done its work (a hook that succeeded): on to the next. */
      g_message ("migration %s: VM %s: resuming after phase %s", v->run->id, v->name, v->phase);
      v->resume = FALSE;
      mtv_vm_next (v);
      return;
    }
  if (v->resume && phase)
    {
      /* mtvd restarted: the phase was stored before it acted, and resumable
       * phases can simply be done again. */
      g_message ("migration %s: VM %s: resuming in phase %s", v->run->id, v->name, v->phase);
      enter (v, phase);
      return;
    }
  g_free (v->started);
  v->started = mtv_now_rfc3339 ();
  enter (v, mtv_itinerary_next (v->run->itinerary, NULL, v));
}

static void
on_wait_over (gpointer data)
{
  MtvVm *v = data;
  v->wait_source = 0;
  void (*then) (MtvVm *) = v->wait_then;
  v->wait_then = NULL;
  if (v->cancel_requested)
    mtv_vm_finish (v, "Canceled", NULL);
  else
    then (v);
}

void
mtv_vm_after (MtvVm *v, guint ms, void (*then) (MtvVm *v))
{
  mtv_vm_flush (v);
  if (v->wait_source)
    g_source_remove (v->wait_source);
  v->wait_then = then;
  v->wait_source = g_timeout_add_once (ms, on_wait_over, v);
}

/* ---- the end ------------------------------------------------------------------------- */

static MtvSourceContext source_context (MtvVm *v, GPtrArray *keep);

typedef struct {
  MtvSourceContext ctx;
  const MtvSourceAdapter *adapter;
  char *power;                /* to restore, or NULL */
  GPtrArray *snapshots;       /* to remove */
  GPtrArray *keep;
  char *vm_name;
} Release;

static void
release_free (Release *r)
{
  g_clear_pointer (&r->ctx.spec, json_object_unref);
  g_clear_pointer (&r->ctx.credentials, json_object_unref);
  g_clear_pointer (&r->ctx.vm, json_object_unref);
  g_clear_pointer (&r->ctx.session, json_object_unref);
  g_ptr_array_unref (r->snapshots);
  g_ptr_array_unref (r->keep);
  g_free (r->power);
  g_free (r->vm_name);
  g_free (r);
}

/* Everything is tried, whatever fails; the first failure is reported. */
static gboolean
release_thread (MtvWork *work, gpointer data, GCancellable *stop, GError **error)
{
  Release *r = data;
  GError *first = NULL;
  for (guint i = 0; r->adapter->snapshot_remove && i < r->snapshots->len; i++)
    {
      GError *e = NULL;
      if (!r->adapter->snapshot_remove (&r->ctx, r->snapshots->pdata[i], &e))
        {
          g_prefix_error (&e, "removing snapshot %s: ", (char *) r->snapshots->pdata[i]);
          first ? g_error_free (e) : (void) (first = e);
        }
    }
  GError *e = NULL;
  if (r->adapter->close && !r->adapter->close (&r->ctx, &e))
    first ? g_error_free (e) : (void) (first = e);
  e = NULL;
  if (r->power && r->adapter->power_restore && !r->adapter->power_restore (&r->ctx, r->power, &e))
    {
      g_prefix_error (&e, "restoring its power state (%s): ", r->power);
      first ? g_error_free (e) : (void) (first = e);
    }
  if (first)
    g_propagate_error (error, first);
  return first == NULL;
}

/* A release or cleanup ended (done, or kept pending for the next start):
 * the run may end with it, and its plan's status change. */
static void
undone (MtvVm *v)
{
  v->undoing--;
  mtv_run_update_phase (v->run);
  v->run->host->changed (v->run->host->data, v->run);
}

static void
on_released (gpointer owner, gpointer data, const GError *error)
{
  MtvVm *v = owner;
  Release *r = data;
  if (error)
    {
      /* Kept pending: the next start of mtvd tries again. Said where the
       * user looks too: the VM's status carries it until then. */
      g_warning ("migration %s: VM %s: the source was not released: %s", v->run->id, r->vm_name, error->message);
      g_free (v->release_error);
      v->release_error = g_strdup (error->message);
    }
  else
    {
      v->release_pending = FALSE;
      g_ptr_array_set_size (v->snapshots, 0);
      g_clear_pointer (&v->release_error, g_free);
    }
  mtv_vm_commit (v);
  undone (v);
}

void
mtv_vm_release_source (MtvVm *v)
{
  mtv_vm_flush (v);
  const MtvSourceAdapter *source = v->run->source;
  Release *r = g_new0 (Release, 1);
  r->keep = g_ptr_array_new_with_free_func (g_free);
  r->ctx = source_context (v, r->keep);
  r->adapter = source;
  r->vm_name = g_strdup (v->name);
  /* A VM that did not move gets its power back, as Forklift restores it. */
  if (v->powered_off && !g_str_equal (v->status, "Succeeded"))
    r->power = g_strdup (v->power);
  r->snapshots = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < v->snapshots->len; i++)
    g_ptr_array_add (r->snapshots, g_strdup (v->snapshots->pdata[i]));
  v->undoing++;
  mtv_work_start (v->run->alive, NULL, release_thread, r, (GDestroyNotify) release_free, on_released, v);
}

static gboolean
cleanup_thread (MtvWork *work, gpointer data, GCancellable *stop, GError **error)
{
  MtvVmJob *job = data;
  return job->target_adapter->cleanup (&job->target, error);
}

static void
on_cleaned_up (gpointer owner, gpointer data, const GError *error)
{
  MtvVm *v = owner;
  MtvVmJob *job = data;
  if (error)
    {
      /* Kept pending: the next start of mtvd tries again. */
      g_warning ("migration %s: VM %s: what it left on the target could not be removed: %s", job->target.migration_id,
                 job->target.name, error->message);
    }
  else if (finished (v) && v->cleanup_pending)
    {
      v->cleanup_pending = FALSE;
      v->allocated = FALSE;
      mtv_vm_commit (v);
    }
  undone (v);
}

static void vm_job_free (MtvVmJob *job);

void
mtv_vm_cleanup_target (MtvVm *v)
{
  if (v->run->link == NULL || v->run->target->cleanup == NULL)
    return;
  mtv_vm_flush (v);
  MtvVmJob *job = mtv_vm_job_new (v, NULL, NULL);
  v->undoing++;
  mtv_work_start (v->run->alive, NULL, cleanup_thread, job, (GDestroyNotify) vm_job_free, on_cleaned_up, v);
}

void
mtv_vm_finish (MtvVm *v, const char *status, const char *error)
{
  MtvRun *run = v->run;
  if (finished (v))
    return;
  if (v->wait_source)
    g_source_remove (v->wait_source), v->wait_source = 0;
  g_cancellable_cancel (v->stop);
  mtv_copy_free (v);
  /* Whatever the outcome, no copy of this VM will go on. */
  JsonArray *disks = mtv_vm_disks (v);
  for (guint i = 0; disks && i < json_array_get_length (disks); i++)
    {
      static const char *const kinds[] = { "checkpoint", "extents" };
      for (guint k = 0; k < G_N_ELEMENTS (kinds); k++)
        {
          g_autofree char *path = mtv_vm_checkpoint_path (v, i, kinds[k]);
          unlink (path);
        }
    }
  gboolean ok = g_str_equal (status, "Succeeded");
  g_free (v->status);
  v->status = g_strdup (status);
  g_free (v->error);
  /* Shown in properties: valid UTF-8 whatever a helper printed. */
  v->error = error ? mtv_text_shorten (error, -1, MTV_STATUS_MAX_MESSAGE) : NULL;
  g_free (v->completed);
  v->completed = mtv_now_rfc3339 ();
  v->rate = 0;
  /* Stored before they act: a restart before they are done does them again.
   * A source with nothing to release (an OVA) is left alone. */
  const MtvSourceAdapter *source = run->source;
  gboolean releasable = source->close || source->snapshot_remove || (source->power_restore && v->powered_off);
  v->cleanup_pending = !ok && v->allocated && !v->created;
  v->release_pending = releasable && !g_str_equal (v->phase, "Pending");
  if (error)
    g_message ("migration %s: VM %s %s: %s", run->id, v->name, status, error);
  else
    g_message ("migration %s: VM %s %s", run->id, v->name, status);
  mtv_vm_commit (v);
  mtv_vm_flush (v);
  if (v->cleanup_pending)
    mtv_vm_cleanup_target (v);
  if (v->release_pending)
    mtv_vm_release_source (v);
  /* The run ends once its VMs are undone too: a plan that says Failed has
   * its sources as they were and its targets cleared (or says why not). */
  mtv_run_update_phase (run);
  run->host->changed (run->host->data, run);
}

void
mtv_vm_fail (MtvVm *v, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *message = g_strdup_vprintf (format, ap);
  va_end (ap);
  mtv_vm_finish (v, v->cancel_requested ? "Canceled" : "Failed", v->cancel_requested ? NULL : message);
}

void
mtv_vm_interrupted (MtvVm *v)
{
  const char *what = !v->allocated ? "" : v->created ? "; the target VM is kept"
                                                     : "; what it had made on the target is removed";
  g_autofree char *why = g_strdup_printf ("mtvd stopped while the VM was in phase %s, which does not resume%s",
                                          v->phase, what);
  g_free (v->status);
  v->status = g_strdup ("Running");   /* so that finishing it does it all */
  mtv_vm_finish (v, "Failed", why);
}

/* ---- adapter calls in workers --------------------------------------------------------- */

const char *
mtv_vm_job_keep (MtvVmJob *job, const char *s)
{
  char *copy = g_strdup (s);
  g_ptr_array_add (job->keep, copy);
  return copy;
}

static const char *
keep (GPtrArray *keep, const char *s)
{
  char *copy = g_strdup (s);
  g_ptr_array_add (keep, copy);
  return copy;
}

static JsonObject *
ref_or_null (JsonObject *o)
{
  return o ? json_object_ref (o) : NULL;
}

static MtvSourceContext
source_context (MtvVm *v, GPtrArray *strings)
{
  MtvRun *run = v->run;
  JsonObject *provider = mtv_run_snap (run, "sourceProvider");
  const char *name = mtv_json_string (provider, "name");
  return (MtvSourceContext) {
    .provider = keep (strings, name),
    .spec = ref_or_null (mtv_json_object (provider, "spec")),
    .credentials = run->host->credentials (run->host->data, name ? name : ""),
    .vm = json_object_ref (v->vm),
    .workdir = keep (strings, run->host->runtime_dir),
    .snapshot = v->snapshot ? keep (strings, v->snapshot) : NULL,
    .snapshot_removal_seconds = run->host->snapshot_removal_timeout ? run->host->snapshot_removal_timeout (run->host->data)
                                                                    : 7200,
    .session = mtv_json_object_copy (v->session),
  };
}

static void
link_detach (MtvTargetLink *link)
{
  if (link->adapter->detach && link->instance)
    link->adapter->detach (link->instance);
}

void
mtv_target_link_release (MtvTargetLink *link)
{
  g_atomic_rc_box_release_full (link, (GDestroyNotify) link_detach);
}

static void
vm_job_free (MtvVmJob *job)
{
  JsonObject *objects[] = {
    job->source.spec, job->source.credentials, job->source.vm, job->source.session,
    job->target.plan_spec, job->target.plan_vm, job->target.vm, job->target.network_map, job->target.storage_map,
    job->target.provider_spec,
    job->target.source_spec, job->target.source_credentials, job->target.state, job->object, job->base,
    job->session_before, job->target_before, job->result, job->secret,
    job->hook.spec, job->hook.plan, job->hook.workload,
  };
  for (gsize i = 0; i < G_N_ELEMENTS (objects); i++)
    if (objects[i])
      json_object_unref (objects[i]);
  g_clear_pointer (&job->disks, json_array_unref);
  g_strfreev (job->paths);
  mtv_disk_sink_clear (&job->sink);
  if (job->link)
    mtv_target_link_release (job->link);
  g_ptr_array_unref (job->keep);
  g_free (job->text);
  g_free (job);
}

MtvVmJob *
mtv_vm_job_new (MtvVm *v, gboolean (*call) (MtvVmJob *, GCancellable *, GError **), void (*then) (MtvVm *, MtvVmJob *))
{
  MtvRun *run = v->run;
  MtvVmJob *job = g_new0 (MtvVmJob, 1);
  job->keep = g_ptr_array_new_with_free_func (g_free);
  job->call = call;
  job->then = then;
  job->owner = v;
  job->source_adapter = run->source;
  job->target_adapter = run->target;
  job->source = source_context (v, job->keep);
  if (run->link)
    job->link = g_atomic_rc_box_acquire (run->link);
  job->target = (MtvTargetContext) {
    .name = keep (job->keep, v->target_name),
    .namespace = keep (job->keep, mtv_run_target_namespace (run)),
    .plan_name = keep (job->keep, run->plan),
    .plan_uid = keep (job->keep, mtv_json_string (run->snapshot, "planUid")),
    .migration_id = keep (job->keep, run->id),
    .plan_spec = ref_or_null (mtv_run_snap (run, "planSpec")),
    .plan_vm = json_object_ref (v->plan_vm),
    .vm = json_object_ref (v->vm),
    .network_map = ref_or_null (mtv_run_snap (run, "networkMap")),
    .storage_map = ref_or_null (mtv_run_snap (run, "storageMap")),
    .provider_spec = ref_or_null (mtv_json_object (mtv_run_snap (run, "targetProvider"), "spec")),
    .workdir = keep (job->keep, run->host->runtime_dir),
    .source_spec = ref_or_null (job->source.spec),
    .source_credentials = ref_or_null (job->source.credentials),
    .instance = job->link ? job->link->instance : NULL,
    .state = mtv_json_object_copy (v->target),
  };
  job->session_before = mtv_json_object_copy (v->session);
  job->target_before = mtv_json_object_copy (v->target);
  return job;
}

static gboolean
job_thread (MtvWork *work, gpointer data, GCancellable *stop, GError **error)
{
  MtvVmJob *job = data;
  job->work = work;
  return job->call (job, stop, error);
}

static void
job_done (gpointer owner, gpointer data, const GError *error)
{
  MtvVm *v = owner;
  MtvVmJob *job = data;
  v->busy--;
  /* What the adapter recorded stays, even when it then failed: it says
   * what there is to undo. Only what this job changed: jobs for other
   * disks of the VM may have run beside it. */
  mtv_json_object_apply_changes (v->session, job->session_before, job->source.session);
  mtv_json_object_apply_changes (v->target, job->target_before, job->target.state);
  if (finished (v))
    return;
  if (error && job->failed && !v->cancel_requested)
    job->failed (v, job, error);
  else if (v->cancel_requested)
    mtv_vm_finish (v, "Canceled", NULL);
  else if (error)
    mtv_vm_fail (v, "%s", error->message);
  else if (job->then)
    job->then (v, job);
  else
    mtv_vm_next (v);
}

void
mtv_vm_job_run (MtvVm *v, MtvVmJob *job)
{
  mtv_vm_flush (v);
  v->busy++;
  mtv_work_start (v->run->alive, v->stop, job_thread, job, (GDestroyNotify) vm_job_free, job_done, v);
}

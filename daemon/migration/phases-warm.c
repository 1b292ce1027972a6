/* The warm itinerary's own phases: snapshots, the disks' checkpoints and
 * what changed between them, and CopyingPaused, which waits for the next
 * precopy or the cutover. */
#include "engine.h"
#include "itinerary.h"
#include "run.h"
#include "mtv-json.h"

#include <errno.h>
#include <stdio.h>

#define SNAPSHOT_SECONDS 600
#define POLL_MS 1000

/* ---- snapshots ------------------------------------------------------------------------ */

static gboolean
create_snapshot (MtvVmJob *job, GCancellable *stop, GError **error)
{
  job->text = job->source_adapter->snapshot_create (&job->source, error);
  return job->text != NULL;
}

static void
set_snapshot (MtvVm *v, const char *id)
{
  g_free (v->snapshot);
  v->snapshot = g_strdup (id);
  /* The disks are read from the snapshot: opened again for it. */
  g_clear_pointer (&v->source_disks, json_array_unref);
}

static void
snapshot_created (MtvVm *v, MtvVmJob *job)
{
  set_snapshot (v, job->text);
  g_ptr_array_add (v->snapshots, g_strdup (job->text));
  mtv_vm_commit (v);
  mtv_vm_next (v);
}

void
mtv_phase_create_snapshot (MtvVm *v)
{
  mtv_vm_job_run (v, mtv_vm_job_new (v, create_snapshot, snapshot_created));
}

static void poll_snapshot (MtvVm *v);

static gboolean
snapshot_ready (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->source_adapter->snapshot_ready (&job->source, job->text, &job->flag, error);
}

static void
snapshot_answered (MtvVm *v, MtvVmJob *job)
{
  if (job->flag)
    mtv_vm_next (v);
  else if (++v->wait_ticks * POLL_MS >= SNAPSHOT_SECONDS * 1000)
    mtv_vm_fail (v, "snapshot %s was not complete within %d seconds", v->snapshot, SNAPSHOT_SECONDS);
  else
    mtv_vm_after (v, POLL_MS, poll_snapshot);
}

static void
poll_snapshot (MtvVm *v)
{
  MtvVmJob *job = mtv_vm_job_new (v, snapshot_ready, snapshot_answered);
  job->text = g_strdup (v->snapshot);
  mtv_vm_job_run (v, job);
}

void
mtv_phase_wait_for_snapshot (MtvVm *v)
{
  v->wait_ticks = 0;
  if (v->snapshot == NULL)
    mtv_vm_fail (v, "%s: there is no snapshot to wait for", v->phase);
  else
    poll_snapshot (v);
}

static gboolean
remove_snapshot (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->source_adapter->snapshot_remove (&job->source, job->text, error);
}

static void
snapshot_removed (MtvVm *v, MtvVmJob *job)
{
  for (guint i = 0; i < v->snapshots->len; i++)
    if (g_str_equal (v->snapshots->pdata[i], job->text))
      g_ptr_array_remove_index (v->snapshots, i--);
  if (g_strcmp0 (v->snapshot, job->text) == 0)
    set_snapshot (v, NULL);
  mtv_vm_commit (v);
  mtv_vm_next (v);
}

/* RemovePreviousSnapshot, RemovePenultimateSnapshot: the snapshot the last
 * copy read goes (before the next is made: Forklift's order). The final
 * snapshot is removed once the VM is created, with whatever else the VM's
 * release undoes: removing a snapshot consolidates the disks, which can take
 * hours, and the VM stays down until it exists (Forklift's cutovers stalled
 * on it). The run ends once it is done. */
void
mtv_phase_remove_snapshot (MtvVm *v)
{
  if (v->snapshot && g_str_equal (v->phase, "RemoveFinalSnapshot"))
    {
      mtv_vm_flush (v);
      g_message ("migration %s: VM %s: snapshot %s is removed once the VM is created", v->run->id, v->name,
                 v->snapshot);
      mtv_vm_next (v);
      return;
    }
  if (v->snapshot == NULL)
    {
      mtv_vm_next (v);
      return;
    }
  MtvVmJob *job = mtv_vm_job_new (v, remove_snapshot, snapshot_removed);
  job->text = g_strdup (v->snapshot);
  mtv_vm_job_run (v, job);
}

/* ---- checkpoints and changed areas ------------------------------------------------------ */

static gboolean
store_deltas (MtvVmJob *job, GCancellable *stop, GError **error)
{
  job->object = job->source_adapter->checkpoint (&job->source, job->text, error);
  return job->object != NULL;
}

static void
deltas_stored (MtvVm *v, MtvVmJob *job)
{
  g_clear_pointer (&v->next_checkpoint, json_object_unref);
  v->next_checkpoint = g_steal_pointer (&job->object);
  mtv_vm_commit (v);
  mtv_vm_next (v);
}

/* StoreInitialSnapshotDeltas, StoreSnapshotDeltas: the disks' state at the
 * snapshot, what the next copy will have reached. */
void
mtv_phase_store_snapshot_deltas (MtvVm *v)
{
  MtvVmJob *job = mtv_vm_job_new (v, store_deltas, deltas_stored);
  job->text = g_strdup (v->snapshot);
  mtv_vm_job_run (v, job);
}

static gboolean
write_extents (const char *path, GArray *extents, GError **error)
{
  g_autoptr (GString) text = g_string_new (NULL);
  for (guint i = 0; i < extents->len; i++)
    {
      MtvExtent *e = &g_array_index (extents, MtvExtent, i);
      g_string_append_printf (text, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT "\n", e->offset, e->length);
    }
  return g_file_set_contents_full (path, text->str, (gssize) text->len, G_FILE_SET_CONTENTS_CONSISTENT
                                   | G_FILE_SET_CONTENTS_DURABLE, 0600, error);
}

/* The changed areas of every disk, from the copies' checkpoint (base) to
 * the snapshot's (object; found here first when @job->flag: the final
 * snapshot), each written as a list mtv-transfer reads (--extents file:). */
static gboolean
changed_areas (MtvVmJob *job, GCancellable *stop, GError **error)
{
  const MtvSourceAdapter *s = job->source_adapter;
  if (job->flag)
    {
      g_clear_pointer (&job->object, json_object_unref);
      if ((job->object = s->checkpoint (&job->source, job->text, error)) == NULL)
        return FALSE;
    }
  for (guint i = 0; job->paths[i]; i++)
    {
      g_autoptr (GArray) extents = s->changed_extents (&job->source, i, job->base, job->object, error);
      if (extents == NULL || !write_extents (job->paths[i], extents, error))
        return FALSE;
    }
  return TRUE;
}

static void
areas_found (MtvVm *v, MtvVmJob *job)
{
  g_clear_pointer (&v->next_checkpoint, json_object_unref);
  v->next_checkpoint = json_object_ref (job->object);
  mtv_vm_commit (v);
  /* A precopy round copies what changed and pauses again; the final one
   * goes on to Finalize. */
  if (job->flag)
    mtv_vm_next (v);
  else
    mtv_vm_goto (v, "CopyDisks");
}

/* AddCheckpoint, AddFinalCheckpoint. */
void
mtv_phase_add_checkpoint (MtvVm *v)
{
  gboolean final = g_str_equal (v->phase, "AddFinalCheckpoint");
  if (v->checkpoint == NULL || (!final && v->next_checkpoint == NULL))
    {
      mtv_vm_fail (v, "%s: the disks' checkpoints are missing", v->phase);
      return;
    }
  MtvVmJob *job = mtv_vm_job_new (v, changed_areas, areas_found);
  job->flag = final;
  job->text = g_strdup (v->snapshot);
  job->base = json_object_ref (v->checkpoint);
  job->object = final ? NULL : json_object_ref (v->next_checkpoint);
  JsonArray *disks = mtv_vm_disks (v);
  guint n = disks ? json_array_get_length (disks) : 0;
  job->paths = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    job->paths[i] = mtv_vm_checkpoint_path (v, i, "extents");
  mtv_vm_job_run (v, job);
}

/* ---- CopyingPaused ------------------------------------------------------------------------ */

static gboolean
cutover_due (MtvVm *v)
{
  if (v->run->cutover == NULL)
    return FALSE;
  g_autoptr (GDateTime) at = g_date_time_new_from_iso8601 (v->run->cutover, NULL);
  return at && g_date_time_to_unix (at) <= g_get_real_time () / G_USEC_PER_SEC;
}

/* Waits for whichever comes first: the cutover (then the cutover phases)
 * or the next precopy (then another round). */
void
mtv_phase_copying_paused (MtvVm *v)
{
  if (cutover_due (v))
    mtv_vm_goto (v, "StorePowerState");
  else if (g_get_real_time () / G_USEC_PER_SEC >= v->next_precopy)
    mtv_vm_goto (v, "RemovePreviousSnapshot");
  else
    mtv_vm_after (v, POLL_MS, mtv_phase_copying_paused);
}

void
mtv_phase_cutover_changed (MtvVm *v)
{
  /* A waiting VM looks at once; one in a precopy looks when it pauses. */
  if (g_str_equal (v->status, "Running") && g_str_equal (v->phase, "CopyingPaused") && v->wait_source)
    {
      g_source_remove (v->wait_source);
      v->wait_source = 0;
      mtv_phase_copying_paused (v);
    }
}

/* CreateDataVolumes, and CopyDisks (and warm's Finalize): a VM's disks are
 * copied all at once (disk-copy.c does one), each then verified as read
 * from one state of the source and finished by the target. The disks done
 * are stored as they finish, so a restart copies only the others, each
 * from its checkpoint. */
#include "engine.h"
#include "disk-copy.h"
#include "itinerary.h"
#include "run.h"
#include "mtv-json.h"

#include <string.h>
#include <unistd.h>

/* At most this many disks of one VM copy at once (each is a disk server and
 * an mtv-transfer); a VM with more copies the rest as these finish. The
 * in-flight limit (controller_max_vm_inflight) counts VMs. */
#define DISKS_AT_ONCE 16

void
mtv_disk_sink_clear (MtvDiskSink *sink)
{
  g_clear_pointer (&sink->destination, g_free);
  if (sink->token)
    memset (sink->token, 0, strlen (sink->token));
  g_clear_pointer (&sink->token, g_free);
  g_clear_pointer (&sink->cacert, g_free);
  sink->insecure = sink->resumable = FALSE;
}

/* ---- CreateDataVolumes -------------------------------------------------------------- */

static gboolean
allocate (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->target_adapter->allocate == NULL || job->target_adapter->allocate (&job->target, error);
}

void
mtv_phase_create_data_volumes (MtvVm *v)
{
  /* Stored before it acts: a failure from here on cleans up the target. */
  v->allocated = TRUE;
  mtv_vm_commit (v);
  mtv_vm_job_run (v, mtv_vm_job_new (v, allocate, NULL));
}

/* ---- the disks done, and those in flight ----------------------------------------------- */

gboolean
mtv_vm_disk_copied (MtvVm *v, guint disk)
{
  for (guint i = 0; i < v->disks_done->len; i++)
    if (g_array_index (v->disks_done, guint, i) == disk)
      return TRUE;
  return FALSE;
}

gboolean
mtv_vm_disk_copying (MtvVm *v, guint disk, guint64 *bytes)
{
  MtvDiskCopy *c = mtv_disk_copy_find (v, disk);
  if (c && bytes)
    *bytes = mtv_disk_copy_bytes (c);
  return c != NULL;
}

void
mtv_vm_copies_progress (MtvVm *v)
{
  v->bytes_now = 0;
  v->rate = 0;
  for (guint i = 0; i < v->copying->len; i++)
    {
      v->bytes_now += mtv_disk_copy_bytes (v->copying->pdata[i]);
      v->rate += mtv_disk_copy_rate (v->copying->pdata[i]);
    }
  mtv_vm_emit_progress (v);
}

static guint64
capacity (JsonObject *disk)
{
  return disk ? (guint64) json_object_get_int_member_with_default (disk, "capacity", 0) : 0;
}

static JsonObject *
disk_at (MtvVm *v, guint index)
{
  JsonArray *disks = mtv_vm_disks (v);
  return disks && index < json_array_get_length (disks) ? json_array_get_object_element (disks, index) : NULL;
}

/* Warm precopies are not the last copy: what remains of a disk (a qcow2
 * conversion, ...) waits for Finalize. */
static gboolean
final_copy (MtvVm *v)
{
  return !(g_str_equal (v->phase, "CopyDisks") && mtv_run_is_warm (v->run));
}

void
mtv_copy_free (MtvVm *v)
{
  g_ptr_array_set_size (v->copying, 0);
}

gboolean
mtv_copy_cancel (MtvVm *v)
{
  gboolean running = FALSE, pulling = FALSE;
  for (guint i = 0; i < v->copying->len; i++)
    {
      pulling |= mtv_disk_copy_pulling (v->copying->pdata[i]);
      running |= mtv_disk_copy_cancel (v->copying->pdata[i]);
    }
  if (pulling)
    mtv_vm_cleanup_target (v);   /* the pulls see their volumes go */
  return running;
}

static void
remove_checkpoint (MtvVm *v, guint disk)
{
  g_autofree char *path = mtv_vm_checkpoint_path (v, disk, "checkpoint");
  unlink (path);
}

static void schedule (MtvVm *v);

/* ---- after a disk's copy: verified, finished, done ------------------------------------ */

static void
disk_done (MtvVm *v, guint index)
{
  MtvDiskCopy *c = mtv_disk_copy_find (v, index);
  if (c)
    g_ptr_array_remove_fast (v->copying, c);
  g_array_append_val (v->disks_done, index);
  v->bytes_base += capacity (disk_at (v, index));
  mtv_vm_copies_progress (v);
  /* A restart goes on without this disk once that is stored; before, it
   * resumes this complete copy from its checkpoint (mtv-transfer
   * --keep-checkpoint) and does not redo it. The checkpoints go when the VM
   * ends (mtv_vm_finish) or a new copy round starts: removing each here
   * would take a store write of its own first. */
  mtv_vm_commit (v);
  schedule (v);
}

static gboolean
finish_disk (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->target_adapter->finish_disk == NULL || job->target_adapter->finish_disk (&job->target, job->index, error);
}

static void
disk_finished (MtvVm *v, MtvVmJob *job)
{
  disk_done (v, job->index);
}

/* The disk is copied and was read consistently: what remains of it. */
static void
disk_copied (MtvVm *v, guint index)
{
  if (final_copy (v) && v->run->target->finish_disk)
    {
      /* The target is about to make the copy into something else (a raw
       * image converted to qcow2): the checkpoint no longer describes it,
       * and a restart from here copies the disk again. */
      remove_checkpoint (v, index);
      MtvVmJob *job = mtv_vm_job_new (v, finish_disk, disk_finished);
      job->index = index;
      mtv_vm_job_run (v, job);
    }
  else
    disk_done (v, index);
}

/* mtv-transfer verified that the target holds what it read; the source
 * says whether what it read was one state of the disk (the file did not
 * change, the VM stayed off). */
static gboolean
verify_read (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->source_adapter->verify_read (&job->source, job->object, error);
}

static void
read_verified (MtvVm *v, MtvVmJob *job)
{
  disk_copied (v, job->index);
}

/* A disk's copy ended, its helpers gone. The first failure fails the VM
 * (and stops the other disks' copies); a cancel ends it Canceled. */
static void
copy_ended (MtvDiskCopy *c, gboolean ok, const char *failure)
{
  MtvVm *v = mtv_disk_copy_vm (c);
  guint index = mtv_disk_copy_index (c);
  if (v->cancel_requested)
    mtv_vm_finish (v, "Canceled", NULL);
  else if (!ok)
    mtv_vm_fail (v, "%s", failure);
  else if (v->run->source->verify_read)
    {
      MtvVmJob *job = mtv_vm_job_new (v, verify_read, read_verified);
      job->index = index;
      job->object = json_object_ref (disk_at (v, index));
      mtv_vm_job_run (v, job);
    }
  else
    disk_copied (v, index);
}

/* ---- starting them -------------------------------------------------------------------- */

static gboolean
get_sink (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->target_adapter->disk_sink (&job->target, job->index, job->flag, &job->sink, error);
}

static void
got_sink (MtvVm *v, MtvVmJob *job)
{
  MtvDiskCopy *c = mtv_disk_copy_find (v, job->index);
  if (c)
    mtv_disk_copy_start (c, &job->sink, copy_ended);
}

static void
start_disk (MtvVm *v, guint index)
{
  MtvDiskCopy *c = mtv_disk_copy_new (v, index, disk_at (v, index));
  g_ptr_array_add (v->copying, c);
  if (mtv_vm_target_pulls_disks (v))
    {
      mtv_disk_copy_start (c, NULL, copy_ended);
      return;
    }
  MtvVmJob *job = mtv_vm_job_new (v, get_sink, got_sink);
  job->index = index;
  job->flag = v->precopies > 0;
  mtv_vm_job_run (v, job);
}

static gboolean
open_disks (MtvVmJob *job, GCancellable *stop, GError **error)
{
  job->disks = job->source_adapter->open_disks (&job->source, error);
  return job->disks != NULL;
}

static void
disks_opened (MtvVm *v, MtvVmJob *job)
{
  g_clear_pointer (&v->source_disks, json_array_unref);
  v->source_disks = g_steal_pointer (&job->disks);
  mtv_vm_commit (v);
  schedule (v);
}

/* Every disk is copied: warm precopies note where they got. */
static void
copies_done (MtvVm *v)
{
  mtv_precopy_end (v, v->next_checkpoint ? v->next_checkpoint : v->checkpoint);
  if (v->next_checkpoint)
    {
      g_clear_pointer (&v->checkpoint, json_object_unref);
      v->checkpoint = g_steal_pointer (&v->next_checkpoint);
    }
  v->precopies++;
  v->next_precopy = g_get_real_time () / G_USEC_PER_SEC + v->run->host->precopy_interval (v->run->host->data);
  mtv_vm_commit (v);
  mtv_vm_next (v);
}

/* Starts every disk not done nor in flight, up to DISKS_AT_ONCE; once all
 * are done, the phase is. */
static void
schedule (MtvVm *v)
{
  if (v->cancel_requested)
    {
      if (v->copying->len == 0)
        mtv_vm_finish (v, "Canceled", NULL);
      return;
    }
  if (v->run->source->open_disks && v->source_disks == NULL)
    {
      mtv_vm_job_run (v, mtv_vm_job_new (v, open_disks, disks_opened));
      return;
    }
  JsonArray *disks = mtv_vm_disks (v);
  guint n = disks ? json_array_get_length (disks) : 0;
  for (guint i = 0; i < n && v->copying->len < DISKS_AT_ONCE; i++)
    if (!mtv_vm_disk_copied (v, i) && mtv_disk_copy_find (v, i) == NULL)
      start_disk (v, i);
  if (v->copying->len == 0)
    copies_done (v);
}

void
mtv_phase_copy_disks (MtvVm *v)
{
  /* The stored disks done are this copy's only if the round they were
   * stored for is this one: a restart just as the phase was entered finds
   * the last round's there. */
  g_autofree char *round = g_strdup_printf ("%s-%u", v->phase, v->precopies);
  if (v->resumed && g_strcmp0 (v->copy_round, round) == 0)
    g_message ("migration %s: VM %s: resuming the copy: %u of %u disks done", v->run->id, v->name,
               v->disks_done->len, mtv_json_array_length (mtv_vm_disks (v)));
  else
    {
      g_array_set_size (v->disks_done, 0);
      v->bytes_base = v->bytes_now = 0;
      g_free (v->copy_round);
      v->copy_round = g_steal_pointer (&round);
      mtv_precopy_begin (v);
      mtv_vm_commit (v);
      /* A checkpoint of an earlier round (left by a restart) describes a
       * copy with the same arguments: it must not pass for this one's. */
      JsonArray *disks = mtv_vm_disks (v);
      for (guint i = 0; disks && i < json_array_get_length (disks); i++)
        remove_checkpoint (v, i);
    }
  schedule (v);
}

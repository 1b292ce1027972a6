/* CreateDataVolumes, and CopyDisks (and warm's Finalize): each disk served
 * as NBD by the command the source adapter names, then either copied by
 * mtv-transfer into the sink the target adapter gives, or pulled by the
 * target itself from mtvd's disk server. Disks go one after the other;
 * mtv-transfer keeps many requests in flight within each. */
#include "engine.h"
#include "mtv-spawn.h"
#include "itinerary.h"
#include "run.h"
#include "mtv-json.h"
#include "transfer/transfer-options.h"

#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Disk servers (qemu-nbd) allocate a buffer per request. With glibc's default
 * thresholds a 1 MiB buffer (mtv-transfer's read size) is handed back to the
 * kernel when freed and returns page-faulted and zeroed for the next request:
 * that doubled qemu-nbd's CPU time per copy. Keeping freed memory (at most
 * what is in flight) avoids it; see bench/README.md. */
#define DISK_SERVER_MALLOC_TUNABLES "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728"
/* A disk server gets this long to listen, looked for every 5 ms (it is
 * ready in a few: a slower look is time every disk waits). */
#define SOCKET_WAIT_MS 5
#define SOCKET_WAIT_TICKS 6000
/* mtv-transfer killed mid-copy (the OOM killer, a crash) resumes from its
 * checkpoint this many times before the VM fails. */
#define TRANSFER_RETRIES 3

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

/* ---- helpers -------------------------------------------------------------------------- */

static JsonObject *
current_disk (MtvVm *v)
{
  JsonArray *disks = mtv_vm_disks (v);
  return disks && v->disk < json_array_get_length (disks) ? json_array_get_object_element (disks, v->disk) : NULL;
}

static guint64
capacity (JsonObject *disk)
{
  return disk ? (guint64) json_object_get_int_member_with_default (disk, "capacity", 0) : 0;
}

/* Warm precopies are not the last copy: what remains of a disk (a qcow2
 * conversion, ...) waits for Finalize. */
static gboolean
final_copy (MtvVm *v)
{
  return !(g_str_equal (v->phase, "CopyDisks") && mtv_itinerary_phase (v->run->itinerary, "CopyingPaused"));
}

void
mtv_copy_free (MtvVm *v)
{
  if (v->io)
    g_cancellable_cancel (v->io);
  g_clear_object (&v->io);
  g_clear_pointer (&v->transfer, mtv_child_free);
  g_clear_pointer (&v->server, mtv_child_free);
  if (v->socket)
    unlink (v->socket);
  g_clear_pointer (&v->socket, g_free);
  g_clear_pointer (&v->server_program, g_free);
  if (v->pull_url && v->run->link && v->run->target->withdraw_disk)
    v->run->target->withdraw_disk (v->run->link->instance, v->pull_url);
  g_clear_pointer (&v->pull_url, g_free);
  v->pulling = FALSE;
  mtv_disk_sink_clear (&v->sink);
  g_clear_pointer (&v->transfer_error, g_free);
}

void
mtv_copy_cancel (MtvVm *v)
{
  if (v->transfer)
    mtv_child_signal (v->transfer, SIGTERM);
  else if (v->pulling)
    mtv_vm_cleanup_target (v);   /* the pull sees its volume go */
}

/* ---- the copy of one disk ------------------------------------------------------------- */

static void copy_next (MtvVm *v);

static void
remove_checkpoint (MtvVm *v, guint disk)
{
  g_autofree char *path = mtv_vm_checkpoint_path (v, disk, "checkpoint");
  unlink (path);
}

static void
disk_done (MtvVm *v)
{
  v->bytes_base += capacity (current_disk (v));
  v->bytes_now = 0;
  v->disk++;
  mtv_disk_sink_clear (&v->sink);
  /* A restart goes on with the next disk once that is stored; before, it
   * resumes this complete copy from its checkpoint (mtv-transfer
   * --keep-checkpoint) and does not redo it. The checkpoints go when the VM
   * ends (mtv_vm_finish) or a new copy round starts: removing each here
   * would take a store write of its own first. */
  mtv_vm_commit (v);
  copy_next (v);
}

static gboolean
finish_disk (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->target_adapter->finish_disk == NULL || job->target_adapter->finish_disk (&job->target, job->index, error);
}

static void
disk_finished (MtvVm *v, MtvVmJob *job)
{
  disk_done (v);
}

/* The disk is copied and was read consistently: what remains of it. */
static void
disk_copied (MtvVm *v)
{
  if (final_copy (v) && v->run->target->finish_disk)
    {
      /* The target is about to make the copy into something else (a raw
       * image converted to qcow2): the checkpoint no longer describes it,
       * and a restart from here copies the disk again. */
      remove_checkpoint (v, v->disk);
      MtvVmJob *job = mtv_vm_job_new (v, finish_disk, disk_finished);
      job->index = v->disk;
      mtv_vm_job_run (v, job);
    }
  else
    disk_done (v);
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
  disk_copied (v);
}

/* The copy of the current disk is over and its server gone. */
static void
server_stopped (MtvVm *v)
{
  gboolean ok = v->transfer_ok;
  g_autofree char *failure = g_steal_pointer (&v->transfer_error);
  mtv_copy_free (v);
  if (v->cancel_requested)
    mtv_vm_finish (v, "Canceled", NULL);
  else if (!ok)
    mtv_vm_fail (v, "%s", failure ? failure : "the disk copy failed");
  else if (v->run->source->verify_read)
    {
      MtvVmJob *job = mtv_vm_job_new (v, verify_read, read_verified);
      job->index = v->disk;
      job->object = json_object_ref (current_disk (v));
      mtv_vm_job_run (v, job);
    }
  else
    disk_copied (v);
}

/* The disk server's output goes to the journal; when the copy failed, its
 * last word is the likely cause (qemu-nbd saying the file is gone). */
static void
log_server_output (MtvVm *v, const char *err)
{
  g_auto (GStrv) lines = g_strsplit (err ? err : "", "\n", -1);
  for (guint i = 0; lines[i]; i++)
    if (*g_strstrip (lines[i]))
      {
        g_autofree char *valid = g_utf8_make_valid (lines[i], -1);
        g_message ("migration %s: VM %s: %s: %s", v->run->id, v->name, v->server_program, valid);
      }
}

static void
on_server_gone (gpointer data, int status, const char *out, const char *err)
{
  MtvVm *v = data;
  log_server_output (v, err);
  /* Unless mtv-transfer was killed or gave up on a server that stopped
   * answering (then the server only saw it go), what the server said comes
   * first: a copy that cannot read is its doing. */
  g_autofree char *said = mtv_child_last_line (err);
  if (said == NULL && v->server_died && WIFSIGNALED (status))
    said = mtv_child_describe_status (v->server_program, status);
  if (!v->transfer_ok && !v->transfer_killed && !v->transfer_stalled && said)
    {
      const char *disk = json_object_get_string_member_with_default (current_disk (v), "name", "?");
      g_autofree char *prefix = g_strdup_printf ("copying disk %s: ", disk);
      const char *then = v->transfer_error && g_str_has_prefix (v->transfer_error, prefix)
                           ? v->transfer_error + strlen (prefix) : v->transfer_error;
      g_autofree char *failure = g_strdup_printf ("copying disk %s: the disk's server failed: %s%s%s%s", disk, said,
                                                  then ? " (then: " : "", then ? then : "", then ? ")" : "");
      g_free (v->transfer_error);
      v->transfer_error = g_steal_pointer (&failure);
    }
  server_stopped (v);
}

/* The copy of the current disk ended (@ok, or why not): its server stops. */
static void
copy_ended (MtvVm *v, gboolean ok, const char *failure)
{
  if (ok)
    v->transfer_killed = FALSE;
  v->transfer_ok = ok;
  g_free (v->transfer_error);
  v->transfer_error = g_strdup (failure);
  v->server_died = !mtv_child_running (v->server);
  mtv_child_signal (v->server, SIGTERM);
  mtv_child_watch (v->server, on_server_gone, v);
}

typedef struct {
  MtvVm *v;
  GCancellable *io;
} Reader;

static void read_progress (GDataInputStream *in, Reader *r);

static void
on_progress_line (GObject *source, GAsyncResult *res, gpointer data)
{
  GDataInputStream *in = G_DATA_INPUT_STREAM (source);
  Reader *r = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (in, res, NULL, &error);
  if (line == NULL || g_cancellable_is_cancelled (r->io))
    {
      /* End of stream, or cancelled: the VM may be gone. */
      g_object_unref (in);
      g_object_unref (r->io);
      g_free (r);
      return;
    }
  MtvVm *v = r->v;
  g_autoptr (JsonObject) o = mtv_json_object_from_string (line, "progress", NULL);
  if (o)
    {
      v->bytes_now = (guint64) json_object_get_int_member_with_default (o, "bytes_done", 0);
      v->rate = json_object_get_double_member_with_default (o, "rate", 0);
      mtv_vm_emit_progress (v);
    }
  read_progress (in, r);
}

static void
read_progress (GDataInputStream *in, Reader *r)
{
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, r->io, on_progress_line, r);
}

static void start_transfer (MtvVm *v);
static void start_server (MtvVm *v);
static gboolean pulls (MtvVm *v);

/* The disk's server ended while mtv-transfer read from it. Killed (by the
 * OOM killer, say), it is started again and the copy goes on from its
 * checkpoint, a few times; ended by itself, it said why, and that is the
 * copy's failure. */
static void
on_server_died (gpointer data, int status, const char *out, const char *err)
{
  MtvVm *v = data;
  if (!WIFSIGNALED (status))
    {
      g_autofree char *failure = g_steal_pointer (&v->transfer_error);
      copy_ended (v, FALSE, failure);
      return;
    }
  log_server_output (v, err);
  const char *disk = json_object_get_string_member_with_default (current_disk (v), "name", "?");
  g_autofree char *how = mtv_child_describe_status (v->server_program, status);
  v->transfer_attempts++;
  g_message ("migration %s: VM %s: the disk's server %s while copying disk %s; starting it again and resuming "
             "from the checkpoint (attempt %u of %u)", v->run->id, v->name, how, disk, v->transfer_attempts + 1,
             TRANSFER_RETRIES + 1);
  g_clear_pointer (&v->transfer_error, g_free);
  g_clear_pointer (&v->server, mtv_child_free);
  if (v->io)
    g_cancellable_cancel (v->io);
  g_clear_object (&v->io);
  start_server (v);
}

static void
on_transfer_done (gpointer data, int status, const char *stdout_text, const char *stderr_text)
{
  MtvVm *v = data;
  gboolean ok = WIFEXITED (status) && WEXITSTATUS (status) == 0;
  /* Its output goes with it. */
  g_autofree char *out = g_strdup (stdout_text), *err = g_strdup (stderr_text);
  g_clear_pointer (&v->transfer, mtv_child_free);
  JsonObject *summary = ok && *out ? mtv_json_object_from_string (out, "mtv-transfer's summary", NULL) : NULL;
  if (summary)
    {
      json_object_set_int_member (summary, "disk", v->disk);
      json_array_add_object_element (v->copies, summary);
    }
  if (ok)
    {
      copy_ended (v, TRUE, NULL);
      return;
    }
  const char *disk = json_object_get_string_member_with_default (current_disk (v), "name", "?");
  g_autofree char *how = mtv_child_describe_status ("mtv-transfer", status);
  v->transfer_killed = WIFSIGNALED (status);
  v->transfer_stalled = WIFEXITED (status) && WEXITSTATUS (status) == MTV_TRANSFER_EXIT_STALLED;
  if (WIFSIGNALED (status) && !v->cancel_requested && v->sink.resumable && mtv_child_running (v->server)
      && v->transfer_attempts < TRANSFER_RETRIES)
    {
      v->transfer_attempts++;
      g_message ("migration %s: VM %s: %s while copying disk %s; resuming from its checkpoint (attempt %u of %u)",
                 v->run->id, v->name, how, disk, v->transfer_attempts + 1, TRANSFER_RETRIES + 1);
      start_transfer (v);
      return;
    }
  /* Its own words when it has them ("mtv-transfer: ..."), else how it ended. */
  g_autofree char *said = mtv_child_last_line (err);
  const char *words = said && g_str_has_prefix (said, "mtv-transfer: ") ? said + strlen ("mtv-transfer: ") : said;
  g_autoptr (GString) failure = g_string_new (NULL);
  g_string_printf (failure, "copying disk %s: ", disk);
  if (WIFSIGNALED (status) || words == NULL)
    {
      g_string_append (failure, how);
      if (v->transfer_attempts)
        g_string_append_printf (failure, " again, after %u %s", v->transfer_attempts,
                                v->transfer_attempts == 1 ? "retry" : "retries");
      if (words)
        g_string_append_printf (failure, " (it said: %s)", words);
    }
  else
    g_string_append (failure, words);
  if (!mtv_child_running (v->server) && !v->cancel_requested && v->sink.resumable && !pulls (v)
      && v->transfer_attempts < TRANSFER_RETRIES)
    {
      /* The disk's server died under the copy: how it ended decides. */
      g_free (v->transfer_error);
      v->transfer_error = g_string_free (g_steal_pointer (&failure), FALSE);
      mtv_child_watch (v->server, on_server_died, v);
      return;
    }
  copy_ended (v, FALSE, failure->str);
}

static const char *
max_rate (MtvVm *v)
{
  JsonObject *settings = mtv_json_object (mtv_json_object (mtv_run_snap (v->run, "sourceProvider"), "spec"), "settings");
  return mtv_json_string (settings, "transferMaxRate");
}

static void
start_transfer (MtvVm *v)
{
  g_autoptr (GError) error = NULL;
  int fds[2];
  if (!g_unix_open_pipe (fds, FD_CLOEXEC, &error))
    {
      copy_ended (v, FALSE, error->message);
      return;
    }
  int token_fds[2] = { -1, -1 };
  if (v->sink.token)
    {
      /* The upload token goes through a pipe, never on the command line. */
      gsize len = strlen (v->sink.token);
      if (!g_unix_open_pipe (token_fds, FD_CLOEXEC, &error) || write (token_fds[1], v->sink.token, len) != (ssize_t) len)
        {
          close (fds[0]), close (fds[1]);
          copy_ended (v, FALSE, error ? error->message : "cannot pass the upload token");
          return;
        }
      close (token_fds[1]);
    }
  g_autofree char *uri = g_strdup_printf ("nbd+unix:///?socket=%s", v->socket);
  g_autofree char *checkpoint = mtv_vm_checkpoint_path (v, v->disk, "checkpoint");
  g_autofree char *extents = mtv_vm_checkpoint_path (v, v->disk, "extents");
  g_autofree char *extents_arg = g_strdup_printf ("file:%s", extents);
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_strv_builder_add_many (b, v->run->host->transfer_path, "--progress-fd", "3", NULL);
  if (v->sink.token)
    g_strv_builder_add_many (b, "--token-fd", "4", NULL);
  if (v->sink.cacert)
    g_strv_builder_add_many (b, "--cacert", v->sink.cacert, NULL);
  if (v->sink.insecure)
    g_strv_builder_add (b, "--insecure");
  if (v->sink.resumable)
    g_strv_builder_add_many (b, "--checkpoint", checkpoint, "--keep-checkpoint", NULL);
  g_autofree char *stall = g_strdup_printf ("%u", v->run->host->stall_timeout
                                                    ? v->run->host->stall_timeout (v->run->host->data) : 0);
  g_strv_builder_add_many (b, "--stall-timeout", stall, NULL);
  if (v->precopies > 0)
    g_strv_builder_add_many (b, "--extents", extents_arg, NULL);   /* warm: only what changed */
  if (max_rate (v))
    g_strv_builder_add_many (b, "--max-rate", max_rate (v), NULL);
  g_strv_builder_add_many (b, uri, v->sink.destination, NULL);
  g_auto (GStrv) argv = g_strv_builder_end (b);

  /* Progress as fd 3, the token (when there is one) as fd 4. */
  int given[2] = { fds[1], token_fds[0] };
  MtvSpawn spawn = { .argv = (const char *const *) argv, .fds = given, .n_fds = token_fds[0] >= 0 ? 2 : 1,
                     .capture = TRUE };
  v->transfer = mtv_child_spawn (&spawn, &error);
  if (v->transfer == NULL)
    {
      close (fds[0]);
      copy_ended (v, FALSE, error->message);
      return;
    }
  GDataInputStream *in = g_data_input_stream_new (g_unix_input_stream_new (fds[0], TRUE));
  g_object_unref (g_filter_input_stream_get_base_stream (G_FILTER_INPUT_STREAM (in)));
  Reader *r = g_new0 (Reader, 1);
  r->v = v;
  r->io = g_object_ref (v->io);
  read_progress (in, r);
  mtv_child_watch (v->transfer, on_transfer_done, v);
}

/* ---- pulled by the target (cluster transfer mode) ------------------------------------ */

static void
deliver_pull_progress (gpointer owner, gpointer message)
{
  MtvVm *v = owner;
  v->bytes_now = *(guint64 *) message;
  mtv_vm_emit_progress (v);
}

static void
pull_progress (guint64 done, gpointer data)
{
  MtvVmJob *job = data;
  mtv_work_post (job->work, deliver_pull_progress, g_memdup2 (&done, sizeof done), g_free);
}

static gboolean
pull (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->target_adapter->pull_disk (&job->target, job->index, job->text, pull_progress, job, error);
}

static void
pulled (MtvVm *v, MtvVmJob *job)
{
  copy_ended (v, TRUE, NULL);
}

static void
pull_failed (MtvVm *v, MtvVmJob *job, const GError *error)
{
  copy_ended (v, FALSE, error->message);
}

static void
start_pull (MtvVm *v)
{
  g_autofree char *uri = g_strdup_printf ("nbd+unix:///?socket=%s", v->socket);
  v->pull_url = v->run->target->publish_disk (v->run->link->instance, uri, capacity (current_disk (v)));
  v->pulling = TRUE;
  MtvVmJob *job = mtv_vm_job_new (v, pull, pulled);
  job->failed = pull_failed;
  job->index = v->disk;
  job->text = g_strdup (v->pull_url);
  mtv_vm_job_run (v, job);
}

/* ---- the disk's NBD server ------------------------------------------------------------- */

static gboolean
pulls (MtvVm *v)
{
  const MtvTargetAdapter *t = v->run->target;
  return t->pulls_disks && t->pull_disk && t->publish_disk && v->run->link && t->pulls_disks (v->run->link->instance);
}

/* It takes a moment to listen; the socket's appearance says it does. */
static void
wait_for_socket (MtvVm *v)
{
  if (g_file_test (v->socket, G_FILE_TEST_EXISTS))
    {
      if (pulls (v))
        start_pull (v);
      else
        start_transfer (v);
    }
  else if (!mtv_child_running (v->server))
    copy_ended (v, FALSE, "the disk's NBD server exited before it listened");
  else if (++v->wait_ticks > SOCKET_WAIT_TICKS)
    copy_ended (v, FALSE, "the disk's NBD server did not listen within 30 seconds");
  else
    mtv_vm_after (v, SOCKET_WAIT_MS, wait_for_socket);
}

static void
start_server (MtvVm *v)
{
  g_autoptr (GError) error = NULL;
  g_free (v->socket);
  v->socket = g_strdup_printf ("%s/%s-%u-%u.sock", v->run->host->runtime_dir, v->run->id, v->index, v->disk);
  unlink (v->socket);
  mtv_vm_flush (v);
  g_auto (GStrv) argv = v->run->source->disk_server (current_disk (v), v->socket, &error);
  if (argv == NULL)
    {
      mtv_vm_fail (v, "%s", error ? error->message : "the source cannot serve its disks");
      return;
    }
  static const char *const env[] = { "GLIBC_TUNABLES=" DISK_SERVER_MALLOC_TUNABLES, NULL };
  /* Its output is kept: it says why a copy from it failed. */
  MtvSpawn spawn = { .argv = (const char *const *) argv, .env = env, .capture = TRUE };
  g_free (v->server_program);
  v->server_program = g_path_get_basename (argv[0]);
  v->server = mtv_child_spawn (&spawn, &error);
  if (v->server == NULL)
    {
      mtv_vm_fail (v, "%s", error->message);
      return;
    }
  v->io = g_cancellable_new ();
  v->wait_ticks = 0;
  mtv_vm_after (v, SOCKET_WAIT_MS, wait_for_socket);
}

/* ---- the disks, one after the other ---------------------------------------------------- */

static gboolean
get_sink (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->target_adapter->disk_sink (&job->target, job->index, job->flag, &job->sink, error);
}

static void
got_sink (MtvVm *v, MtvVmJob *job)
{
  mtv_disk_sink_clear (&v->sink);
  v->sink = job->sink;
  memset (&job->sink, 0, sizeof job->sink);
  start_server (v);
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
  copy_next (v);
}

/* Every disk is copied: warm precopies note where they got. */
static void
copies_done (MtvVm *v)
{
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

static void
copy_next (MtvVm *v)
{
  if (v->cancel_requested)
    {
      mtv_vm_finish (v, "Canceled", NULL);
      return;
    }
  if (v->run->source->open_disks && v->source_disks == NULL)
    {
      mtv_vm_job_run (v, mtv_vm_job_new (v, open_disks, disks_opened));
      return;
    }
  JsonArray *disks = mtv_vm_disks (v);
  if (disks == NULL || v->disk >= json_array_get_length (disks))
    {
      copies_done (v);
      return;
    }
  /* Helpers killed under this disk's copy are retried a few times. */
  v->transfer_attempts = 0;
  v->transfer_killed = FALSE;
  if (pulls (v))
    {
      start_server (v);
      return;
    }
  MtvVmJob *job = mtv_vm_job_new (v, get_sink, got_sink);
  job->index = v->disk;
  job->flag = v->precopies > 0;
  mtv_vm_job_run (v, job);
}

void
mtv_phase_copy_disks (MtvVm *v)
{
  /* The stored disk index is this copy's only if the round it was stored
   * for is this one: a restart just as the phase was entered finds the
   * last round's there. */
  g_autofree char *round = g_strdup_printf ("%s-%u", v->phase, v->precopies);
  if (v->resumed && g_strcmp0 (v->copy_round, round) == 0)
    g_message ("migration %s: VM %s: resuming at disk %u", v->run->id, v->name, v->disk);
  else
    {
      v->disk = 0;
      v->bytes_base = v->bytes_now = 0;
      g_free (v->copy_round);
      v->copy_round = g_steal_pointer (&round);
      mtv_vm_commit (v);
      /* A checkpoint of an earlier round (left by a restart) describes a
       * copy with the same arguments: it must not pass for this one's. */
      JsonArray *disks = mtv_vm_disks (v);
      for (guint i = 0; disks && i < json_array_get_length (disks); i++)
        remove_checkpoint (v, i);
    }
  copy_next (v);
}

/* The copy of one disk: its NBD server, mtv-transfer (or the target's pull)
 * from it, helpers killed under it started again, and one report of how it
 * ended once its server is gone. Several run at once for one VM: nothing
 * here is the VM's but what it reports (progress, mtv-transfer's summary). */
#include "disk-copy.h"
#include "mtv-spawn.h"
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

struct _MtvDiskCopy {
  MtvVm *v;
  guint index;
  JsonObject *disk;
  char *name;                 /* the disk's, for messages */
  MtvDiskCopyEnded ended;
  gboolean pull;              /* the target pulls it */
  MtvDiskSink sink;
  char *socket;
  MtvChild *server, *transfer;
  char *server_program;       /* qemu-nbd, nbdkit: for messages */
  guint wait_ticks, wait_source;
  guint attempts;             /* of mtv-transfer or the server, after the first */
  GCancellable *io;           /* the progress reader */
  char *error;
  gboolean ok;
  gboolean killed;            /* mtv-transfer ended by a signal: what the server said then is noise */
  gboolean stalled;           /* it gave up: nothing moved for the stall timeout */
  gboolean server_died;       /* the server had ended when the copy did */
  char *pull_url;
  gboolean pulling;
  guint64 bytes;
  double rate;
};

gboolean
mtv_vm_target_pulls_disks (MtvVm *v)
{
  const MtvTargetAdapter *t = v->run->target;
  return t->pulls_disks && t->pull_disk && t->publish_disk && v->run->link && t->pulls_disks (v->run->link->instance);
}

MtvDiskCopy *
mtv_disk_copy_new (MtvVm *v, guint index, JsonObject *disk)
{
  MtvDiskCopy *c = g_new0 (MtvDiskCopy, 1);
  c->v = v;
  c->index = index;
  c->disk = json_object_ref (disk);
  g_autofree char *fallback = g_strdup_printf ("%u", index);
  c->name = g_strdup (json_object_get_string_member_with_default (disk, "name", fallback));
  return c;
}

/* Its helpers stop (killed if still running) and what they used goes. */
static void
release (MtvDiskCopy *c)
{
  if (c->wait_source)
    g_source_remove (c->wait_source), c->wait_source = 0;
  if (c->io)
    g_cancellable_cancel (c->io);
  g_clear_object (&c->io);
  g_clear_pointer (&c->transfer, mtv_child_free);
  g_clear_pointer (&c->server, mtv_child_free);
  if (c->socket)
    unlink (c->socket);
  g_clear_pointer (&c->socket, g_free);
  MtvRun *run = c->v->run;
  if (c->pull_url && run->link && run->target->withdraw_disk)
    run->target->withdraw_disk (run->link->instance, c->pull_url);
  g_clear_pointer (&c->pull_url, g_free);
  c->pulling = FALSE;
  mtv_disk_sink_clear (&c->sink);
}

void
mtv_disk_copy_free (MtvDiskCopy *c)
{
  if (c == NULL)
    return;
  release (c);
  json_object_unref (c->disk);
  g_free (c->name);
  g_free (c->server_program);
  g_free (c->error);
  g_free (c);
}

gboolean
mtv_disk_copy_cancel (MtvDiskCopy *c)
{
  if (c->transfer)
    mtv_child_signal (c->transfer, SIGTERM);
  return mtv_disk_copy_running (c);
}

gboolean
mtv_disk_copy_running (MtvDiskCopy *c)
{
  return c->server || c->transfer || c->pulling;
}

gboolean
mtv_disk_copy_pulling (MtvDiskCopy *c)
{
  return c->pulling;
}

MtvVm *
mtv_disk_copy_vm (MtvDiskCopy *c)
{
  return c->v;
}

MtvDiskCopy *
mtv_disk_copy_find (MtvVm *v, guint index)
{
  for (guint i = 0; i < v->copying->len; i++)
    if (((MtvDiskCopy *) v->copying->pdata[i])->index == index)
      return v->copying->pdata[i];
  return NULL;
}

guint
mtv_disk_copy_index (MtvDiskCopy *c)
{
  return c->index;
}

guint64
mtv_disk_copy_bytes (MtvDiskCopy *c)
{
  return c->bytes;
}

double
mtv_disk_copy_rate (MtvDiskCopy *c)
{
  return c->rate;
}

/* ---- its end --------------------------------------------------------------------- */

static void
report (MtvDiskCopy *c)
{
  gboolean ok = c->ok;
  g_autofree char *failure = g_steal_pointer (&c->error);
  release (c);
  c->rate = 0;
  mtv_vm_copies_progress (c->v);
  c->ended (c, ok, failure ? failure : ok ? NULL : "the disk copy failed");
}

/* The server's output goes to the journal; when the copy failed, its
 * last word is the likely cause (qemu-nbd saying the file is gone). */
static void
log_server_output (MtvDiskCopy *c, const char *err)
{
  g_auto (GStrv) lines = g_strsplit (err ? err : "", "\n", -1);
  for (guint i = 0; lines[i]; i++)
    if (*g_strstrip (lines[i]))
      {
        g_autofree char *valid = g_utf8_make_valid (lines[i], -1);
        g_message ("migration %s: VM %s: disk %s: %s: %s", c->v->run->id, c->v->name, c->name, c->server_program,
                   valid);
      }
}

static void
on_server_gone (gpointer data, int status, const char *out, const char *err)
{
  MtvDiskCopy *c = data;
  log_server_output (c, err);
  /* Unless mtv-transfer was killed or gave up on a server that stopped
   * answering (then the server only saw it go), what the server said comes
   * first: a copy that cannot read is its doing. */
  g_autofree char *said = mtv_child_last_line (err);
  if (said == NULL && c->server_died && WIFSIGNALED (status))
    said = mtv_child_describe_status (c->server_program, status);
  if (!c->ok && !c->killed && !c->stalled && said)
    {
      g_autofree char *prefix = g_strdup_printf ("copying disk %s: ", c->name);
      const char *then = c->error && g_str_has_prefix (c->error, prefix) ? c->error + strlen (prefix) : c->error;
      g_autofree char *failure = g_strdup_printf ("copying disk %s: the disk's server failed: %s%s%s%s", c->name, said,
                                                  then ? " (then: " : "", then ? then : "", then ? ")" : "");
      g_free (c->error);
      c->error = g_steal_pointer (&failure);
    }
  report (c);
}

/* The copy ended (@ok, or why not): its server (if it has one) stops. */
static void
copy_ended (MtvDiskCopy *c, gboolean ok, const char *failure)
{
  if (ok)
    c->killed = FALSE;
  c->ok = ok;
  g_free (c->error);
  c->error = g_strdup (failure);
  c->pulling = FALSE;
  if (c->server == NULL)
    {
      report (c);   /* imported by the target from the source itself */
      return;
    }
  c->server_died = !mtv_child_running (c->server);
  mtv_child_signal (c->server, SIGTERM);
  mtv_child_watch (c->server, on_server_gone, c);
}

/* ---- mtv-transfer ------------------------------------------------------------------- */

typedef struct {
  MtvDiskCopy *c;
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
      /* End of stream, or cancelled: the copy may be gone. */
      g_object_unref (in);
      g_object_unref (r->io);
      g_free (r);
      return;
    }
  MtvDiskCopy *c = r->c;
  g_autoptr (JsonObject) o = mtv_json_object_from_string (line, "progress", NULL);
  if (o)
    {
      c->bytes = (guint64) json_object_get_int_member_with_default (o, "bytes_done", 0);
      c->rate = json_object_get_double_member_with_default (o, "rate", 0);
      mtv_vm_copies_progress (c->v);
    }
  read_progress (in, r);
}

static void
read_progress (GDataInputStream *in, Reader *r)
{
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, r->io, on_progress_line, r);
}

static void start_transfer (MtvDiskCopy *c);
static void start_server (MtvDiskCopy *c);

/* The server ended while mtv-transfer read from it. Killed (by the OOM
 * killer, say), it is started again and the copy goes on from its
 * checkpoint, a few times; ended by itself, it said why, and that is the
 * copy's failure. */
static void
on_server_died (gpointer data, int status, const char *out, const char *err)
{
  MtvDiskCopy *c = data;
  if (!WIFSIGNALED (status))
    {
      g_autofree char *failure = g_steal_pointer (&c->error);
      copy_ended (c, FALSE, failure);
      return;
    }
  log_server_output (c, err);
  g_autofree char *how = mtv_child_describe_status (c->server_program, status);
  c->attempts++;
  g_message ("migration %s: VM %s: the disk's server %s while copying disk %s; starting it again and resuming "
             "from the checkpoint (attempt %u of %u)", c->v->run->id, c->v->name, how, c->name, c->attempts + 1,
             TRANSFER_RETRIES + 1);
  g_clear_pointer (&c->error, g_free);
  g_clear_pointer (&c->server, mtv_child_free);
  if (c->io)
    g_cancellable_cancel (c->io);
  g_clear_object (&c->io);
  start_server (c);
}

static void
on_transfer_done (gpointer data, int status, const char *stdout_text, const char *stderr_text)
{
  MtvDiskCopy *c = data;
  MtvVm *v = c->v;
  gboolean ok = WIFEXITED (status) && WEXITSTATUS (status) == 0;
  /* Its output goes with it. */
  g_autofree char *out = g_strdup (stdout_text), *err = g_strdup (stderr_text);
  g_clear_pointer (&c->transfer, mtv_child_free);
  JsonObject *summary = ok && *out ? mtv_json_object_from_string (out, "mtv-transfer's summary", NULL) : NULL;
  if (summary)
    {
      json_object_set_int_member (summary, "disk", c->index);
      json_array_add_object_element (v->copies, summary);
    }
  if (ok)
    {
      copy_ended (c, TRUE, NULL);
      return;
    }
  g_autofree char *how = mtv_child_describe_status ("mtv-transfer", status);
  c->killed = WIFSIGNALED (status);
  c->stalled = WIFEXITED (status) && WEXITSTATUS (status) == MTV_TRANSFER_EXIT_STALLED;
  if (WIFSIGNALED (status) && !v->cancel_requested && c->sink.resumable && mtv_child_running (c->server)
      && c->attempts < TRANSFER_RETRIES)
    {
      c->attempts++;
      g_message ("migration %s: VM %s: %s while copying disk %s; resuming from its checkpoint (attempt %u of %u)",
                 v->run->id, v->name, how, c->name, c->attempts + 1, TRANSFER_RETRIES + 1);
      start_transfer (c);
      return;
    }
  /* Its own words when it has them ("mtv-transfer: ..."), else how it ended. */
  g_autofree char *said = mtv_child_last_line (err);
  const char *words = said && g_str_has_prefix (said, "mtv-transfer: ") ? said + strlen ("mtv-transfer: ") : said;
  g_autoptr (GString) failure = g_string_new (NULL);
  g_string_printf (failure, "copying disk %s: ", c->name);
  if (WIFSIGNALED (status) || words == NULL)
    {
      g_string_append (failure, how);
      if (c->attempts)
        g_string_append_printf (failure, " again, after %u %s", c->attempts, c->attempts == 1 ? "retry" : "retries");
      if (words)
        g_string_append_printf (failure, " (it said: %s)", words);
    }
  else
    g_string_append (failure, words);
  if (!mtv_child_running (c->server) && !v->cancel_requested && c->sink.resumable && c->attempts < TRANSFER_RETRIES)
    {
      /* The disk's server died under the copy: how it ended decides. */
      g_free (c->error);
      c->error = g_string_free (g_steal_pointer (&failure), FALSE);
      mtv_child_watch (c->server, on_server_died, c);
      return;
    }
  copy_ended (c, FALSE, failure->str);
}

static const char *
max_rate (MtvVm *v)
{
  JsonObject *settings = mtv_json_object (mtv_json_object (mtv_run_snap (v->run, "sourceProvider"), "spec"), "settings");
  return mtv_json_string (settings, "transferMaxRate");
}

static void
start_transfer (MtvDiskCopy *c)
{
  MtvVm *v = c->v;
  g_autoptr (GError) error = NULL;
  int fds[2];
  if (!g_unix_open_pipe (fds, FD_CLOEXEC, &error))
    {
      copy_ended (c, FALSE, error->message);
      return;
    }
  int token_fds[2] = { -1, -1 };
  if (c->sink.token)
    {
      /* The upload token goes through a pipe, never on the command line. */
      gsize len = strlen (c->sink.token);
      if (!g_unix_open_pipe (token_fds, FD_CLOEXEC, &error) || write (token_fds[1], c->sink.token, len) != (ssize_t) len)
        {
          close (fds[0]), close (fds[1]);
          copy_ended (c, FALSE, error ? error->message : "cannot pass the upload token");
          return;
        }
      close (token_fds[1]);
    }
  g_autofree char *uri = g_strdup_printf ("nbd+unix:///?socket=%s", c->socket);
  g_autofree char *checkpoint = mtv_vm_checkpoint_path (v, c->index, "checkpoint");
  g_autofree char *extents = mtv_vm_checkpoint_path (v, c->index, "extents");
  g_autofree char *extents_arg = g_strdup_printf ("file:%s", extents);
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_strv_builder_add_many (b, v->run->host->transfer_path, "--progress-fd", "3", NULL);
  if (c->sink.token)
    g_strv_builder_add_many (b, "--token-fd", "4", NULL);
  if (c->sink.cacert)
    g_strv_builder_add_many (b, "--cacert", c->sink.cacert, NULL);
  if (c->sink.insecure)
    g_strv_builder_add (b, "--insecure");
  if (c->sink.resumable)
    g_strv_builder_add_many (b, "--checkpoint", checkpoint, "--keep-checkpoint", NULL);
  g_autofree char *stall = g_strdup_printf ("%u", v->run->host->stall_timeout
                                                    ? v->run->host->stall_timeout (v->run->host->data) : 0);
  g_strv_builder_add_many (b, "--stall-timeout", stall, NULL);
  if (v->precopies > 0)
    g_strv_builder_add_many (b, "--extents", extents_arg, NULL);   /* warm: only what changed */
  if (max_rate (v))
    g_strv_builder_add_many (b, "--max-rate", max_rate (v), NULL);
  g_strv_builder_add_many (b, uri, c->sink.destination, NULL);
  g_auto (GStrv) argv = g_strv_builder_end (b);

  /* Progress as fd 3, the token (when there is one) as fd 4. */
  int given[2] = { fds[1], token_fds[0] };
  MtvSpawn spawn = { .argv = (const char *const *) argv, .fds = given, .n_fds = token_fds[0] >= 0 ? 2 : 1,
                     .capture = TRUE };
  c->transfer = mtv_child_spawn (&spawn, &error);
  if (c->transfer == NULL)
    {
      close (fds[0]);
      copy_ended (c, FALSE, error->message);
      return;
    }
  GDataInputStream *in = g_data_input_stream_new (g_unix_input_stream_new (fds[0], TRUE));
  g_object_unref (g_filter_input_stream_get_base_stream (G_FILTER_INPUT_STREAM (in)));
  Reader *r = g_new0 (Reader, 1);
  r->c = c;
  r->io = g_object_ref (c->io);
  read_progress (in, r);
  mtv_child_watch (c->transfer, on_transfer_done, c);
}

/* ---- pulled by the target (cluster transfer mode) ------------------------------------ */

typedef struct {
  guint index;
  guint64 done;
} PullProgress;

static void
deliver_pull_progress (gpointer owner, gpointer message)
{
  MtvVm *v = owner;
  PullProgress *p = message;
  MtvDiskCopy *c = mtv_disk_copy_find (v, p->index);
  if (c)
    {
      c->bytes = p->done;
      mtv_vm_copies_progress (v);
    }
}

static void
pull_progress (guint64 done, gpointer data)
{
  MtvVmJob *job = data;
  PullProgress p = { job->index, done };
  mtv_work_post (job->work, deliver_pull_progress, g_memdup2 (&p, sizeof p), g_free);
}

static gboolean
pull (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->target_adapter->pull_disk (&job->target, job->index, job->text, pull_progress, job, error);
}

static void
pulled (MtvVm *v, MtvVmJob *job)
{
  MtvDiskCopy *c = mtv_disk_copy_find (v, job->index);
  if (c)
    copy_ended (c, TRUE, NULL);
}

static void
pull_failed (MtvVm *v, MtvVmJob *job, const GError *error)
{
  MtvDiskCopy *c = mtv_disk_copy_find (v, job->index);
  if (c)
    copy_ended (c, FALSE, error->message);
}

static void
start_pull (MtvDiskCopy *c)
{
  MtvVm *v = c->v;
  g_autofree char *uri = g_strdup_printf ("nbd+unix:///?socket=%s", c->socket);
  guint64 size = (guint64) json_object_get_int_member_with_default (c->disk, "capacity", 0);
  c->pull_url = v->run->target->publish_disk (v->run->link->instance, uri, size);
  c->pulling = TRUE;
  MtvVmJob *job = mtv_vm_job_new (v, pull, pulled);
  job->failed = pull_failed;
  job->index = c->index;
  job->text = g_strdup (c->pull_url);
  mtv_vm_job_run (v, job);
}

/* ---- imported by the target from the source itself (CDI's vddk source) --------------- */

static gboolean
import (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->target_adapter->import_disk (&job->target, job->index, job->result, job->secret, pull_progress, job,
                                           error);
}

static gboolean
find_import (MtvVmJob *job, GCancellable *stop, GError **error)
{
  GError *local = NULL;
  job->result = job->source_adapter->import_source (&job->source, job->object, &job->secret, &local);
  if (local)
    g_propagate_error (error, local);
  return local == NULL;
}

static void
import_found (MtvVm *v, MtvVmJob *job)
{
  MtvDiskCopy *c = mtv_disk_copy_find (v, job->index);
  if (c == NULL)
    return;
  if (job->result == NULL)
    {
      start_server (c);   /* served by mtvd, pulled from there */
      return;
    }
  c->pulling = TRUE;
  MtvVmJob *next = mtv_vm_job_new (v, import, pulled);
  next->failed = pull_failed;
  next->index = c->index;
  next->result = g_steal_pointer (&job->result);
  next->secret = g_steal_pointer (&job->secret);
  mtv_vm_job_run (v, next);
}

/* Whether the target may import the disk from the source without mtvd. */
static gboolean
imports (MtvVm *v)
{
  return v->run->source->import_source && v->run->target->import_disk;
}

/* ---- the disk's NBD server ------------------------------------------------------------- */

/* It takes a moment to listen; the socket's appearance says it does. */
static gboolean
wait_for_socket (gpointer data)
{
  MtvDiskCopy *c = data;
  if (g_file_test (c->socket, G_FILE_TEST_EXISTS) && !c->v->cancel_requested)
    {
      c->wait_source = 0;
      if (c->pull)
        start_pull (c);
      else
        start_transfer (c);
      return G_SOURCE_REMOVE;
    }
  const char *failure = c->v->cancel_requested ? "cancelled"
                        : !mtv_child_running (c->server) ? "the disk's NBD server exited before it listened"
                        : ++c->wait_ticks > SOCKET_WAIT_TICKS ? "the disk's NBD server did not listen within 30 seconds"
                        : NULL;
  if (failure == NULL)
    return G_SOURCE_CONTINUE;
  c->wait_source = 0;
  copy_ended (c, FALSE, failure);
  return G_SOURCE_REMOVE;
}

static void
start_server (MtvDiskCopy *c)
{
  MtvVm *v = c->v;
  g_autoptr (GError) error = NULL;
  g_free (c->socket);
  c->socket = g_strdup_printf ("%s/%s-%u-%u.sock", v->run->host->runtime_dir, v->run->id, v->index, c->index);
  unlink (c->socket);
  mtv_vm_flush (v);
  g_auto (GStrv) argv = v->run->source->disk_server (c->disk, c->socket, &error);
  if (argv == NULL)
    {
      c->error = g_strdup (error ? error->message : "the source cannot serve its disks");
      report (c);
      return;
    }
  static const char *const env[] = { "GLIBC_TUNABLES=" DISK_SERVER_MALLOC_TUNABLES, NULL };
  /* Its output is kept: it says why a copy from it failed. */
  MtvSpawn spawn = { .argv = (const char *const *) argv, .env = env, .capture = TRUE };
  g_free (c->server_program);
  c->server_program = g_path_get_basename (argv[0]);
  c->server = mtv_child_spawn (&spawn, &error);
  if (c->server == NULL)
    {
      c->error = g_strdup (error->message);
      report (c);
      return;
    }
  c->io = g_cancellable_new ();
  c->wait_ticks = 0;
  c->wait_source = g_timeout_add (SOCKET_WAIT_MS, wait_for_socket, c);
}

void
mtv_disk_copy_start (MtvDiskCopy *c, MtvDiskSink *sink, MtvDiskCopyEnded ended)
{
  c->ended = ended;
  c->pull = sink == NULL;
  if (sink)
    {
      c->sink = *sink;
      memset (sink, 0, sizeof *sink);
    }
  if (c->pull && imports (c->v))
    {
      /* The source may offer the target a way to the disk of its own. */
      MtvVmJob *job = mtv_vm_job_new (c->v, find_import, import_found);
      job->index = c->index;
      job->object = json_object_ref (c->disk);
      mtv_vm_job_run (c->v, job);
      return;
    }
  start_server (c);
}

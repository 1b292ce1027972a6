#include "transfer-copy.h"
#include "crc32c.h"
#include "transfer-checkpoint.h"
#include "transfer-extents.h"
#include "transfer-nbd.h"
#include "transfer-progress.h"
#include "transfer-sink.h"
#include "transfer-stream.h"
#include "mtv-error.h"

#include <libnbd.h>
#include <string.h>
#include <unistd.h>

/* What one NBD_CMD_BLOCK_STATUS asks about: its length is 32 bits, and a
 * large disk with few extents costs a round trip per window. */
#define EXTENT_WINDOW (G_GUINT64_CONSTANT (4) * 1024 * 1024 * 1024 - 1024 * 1024)
#define ZERO_GRAIN (64 * 1024)
/* Copied since the checkpoint's last sync, it syncs sooner than each second. */
#define CHECKPOINT_BYTES (G_GINT64_CONSTANT (256) << 20)

typedef MtvRange Range;

/* ---- extents ------------------------------------------------------------------ */

typedef struct {
  GArray *ranges;
  const char *context;
  gboolean dirty_mode;
  guint64 next;
} ExtentWalk;

static int
on_extent (void *user_data, const char *metacontext, uint64_t offset, uint32_t *entries, size_t n, int *error)
{
  ExtentWalk *w = user_data;
  if (g_strcmp0 (metacontext, w->context) != 0)
    return 0;
  guint64 at = offset;
  for (size_t i = 0; i + 1 < n; i += 2)
    {
      guint64 len = entries[i];
      guint32 flags = entries[i + 1];
      Range r = { at, len, FALSE };
      if (w->dirty_mode)
        {
          /* Only dirty blocks are copied; clean ones are already there. */
          if (flags & 1)
            g_array_append_val (w->ranges, r);
        }
      else
        {
          r.zero = (flags & LIBNBD_STATE_ZERO) != 0;
          g_array_append_val (w->ranges, r);
        }
      at += len;
    }
  w->next = at;
  return 0;
}

static GArray *
extents_from_server (struct nbd_handle *nbd, guint64 size, const char *context, gboolean dirty_mode,
                     GError **error)
{
  ExtentWalk w = { g_array_new (FALSE, FALSE, sizeof (Range)), context, dirty_mode, 0 };
  guint64 offset = 0;
  while (offset < size)
    {
      guint64 count = MIN (EXTENT_WINDOW, size - offset);
      w.next = offset;
      nbd_extent_callback cb = { .callback = on_extent, .user_data = &w };
      if (nbd_block_status (nbd, count, offset, cb, 0) == -1)
        {
          g_array_unref (w.ranges);
          g_autofree char *what = g_strdup_printf ("reading extents at offset %" G_GUINT64_FORMAT, offset);
          mtv_nbd_failed (error, what);
          return NULL;
        }
      if (w.next <= offset)
        {
          g_array_unref (w.ranges);
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "the server returned no extents at offset %" G_GUINT64_FORMAT, offset);
          return NULL;
        }
      offset = w.next;
    }
  /* The last extent may run past the end of the disk. */
  for (guint i = 0; i < w.ranges->len; i++)
    {
      Range *r = &g_array_index (w.ranges, Range, i);
      if (r->offset >= size)
        g_array_set_size (w.ranges, i);
      else if (r->offset + r->length > size)
        r->length = size - r->offset;
    }
  return w.ranges;
}

static GArray *
extents_from_file (const char *path, guint64 size, GError **error)
{
  g_autofree char *text = NULL;
  gsize length;
  if (!g_file_get_contents (path, &text, &length, error))
    return NULL;
  return mtv_extents_parse (text, length, size, path, error);
}

/* ---- the copy --------------------------------------------------------------------- */
/*
 * The disk is cut into work items: data chunks of at most request_size and
 * zero ranges. Several workers (one per NBD connection, when the server allows
 * multi-conn) take items from a shared counter; each keeps many reads in flight
 * with libnbd's asynchronous API and writes each chunk as its read completes,
 * so reading, writing and zero detection overlap. A failed read is retried
 * with backoff on a fresh connection before the copy gives up.
 */

#define ZERO_PIECE (G_GUINT64_CONSTANT (1) << 30)

static gboolean
all_zero (const guint8 *p, gsize len)
{
  return len == 0 || (p[0] == 0 && memcmp (p, p + 1, len - 1) == 0);
}

typedef MtvWritten Written;

typedef struct {
  const MtvCopyOptions *options;
  MtvCopyResult *result;
  GArray *items;                /* Range */
  gint next;                    /* next item to take (atomic) */
  GMutex lock;                  /* guards written, error */
  GArray *written;
  GError *error;                /* the failure at the lowest offset */
  guint64 error_offset;
  gint failed;                  /* atomic: stop taking items */
  gint64 bytes_read, bytes_written, bytes_zeroed, done; /* atomic */
  gint64 submitted;             /* bytes of reads sent (atomic), for the rate limit */
  MtvCheckpoint *checkpoint;    /* or NULL */
  GArray *loaded;               /* runs an earlier, interrupted run wrote (from the checkpoint) */
  GHashTable *done_items;       /* items a checkpoint says are done: index + 1 */
  gint64 started;
  guint requests;
  gint workers_left;            /* atomic: workers still copying */
} Copy;

typedef struct {
  Copy *copy;
  struct nbd_handle *src;
  MtvSink *sink;                /* its own handle onto the destination */
  guint in_flight;
  GPtrArray *buffers;           /* free request buffers, reused: fresh ones cost page faults */
} Worker;

typedef struct {
  Worker *worker;
  guint index;
  Range range;
  guint8 *buf;
} Read;

static void
fail_at (Copy *c, guint64 offset, GError *error)
{
  g_mutex_lock (&c->lock);
  if (c->error == NULL || offset < c->error_offset)
    {
      g_clear_error (&c->error);
      c->error = error;
      c->error_offset = offset;
    }
  else
    g_error_free (error);
  g_mutex_unlock (&c->lock);
  g_atomic_int_set (&c->failed, 1);
}

/* An item is finished: its data runs join the checksum list and the checkpoint. */
static void
item_done (Copy *c, guint index, GArray *runs)
{
  if (runs && runs->len)
    {
      g_mutex_lock (&c->lock);
      g_array_append_vals (c->written, runs->data, runs->len);
      g_mutex_unlock (&c->lock);
    }
  if (c->checkpoint)
    mtv_checkpoint_item_done (c->checkpoint, index, runs ? (const MtvWritten *) runs->data : NULL, runs ? runs->len : 0);
}

/* Writes a chunk that was read, as data and zero runs. */
static gboolean
store_chunk (Worker *w, guint64 at, const guint8 *buf, gsize len, GArray *runs, GError **error)
{
  Copy *c = w->copy;
  for (gsize g = 0; g < len;)
    {
      gsize glen = MIN ((gsize) ZERO_GRAIN, len - g);
      gboolean zero = all_zero (buf + g, glen);
      gsize run = glen;
      while (g + run < len)
        {
          gsize next = MIN ((gsize) ZERO_GRAIN, len - g - run);
          if (all_zero (buf + g + run, next) != zero)
            break;
          run += next;
        }
      if (zero)
        {
          if (!w->sink->ops->zero (w->sink, at + g, run, error))
            return FALSE;
          g_atomic_pointer_add (&c->bytes_zeroed, (gssize) run);
        }
      else
        for (gsize piece, p = 0; p < run; p += piece)
          {
            piece = MIN (run - p, w->sink->max_io);
            Written written = { at + g + p, piece, mtv_crc32c (0, buf + g + p, piece) };
            if (!w->sink->ops->write (w->sink, buf + g + p, piece, written.offset, written.crc, error))
              return FALSE;
            g_array_append_val (runs, written);
            g_atomic_pointer_add (&c->bytes_written, (gssize) piece);
          }
      g += run;
    }
  return TRUE;
}

static struct nbd_handle *
connect_source (Copy *c, GError **error)
{
  struct nbd_handle *h = mtv_nbd_handle_new ();
  if (h == NULL || nbd_connect_uri (h, c->options->source) == -1)
    {
      mtv_nbd_failed (error, c->options->source);
      if (h)
        nbd_close (h);
      return NULL;
    }
  return h;
}

/* A read that failed: tried again, synchronously, on fresh connections. */
static gboolean
retry_read (Worker *w, guint8 *buf, Range *r, GError **error)
{
  g_autofree char *last = NULL;
  for (int attempt = 0; attempt < MTV_RETRIES; attempt++)
    {
      if (*w->copy->options->stop || g_atomic_int_get (&w->copy->failed))
        break;
      mtv_retry_backoff (attempt);
      g_autoptr (GError) local_error = NULL;
      struct nbd_handle *fresh = connect_source (w->copy, &local_error);
      if (fresh == NULL)
        {
          g_free (last);
          last = g_strdup (local_error->message);
          continue;
        }
      int rc = nbd_pread (fresh, buf, (size_t) r->length, r->offset, 0);
      if (rc == 0)
        {
          /* Called from the handle's own callback: it is replaced, if dead,
           * by the worker loop, never here. */
          nbd_close (fresh);
          return TRUE;
        }
      g_free (last);
      last = g_strdup (nbd_get_error () ? nbd_get_error () : "read error");
      nbd_close (fresh);
    }
  g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "reading %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
               " failed %d times: %s", r->length, r->offset, MTV_RETRIES + 1, last ? last : "cancelled");
  return FALSE;
}

static int
on_read (void *user_data, int *err)
{
  Read *rd = user_data;
  Worker *w = rd->worker;
  Copy *c = w->copy;
  w->in_flight--;
  g_autoptr (GError) error = NULL;
  if (*err != 0 && g_atomic_int_get (&c->failed))
    ; /* the copy has failed already: no point in trying again */
  else if (*err != 0 && !retry_read (w, rd->buf, &rd->range, &error))
    fail_at (c, rd->range.offset, g_steal_pointer (&error));
  else if (!g_atomic_int_get (&c->failed))
    {
      g_atomic_pointer_add (&c->bytes_read, (gssize) rd->range.length);
      g_autoptr (GArray) runs = g_array_new (FALSE, FALSE, sizeof (Written));
      if (!store_chunk (w, rd->range.offset, rd->buf, (gsize) rd->range.length, runs, &error))
        fail_at (c, rd->range.offset, g_steal_pointer (&error));
      else
        {
          item_done (c, rd->index, runs);
          g_atomic_pointer_add (&c->done, (gssize) rd->range.length);
        }
    }
  g_ptr_array_add (w->buffers, rd->buf);
  g_free (rd);
  return 1; /* the command is retired */
}

static void worker_copy (Worker *w);

static gpointer
worker_run (gpointer data)
{
  Worker *w = data;
  worker_copy (w);
  g_atomic_int_add (&w->copy->workers_left, -1);
  return NULL;
}

static void
worker_copy (Worker *w)
{
  Copy *c = w->copy;
  for (;;)
    {
      while (!g_atomic_int_get (&c->failed) && !*c->options->stop && w->in_flight < c->requests)
        {
          gint i = g_atomic_int_add (&c->next, 1);
          if (i >= (gint) c->items->len)
            break;
          Range *r = &g_array_index (c->items, Range, i);
          if (c->done_items && g_hash_table_contains (c->done_items, GUINT_TO_POINTER ((guint) i + 1)))
            continue;   /* copied before an interruption, says the checkpoint (counted as done at the start) */
          /* Under the rate limit, a read waits until its turn; meanwhile
           * the reads in flight are finished (written, recorded for the
           * checkpoint) instead of waiting with it. */
          while (c->options->max_rate && !r->zero && !*c->options->stop
                 && (double) g_atomic_pointer_get (&c->submitted) / c->options->max_rate
                      > (g_get_monotonic_time () - c->started) / 1e6)
            {
              if (w->in_flight == 0)
                g_usleep (20000);
              else if (nbd_poll (w->src, 20) == -1)
                break;
            }
          if (r->zero)
            {
              g_autoptr (GError) error = NULL;
              if (!w->sink->ops->zero (w->sink, r->offset, r->length, &error))
                fail_at (c, r->offset, g_steal_pointer (&error));
              else
                item_done (c, (guint) i, NULL);
              g_atomic_pointer_add (&c->bytes_zeroed, (gssize) r->length);
              g_atomic_pointer_add (&c->done, (gssize) r->length);
              continue;
            }
          g_atomic_pointer_add (&c->submitted, (gssize) r->length);
          Read *rd = g_new0 (Read, 1);
          rd->worker = w;
          rd->index = (guint) i;
          rd->range = *r;
          rd->buf = w->buffers->len ? g_ptr_array_steal_index_fast (w->buffers, w->buffers->len - 1)
                                    : g_malloc (c->options->request_size);
          nbd_completion_callback cb = { .callback = on_read, .user_data = rd };
          w->in_flight++;
          if (nbd_aio_pread (w->src, rd->buf, (size_t) r->length, r->offset, cb, 0) == -1)
            {
              /* Not queued: treat as a failed read (retried). */
              int err = EIO;
              on_read (rd, &err);
            }
        }
      if (w->in_flight == 0 && nbd_aio_is_dead (w->src) && !g_atomic_int_get (&c->failed) && !*c->options->stop)
        {
          /* The connection died (the retries went around it): a new one for the rest. */
          g_autoptr (GError) error = NULL;
          struct nbd_handle *fresh = connect_source (c, &error);
          if (fresh == NULL)
            {
              fail_at (c, 0, g_steal_pointer (&error));
              break;
            }
          nbd_close (w->src);
          w->src = fresh;
          continue;
        }
      if (w->in_flight == 0)
        {
          g_autoptr (GError) error = NULL;
          if (!w->sink->ops->settle (w->sink, &error))
            fail_at (c, 0, g_steal_pointer (&error));
          break;
        }
      if (nbd_poll (w->src, -1) == -1)
        {
          g_autoptr (GError) error = NULL;
          mtv_nbd_failed (&error, "waiting for the source");
          fail_at (c, 0, g_steal_pointer (&error));
          break;
        }
    }
}

static gint
compare_written (gconstpointer a, gconstpointer b)
{
  guint64 x = ((const Written *) a)->offset, y = ((const Written *) b)->offset;
  return x < y ? -1 : x > y;
}

/* Makes the checkpoint's notes durable: the destination is flushed first, so
 * whatever the checkpoint lists is on it. */
static gboolean
checkpoint_sync (Copy *c, Worker *workers, guint n_workers, GError **error)
{
  if (c->checkpoint == NULL)
    return TRUE;
  GString *notes = mtv_checkpoint_take (c->checkpoint);
  gboolean ok = TRUE;
  for (guint i = 0; ok && i < n_workers; i++)
    ok = workers[i].sink->ops->flush (workers[i].sink, error);
  if (!ok)
    {
      g_string_free (notes, TRUE);
      return FALSE;
    }
  return mtv_checkpoint_commit (c->checkpoint, notes, error);
}

/* Data ranges cut into requests; zero ranges into pieces a server accepts. */
static GArray *
work_items (GArray *ranges, gsize request_size)
{
  GArray *items = g_array_new (FALSE, FALSE, sizeof (Range));
  for (guint i = 0; i < ranges->len; i++)
    {
      Range *r = &g_array_index (ranges, Range, i);
      guint64 piece = r->zero ? ZERO_PIECE : request_size;
      for (guint64 at = r->offset; at < r->offset + r->length; at += piece)
        {
          Range item = { at, MIN (piece, r->offset + r->length - at), r->zero };
          g_array_append_val (items, item);
        }
    }
  return items;
}

/* Which areas of the source to copy, from the server or from a file. */
static GArray *
ranges_of (struct nbd_handle *src, const MtvCopyOptions *options, guint64 size, const char *context,
           gboolean dirty_mode, gboolean from_file, GError **error)
{
  if (from_file)
    return extents_from_file (options->extents + strlen ("file:"), size, error);
  if (nbd_can_meta_context (src, context) == 1)
    return extents_from_server (src, size, context, dirty_mode, error);
  if (dirty_mode)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "the source does not export the dirty bitmap %s", context);
      return NULL;
    }
  /* No extent information: everything is data (zero detection still applies). */
  GArray *ranges = g_array_new (FALSE, FALSE, sizeof (Range));
  Range all = { 0, size, FALSE };
  g_array_append_val (ranges, all);
  return ranges;
}

/* How long a copy may go without any request finishing: the stall timeout,
 * or longer when the rate limit itself spaces requests that far apart. */
static gint64
stall_window (const MtvCopyOptions *options)
{
  if (options->stall_seconds == 0)
    return 0;
  gint64 window = (gint64) options->stall_seconds * G_USEC_PER_SEC;
  if (options->max_rate)
    window = MAX (window, (gint64) (4.0 * options->request_size / options->max_rate * G_USEC_PER_SEC));
  return window;
}

/* Nothing moved for the whole window: a server that stopped answering (a
 * hung NFS mount under it, a dead network path) would hold the copy for
 * good, in calls that cannot be interrupted. What was copied is recorded,
 * the reason said, and the process ends (MTV_TRANSFER_EXIT_STALLED). */
G_GNUC_NORETURN static void
stalled (Copy *c, Worker *workers, guint n_workers, guint64 done, gint64 window)
{
  g_autoptr (GError) error = NULL;
  if (!checkpoint_sync (c, workers, n_workers, &error))
    g_printerr ("mtv-transfer: recording the checkpoint: %s\n", error->message);
  g_printerr ("mtv-transfer: no request finished for %" G_GINT64_FORMAT " seconds at %" G_GUINT64_FORMAT
              " of %" G_GUINT64_FORMAT " bytes: the source or the destination stopped answering\n",
              window / G_USEC_PER_SEC, done, c->result->size);
  _exit (MTV_TRANSFER_EXIT_STALLED);
}

/* The parallel engine: workers (one per NBD connection, when the server
 * allows multi-conn) take items from a shared counter, each with a handle
 * of its own onto the sink. Takes @src. */
static gboolean
copy_parallel (Copy *c, struct nbd_handle *src, MtvSink *sink, GArray *ranges, MtvProgress *progress, GError **error)
{
  const MtvCopyOptions *options = c->options;
  MtvCopyResult *result = c->result;
  c->items = work_items (ranges, options->request_size);
  c->requests = MAX (1, options->requests);
  /* What the checkpoint says was copied counts from the first progress
   * report on: a resumed copy does not appear to start from nothing. */
  for (guint i = 0; c->done_items && i < c->items->len; i++)
    if (g_hash_table_contains (c->done_items, GUINT_TO_POINTER (i + 1)))
      g_atomic_pointer_add (&c->done, (gssize) g_array_index (c->items, Range, i).length);
  /* Several connections only where the server says they see the same data. */
  guint n_workers = nbd_can_multi_conn (src) == 1 ? MAX (1, options->connections) : 1;
  Worker *workers = g_new0 (Worker, n_workers);
  for (guint i = 0; i < n_workers; i++)
    {
      workers[i].copy = c;
      workers[i].buffers = g_ptr_array_new_with_free_func (g_free);
      workers[i].src = i == 0 ? src : connect_source (c, error);
      workers[i].sink = workers[i].src == NULL ? NULL : i == 0 ? sink : sink->ops->clone (sink, error);
      if (workers[i].sink == NULL)
        {
          if (workers[i].src)
            nbd_close (workers[i].src);
          g_ptr_array_unref (workers[i].buffers);
          n_workers = i;
          break;
        }
    }
  g_clear_error (error); /* fewer connections than asked is fine */
  GThread **threads = g_new0 (GThread *, n_workers);
  g_atomic_int_set (&c->workers_left, (gint) n_workers);
  for (guint i = 0; i < n_workers; i++)
    threads[i] = g_thread_new ("copy", worker_run, &workers[i]);
  /* Report progress, and keep the checkpoint current while the workers
   * copy: every second, and sooner once much was copied (a crash redoes
   * what came after the last sync), but not more than four times a second
   * (each sync flushes the destination). */
  gint64 last_sync = g_get_monotonic_time ();
  gint64 synced_done = 0;
  gint64 last_moved = last_sync, moved_done = -1;
  gint64 stall_limit = stall_window (options);
  for (;;)
    {
      gint64 since = g_get_monotonic_time () - last_sync;
      gint64 done_now = (gint64) g_atomic_pointer_get (&c->done);
      if (done_now != moved_done)
        moved_done = done_now, last_moved = g_get_monotonic_time ();
      else if (stall_limit && g_get_monotonic_time () - last_moved > stall_limit)
        stalled (c, workers, n_workers, (guint64) done_now, stall_limit);
      if (c->checkpoint && (since > G_USEC_PER_SEC
                            || (since > G_USEC_PER_SEC / 4 && done_now - synced_done >= CHECKPOINT_BYTES)))
        {
          g_autoptr (GError) sync_error = NULL;
          if (!checkpoint_sync (c, workers, n_workers, &sync_error))
            fail_at (c, 0, g_steal_pointer (&sync_error));
          last_sync = g_get_monotonic_time ();
          synced_done = done_now;
        }
      /* Until every worker is done: the last reads in flight are watched
       * for a stall too. */
      if (g_atomic_int_get (&c->workers_left) == 0)
        break;
      mtv_progress_report (progress, (guint64) g_atomic_pointer_get (&c->done), result->size,
                           (guint64) g_atomic_pointer_get (&c->bytes_read), FALSE);
      g_usleep (50000);
    }
  for (guint i = 0; i < n_workers; i++)
    g_thread_join (threads[i]);
  g_free (threads);
  if (c->checkpoint)
    {
      /* Whatever happened, what was copied is recorded for the next try. */
      g_autoptr (GError) sync_error = NULL;
      if (!checkpoint_sync (c, workers, n_workers, &sync_error) && c->error == NULL)
        c->error = g_steal_pointer (&sync_error);
    }
  result->bytes_read = (guint64) c->bytes_read;
  result->bytes_written = (guint64) c->bytes_written;
  result->bytes_zeroed = (guint64) c->bytes_zeroed;
  for (guint i = 0; i < n_workers; i++)
    {
      nbd_shutdown (workers[i].src, 0);
      nbd_close (workers[i].src);
      if (workers[i].sink != sink)
        workers[i].sink->ops->close (workers[i].sink);
      g_ptr_array_unref (workers[i].buffers);
    }
  g_free (workers);
  if (c->error)
    {
      g_propagate_error (error, g_steal_pointer (&c->error));
      return FALSE;
    }
  if (n_workers == 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "no connection to the source or the destination");
      return FALSE;
    }
  return TRUE;
}

/* The checksum is over the data runs in disk order, so the same source gives
 * the same checksum however the workers interleaved. */
static char *
checksum_of (GArray *written)
{
  g_autoptr (GChecksum) total = g_checksum_new (G_CHECKSUM_SHA256);
  for (guint i = 0; i < written->len; i++)
    {
      Written *w = &g_array_index (written, Written, i);
      guint64 header[2] = { GUINT64_TO_LE (w->offset), GUINT64_TO_LE (w->length) };
      guint32 crc = GUINT32_TO_LE (w->crc);
      g_checksum_update (total, (const guint8 *) header, sizeof header);
      g_checksum_update (total, (const guint8 *) &crc, sizeof crc);
    }
  return g_strdup (g_checksum_get_string (total));
}

gboolean
mtv_copy_run (const MtvCopyOptions *options, MtvCopyResult *result, GError **error)
{
  gboolean ok = FALSE;
  MtvCopyOptions fitted;
  GArray *ranges = NULL;
  MtvSink *sink = NULL;
  Copy c = { 0 };
  MtvProgress progress;
  mtv_progress_init (&progress, options->progress_fd);

  const char *context = LIBNBD_CONTEXT_BASE_ALLOCATION;
  g_autofree char *bitmap_context = NULL;
  gboolean dirty_mode = g_str_has_prefix (options->extents, "dirty-bitmap:");
  gboolean from_file = g_str_has_prefix (options->extents, "file:");
  if (dirty_mode)
    context = bitmap_context = g_strdup_printf ("qemu:dirty-bitmap:%s", options->extents + strlen ("dirty-bitmap:"));
  else if (!from_file && g_strcmp0 (options->extents, "allocation") != 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "--extents: \"%s\" is not allocation, dirty-bitmap:NAME or file:LIST", options->extents);
      return FALSE;
    }

  struct nbd_handle *src = mtv_nbd_handle_new ();
  if (src == NULL)
    return mtv_nbd_failed (error, "libnbd");
  if (!from_file)
    nbd_add_meta_context (src, context);
  if (nbd_connect_uri (src, options->source) == -1)
    {
      mtv_nbd_failed (error, options->source);
      goto out;
    }
  int64_t size = nbd_get_size (src);
  if (size < 0)
    {
      mtv_nbd_failed (error, "source size");
      goto out;
    }
  result->size = (guint64) size;
  /* Reads no longer than the server takes. */
  fitted = *options;
  fitted.request_size = mtv_nbd_fit_request (src, options->request_size);
  options = &fitted;
  if ((ranges = ranges_of (src, options, result->size, context, dirty_mode, from_file, error)) == NULL)
    goto out;

  c.options = options;
  c.result = result;
  c.started = g_get_monotonic_time ();
  c.written = g_array_new (FALSE, FALSE, sizeof (Written));
  c.loaded = g_array_new (FALSE, FALSE, sizeof (Written));
  g_mutex_init (&c.lock);
  gboolean streamed = mtv_is_http_url (options->destination);
  if (options->checkpoint && !streamed)
    {
      /* The header names the copy: a checkpoint only resumes the same one. */
      g_autofree char *header = g_strdup_printf ("mtv-transfer checkpoint 1 size=%" G_GUINT64_FORMAT " request=%zu"
                                                 " extents=%s destination=%s", result->size, options->request_size,
                                                 options->extents, options->destination);
      c.done_items = g_hash_table_new (NULL, NULL);
      MtvCheckpointBounds bounds = { result->size, MAX (options->request_size, ZERO_GRAIN) };
      c.checkpoint = mtv_checkpoint_open (options->checkpoint, header, &bounds, c.done_items, c.written, error);
      if (c.checkpoint == NULL)
        goto out;
      g_array_append_vals (c.loaded, c.written->data, c.written->len);
    }
  gboolean resuming = c.done_items && g_hash_table_size (c.done_items) > 0;
  sink = mtv_sink_open (options, result->size, !dirty_mode && !from_file && !resuming, error);
  if (sink == NULL)
    goto out;

  struct nbd_handle *engine_src = g_steal_pointer (&src);
  if (sink->ordered)
    {
      ok = mtv_copy_stream (options, engine_src, result->size, ranges, sink, c.written, result, &progress, error);
      nbd_shutdown (engine_src, 0);
      nbd_close (engine_src);
    }
  else
    ok = copy_parallel (&c, engine_src, sink, ranges, &progress, error);
  if (!ok)
    goto out;
  ok = FALSE;
  if (*options->stop)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_CANCELLED, "cancelled after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes",
                   (guint64) c.done, result->size);
      goto out;
    }
  if (!sink->ops->flush (sink, error))
    goto out;
  g_array_sort (c.written, compare_written);
  if (options->verify && sink->ops->verify)
    {
      /* What a sink checked as it wrote needs no second look; what an
       * earlier, interrupted run wrote (the checkpoint's) does. */
      GArray *pending = sink->checks_writes ? c.loaded : c.written;
      if (!sink->ops->verify (sink, pending, c.requests ? c.requests : MAX (1, options->requests), error))
        goto out;
      result->verified = TRUE;
    }
  mtv_progress_report (&progress, result->size, result->size, result->bytes_read, TRUE);
  result->checksum = checksum_of (c.written);
  result->seconds = (g_get_monotonic_time () - c.started) / 1e6;
  ok = TRUE;
  /* Complete: the checkpoint has served (unless its caller removes it). */
  mtv_checkpoint_close (c.checkpoint, !options->keep_checkpoint);
  c.checkpoint = NULL;
out:
  mtv_checkpoint_close (c.checkpoint, FALSE);
  if (c.done_items)
    g_hash_table_unref (c.done_items);
  if (ranges)
    g_array_unref (ranges);
  if (c.items)
    g_array_unref (c.items);
  if (c.written)
    g_array_unref (c.written);
  if (c.loaded)
    g_array_unref (c.loaded);
  g_clear_error (&c.error);
  if (c.options)
    g_mutex_clear (&c.lock);
  if (sink)
    sink->ops->close (sink);
  if (src)
    {
      nbd_shutdown (src, 0);
      nbd_close (src);
    }
  return ok;
}

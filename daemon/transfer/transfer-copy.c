#define _GNU_SOURCE
#include "transfer-copy.h"
#include "crc32c.h"
#include "transfer-checkpoint.h"
#include "transfer-http.h"
#include "mtv-error.h"

#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* What one NBD_CMD_BLOCK_STATUS asks about: its length is 32 bits, and a
 * large disk with few extents costs a round trip per window. */
#define EXTENT_WINDOW (G_GUINT64_CONSTANT (4) * 1024 * 1024 * 1024 - 1024 * 1024)
#define ZERO_GRAIN (64 * 1024)

/* A failed request is tried this many more times, on fresh connections. */
#define RETRIES 4

/* Waits before retry @attempt (from 0): 0.1, 0.3, 0.9, 2.7 s, so that a
 * server restarting has time to come back. */
static void
retry_backoff (int attempt)
{
  gulong delay = 100000;
  for (int k = 0; k < attempt; k++)
    delay *= 3;
  g_usleep (delay);
}

/* A range to copy; zero ranges are written as zeroes (or left as holes). */
typedef struct {
  guint64 offset, length;
  gboolean zero;
} Range;

/* Where the bytes go. */
typedef struct {
  int fd;                  /* file or block device, or -1 */
  gboolean fresh_file;     /* a regular file we truncated: holes are already zero */
  struct nbd_handle *nbd;  /* or an NBD export */
  const char *uri;         /* the NBD export's, to connect again */
  volatile sig_atomic_t *stop; /* set when the copy is to stop: no more retries */
  gsize max_io;            /* the longest read or write it takes */
} Sink;

/* The longest request up to @wanted a server takes (its NBD block size
 * constraints: nbdcopy honours them too), a multiple of its minimum. */
static gsize
fit_request (struct nbd_handle *nbd, gsize wanted)
{
  int64_t max = nbd_get_block_size (nbd, LIBNBD_SIZE_MAXIMUM);
  int64_t min = nbd_get_block_size (nbd, LIBNBD_SIZE_MINIMUM);
  gsize size = max > 0 ? MIN (wanted, (gsize) max) : wanted;
  if (min > 1)
    size = MAX (size - size % (gsize) min, (gsize) min);
  return size;
}

static gboolean
nbd_failed (GError **error, const char *what)
{
  g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s", what, nbd_get_error () ? nbd_get_error () : "unknown error");
  return FALSE;
}

/* URIs come from mtvd or the administrator: their tls-psk-file and
 * tls-certificates parameters may name local files. libnbd zeroes every read
 * buffer first in case a caller uses one after a failed read; a buffer here
 * is only looked at after its read succeeded, so that memset (5 % of a copy's
 * CPU) is skipped. */
static struct nbd_handle *
nbd_handle_new (void)
{
  struct nbd_handle *h = nbd_create ();
  if (h)
    {
      nbd_set_uri_allow_local_file (h, true);
      nbd_set_pread_initialize (h, false);
    }
  return h;
}

static gboolean
is_nbd_uri (const char *s)
{
  return g_str_has_prefix (s, "nbd://") || g_str_has_prefix (s, "nbd+unix://") || g_str_has_prefix (s, "nbds://")
      || g_str_has_prefix (s, "nbds+unix://");
}

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
          nbd_failed (error, what);
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
  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  GArray *ranges = g_array_new (FALSE, FALSE, sizeof (Range));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      char *line = g_strstrip (lines[i]);
      if (*line == '\0' || *line == '#')
        continue;
      guint64 off, len;
      char *end;
      off = g_ascii_strtoull (line, &end, 10);
      if (end == line || !g_ascii_isspace (*end))
        goto bad;
      char *rest = end;
      len = g_ascii_strtoull (rest, &end, 10);
      if (end == rest || *g_strstrip (end) != '\0' || len == 0 || off > size || len > size - off)
        goto bad;
      Range r = { off, len, FALSE };
      g_array_append_val (ranges, r);
      continue;
    bad:
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: line %u is not \"offset length\" within the disk (%"
                   G_GUINT64_FORMAT " bytes)", path, i + 1, size);
      g_array_unref (ranges);
      return NULL;
    }
  return ranges;
}

/* ---- the sink --------------------------------------------------------------------- */

static gboolean
sink_open (Sink *sink, const char *dest, guint64 size, gboolean full_copy, GError **error)
{
  sink->fd = -1;
  sink->max_io = G_MAXSIZE;
  if (is_nbd_uri (dest))
    {
      sink->uri = dest;
      sink->nbd = nbd_handle_new ();
      if (sink->nbd == NULL || nbd_connect_uri (sink->nbd, dest) == -1)
        return nbd_failed (error, dest);
      if (nbd_is_read_only (sink->nbd) == 1)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "the destination %s is read-only", dest);
          return FALSE;
        }
      sink->max_io = fit_request (sink->nbd, G_MAXSIZE);
      int64_t dsize = nbd_get_size (sink->nbd);
      if (dsize < 0)
        return nbd_failed (error, dest);
      if ((guint64) dsize < size)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "the destination %s holds %" G_GINT64_FORMAT
                       " bytes, less than the source's %" G_GUINT64_FORMAT, dest, dsize, size);
          return FALSE;
        }
      return TRUE;
    }
  struct stat st;
  gboolean exists = stat (dest, &st) == 0;
  if (exists && S_ISBLK (st.st_mode))
    {
      sink->fd = open (dest, O_RDWR | O_CLOEXEC);
      guint64 bsize = 0;
      if (sink->fd < 0 || ioctl (sink->fd, BLKGETSIZE64, &bsize) < 0)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s", dest, g_strerror (errno));
          return FALSE;
        }
      if (bsize < size)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "the destination %s holds %" G_GUINT64_FORMAT
                       " bytes, less than the source's %" G_GUINT64_FORMAT, dest, bsize, size);
          return FALSE;
        }
      return TRUE;
    }
  /* A file: a full copy starts from an empty sparse file, so holes stay holes;
   * a delta copy writes into the existing one. */
  /* Read and write: verification reads back through the same descriptor. */
  sink->fd = open (dest, O_RDWR | O_CREAT | O_CLOEXEC | (full_copy ? O_TRUNC : 0), 0600);
  if (sink->fd < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s", dest, g_strerror (errno));
      return FALSE;
    }
  if (ftruncate (sink->fd, (off_t) size) < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: cannot size to %" G_GUINT64_FORMAT ": %s", dest, size,
                   g_strerror (errno));
      return FALSE;
    }
  sink->fresh_file = full_copy;
  return TRUE;
}

static void
sink_close (Sink *sink)
{
  if (sink->fd >= 0)
    close (sink->fd);
  if (sink->nbd)
    {
      nbd_shutdown (sink->nbd, 0);
      nbd_close (sink->nbd);
    }
}

/* A write (or with @zero, a zero request) to an NBD destination. A failure
 * is tried again with backoff on a fresh connection (the server may have
 * restarted or dropped it); one that persists fails naming the offset. */
static gboolean
sink_nbd_request (Sink *sink, gboolean zero, const guint8 *buf, guint64 len, guint64 offset, GError **error)
{
  g_autofree char *last = NULL;
  int attempt = 0;
  for (;; attempt++)
    {
      if ((zero ? nbd_zero (sink->nbd, len, offset, 0) : nbd_pwrite (sink->nbd, buf, (size_t) len, offset, 0)) == 0)
        return TRUE;
      g_free (last);
      last = g_strdup (nbd_get_error () ? nbd_get_error () : "unknown error");
      if (attempt == RETRIES || (sink->stop && *sink->stop))
        break;
      retry_backoff (attempt);
      /* The old handle stays when no new one connects: the next try fails
       * on it with its own error. */
      struct nbd_handle *fresh = nbd_handle_new ();
      if (fresh && nbd_connect_uri (fresh, sink->uri) == 0)
        {
          nbd_close (sink->nbd);
          sink->nbd = fresh;
        }
      else if (fresh)
        nbd_close (fresh);
    }
  g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
               " failed %d times: %s", zero ? "zeroing" : "writing", len, offset, attempt + 1, last);
  return FALSE;
}

static gboolean
sink_write (Sink *sink, const guint8 *buf, gsize len, guint64 offset, GError **error)
{
  if (sink->nbd)
    return sink_nbd_request (sink, FALSE, buf, len, offset, error);
  gsize done = 0;
  while (done < len)
    {
      ssize_t n = pwrite (sink->fd, buf + done, len - done, (off_t) (offset + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "writing at offset %" G_GUINT64_FORMAT ": %s",
                       offset + done, g_strerror (errno));
          return FALSE;
        }
      done += (gsize) n;
    }
  return TRUE;
}

/* Zeroes a range, unless it already reads as zeroes (a fresh sparse file). */
static gboolean
sink_zero (Sink *sink, guint64 offset, guint64 length, GError **error)
{
  if (sink->fresh_file)
    return TRUE;
  if (sink->nbd && nbd_can_zero (sink->nbd) == 1)
    return sink_nbd_request (sink, TRUE, NULL, length, offset, error);
  if (sink->fd >= 0
      && (fallocate (sink->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset, (off_t) length) == 0
          || fallocate (sink->fd, FALLOC_FL_ZERO_RANGE, (off_t) offset, (off_t) length) == 0))
    return TRUE;
  /* No way to say "zeroes" (an NBD server without WRITE_ZEROES, a device
   * without discard): write them. */
  static const guint8 zeroes[1 << 20];
  for (guint64 at = offset; at < offset + length;)
    {
      gsize piece = (gsize) MIN (MIN ((guint64) sizeof zeroes, (guint64) sink->max_io), offset + length - at);
      if (!sink_write (sink, zeroes, piece, at, error))
        return FALSE;
      at += piece;
    }
  return TRUE;
}

static gboolean
sink_flush (Sink *sink, GError **error)
{
  if (sink->nbd)
    return nbd_flush (sink->nbd, 0) == 0 || nbd_failed (error, "flushing the destination");
  if (fsync (sink->fd) < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "flushing the destination: %s", g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

static gboolean
sink_read (Sink *sink, const char *dest, guint8 *buf, gsize len, guint64 offset, GError **error)
{
  if (sink->nbd)
    return nbd_pread (sink->nbd, buf, len, offset, 0) == 0 || nbd_failed (error, "reading back the destination");
  gsize done = 0;
  while (done < len)
    {
      ssize_t n = pread (sink->fd, buf + done, len - done, (off_t) (offset + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "reading back %s at offset %" G_GUINT64_FORMAT ": %s", dest,
                       offset + done, n == 0 ? "unexpected end of file" : g_strerror (errno));
          return FALSE;
        }
      done += (gsize) n;
    }
  return TRUE;
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
  Sink *shared_sink;            /* file or device, shared by the workers */
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
} Copy;

#define WRITEBACK_WINDOW 8

typedef struct {
  Copy *copy;
  struct nbd_handle *src;
  Sink own_sink;                /* an NBD destination: one connection per worker */
  Sink *sink;
  guint in_flight;
  Written recent[WRITEBACK_WINDOW]; /* the worker's last writes to a file, for writeback */
  guint recent_next;
  guint8 *check_buf;              /* for reading a write back before it leaves the cache */
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

static gboolean
verify_failed (const Written *w, GError **error)
{
  g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED,
               "verification failed: the destination's %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
               " differ from what was read", w->length, w->offset);
  return FALSE;
}

/* Page cache handling for file and device destinations, as nbdcopy does it:
 * writeback of each write starts at once, and a write WRITEBACK_WINDOW writes
 * old is waited for, read back and compared (the verification, while it is
 * still cached: it costs a memory read), then dropped from the cache. Left
 * alone, dirty pages pile up and the kernel throttles every later write. */
static gboolean
settle (Worker *w, Written *old, GError **error)
{
  int fd = w->sink->fd;
  if (old->length == 0)
    return TRUE;
  sync_file_range (fd, (off_t) old->offset, (off_t) old->length,
                   SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  if (w->copy->options->verify)
    {
      if (!sink_read (w->sink, w->copy->options->destination, w->check_buf, (gsize) old->length, old->offset, error))
        return FALSE;
      if (mtv_crc32c (0, w->check_buf, (gsize) old->length) != old->crc)
        return verify_failed (old, error);
    }
  posix_fadvise (fd, (off_t) old->offset, (off_t) old->length, POSIX_FADV_DONTNEED);
  old->length = 0;
  return TRUE;
}

static gboolean
writeback (Worker *w, const Written *run, GError **error)
{
  sync_file_range (w->sink->fd, (off_t) run->offset, (off_t) run->length, SYNC_FILE_RANGE_WRITE);
  Written *slot = &w->recent[w->recent_next];
  if (!settle (w, slot, error))
    return FALSE;
  *slot = *run;
  w->recent_next = (w->recent_next + 1) % WRITEBACK_WINDOW;
  return TRUE;
}

/* The worker's last writes: settled when it stops. */
static gboolean
settle_all (Worker *w, GError **error)
{
  for (guint i = 0; w->sink->fd >= 0 && i < WRITEBACK_WINDOW; i++)
    if (!settle (w, &w->recent[i], error))
      return FALSE;
  return TRUE;
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
          if (!sink_zero (w->sink, at + g, run, error))
            return FALSE;
          g_atomic_pointer_add (&c->bytes_zeroed, (gssize) run);
        }
      else
        for (gsize piece, p = 0; p < run; p += piece)
          {
            piece = MIN (run - p, w->sink->max_io);
            if (!sink_write (w->sink, buf + g + p, piece, at + g + p, error))
              return FALSE;
            Written written = { at + g + p, piece, mtv_crc32c (0, buf + g + p, piece) };
            g_array_append_val (runs, written);
            if (w->sink->fd >= 0 && !writeback (w, &written, error))
              return FALSE;
            g_atomic_pointer_add (&c->bytes_written, (gssize) piece);
          }
      g += run;
    }
  return TRUE;
}

static struct nbd_handle *
connect_source (Copy *c, GError **error)
{
  struct nbd_handle *h = nbd_handle_new ();
  if (h == NULL || nbd_connect_uri (h, c->options->source) == -1)
    {
      nbd_failed (error, c->options->source);
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
  for (int attempt = 0; attempt < RETRIES; attempt++)
    {
      if (*w->copy->options->stop || g_atomic_int_get (&w->copy->failed))
        break;
      retry_backoff (attempt);
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
               " failed %d times: %s", r->length, r->offset, RETRIES + 1, last ? last : "cancelled");
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

static gpointer
worker_run (gpointer data)
{
  Worker *w = data;
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
            {
              /* Copied before an interruption, says the checkpoint. */
              g_atomic_pointer_add (&c->done, (gssize) r->length);
              continue;
            }
          /* Under the rate limit, a read waits until its turn. */
          while (c->options->max_rate && !r->zero && !*c->options->stop
                 && (double) g_atomic_pointer_get (&c->submitted) / c->options->max_rate
                      > (g_get_monotonic_time () - c->started) / 1e6)
            g_usleep (20000);
          if (r->zero)
            {
              g_autoptr (GError) error = NULL;
              if (!sink_zero (w->sink, r->offset, r->length, &error))
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
          if (!settle_all (w, &error))
            fail_at (c, 0, g_steal_pointer (&error));
          break;
        }
      if (nbd_poll (w->src, -1) == -1)
        {
          g_autoptr (GError) error = NULL;
          nbd_failed (&error, "waiting for the source");
          fail_at (c, 0, g_steal_pointer (&error));
          break;
        }
    }
  return NULL;
}

static void
report (Copy *c, gint64 started, gboolean force, gint64 *last)
{
  if (c->options->progress_fd < 0)
    return;
  gint64 now = g_get_monotonic_time ();
  if (!force && now - *last < 500000)
    return;
  *last = now;
  double seconds = MAX (0.001, (now - started) / 1e6);
  guint64 done = (guint64) g_atomic_pointer_get (&c->done);
  g_autofree char *line = g_strdup_printf ("{\"bytes_done\": %" G_GUINT64_FORMAT ", \"bytes_total\": %" G_GUINT64_FORMAT
                                           ", \"bytes_read\": %" G_GUINT64_FORMAT ", \"rate\": %.0f}\n",
                                           done, c->result->size, (guint64) g_atomic_pointer_get (&c->bytes_read),
                                           done / seconds);
  if (write (c->options->progress_fd, line, strlen (line)) < 0)
    {
      /* A reader that went away does not stop the copy. */
    }
}

static gint
compare_written (gconstpointer a, gconstpointer b)
{
  guint64 x = ((const Written *) a)->offset, y = ((const Written *) b)->offset;
  return x < y ? -1 : x > y;
}

/* An NBD destination is read back with many reads in flight, like the copy:
 * one read at a time waited a round trip per request and cost more than the
 * copy itself. Reads complete in any order; each is checked as it does. */
static gboolean
verify_nbd (struct nbd_handle *nbd, GArray *written, gsize max, guint depth, GError **error)
{
  g_autofree guint8 *bufs = g_malloc ((gsize) depth * max);
  g_autofree gint64 *cookies = g_new0 (gint64, depth);
  g_autofree guint *which = g_new0 (guint, depth);
  guint next = 0, in_flight = 0;
  gboolean ok = TRUE;
  /* After a failure the reads still in flight are waited for: they write
   * into bufs until they complete. */
  while ((ok && next < written->len) || in_flight > 0)
    {
      for (guint slot = 0; ok && slot < depth && next < written->len; slot++)
        if (cookies[slot] == 0)
          {
            Written *w = &g_array_index (written, Written, next);
            cookies[slot] = nbd_aio_pread (nbd, bufs + (gsize) slot * max, (gsize) w->length, w->offset,
                                           NBD_NULL_COMPLETION, 0);
            if (cookies[slot] == -1)
              {
                cookies[slot] = 0;
                ok = nbd_failed (error, "reading back the destination");
                break;
              }
            which[slot] = next++;
            in_flight++;
          }
      if (in_flight == 0)
        break;
      if (nbd_poll (nbd, -1) == -1)
        return ok ? nbd_failed (error, "reading back the destination") : FALSE; /* the connection is gone */
      for (guint slot = 0; slot < depth; slot++)
        {
          if (cookies[slot] == 0)
            continue;
          int done = nbd_aio_command_completed (nbd, (guint64) cookies[slot]);
          if (done == 0)
            continue;
          cookies[slot] = 0;
          in_flight--;
          if (!ok)
            continue;
          Written *w = &g_array_index (written, Written, which[slot]);
          if (done == -1)
            ok = nbd_failed (error, "reading back the destination");
          else if (mtv_crc32c (0, bufs + (gsize) slot * max, (gsize) w->length) != w->crc)
            ok = verify_failed (w, error);
        }
    }
  return ok;
}

/* Runs a checkpoint loaded may come from a run with larger requests, so the
 * buffers are sized by the runs themselves. */
static gboolean
verify (Sink *sink, const char *dest, GArray *written, guint depth, GError **error)
{
  gsize max = 1;
  for (guint i = 0; i < written->len; i++)
    max = MAX (max, (gsize) g_array_index (written, Written, i).length);
  if (sink->nbd && max <= sink->max_io)
    return verify_nbd (sink->nbd, written, max, depth, error);
  /* A file, or runs longer than an NBD destination now takes (it came back
   * with a smaller maximum): read in pieces, one at a time. */
  g_autofree guint8 *buf = g_malloc (max);
  for (guint i = 0; i < written->len; i++)
    {
      Written *w = &g_array_index (written, Written, i);
      for (gsize piece, p = 0; p < (gsize) w->length; p += piece)
        {
          piece = MIN ((gsize) w->length - p, sink->max_io);
          if (!sink_read (sink, dest, buf + p, piece, w->offset + p, error))
            return FALSE;
        }
      if (mtv_crc32c (0, buf, (gsize) w->length) != w->crc)
        return verify_failed (w, error);
    }
  return TRUE;
}

/* Makes the checkpoint's notes durable: the destination is flushed first, so
 * whatever the checkpoint lists is on it. */
static gboolean
checkpoint_sync (Copy *c, Worker *workers, guint n_workers, GError **error)
{
  if (c->checkpoint == NULL)
    return TRUE;
  GString *notes = mtv_checkpoint_take (c->checkpoint);
  gboolean ok = sink_flush (c->shared_sink, error);
  for (guint i = 0; ok && i < n_workers; i++)
    if (workers[i].sink != c->shared_sink)
      ok = sink_flush (workers[i].sink, error);
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

gboolean
mtv_copy_run (const MtvCopyOptions *options, MtvCopyResult *result, GError **error)
{
  gboolean ok = FALSE;
  Sink sink = { .fd = -1, .max_io = G_MAXSIZE };
  MtvCopyOptions fitted;
  GArray *ranges = NULL;
  Copy c = { 0 };
  Worker *workers = NULL;
  guint n_workers = 0;
  gint64 started = g_get_monotonic_time (), last_report = 0;
  g_autoptr (GChecksum) total = NULL;

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

  struct nbd_handle *src = nbd_handle_new ();
  if (src == NULL)
    return nbd_failed (error, "libnbd");
  if (!from_file)
    nbd_add_meta_context (src, context);
  if (nbd_connect_uri (src, options->source) == -1)
    {
      nbd_failed (error, options->source);
      goto out;
    }
  int64_t size = nbd_get_size (src);
  if (size < 0)
    {
      nbd_failed (error, "source size");
      goto out;
    }
  result->size = (guint64) size;
  /* Reads no longer than the server takes. */
  fitted = *options;
  fitted.request_size = fit_request (src, options->request_size);
  options = &fitted;

  if (from_file)
    ranges = extents_from_file (options->extents + strlen ("file:"), result->size, error);
  else if (nbd_can_meta_context (src, context) == 1)
    ranges = extents_from_server (src, result->size, context, dirty_mode, error);
  else if (dirty_mode)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "the source does not export the dirty bitmap %s", context);
      goto out;
    }
  else
    {
      /* No extent information: everything is data (zero detection still applies). */
      ranges = g_array_new (FALSE, FALSE, sizeof (Range));
      Range all = { 0, result->size, FALSE };
      g_array_append_val (ranges, all);
    }
  if (ranges == NULL)
    goto out;
  if (mtv_is_http_url (options->destination))
    {
      ok = mtv_copy_http (options, src, result->size, ranges, result, error);
      goto out;
    }
  c.written = g_array_new (FALSE, FALSE, sizeof (Written));
  c.loaded = g_array_new (FALSE, FALSE, sizeof (Written));
  if (options->checkpoint)
    {
      /* The header names the copy: a checkpoint only resumes the same one. */
      g_autofree char *header = g_strdup_printf ("mtv-transfer checkpoint 1 size=%" G_GUINT64_FORMAT " request=%zu"
                                                 " extents=%s destination=%s", result->size, options->request_size,
                                                 options->extents, options->destination);
      c.done_items = g_hash_table_new (NULL, NULL);
      c.checkpoint = mtv_checkpoint_open (options->checkpoint, header, c.done_items, c.written, error);
      if (c.checkpoint == NULL)
        goto out;
      g_array_append_vals (c.loaded, c.written->data, c.written->len);
    }
  gboolean resuming = c.done_items && g_hash_table_size (c.done_items) > 0;
  if (!sink_open (&sink, options->destination, result->size, !dirty_mode && !from_file && !resuming, error))
    goto out;
  sink.stop = options->stop;

  c.options = options;
  c.result = result;
  c.shared_sink = &sink;
  c.items = work_items (ranges, options->request_size);
  c.requests = MAX (1, options->requests);
  c.started = started;
  g_mutex_init (&c.lock);

  /* Several connections only where the server says they see the same data. */
  n_workers = nbd_can_multi_conn (src) == 1 ? MAX (1, options->connections) : 1;
  workers = g_new0 (Worker, n_workers);
  GThread **threads = g_new0 (GThread *, n_workers);
  for (guint i = 0; i < n_workers; i++)
    {
      workers[i].copy = &c;
      workers[i].buffers = g_ptr_array_new_with_free_func (g_free);
      workers[i].check_buf = g_malloc (options->request_size);
      workers[i].src = i == 0 ? src : connect_source (&c, error);
      if (workers[i].src == NULL)
        {
          n_workers = i;
          break;
        }
      workers[i].sink = &sink;
      if (sink.nbd && i > 0)
        {
          if (!sink_open (&workers[i].own_sink, options->destination, result->size, FALSE, error))
            {
              nbd_close (workers[i].src);
              n_workers = i;
              break;
            }
          workers[i].own_sink.stop = options->stop;
          workers[i].sink = &workers[i].own_sink;
        }
    }
  if (n_workers == 0)
    {
      g_free (threads);
      goto out;
    }
  g_clear_error (error); /* fewer connections than asked is fine */
  src = NULL;            /* owned by worker 0 now */
  for (guint i = 0; i < n_workers; i++)
    threads[i] = g_thread_new ("copy", worker_run, &workers[i]);
  /* Report progress, and keep the checkpoint current, while the workers copy. */
  gint64 last_sync = g_get_monotonic_time ();
  for (;;)
    {
      if (c.checkpoint && g_get_monotonic_time () - last_sync > G_USEC_PER_SEC)
        {
          g_autoptr (GError) sync_error = NULL;
          if (!checkpoint_sync (&c, workers, n_workers, &sync_error))
            fail_at (&c, 0, g_steal_pointer (&sync_error));
          last_sync = g_get_monotonic_time ();
        }
      gboolean running = FALSE;
      for (guint i = 0; i < n_workers; i++)
        running |= g_atomic_pointer_get (&c.done) < (gint64) result->size && !g_atomic_int_get (&c.failed)
                   && !*options->stop && g_atomic_int_get (&c.next) <= (gint) c.items->len;
      if (!running)
        break;
      report (&c, started, FALSE, &last_report);
      g_usleep (50000);
    }
  for (guint i = 0; i < n_workers; i++)
    g_thread_join (threads[i]);
  g_free (threads);

  if (c.checkpoint)
    {
      /* Whatever happened, what was copied is recorded for the next try. */
      g_autoptr (GError) sync_error = NULL;
      if (!checkpoint_sync (&c, workers, n_workers, &sync_error) && c.error == NULL)
        c.error = g_steal_pointer (&sync_error);
    }
  result->bytes_read = (guint64) c.bytes_read;
  result->bytes_written = (guint64) c.bytes_written;
  result->bytes_zeroed = (guint64) c.bytes_zeroed;
  if (c.error)
    {
      g_propagate_error (error, g_steal_pointer (&c.error));
      goto out;
    }
  if (*options->stop)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_CANCELLED, "cancelled after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes",
                   (guint64) c.done, result->size);
      goto out;
    }
  if (!sink_flush (&sink, error))
    goto out;
  g_array_sort (c.written, compare_written);
  if (options->verify)
    {
      /* File and device writes were verified as they left the cache; what an
       * NBD destination holds, and what a checkpoint says an earlier run wrote,
       * is read back now. */
      g_autoptr (GArray) pending = sink.nbd ? g_array_ref (c.written) : g_array_new (FALSE, FALSE, sizeof (Written));
      if (!sink.nbd)
        g_array_append_vals (pending, c.loaded->data, c.loaded->len);
      if (!verify (&sink, options->destination, pending, c.requests, error))
        goto out;
      result->verified = TRUE;
    }
  /* The checksum is over the data runs in disk order, so the same source gives
   * the same checksum however the workers interleaved. */
  total = g_checksum_new (G_CHECKSUM_SHA256);
  for (guint i = 0; i < c.written->len; i++)
    {
      Written *w = &g_array_index (c.written, Written, i);
      guint64 header[2] = { GUINT64_TO_LE (w->offset), GUINT64_TO_LE (w->length) };
      guint32 crc = GUINT32_TO_LE (w->crc);
      g_checksum_update (total, (const guint8 *) header, sizeof header);
      g_checksum_update (total, (const guint8 *) &crc, sizeof crc);
    }
  c.done = (gint64) result->size;
  report (&c, started, TRUE, &last_report);
  result->checksum = g_strdup (g_checksum_get_string (total));
  result->seconds = (g_get_monotonic_time () - started) / 1e6;
  ok = TRUE;
  /* Complete: the checkpoint has served. */
  mtv_checkpoint_close (c.checkpoint, TRUE);
  c.checkpoint = NULL;
out:
  mtv_checkpoint_close (c.checkpoint, FALSE);
  if (c.done_items)
    g_hash_table_unref (c.done_items);
  if (ranges)
    g_array_unref (ranges);
  for (guint i = 0; i < n_workers; i++)
    {
      nbd_shutdown (workers[i].src, 0);
      nbd_close (workers[i].src);
      if (workers[i].sink == &workers[i].own_sink)
        sink_close (&workers[i].own_sink);
      g_ptr_array_unref (workers[i].buffers);
      g_free (workers[i].check_buf);
    }
  g_free (workers);
  if (c.items)
    g_array_unref (c.items);
  if (c.written)
    g_array_unref (c.written);
  if (c.loaded)
    g_array_unref (c.loaded);
  g_clear_error (&c.error);
  if (c.options)
    g_mutex_clear (&c.lock);
  sink_close (&sink);
  if (src)
    {
      nbd_shutdown (src, 0);
      nbd_close (src);
    }
  return ok;
}

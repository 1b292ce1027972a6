#define _GNU_SOURCE
#include "transfer-copy.h"
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

#define EXTENT_WINDOW (G_GUINT64_CONSTANT (1) << 30)
#define ZERO_GRAIN (64 * 1024)

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
} Sink;

static gboolean
nbd_failed (GError **error, const char *what)
{
  g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s", what, nbd_get_error () ? nbd_get_error () : "unknown error");
  return FALSE;
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
  if (is_nbd_uri (dest))
    {
      sink->nbd = nbd_create ();
      if (sink->nbd == NULL || nbd_connect_uri (sink->nbd, dest) == -1)
        return nbd_failed (error, dest);
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
      sink->fd = open (dest, O_WRONLY | O_CLOEXEC);
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
  sink->fd = open (dest, O_WRONLY | O_CREAT | O_CLOEXEC | (full_copy ? O_TRUNC : 0), 0600);
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

static gboolean
sink_write (Sink *sink, const guint8 *buf, gsize len, guint64 offset, GError **error)
{
  if (sink->nbd)
    {
      if (nbd_pwrite (sink->nbd, buf, len, offset, 0) == -1)
        {
          g_autofree char *what = g_strdup_printf ("writing %zu bytes at offset %" G_GUINT64_FORMAT, len, offset);
          return nbd_failed (error, what);
        }
      return TRUE;
    }
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
  if (sink->nbd)
    {
      if (nbd_zero (sink->nbd, length, offset, 0) == -1)
        {
          g_autofree char *what = g_strdup_printf ("zeroing %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT, length, offset);
          return nbd_failed (error, what);
        }
      return TRUE;
    }
  if (fallocate (sink->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset, (off_t) length) == 0
      || fallocate (sink->fd, FALLOC_FL_ZERO_RANGE, (off_t) offset, (off_t) length) == 0)
    return TRUE;
  static const guint8 zeroes[ZERO_GRAIN];
  for (guint64 at = offset; at < offset + length; at += ZERO_GRAIN)
    if (!sink_write (sink, zeroes, (gsize) MIN ((guint64) ZERO_GRAIN, offset + length - at), at, error))
      return FALSE;
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
  /* Read back through a descriptor of its own: the sink's is write-only. */
  int fd = open (dest, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "reading back %s: %s", dest, g_strerror (errno));
      return FALSE;
    }
  gsize done = 0;
  gboolean ok = TRUE;
  while (done < len)
    {
      ssize_t n = pread (fd, buf + done, len - done, (off_t) (offset + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "reading back %s at offset %" G_GUINT64_FORMAT ": %s", dest,
                       offset + done, n == 0 ? "unexpected end of file" : g_strerror (errno));
          ok = FALSE;
          break;
        }
      done += (gsize) n;
    }
  close (fd);
  return ok;
}

/* ---- the copy --------------------------------------------------------------------- */

static gboolean
all_zero (const guint8 *p, gsize len)
{
  return len == 0 || (p[0] == 0 && memcmp (p, p + 1, len - 1) == 0);
}

typedef struct {
  const MtvCopyOptions *options;
  MtvCopyResult *result;
  gint64 started;
  gint64 last_report;
  guint64 done;
} Progress;

static void
report (Progress *p, gboolean force)
{
  if (p->options->progress_fd < 0)
    return;
  gint64 now = g_get_monotonic_time ();
  if (!force && now - p->last_report < 500000)
    return;
  p->last_report = now;
  double seconds = MAX (0.001, (now - p->started) / 1e6);
  g_autofree char *line = g_strdup_printf ("{\"bytes_done\": %" G_GUINT64_FORMAT ", \"bytes_total\": %" G_GUINT64_FORMAT
                                           ", \"bytes_read\": %" G_GUINT64_FORMAT ", \"rate\": %.0f}\n",
                                           p->done, p->result->size, p->result->bytes_read, p->done / seconds);
  if (write (p->options->progress_fd, line, strlen (line)) < 0)
    {
      /* A reader that went away does not stop the copy. */
    }
}

/* One data run: its digest goes into the copy's checksum and the list that
 * verification compares against. */
typedef struct {
  guint64 offset, length;
  guint8 digest[32];
} Written;

static void
add_digest (GChecksum *total, GArray *written, guint64 offset, const guint8 *buf, gsize len)
{
  Written w = { offset, len, { 0 } };
  gsize dlen = sizeof w.digest;
  g_autoptr (GChecksum) one = g_checksum_new (G_CHECKSUM_SHA256);
  g_checksum_update (one, buf, len);
  g_checksum_get_digest (one, w.digest, &dlen);
  guint64 header[2] = { GUINT64_TO_LE (offset), GUINT64_TO_LE (len) };
  g_checksum_update (total, (const guint8 *) header, sizeof header);
  g_checksum_update (total, w.digest, sizeof w.digest);
  g_array_append_val (written, w);
}

static gboolean
verify (Sink *sink, const char *dest, GArray *written, gsize max, GError **error)
{
  g_autofree guint8 *buf = g_malloc (max);
  for (guint i = 0; i < written->len; i++)
    {
      Written *w = &g_array_index (written, Written, i);
      if (!sink_read (sink, dest, buf, (gsize) w->length, w->offset, error))
        return FALSE;
      guint8 digest[32];
      gsize dlen = sizeof digest;
      g_autoptr (GChecksum) one = g_checksum_new (G_CHECKSUM_SHA256);
      g_checksum_update (one, buf, (gsize) w->length);
      g_checksum_get_digest (one, digest, &dlen);
      if (memcmp (digest, w->digest, sizeof digest) != 0)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED,
                       "verification failed: the destination's %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
                       " differ from what was read", w->length, w->offset);
          return FALSE;
        }
    }
  return TRUE;
}

gboolean
mtv_copy_run (const MtvCopyOptions *options, MtvCopyResult *result, GError **error)
{
  gboolean ok = FALSE;
  Sink sink = { -1, FALSE, NULL };
  GArray *ranges = NULL;
  g_autoptr (GArray) written = g_array_new (FALSE, FALSE, sizeof (Written));
  g_autoptr (GChecksum) total = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buf = g_malloc (options->request_size);
  Progress progress = { options, result, g_get_monotonic_time (), 0, 0 };

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

  struct nbd_handle *src = nbd_create ();
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
  if (ranges == NULL || !sink_open (&sink, options->destination, result->size, !dirty_mode && !from_file, error))
    goto out;

  for (guint i = 0; i < ranges->len; i++)
    {
      Range *r = &g_array_index (ranges, Range, i);
      if (r->zero)
        {
          if (!sink_zero (&sink, r->offset, r->length, error))
            goto out;
          result->bytes_zeroed += r->length;
          progress.done += r->length;
          report (&progress, FALSE);
          continue;
        }
      for (guint64 at = r->offset; at < r->offset + r->length;)
        {
          if (*options->stop)
            {
              g_set_error (error, MTV_ERROR, MTV_ERROR_CANCELLED, "cancelled at offset %" G_GUINT64_FORMAT, at);
              goto out;
            }
          gsize len = (gsize) MIN ((guint64) options->request_size, r->offset + r->length - at);
          if (nbd_pread (src, buf, len, at, 0) == -1)
            {
              g_autofree char *what = g_strdup_printf ("reading %zu bytes at offset %" G_GUINT64_FORMAT, len, at);
              nbd_failed (error, what);
              goto out;
            }
          result->bytes_read += len;
          /* Keep reads under the rate limit, sleeping in short steps so that
           * a stop request is still seen at once. */
          while (options->max_rate && !*options->stop
                 && (double) result->bytes_read / options->max_rate
                      > (g_get_monotonic_time () - progress.started) / 1e6)
            g_usleep (20000);
          /* Zero detection in grains: zeroes in read data are not written. */
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
                  if (!sink_zero (&sink, at + g, run, error))
                    goto out;
                  result->bytes_zeroed += run;
                }
              else
                {
                  if (!sink_write (&sink, buf + g, run, at + g, error))
                    goto out;
                  add_digest (total, written, at + g, buf + g, run);
                  result->bytes_written += run;
                }
              g += run;
            }
          at += len;
          progress.done += len;
          report (&progress, FALSE);
        }
    }
  if (!sink_flush (&sink, error))
    goto out;
  if (options->verify)
    {
      if (!verify (&sink, options->destination, written, options->request_size, error))
        goto out;
      result->verified = TRUE;
    }
  progress.done = result->size;
  report (&progress, TRUE);
  result->checksum = g_strdup (g_checksum_get_string (total));
  result->seconds = (g_get_monotonic_time () - progress.started) / 1e6;
  ok = TRUE;
out:
  if (ranges)
    g_array_unref (ranges);
  sink_close (&sink);
  nbd_shutdown (src, 0);
  nbd_close (src);
  return ok;
}

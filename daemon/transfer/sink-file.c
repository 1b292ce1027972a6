/* A file or block device as the sink. Page cache handling as nbdcopy does
 * it: writeback of each write starts at once, and a write WRITEBACK_WINDOW
 * writes old is waited for, read back and compared (the verification,
 * while it is still cached: it costs a memory read), then dropped from the
 * cache. Left alone, dirty pages pile up and the kernel throttles every
 * later write. Each worker has a window of its own (clone). */
#define _GNU_SOURCE
#include "transfer-sink.h"
#include "crc32c.h"
#include "mtv-error.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define WRITEBACK_WINDOW 8

typedef struct {
  MtvSink base;
  int fd;
  gboolean owns_fd;            /* clones share the original's */
  gboolean fresh_file;         /* a regular file we truncated: holes are already zero */
  char *path;
  MtvWritten recent[WRITEBACK_WINDOW];
  guint recent_next;
  guint8 *check_buf;           /* for reading a write back before it leaves the cache */
  gsize check_size;
} FileSink;

static const MtvSinkOps file_ops;

static gboolean
read_at (FileSink *s, guint8 *buf, gsize len, guint64 offset, GError **error)
{
  gsize done = 0;
  while (done < len)
    {
      ssize_t n = pread (s->fd, buf + done, len - done, (off_t) (offset + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "reading back %s at offset %" G_GUINT64_FORMAT ": %s", s->path,
                       offset + done, n == 0 ? "unexpected end of file" : g_strerror (errno));
          return FALSE;
        }
      done += (gsize) n;
    }
  return TRUE;
}

static gboolean
write_at (FileSink *s, const guint8 *buf, gsize len, guint64 offset, GError **error)
{
  gsize done = 0;
  while (done < len)
    {
      ssize_t n = pwrite (s->fd, buf + done, len - done, (off_t) (offset + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "writing at offset %" G_GUINT64_FORMAT ": %s", offset + done,
                       g_strerror (errno));
          return FALSE;
        }
      done += (gsize) n;
    }
  return TRUE;
}

static gboolean
settle_one (FileSink *s, MtvWritten *old, GError **error)
{
  if (old->length == 0)
    return TRUE;
  sync_file_range (s->fd, (off_t) old->offset, (off_t) old->length,
                   SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  if (s->base.checks_writes)
    {
      if (s->check_size < old->length)
        {
          g_free (s->check_buf);
          s->check_size = (gsize) old->length;
          s->check_buf = g_malloc (s->check_size);
        }
      if (!read_at (s, s->check_buf, (gsize) old->length, old->offset, error))
        return FALSE;
      if (mtv_crc32c (0, s->check_buf, (gsize) old->length) != old->crc)
        return mtv_sink_mismatch (old, error);
    }
  posix_fadvise (s->fd, (off_t) old->offset, (off_t) old->length, POSIX_FADV_DONTNEED);
  old->length = 0;
  return TRUE;
}

static gboolean
file_write (MtvSink *sink, const guint8 *buf, gsize len, guint64 offset, guint32 crc, GError **error)
{
  FileSink *s = (FileSink *) sink;
  if (!write_at (s, buf, len, offset, error))
    return FALSE;
  sync_file_range (s->fd, (off_t) offset, (off_t) len, SYNC_FILE_RANGE_WRITE);
  MtvWritten *slot = &s->recent[s->recent_next];
  if (!settle_one (s, slot, error))
    return FALSE;
  *slot = (MtvWritten) { offset, len, crc };
  s->recent_next = (s->recent_next + 1) % WRITEBACK_WINDOW;
  return TRUE;
}

/* Zeroes a range, unless it already reads as zeroes (a fresh sparse file). */
static gboolean
file_zero (MtvSink *sink, guint64 offset, guint64 length, GError **error)
{
  FileSink *s = (FileSink *) sink;
  if (s->fresh_file)
    return TRUE;
  if (fallocate (s->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t) offset, (off_t) length) == 0
      || fallocate (s->fd, FALLOC_FL_ZERO_RANGE, (off_t) offset, (off_t) length) == 0)
    return TRUE;
  /* A device without discard: the zeroes are written. */
  static const guint8 zeroes[1 << 20];
  for (guint64 at = offset; at < offset + length;)
    {
      gsize piece = (gsize) MIN ((guint64) sizeof zeroes, offset + length - at);
      if (!write_at (s, zeroes, piece, at, error))
        return FALSE;
      at += piece;
    }
  return TRUE;
}

/* The worker's last writes: settled when it stops. */
static gboolean
file_settle (MtvSink *sink, GError **error)
{
  FileSink *s = (FileSink *) sink;
  for (guint i = 0; i < WRITEBACK_WINDOW; i++)
    if (!settle_one (s, &s->recent[i], error))
      return FALSE;
  return TRUE;
}

static gboolean
file_flush (MtvSink *sink, GError **error)
{
  FileSink *s = (FileSink *) sink;
  if (!s->owns_fd)
    return TRUE;   /* the original's flush covers its clones: one descriptor */
  if (fsync (s->fd) < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "flushing the destination: %s", g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* Runs an earlier, interrupted run wrote (from a checkpoint): read back now. */
static gboolean
file_verify (MtvSink *sink, GArray *runs, guint depth, GError **error)
{
  FileSink *s = (FileSink *) sink;
  gsize max = 1;
  for (guint i = 0; i < runs->len; i++)
    max = MAX (max, (gsize) g_array_index (runs, MtvWritten, i).length);
  g_autofree guint8 *buf = g_malloc (max);
  for (guint i = 0; i < runs->len; i++)
    {
      MtvWritten *w = &g_array_index (runs, MtvWritten, i);
      if (!read_at (s, buf, (gsize) w->length, w->offset, error))
        return FALSE;
      if (mtv_crc32c (0, buf, (gsize) w->length) != w->crc)
        return mtv_sink_mismatch (w, error);
    }
  return TRUE;
}

static void
file_close (MtvSink *sink)
{
  FileSink *s = (FileSink *) sink;
  if (s->owns_fd && s->fd >= 0)
    close (s->fd);
  g_free (s->check_buf);
  g_free (s->path);
  g_free (s);
}

static FileSink *
file_new (const char *path, int fd, gboolean owns_fd, gboolean fresh, gboolean check_writes)
{
  FileSink *s = g_new0 (FileSink, 1);
  s->base.ops = &file_ops;
  s->base.max_io = G_MAXSIZE;
  s->base.checks_writes = check_writes;
  s->base.resumable = TRUE;
  s->fd = fd;
  s->owns_fd = owns_fd;
  s->fresh_file = fresh;
  s->path = g_strdup (path);
  return s;
}

static MtvSink *
file_clone (MtvSink *sink, GError **error)
{
  FileSink *s = (FileSink *) sink;
  return &file_new (s->path, s->fd, FALSE, s->fresh_file, sink->checks_writes)->base;
}

static const MtvSinkOps file_ops = {
  .clone = file_clone,
  .write = file_write,
  .zero = file_zero,
  .settle = file_settle,
  .flush = file_flush,
  .verify = file_verify,
  .close = file_close,
};

MtvSink *
mtv_sink_file_open (const char *path, guint64 size, gboolean full_copy, gboolean check_writes, GError **error)
{
  struct stat st;
  if (stat (path, &st) == 0 && S_ISBLK (st.st_mode))
    {
      int fd = open (path, O_RDWR | O_CLOEXEC);
      guint64 bsize = 0;
      if (fd < 0 || ioctl (fd, BLKGETSIZE64, &bsize) < 0)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s", path, g_strerror (errno));
          if (fd >= 0)
            close (fd);
          return NULL;
        }
      if (bsize < size)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "the destination %s holds %" G_GUINT64_FORMAT
                       " bytes, less than the source's %" G_GUINT64_FORMAT, path, bsize, size);
          close (fd);
          return NULL;
        }
      return &file_new (path, fd, TRUE, FALSE, check_writes)->base;
    }
  /* A file: a full copy starts from an empty sparse file, so holes stay
   * holes; a delta copy writes into the existing one. Read and write:
   * verification reads back through the same descriptor. */
  int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | (full_copy ? O_TRUNC : 0), 0600);
  if (fd < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s", path, g_strerror (errno));
      return NULL;
    }
  if (ftruncate (fd, (off_t) size) < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: cannot size to %" G_GUINT64_FORMAT ": %s", path, size,
                   g_strerror (errno));
      close (fd);
      return NULL;
    }
  return &file_new (path, fd, TRUE, full_copy, check_writes)->base;
}

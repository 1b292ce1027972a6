/* An NBD export as the sink: one connection per worker (clone), writes and
 * zero requests retried with backoff on a fresh connection, read back with
 * many reads in flight. */
#include "transfer-sink.h"
#include "transfer-nbd.h"
#include "crc32c.h"
#include "mtv-error.h"

typedef struct {
  MtvSink base;
  struct nbd_handle *nbd;
  char *uri;                   /* to connect again */
  guint64 size;
  volatile sig_atomic_t *stop; /* set when the copy is to stop: no more retries */
} NbdSink;

static const MtvSinkOps nbd_ops;

/* A write (or with @zero, a zero request). A failure is tried again with
 * backoff on a fresh connection (the server may have restarted or dropped
 * it); one that persists fails naming the offset. */
static gboolean
request (NbdSink *s, gboolean zero, const guint8 *buf, guint64 len, guint64 offset, GError **error)
{
  g_autofree char *last = NULL;
  int attempt = 0;
  for (;; attempt++)
    {
      if ((zero ? nbd_zero (s->nbd, len, offset, 0) : nbd_pwrite (s->nbd, buf, (size_t) len, offset, 0)) == 0)
        return TRUE;
      g_free (last);
      last = g_strdup (nbd_get_error () ? nbd_get_error () : "unknown error");
      if (attempt == MTV_RETRIES || (s->stop && *s->stop))
        break;
      mtv_retry_backoff (attempt);
      /* The old handle stays when no new one connects: the next try fails
       * on it with its own error. */
      struct nbd_handle *fresh = mtv_nbd_handle_new ();
      if (fresh && nbd_connect_uri (fresh, s->uri) == 0)
        {
          nbd_close (s->nbd);
          s->nbd = fresh;
        }
      else if (fresh)
        nbd_close (fresh);
    }
  g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
               " failed %d times: %s", zero ? "zeroing" : "writing", len, offset, attempt + 1, last);
  return FALSE;
}

static gboolean
nbd_sink_write (MtvSink *sink, const guint8 *buf, gsize len, guint64 offset, guint32 crc, GError **error)
{
  return request ((NbdSink *) sink, FALSE, buf, len, offset, error);
}

/* A server that cannot be asked for zeroes gets them written (nbdcopy does). */
static gboolean
nbd_sink_zero (MtvSink *sink, guint64 offset, guint64 length, GError **error)
{
  NbdSink *s = (NbdSink *) sink;
  if (nbd_can_zero (s->nbd) == 1)
    return request (s, TRUE, NULL, length, offset, error);
  static const guint8 zeroes[1 << 20];
  for (guint64 at = offset; at < offset + length;)
    {
      gsize piece = (gsize) MIN (MIN ((guint64) sizeof zeroes, (guint64) sink->max_io), offset + length - at);
      if (!request (s, FALSE, zeroes, piece, at, error))
        return FALSE;
      at += piece;
    }
  return TRUE;
}

static gboolean
nbd_sink_settle (MtvSink *sink, GError **error)
{
  return TRUE;
}

static gboolean
nbd_sink_flush (MtvSink *sink, GError **error)
{
  return nbd_flush (((NbdSink *) sink)->nbd, 0) == 0 || mtv_nbd_failed (error, "flushing the destination");
}

/* Read back with many reads in flight, like the copy: one read at a time
 * waited a round trip per request and cost more than the copy itself. Reads
 * complete in any order; each is checked as it does. */
static gboolean
verify_async (struct nbd_handle *nbd, GArray *written, gsize max, guint depth, GError **error)
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
            MtvWritten *w = &g_array_index (written, MtvWritten, next);
            cookies[slot] = nbd_aio_pread (nbd, bufs + (gsize) slot * max, (gsize) w->length, w->offset,
                                           NBD_NULL_COMPLETION, 0);
            if (cookies[slot] == -1)
              {
                cookies[slot] = 0;
                ok = mtv_nbd_failed (error, "reading back the destination");
                break;
              }
            which[slot] = next++;
            in_flight++;
          }
      if (in_flight == 0)
        break;
      if (nbd_poll (nbd, -1) == -1)
        return ok ? mtv_nbd_failed (error, "reading back the destination") : FALSE; /* the connection is gone */
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
          MtvWritten *w = &g_array_index (written, MtvWritten, which[slot]);
          if (done == -1)
            ok = mtv_nbd_failed (error, "reading back the destination");
          else if (mtv_crc32c (0, bufs + (gsize) slot * max, (gsize) w->length) != w->crc)
            ok = mtv_sink_mismatch (w, error);
        }
    }
  return ok;
}

/* Runs a checkpoint loaded may come from a run with larger requests (the
 * server came back with a smaller maximum): those are read in pieces. */
static gboolean
nbd_sink_verify (MtvSink *sink, GArray *runs, guint depth, GError **error)
{
  NbdSink *s = (NbdSink *) sink;
  gsize max = 1;
  for (guint i = 0; i < runs->len; i++)
    max = MAX (max, (gsize) g_array_index (runs, MtvWritten, i).length);
  if (max <= sink->max_io)
    return verify_async (s->nbd, runs, max, depth, error);
  g_autofree guint8 *buf = g_malloc (max);
  for (guint i = 0; i < runs->len; i++)
    {
      MtvWritten *w = &g_array_index (runs, MtvWritten, i);
      for (gsize piece, p = 0; p < (gsize) w->length; p += piece)
        {
          piece = MIN ((gsize) w->length - p, sink->max_io);
          if (nbd_pread (s->nbd, buf + p, piece, w->offset + p, 0) != 0)
            return mtv_nbd_failed (error, "reading back the destination");
        }
      if (mtv_crc32c (0, buf, (gsize) w->length) != w->crc)
        return mtv_sink_mismatch (w, error);
    }
  return TRUE;
}

static void
nbd_sink_close (MtvSink *sink)
{
  NbdSink *s = (NbdSink *) sink;
  if (s->nbd)
    {
      nbd_shutdown (s->nbd, 0);
      nbd_close (s->nbd);
    }
  g_free (s->uri);
  g_free (s);
}

static MtvSink *
nbd_sink_clone (MtvSink *sink, GError **error)
{
  NbdSink *s = (NbdSink *) sink;
  return mtv_sink_nbd_open (s->uri, s->size, s->stop, error);
}

static const MtvSinkOps nbd_ops = {
  .clone = nbd_sink_clone,
  .write = nbd_sink_write,
  .zero = nbd_sink_zero,
  .settle = nbd_sink_settle,
  .flush = nbd_sink_flush,
  .verify = nbd_sink_verify,
  .close = nbd_sink_close,
};

MtvSink *
mtv_sink_nbd_open (const char *uri, guint64 size, volatile sig_atomic_t *stop, GError **error)
{
  NbdSink *s = g_new0 (NbdSink, 1);
  s->base.ops = &nbd_ops;
  s->base.resumable = TRUE;
  s->uri = g_strdup (uri);
  s->size = size;
  s->stop = stop;
  s->nbd = mtv_nbd_handle_new ();
  if (s->nbd == NULL || nbd_connect_uri (s->nbd, uri) == -1)
    {
      mtv_nbd_failed (error, uri);
      nbd_sink_close (&s->base);
      return NULL;
    }
  if (nbd_is_read_only (s->nbd) == 1)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "the destination %s is read-only", uri);
      nbd_sink_close (&s->base);
      return NULL;
    }
  s->base.max_io = mtv_nbd_fit_request (s->nbd, G_MAXSIZE);
  int64_t dsize = nbd_get_size (s->nbd);
  if (dsize < 0 || (guint64) dsize < size)
    {
      if (dsize < 0)
        mtv_nbd_failed (error, uri);
      else
        g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "the destination %s holds %" G_GINT64_FORMAT
                     " bytes, less than the source's %" G_GUINT64_FORMAT, uri, dsize, size);
      nbd_sink_close (&s->base);
      return NULL;
    }
  return &s->base;
}

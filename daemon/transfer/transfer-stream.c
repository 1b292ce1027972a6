#include "transfer-stream.h"
#include "crc32c.h"
#include "mtv-error.h"

#include <errno.h>

typedef struct {
  guint8 *buf;                /* NULL: a zero range */
  guint64 offset, length;
  gboolean done;
  int err;
} Slot;

static int
on_slot_done (void *data, int *err)
{
  Slot *s = data;
  s->done = TRUE;
  s->err = *err;
  return 1;
}

gboolean
mtv_copy_stream (const MtvCopyOptions *o, struct nbd_handle *src, guint64 size, GArray *ranges, MtvSink *sink,
                 GArray *written, MtvCopyResult *result, MtvProgress *progress, GError **error)
{
  gboolean ok = TRUE;
  guint64 at = 0;
  GQueue slots = G_QUEUE_INIT;
  guint r = 0;
  guint64 next_read = 0; /* offset within ranges[r] of the next read to submit */
  while (ok)
    {
      /* Submit reads ahead, in order. */
      while (g_queue_get_length (&slots) < MAX (1, o->requests) && r < ranges->len)
        {
          MtvRange *range = &g_array_index (ranges, MtvRange, r);
          if (range->zero)
            {
              if (g_queue_is_empty (&slots))
                {
                  Slot *s = g_new0 (Slot, 1);
                  s->offset = range->offset;
                  s->length = range->length;
                  s->done = TRUE;
                  g_queue_push_tail (&slots, s);
                  r++;
                  next_read = 0;
                }
              break;
            }
          guint64 len = MIN ((guint64) o->request_size, range->length - next_read);
          Slot *s = g_new0 (Slot, 1);
          s->offset = range->offset + next_read;
          s->length = len;
          s->buf = g_malloc ((gsize) len);
          nbd_completion_callback cb = { .callback = on_slot_done, .user_data = s };
          if (nbd_aio_pread (src, s->buf, (size_t) len, s->offset, cb, 0) == -1)
            {
              s->done = TRUE;
              s->err = EIO;
            }
          g_queue_push_tail (&slots, s);
          next_read += len;
          if (next_read >= range->length)
            {
              r++;
              next_read = 0;
            }
        }
      Slot *head = g_queue_peek_head (&slots);
      if (head == NULL)
        break;
      while (!head->done)
        if (nbd_poll (src, -1) == -1)
          {
            ok = FALSE;
            g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "reading the source: %s", nbd_get_error ());
            break;
          }
      if (!ok)
        break;
      g_queue_pop_head (&slots);
      if (head->err)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "reading %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
                       ": %s", head->length, head->offset, g_strerror (head->err));
          ok = FALSE;
        }
      /* Holes before this slot, then the slot. */
      if (ok && at < head->offset)
        ok = sink->ops->zero (sink, at, head->offset - at, error);
      if (ok && head->buf)
        {
          MtvWritten w = { head->offset, head->length, mtv_crc32c (0, head->buf, (gsize) head->length) };
          ok = sink->ops->write (sink, head->buf, (gsize) head->length, head->offset, w.crc, error);
          g_array_append_val (written, w);
          result->bytes_read += head->length;
          result->bytes_written += head->length;
        }
      else if (ok)
        {
          ok = sink->ops->zero (sink, head->offset, head->length, error);
          result->bytes_zeroed += head->length;
        }
      at = head->offset + head->length;
      g_free (head->buf);
      g_free (head);
      if (ok && *o->stop)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_CANCELLED, "cancelled at offset %" G_GUINT64_FORMAT, at);
          ok = FALSE;
        }
      mtv_progress_report (progress, at, size, result->bytes_read, FALSE);
    }
  /* Trailing holes. */
  if (ok && at < size)
    ok = sink->ops->zero (sink, at, size - at, error);
  /* Outstanding reads must finish before their buffers go. */
  while (!g_queue_is_empty (&slots))
    {
      Slot *s = g_queue_pop_head (&slots);
      while (!s->done && nbd_poll (src, -1) != -1)
        ;
      g_free (s->buf);
      g_free (s);
    }
  return ok;
}

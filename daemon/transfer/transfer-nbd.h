#pragma once
#include <glib.h>
#include <libnbd.h>

/* What the source side and the NBD sink share of libnbd. */

/* A failed request is tried this many more times, on fresh connections. */
#define MTV_RETRIES 4

/* Waits before retry @attempt (from 0): 0.1, 0.3, 0.9, 2.7 s, so that a
 * server restarting has time to come back. */
void mtv_retry_backoff (int attempt);

/* A handle for URIs from mtvd or the administrator (their tls-psk-file and
 * tls-certificates parameters may name local files), without libnbd's
 * zeroing of read buffers. */
struct nbd_handle *mtv_nbd_handle_new (void);
gboolean mtv_is_nbd_uri (const char *s);
/* Sets @error from libnbd's last error; FALSE. */
gboolean mtv_nbd_failed (GError **error, const char *what);
/* The longest request up to @wanted the server takes (its NBD block size
 * constraints), a multiple of its minimum. */
gsize mtv_nbd_fit_request (struct nbd_handle *nbd, gsize wanted);

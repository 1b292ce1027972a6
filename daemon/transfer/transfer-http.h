#pragma once
#include "transfer-copy.h"

#include <libnbd.h>

/* The HTTP(S) sink: the disk, in order, as one gzip-compressed raw image
 * POSTed (chunked) to an upload URL such as CDI's upload proxy, with a bearer
 * token. Holes and zeroes compress to almost nothing on the wire. Reads stay
 * many in flight; they are consumed in disk order. */

gboolean mtv_is_http_url (const char *s);

/* Copies @ranges (Range of transfer-copy.c: offset, length, zero) of @src. */
gboolean mtv_copy_http (const MtvCopyOptions *options, struct nbd_handle *src, const guint64 size,
                        GArray *ranges, MtvCopyResult *result, GError **error);

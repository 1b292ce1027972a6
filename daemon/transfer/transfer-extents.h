#pragma once
#include "transfer-options.h"

/* An extents list (--extents file:LIST, what a warm precopy copies): lines
 * of "offset length" in bytes, blank lines and #-comments ignored, each
 * range within a disk of @size bytes. An array of MtvRange, or NULL with the
 * line that is not (@what names the list). */
GArray *mtv_extents_parse (const char *text, gsize length, guint64 size, const char *what, GError **error);

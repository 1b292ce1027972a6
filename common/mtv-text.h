#pragma once
#include <glib.h>

/* Text for people (error messages, statuses, the journal): valid UTF-8,
 * never cut inside a character. */

/* @text (any bytes; NULL is "") as valid UTF-8 of at most @max_chars
 * characters, ending in "…" when it was cut. */
char *mtv_text_shorten (const char *text, gssize length, gsize max_chars);

/* @bytes for people, with an ASCII space: "1 MiB", "64 KiB", "24.3 MiB",
 * "4000 bytes" (whole units when they are exact). */
char *mtv_text_size (guint64 bytes);

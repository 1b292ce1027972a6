#pragma once
#include <glib.h>

/* Text for people (error messages, statuses, the journal): valid UTF-8,
 * never cut inside a character. */

/* @text (any bytes; NULL is "") as valid UTF-8 of at most @max_chars
 * characters, ending in "…" when it was cut. */
char *mtv_text_shorten (const char *text, gssize length, gsize max_chars);

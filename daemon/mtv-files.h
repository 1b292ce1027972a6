#pragma once
#include <glib.h>

/* Removes @path and, if it is a directory, all below it (symbolic links
 * are removed, never followed). */
void mtv_remove_tree (const char *path);
/* Removes what @dir holds, keeping @dir. */
void mtv_empty_dir (const char *dir);
/* Writes @text to a new @path that only its owner may read (@mode 0600 or
 * 0700 for a script), for secrets handed to helpers by file, never argv. */
gboolean mtv_write_private (const char *path, const char *text, int mode, GError **error);

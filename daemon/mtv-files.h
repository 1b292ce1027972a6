#pragma once
#include <glib.h>

/* Removes @path and, if it is a directory, all below it (symbolic links
 * are removed, never followed). */
void mtv_remove_tree (const char *path);
/* Removes what @dir holds, keeping @dir. */
void mtv_empty_dir (const char *dir);

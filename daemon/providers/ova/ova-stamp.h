#pragma once
#include <glib.h>

/* Which version of a file this is: its device, inode, size, modification
 * and change times ("dev:ino:size:mtime:ctime", nanoseconds). Any write,
 * truncation, touch or replacement gives another stamp (a change time
 * cannot be set back), so a file read between two equal stamps was read as
 * one version. NULL, with the reason, when it cannot be read. */
char *ova_file_stamp (const char *path, GError **error);

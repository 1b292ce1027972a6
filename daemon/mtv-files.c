#include "mtv-files.h"

#include <gio/gio.h>
#include <glib/gstdio.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void
mtv_empty_dir (const char *dir)
{
  g_autoptr (GFile) file = g_file_new_for_path (dir);
  g_autoptr (GFileEnumerator) e = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME ","
                                                             G_FILE_ATTRIBUTE_STANDARD_TYPE,
                                                             G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  GFileInfo *info;
  while (e && (info = g_file_enumerator_next_file (e, NULL, NULL)))
    {
      g_autofree char *child = g_build_filename (dir, g_file_info_get_name (info), NULL);
      if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY)
        mtv_remove_tree (child);
      else
        g_unlink (child);
      g_object_unref (info);
    }
}

void
mtv_remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      mtv_empty_dir (path);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

gboolean
mtv_write_private (const char *path, const char *text, int mode, GError **error)
{
  g_unlink (path);
  int fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  gsize len = strlen (text);
  gboolean ok = fd >= 0 && write (fd, text, len) == (ssize_t) len;
  int saved = errno;
  if (fd >= 0 && close (fd) < 0 && ok)
    {
      ok = FALSE;
      saved = errno;
    }
  if (!ok)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved), "cannot write %s: %s", path, g_strerror (saved));
      g_unlink (path);
    }
  return ok;
}

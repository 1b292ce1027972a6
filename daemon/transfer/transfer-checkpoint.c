#include "transfer-checkpoint.h"
#include "mtv-error.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct _MtvCheckpoint {
  char *path;
  int fd;
  GMutex lock;
  GString *pending;
};

static gboolean
parse_line (const char *line, const MtvCheckpointBounds *bounds, GHashTable *done, GArray *written)
{
  /* "item N" then zero or more " OFFSET:LENGTH:CRC" */
  if (!g_str_has_prefix (line, "item "))
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (line + 5, " ", -1);
  guint64 index;
  if (parts[0] == NULL || !g_ascii_string_to_unsigned (parts[0], 10, 0, G_MAXUINT32 - 1, &index, NULL))
    return FALSE;
  g_autoptr (GArray) runs = g_array_new (FALSE, FALSE, sizeof (MtvWritten));
  for (guint i = 1; parts[i]; i++)
    {
      MtvWritten w;
      char *end;
      w.offset = g_ascii_strtoull (parts[i], &end, 10);
      if (*end++ != ':')
        return FALSE;
      w.length = g_ascii_strtoull (end, &end, 10);
      if (*end++ != ':')
        return FALSE;
      guint64 crc = g_ascii_strtoull (end, &end, 16);
      /* A run must lie on the disk, no longer than a request: a damaged
       * file is read no further than its last good line. */
      if (*end != '\0' || crc > G_MAXUINT32 || w.length == 0 || w.length > bounds->max_run
          || w.offset > bounds->size || w.length > bounds->size - w.offset)
        return FALSE;
      w.crc = (guint32) crc;
      g_array_append_val (runs, w);
    }
  g_hash_table_add (done, GUINT_TO_POINTER ((guint) index + 1));
  g_array_append_vals (written, runs->data, runs->len);
  return TRUE;
}

MtvCheckpoint *
mtv_checkpoint_open (const char *path, const char *header, const MtvCheckpointBounds *bounds, GHashTable *done,
                     GArray *written, GError **error)
{
  g_autofree char *contents = NULL;
  gsize len;
  if (g_file_get_contents (path, &contents, &len, NULL))
    {
      g_auto (GStrv) lines = g_strsplit (contents, "\n", -1);
      if (lines[0] == NULL || !g_str_equal (lines[0], header))
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                       "the checkpoint %s is of another copy (it says \"%s\"); remove it to start over", path,
                       lines[0] ? lines[0] : "");
          return NULL;
        }
      /* A line cut short by a crash ends the record; what came before counts. */
      for (guint i = 1; lines[i] && *lines[i]; i++)
        if (!parse_line (lines[i], bounds, done, written))
          break;
    }
  MtvCheckpoint *cp = g_new0 (MtvCheckpoint, 1);
  cp->path = g_strdup (path);
  cp->fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (cp->fd < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s", path, g_strerror (errno));
      g_free (cp->path);
      g_free (cp);
      return NULL;
    }
  g_mutex_init (&cp->lock);
  cp->pending = g_string_new (NULL);
  if (contents == NULL)
    {
      g_string_append_printf (cp->pending, "%s\n", header);
      GString *first = mtv_checkpoint_take (cp);
      if (!mtv_checkpoint_commit (cp, first, error))
        {
          mtv_checkpoint_close (cp, TRUE);
          return NULL;
        }
    }
  else if (len > 0 && contents[len - 1] != '\n')
    {
      /* Finish a torn last line so appended ones start clean. */
      if (write (cp->fd, "\n", 1) < 0)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s", path, g_strerror (errno));
          mtv_checkpoint_close (cp, FALSE);
          return NULL;
        }
    }
  return cp;
}

void
mtv_checkpoint_item_done (MtvCheckpoint *cp, guint index, const MtvWritten *runs, guint n_runs)
{
  g_mutex_lock (&cp->lock);
  g_string_append_printf (cp->pending, "item %u", index);
  for (guint i = 0; i < n_runs; i++)
    g_string_append_printf (cp->pending, " %" G_GUINT64_FORMAT ":%" G_GUINT64_FORMAT ":%08x", runs[i].offset,
                            runs[i].length, runs[i].crc);
  g_string_append_c (cp->pending, '\n');
  g_mutex_unlock (&cp->lock);
}

GString *
mtv_checkpoint_take (MtvCheckpoint *cp)
{
  g_mutex_lock (&cp->lock);
  GString *notes = cp->pending;
  cp->pending = g_string_new (NULL);
  g_mutex_unlock (&cp->lock);
  return notes;
}

gboolean
mtv_checkpoint_commit (MtvCheckpoint *cp, GString *notes, GError **error)
{
  gsize done = 0;
  gboolean ok = TRUE;
  while (done < notes->len)
    {
      ssize_t n = write (cp->fd, notes->str + done, notes->len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          ok = FALSE;
          break;
        }
      done += (gsize) n;
    }
  if (ok && notes->len)
    ok = fdatasync (cp->fd) == 0;
  if (!ok)
    g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "writing the checkpoint %s: %s", cp->path, g_strerror (errno));
  g_string_free (notes, TRUE);
  return ok;
}

void
mtv_checkpoint_close (MtvCheckpoint *cp, gboolean remove)
{
  if (cp == NULL)
    return;
  close (cp->fd);
  if (remove)
    g_unlink (cp->path);
  g_string_free (cp->pending, TRUE);
  g_mutex_clear (&cp->lock);
  g_free (cp->path);
  g_free (cp);
}

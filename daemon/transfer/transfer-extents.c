#include "transfer-extents.h"
#include "mtv-error.h"

GArray *
mtv_extents_parse (const char *text, gsize length, guint64 size, const char *what, GError **error)
{
  g_autofree char *copy = g_strndup (text, length);
  GArray *ranges = g_array_new (FALSE, FALSE, sizeof (MtvRange));
  g_auto (GStrv) lines = g_strsplit (copy, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      char *line = g_strstrip (lines[i]);
      if (*line == '\0' || *line == '#')
        continue;
      char *end;
      guint64 off = g_ascii_strtoull (line, &end, 10);
      if (end == line || !g_ascii_isdigit (*line) || !g_ascii_isspace (*end))
        goto bad;
      char *rest = g_strchug (end);
      guint64 len = g_ascii_strtoull (rest, &end, 10);
      if (end == rest || !g_ascii_isdigit (*rest) || *g_strstrip (end) != '\0' || len == 0 || off > size
          || len > size - off)
        goto bad;
      MtvRange r = { off, len, FALSE };
      g_array_append_val (ranges, r);
      continue;
    bad:
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: line %u is not \"offset length\" within the disk (%"
                   G_GUINT64_FORMAT " bytes)", what, i + 1, size);
      g_array_unref (ranges);
      return NULL;
    }
  return ranges;
}

#include "mtv-text.h"

char *
mtv_text_size (guint64 bytes)
{
  static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
  if (bytes < 1024)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " bytes", bytes);
  guint u = 0;
  guint64 scale = 1024;
  while (u + 1 < G_N_ELEMENTS (units) && bytes >= scale * 1024)
    u++, scale *= 1024;
  if (bytes % scale == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " %s", bytes / scale, units[u]);
  return g_strdup_printf ("%.1f %s", (double) bytes / (double) scale, units[u]);
}

char *
mtv_text_shorten (const char *text, gssize length, gsize max_chars)
{
  g_autofree char *valid = g_utf8_make_valid (text ? text : "", text ? length : 0);
  if ((gsize) g_utf8_strlen (valid, -1) <= max_chars)
    return g_steal_pointer (&valid);
  /* Room for the ellipsis, then whole characters. */
  const char *end = g_utf8_offset_to_pointer (valid, (glong) (max_chars > 0 ? max_chars - 1 : 0));
  g_autoptr (GString) s = g_string_new_len (valid, end - valid);
  g_string_append (s, "…");
  return g_string_free (g_steal_pointer (&s), FALSE);
}

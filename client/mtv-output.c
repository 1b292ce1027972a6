#include "mtv-output.h"
#include "mtv-error.h"
#include "mtv-yaml.h"

#include <stdio.h>

gboolean
mtv_output_format_parse (const char *text, MtvOutputFormat *format, GError **error)
{
  if (text == NULL || g_str_equal (text, "table"))
    *format = MTV_OUTPUT_TABLE;
  else if (g_str_equal (text, "json"))
    *format = MTV_OUTPUT_JSON;
  else if (g_str_equal (text, "yaml"))
    *format = MTV_OUTPUT_YAML;
  else
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "unknown output format \"%s\" (use table, json or yaml)", text);
      return FALSE;
    }
  return TRUE;
}

void
mtv_output_print_node (JsonNode *node, MtvOutputFormat format)
{
  if (format == MTV_OUTPUT_YAML)
    {
      g_autofree char *text = mtv_yaml_emit (node);
      fputs (text, stdout);
      return;
    }
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, TRUE);
  json_generator_set_indent (gen, 2);
  json_generator_set_root (gen, node);
  g_autofree char *text = json_generator_to_data (gen, NULL);
  printf ("%s\n", text);
}

struct _MtvTable {
  GPtrArray *rows; /* of GStrv; row 0 is the header */
  guint columns;
};

MtvTable *
mtv_table_new (const char *first_header, ...)
{
  MtvTable *table = g_new0 (MtvTable, 1);
  table->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  GStrvBuilder *b = g_strv_builder_new ();
  va_list ap;
  va_start (ap, first_header);
  for (const char *h = first_header; h; h = va_arg (ap, const char *))
    {
      g_strv_builder_add (b, h);
      table->columns++;
    }
  va_end (ap);
  g_ptr_array_add (table->rows, g_strv_builder_end (b));
  g_strv_builder_unref (b);
  return table;
}

MtvTable *
mtv_table_new_strv (const char *const *headers)
{
  MtvTable *table = g_new0 (MtvTable, 1);
  table->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  table->columns = g_strv_length ((char **) headers);
  g_ptr_array_add (table->rows, g_strdupv ((char **) headers));
  return table;
}

void
mtv_table_add_row_strv (MtvTable *table, const char *const *cells)
{
  char **row = g_new0 (char *, table->columns + 1);
  for (guint i = 0; i < table->columns; i++)
    row[i] = g_strdup (cells[i] ? cells[i] : "");
  g_ptr_array_add (table->rows, row);
}

void
mtv_table_add_row (MtvTable *table, const char *first_cell, ...)
{
  char **row = g_new0 (char *, table->columns + 1);
  va_list ap;
  va_start (ap, first_cell);
  const char *cell = first_cell;
  for (guint i = 0; i < table->columns; i++)
    {
      row[i] = g_strdup (cell ? cell : "");
      if (i + 1 < table->columns)
        cell = va_arg (ap, const char *);
    }
  va_end (ap);
  g_ptr_array_add (table->rows, row);
}

void
mtv_table_print (MtvTable *table)
{
  g_autofree glong *width = g_new0 (glong, table->columns);
  for (guint r = 0; r < table->rows->len; r++)
    {
      char **row = table->rows->pdata[r];
      for (guint c = 0; c < table->columns; c++)
        width[c] = MAX (width[c], g_utf8_strlen (row[c], -1));
    }
  for (guint r = 0; r < table->rows->len; r++)
    {
      char **row = table->rows->pdata[r];
      g_autoptr (GString) line = g_string_new (NULL);
      for (guint c = 0; c < table->columns; c++)
        {
          g_string_append (line, row[c]);
          if (c + 1 < table->columns)
            for (glong pad = g_utf8_strlen (row[c], -1); pad < width[c] + 3; pad++)
              g_string_append_c (line, ' ');
        }
      printf ("%s\n", line->str);
    }
}

void
mtv_table_free (MtvTable *table)
{
  if (table == NULL)
    return;
  g_ptr_array_unref (table->rows);
  g_free (table);
}

char *
mtv_output_age (const char *rfc3339)
{
  g_autoptr (GDateTime) then = rfc3339 ? g_date_time_new_from_iso8601 (rfc3339, NULL) : NULL;
  if (then == NULL)
    return g_strdup ("<unknown>");
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  gint64 s = g_date_time_difference (now, then) / G_TIME_SPAN_SECOND;
  if (s < 0)
    s = 0;
  if (s < 120)
    return g_strdup_printf ("%" G_GINT64_FORMAT "s", s);
  if (s < 2 * 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT "m", s / 60);
  if (s < 2 * 86400)
    return g_strdup_printf ("%" G_GINT64_FORMAT "h", s / 3600);
  return g_strdup_printf ("%" G_GINT64_FORMAT "d", s / 86400);
}

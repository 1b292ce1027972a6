#include "mtv-flags.h"
#include "mtv-error.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void
mtv_flag_values_init (MtvFlagValues *values, const MtvFlag *flags, gsize n_flags)
{
  g_variant_dict_init (&values->spec, NULL);
  values->credentials = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  values->settings = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  values->raw = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  values->flags = flags;
  values->n_flags = n_flags;
}

void
mtv_flag_values_clear (MtvFlagValues *values)
{
  g_variant_dict_clear (&values->spec);
  g_clear_pointer (&values->credentials, g_hash_table_unref);
  g_clear_pointer (&values->settings, g_hash_table_unref);
  g_clear_pointer (&values->raw, g_hash_table_unref);
}

GVariant *
mtv_flags_string_map (GHashTable *table)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{ss}"));
  GHashTableIter iter;
  gpointer k, v;
  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &k, &v))
    g_variant_builder_add (&b, "{ss}", k, v);
  return g_variant_builder_end (&b);
}

GVariant *
mtv_flags_parse_map (const char *text, const char *flag, GError **error)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{ss}"));
  g_auto (GStrv) items = g_strsplit (text, ",", -1);
  for (guint i = 0; items[i]; i++)
    {
      g_strstrip (items[i]);
      if (*items[i] == '\0')
        continue;
      char *eq = strchr (items[i], '=');
      if (eq == NULL || eq == items[i])
        {
          g_variant_builder_clear (&b);
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                       "%s: \"%s\" is not of the form key=value", flag, items[i]);
          return NULL;
        }
      *eq = '\0';
      g_variant_builder_add (&b, "{ss}", items[i], eq + 1);
    }
  return g_variant_builder_end (&b);
}

char *
mtv_flags_value_or_file (const char *text, const char *flag, GError **error)
{
  if (text[0] != '@')
    return g_strdup (text);
  char *contents = NULL;
  if (!g_file_get_contents (text + 1, &contents, NULL, error))
    {
      g_prefix_error (error, "%s: ", flag);
      return NULL;
    }
  return contents;
}

char *
mtv_flags_read_secret (const char *path, const char *flag, GError **error)
{
  g_autofree char *contents = NULL;
  if (g_str_equal (path, "-"))
    {
      g_autoptr (GString) s = g_string_new (NULL);
      char buf[4096];
      size_t n;
      while ((n = fread (buf, 1, sizeof buf, stdin)) > 0)
        g_string_append_len (s, buf, (gssize) n);
      contents = g_string_free (g_steal_pointer (&s), FALSE);
    }
  else if (!g_file_get_contents (path, &contents, NULL, error))
    {
      g_prefix_error (error, "%s: ", flag);
      return NULL;
    }
  /* A file written by echo ends in a newline that is not part of the secret. */
  gsize len = strlen (contents);
  while (len > 0 && (contents[len - 1] == '\n' || contents[len - 1] == '\r'))
    contents[--len] = '\0';
  return g_steal_pointer (&contents);
}

static const MtvFlag *
find_flag (MtvFlagValues *values, const char *option_name)
{
  const char *name = option_name;
  while (*name == '-')
    name++;
  for (gsize i = 0; i < values->n_flags; i++)
    {
      const MtvFlag *f = &values->flags[i];
      if (g_str_equal (name, f->long_name) || (name[1] == '\0' && name[0] == f->short_name))
        return f;
    }
  return NULL;
}

static gboolean
parse_bool (const char *value, const char *flag, gboolean *out, GError **error)
{
  if (value == NULL || g_ascii_strcasecmp (value, "true") == 0)
    *out = TRUE;
  else if (g_ascii_strcasecmp (value, "false") == 0)
    *out = FALSE;
  else
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "--%s takes true or false, not \"%s\"",
                   flag, value);
      return FALSE;
    }
  return TRUE;
}

static gboolean
on_flag (const char *option_name, const char *value, gpointer data, GError **error)
{
  MtvFlagValues *values = data;
  const MtvFlag *f = find_flag (values, option_name);
  g_assert (f != NULL);
  g_autofree char *flag = g_strdup_printf ("--%s", f->long_name);
  gboolean b;

  if (value && !g_utf8_validate (value, -1, NULL))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: not valid UTF-8 text", flag);
      return FALSE;
    }

  switch (f->type)
    {
    case MTV_FLAG_STRING:
      g_variant_dict_insert (&values->spec, f->key, "s", value);
      return TRUE;
    case MTV_FLAG_BOOL:
      if (!parse_bool (value, f->long_name, &b, error))
        return FALSE;
      g_variant_dict_insert (&values->spec, f->key, "b", b);
      return TRUE;
    case MTV_FLAG_INT:
      {
        gint64 n;
        if (!g_ascii_string_to_signed (value, 10, 0, G_MAXINT64, &n, NULL))
          {
            g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                         "%s takes a whole number of 0 or more, not \"%s\"", flag, value);
            return FALSE;
          }
        g_variant_dict_insert (&values->spec, f->key, "x", n);
        return TRUE;
      }
    case MTV_FLAG_MAP:
      {
        GVariant *map = mtv_flags_parse_map (value, flag, error);
        if (map == NULL)
          return FALSE;
        g_variant_dict_insert_value (&values->spec, f->key, map);
        return TRUE;
      }
    case MTV_FLAG_SECRET:
      {
        char *v = mtv_flags_value_or_file (value, flag, error);
        if (v == NULL)
          return FALSE;
        g_hash_table_insert (values->credentials, g_strdup (f->key), v);
        return TRUE;
      }
    case MTV_FLAG_SECRET_FILE:
      {
        char *v = mtv_flags_read_secret (value, flag, error);
        if (v == NULL)
          return FALSE;
        g_hash_table_insert (values->credentials, g_strdup (f->key), v);
        return TRUE;
      }
    case MTV_FLAG_SECRET_BOOL:
      if (!parse_bool (value, f->long_name, &b, error))
        return FALSE;
      g_hash_table_insert (values->credentials, g_strdup (f->key), g_strdup (b ? "true" : "false"));
      return TRUE;
    case MTV_FLAG_SETTING:
      g_hash_table_insert (values->settings, g_strdup (f->key), g_strdup (value));
      return TRUE;
    case MTV_FLAG_SETTINGS:
      {
        const char *eq = strchr (value, '=');
        if (eq == NULL || eq == value)
          {
            g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: \"%s\" is not of the form key=value",
                         flag, value);
            return FALSE;
          }
        g_hash_table_insert (values->settings, g_strndup (value, (gsize) (eq - value)), g_strdup (eq + 1));
        return TRUE;
      }
    case MTV_FLAG_RAW:
      g_hash_table_insert (values->raw, g_strdup (f->long_name), g_strdup (value ? value : "true"));
      return TRUE;
    }
  return FALSE;
}

void
mtv_flags_add_to_context (GOptionContext *context, MtvFlagValues *values)
{
  GOptionGroup *group = g_option_group_new (NULL, NULL, NULL, values, NULL);
  GOptionEntry *entries = g_new0 (GOptionEntry, values->n_flags + 1);
  for (gsize i = 0; i < values->n_flags; i++)
    {
      const MtvFlag *f = &values->flags[i];
      gboolean is_bool = f->type == MTV_FLAG_BOOL || f->type == MTV_FLAG_SECRET_BOOL;
      entries[i] = (GOptionEntry) {
        .long_name = f->long_name,
        .short_name = f->short_name,
        .flags = is_bool ? G_OPTION_FLAG_OPTIONAL_ARG : 0,
        .arg = G_OPTION_ARG_CALLBACK,
        .arg_data = (gpointer) on_flag,
        .description = f->description,
        .arg_description = is_bool ? "[=BOOL]" : f->arg_description,
      };
    }
  g_option_group_add_entries (group, entries);
  g_free (entries);
  g_option_context_set_main_group (context, group);
}

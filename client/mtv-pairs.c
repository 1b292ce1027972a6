#include "mtv-pairs.h"
#include "mtv-error.h"

#include <string.h>

/* Splits "source:target" at the last ':' (source names may hold colons). */
static gboolean
split_pair (char *pair, const char *flag, char **source, char **target, GError **error)
{
  char *colon = strrchr (pair, ':');
  if (colon == NULL || colon == pair || colon[1] == '\0')
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "%s: \"%s\" is not of the form source:target", flag, pair);
      return FALSE;
    }
  *colon = '\0';
  *source = g_strstrip (pair);
  *target = g_strstrip (colon + 1);
  return TRUE;
}

/* {"source": {"name": source}, "destination": dest}; takes @dest's contents. */
static void
add_pair (GVariantBuilder *pairs, const char *source, GVariantDict *dest)
{
  GVariantDict src, pair;
  g_variant_dict_init (&src, NULL);
  g_variant_dict_insert (&src, "name", "s", source);
  g_variant_dict_init (&pair, NULL);
  g_variant_dict_insert_value (&pair, "source", g_variant_dict_end (&src));
  g_variant_dict_insert_value (&pair, "destination", g_variant_dict_end (dest));
  g_variant_builder_add_value (pairs, g_variant_dict_end (&pair));
}

static gboolean
check_utf8 (const char *text, const char *flag, GError **error)
{
  if (g_utf8_validate (text, -1, NULL))
    return TRUE;
  g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: not valid UTF-8 text", flag);
  return FALSE;
}

GVariant *
mtv_pairs_parse_network (const char *text, GError **error)
{
  if (!check_utf8 (text, "--network-pairs", error))
    return NULL;
  GVariantBuilder pairs;
  g_variant_builder_init (&pairs, G_VARIANT_TYPE ("aa{sv}"));
  g_auto (GStrv) items = g_strsplit (text, ",", -1);
  for (guint i = 0; items[i]; i++)
    {
      char *source, *target;
      if (*g_strstrip (items[i]) == '\0')
        continue;
      if (!split_pair (items[i], "--network-pairs", &source, &target, error))
        {
          g_variant_builder_clear (&pairs);
          return NULL;
        }
      GVariantDict dest;
      g_variant_dict_init (&dest, NULL);
      if (g_str_equal (target, "default") || g_str_equal (target, "pod"))
        g_variant_dict_insert (&dest, "type", "s", "pod");
      else if (g_str_equal (target, "ignored"))
        g_variant_dict_insert (&dest, "type", "s", "ignored");
      else
        {
          g_variant_dict_insert (&dest, "type", "s", "multus");
          char *slash = strchr (target, '/');
          if (slash)
            {
              *slash = '\0';
              g_variant_dict_insert (&dest, "namespace", "s", target);
              target = slash + 1;
            }
          g_variant_dict_insert (&dest, "name", "s", target);
        }
      add_pair (&pairs, source, &dest);
    }
  return g_variant_builder_end (&pairs);
}

static const char *
access_mode (const char *value)
{
  if (g_str_equal (value, "RWO"))
    return "ReadWriteOnce";
  if (g_str_equal (value, "RWX"))
    return "ReadWriteMany";
  if (g_str_equal (value, "ROX"))
    return "ReadOnlyMany";
  return value;
}

GVariant *
mtv_pairs_parse_storage (const char *text, const char *default_volume_mode,
                         const char *default_access_mode, GError **error)
{
  if (!check_utf8 (text, "--storage-pairs", error)
      || (default_volume_mode && !check_utf8 (default_volume_mode, "--default-volume-mode", error))
      || (default_access_mode && !check_utf8 (default_access_mode, "--default-access-mode", error)))
    return NULL;
  GVariantBuilder pairs;
  g_variant_builder_init (&pairs, G_VARIANT_TYPE ("aa{sv}"));
  g_auto (GStrv) items = g_strsplit (text, ",", -1);
  for (guint i = 0; items[i]; i++)
    {
      if (*g_strstrip (items[i]) == '\0')
        continue;
      g_auto (GStrv) parts = g_strsplit (items[i], ";", -1);
      char *source, *storage_class;
      if (!split_pair (parts[0], "--storage-pairs", &source, &storage_class, error))
        goto fail;
      const char *volume_mode = default_volume_mode, *access = default_access_mode;
      for (guint p = 1; parts[p]; p++)
        {
          char *opt = g_strstrip (parts[p]);
          if (g_str_has_prefix (opt, "volumeMode="))
            volume_mode = opt + strlen ("volumeMode=");
          else if (g_str_has_prefix (opt, "accessMode="))
            access = opt + strlen ("accessMode=");
          else if (*opt != '\0')
            {
              g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                           "--storage-pairs: unknown option \"%s\" (use volumeMode= or accessMode=)", opt);
              goto fail;
            }
        }
      GVariantDict dest;
      g_variant_dict_init (&dest, NULL);
      g_variant_dict_insert (&dest, "storageClass", "s", storage_class);
      if (volume_mode)
        g_variant_dict_insert (&dest, "volumeMode", "s", volume_mode);
      if (access)
        g_variant_dict_insert (&dest, "accessMode", "s", access_mode (access));
      add_pair (&pairs, source, &dest);
    }
  return g_variant_builder_end (&pairs);
fail:
  g_variant_builder_clear (&pairs);
  return NULL;
}

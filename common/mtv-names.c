#include "mtv-names.h"
#include "mtv-error.h"
#include "mtv-text.h"

#include <gio/gio.h>
#include <string.h>

static const struct {
  const char *kind;
  const char *collection;
} kinds[MTV_N_KINDS] = {
  [MTV_KIND_PROVIDER] = { "Provider", "providers" },
  [MTV_KIND_NETWORK_MAP] = { "NetworkMap", "networkmaps" },
  [MTV_KIND_STORAGE_MAP] = { "StorageMap", "storagemaps" },
  [MTV_KIND_HOOK] = { "Hook", "hooks" },
  [MTV_KIND_PLAN] = { "Plan", "plans" },
};

const char *
mtv_kind_to_string (MtvKind kind)
{
  g_return_val_if_fail (kind < MTV_N_KINDS, NULL);
  return kinds[kind].kind;
}

const char *
mtv_kind_collection (MtvKind kind)
{
  g_return_val_if_fail (kind < MTV_N_KINDS, NULL);
  return kinds[kind].collection;
}

gboolean
mtv_kind_from_string (const char *s, MtvKind *out_kind)
{
  for (int k = 0; k < MTV_N_KINDS; k++)
    if (g_strcmp0 (s, kinds[k].kind) == 0 || g_strcmp0 (s, kinds[k].collection) == 0)
      {
        *out_kind = (MtvKind) k;
        return TRUE;
      }
  return FALSE;
}

static gboolean
is_lower_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

gboolean
mtv_name_validate (const char *name, const char *what, GError **error)
{
  size_t len = name ? strlen (name) : 0;

  if (len == 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: a name is required", what);
      return FALSE;
    }
  if (len > 63)
    {
      g_autofree char *valid = g_utf8_make_valid (name, -1);
      g_autofree char *shown = mtv_text_shorten (valid, -1, 70);
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: \"%s\" is %ld characters long; a name has at most 63",
                   what, shown, g_utf8_strlen (valid, -1));
      return FALSE;
    }
  for (size_t i = 0; i < len; i++)
    if (!is_lower_alnum (name[i]) && name[i] != '-')
      {
        g_autofree char *shown = g_strescape (name, NULL);
        g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                     "%s: \"%s\" is not a valid name: only lower-case letters, digits and '-' "
                     "are allowed (DNS-1123 label)", what, shown);
        return FALSE;
      }
  if (!is_lower_alnum (name[0]) || !is_lower_alnum (name[len - 1]))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "%s: \"%s\" is not a valid name: it must start and end with a letter or digit "
                   "(DNS-1123 label)", what, name);
      return FALSE;
    }
  return TRUE;
}

char *
mtv_name_from_vm (const char *vm_name)
{
  g_autoptr (GString) s = g_string_new (NULL);
  for (const char *p = vm_name ? vm_name : ""; *p && s->len < 63; p++)
    {
      char c = g_ascii_tolower (*p);
      if (is_lower_alnum (c))
        g_string_append_c (s, c);
      else if (s->len > 0 && s->str[s->len - 1] != '-')
        g_string_append_c (s, '-');
    }
  while (s->len > 0 && s->str[s->len - 1] == '-')
    g_string_truncate (s, s->len - 1);
  if (s->len == 0)
    g_string_assign (s, "vm");
  return g_string_free (g_steal_pointer (&s), FALSE);
}

char *
mtv_object_path_for (MtvKind kind, const char *name)
{
  g_autofree char *escaped = g_dbus_escape_object_path (name);
  return g_strdup_printf ("%s/%s/%s", MTV_ROOT_PATH, mtv_kind_collection (kind), escaped);
}

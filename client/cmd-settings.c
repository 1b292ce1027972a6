/* mtvctl settings [get] / settings set --setting K --value V / settings unset --setting K */
#include "mtv-ctl.h"
#include "mtv-error.h"

#include <stdio.h>

static GVariant *
current (MtvClient *client, GError **error)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_sync (
    client->bus, MTV_BUS_NAME, MTV_ROOT_PATH, "org.freedesktop.DBus.Properties", "Get",
    g_variant_new ("(ss)", "org.mtvd.Mtv1.Manager", "Settings"), G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, -1,
    NULL, error);
  if (reply == NULL)
    return NULL;
  GVariant *v;
  g_variant_get (reply, "(v)", &v);
  return v;
}

int
mtv_cmd_settings_get (MtvCtl *ctl, int argc, char **argv)
{
  static const MtvFlag flags[] = { { "setting", 0, MTV_FLAG_RAW, NULL, "Show only this setting", "NAME" } };
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL, *output = NULL;
  MtvFlagValues values;
  mtv_flag_values_init (&values, flags, G_N_ELEMENTS (flags));
  MtvOutputFormat format;
  MtvClient *client;
  int status = 1;
  g_autoptr (GVariant) settings = NULL;
  g_autoptr (MtvTable) table = NULL;
  if (!mtv_ctl_parse ("", "Show the service's settings.", &argc, &argv, &values, &name_flag, &output, &error)
      || !mtv_output_format_parse (output, &format, &error) || !(client = mtv_ctl_client (ctl, &error)))
    goto out;
  settings = current (client, &error);
  if (settings == NULL)
    goto out;
  const char *only = g_hash_table_lookup (values.raw, "setting");
  if (format != MTV_OUTPUT_TABLE)
    {
      g_autoptr (JsonNode) node = json_gvariant_serialize (settings);
      mtv_output_print_node (node, format);
      status = 0;
      goto out;
    }
  table = mtv_table_new ("SETTING", "VALUE", NULL);
  GVariantIter iter;
  const char *key;
  GVariant *value;
  g_variant_iter_init (&iter, settings);
  gboolean found = only == NULL;
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      if (only == NULL || g_str_equal (only, key))
        {
          g_autofree char *text = g_variant_print (value, FALSE);
          mtv_table_add_row (table, key, text);
          found = TRUE;
        }
      g_variant_unref (value);
    }
  if (!found)
    {
      g_set_error (&error, MTV_ERROR, MTV_ERROR_NOT_FOUND, "there is no setting \"%s\"", only);
      goto out;
    }
  mtv_table_print (table);
  status = 0;
out:
  mtv_flag_values_clear (&values);
  return status ? mtv_ctl_finish (FALSE, error) : 0;
}

static int
change (MtvCtl *ctl, int argc, char **argv, gboolean unset)
{
  static const MtvFlag flags[] = {
    { "setting", 0, MTV_FLAG_RAW, NULL, "The setting", "NAME" },
    { "value", 0, MTV_FLAG_RAW, NULL, "Its new value", "VALUE" },
  };
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL;
  MtvFlagValues values;
  mtv_flag_values_init (&values, flags, G_N_ELEMENTS (flags) - (unset ? 1 : 0));
  MtvClient *client;
  gboolean ok = FALSE;
  g_autoptr (GVariant) reply = NULL;
  if (!mtv_ctl_parse ("", unset ? "Return a setting to its default." : "Change a setting.", &argc, &argv, &values,
                      &name_flag, NULL, &error)
      || !(client = mtv_ctl_client (ctl, &error)))
    goto out;
  const char *key = g_hash_table_lookup (values.raw, "setting");
  const char *text = g_hash_table_lookup (values.raw, "value");
  if (key == NULL || (!unset && text == NULL))
    {
      g_set_error (&error, MTV_ERROR, MTV_ERROR_INVALID, unset ? "--setting is required" : "--setting and --value are required");
      goto out;
    }
  GVariantDict d;
  g_variant_dict_init (&d, NULL);
  guint64 n;
  if (unset)
    g_variant_dict_insert (&d, key, "s", "");
  else if (g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32, &n, NULL))
    g_variant_dict_insert (&d, key, "u", (guint32) n);
  else
    g_variant_dict_insert (&d, key, "s", text);
  reply = g_dbus_connection_call_sync (
    client->bus, MTV_BUS_NAME, MTV_ROOT_PATH, "org.mtvd.Mtv1.Manager", "SetSettings",
    g_variant_new ("(@a{sv}a{sv})", g_variant_dict_end (&d), NULL), NULL,
    G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, -1, NULL, &error);
  if ((ok = reply != NULL))
    g_print ("setting %s %s\n", key, unset ? "unset" : "set");
out:
  mtv_flag_values_clear (&values);
  return mtv_ctl_finish (ok, error);
}

int
mtv_cmd_settings_set (MtvCtl *ctl, int argc, char **argv)
{
  return change (ctl, argc, argv, FALSE);
}

int
mtv_cmd_settings_unset (MtvCtl *ctl, int argc, char **argv)
{
  return change (ctl, argc, argv, TRUE);
}

/* The vSphere client of mtvd driven from the tests (test_vsphere.py):
 *
 *   vsphere-tool about URL USER PASSWORD-FILE [--cacert FILE | --insecure]
 *
 * logs in, prints the ServiceContent's About and the server's thumbprint
 * as JSON, logs out. Errors go to standard error, exit status 1. */
#include "providers/vsphere/vsphere-client.h"

#include <json-glib/json-glib.h>

int
main (int argc, char **argv)
{
  g_autofree char *cacert = NULL;
  gboolean insecure = FALSE;
  const GOptionEntry entries[] = {
    { "cacert", 0, 0, G_OPTION_ARG_FILENAME, &cacert, "Trust the CAs in FILE", "FILE" },
    { "insecure", 0, 0, G_OPTION_ARG_NONE, &insecure, "Do not verify the server", NULL },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) options = g_option_context_new ("about URL USER PASSWORD-FILE");
  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error) || argc != 5 || g_strcmp0 (argv[1], "about") != 0)
    {
      g_printerr ("usage: vsphere-tool about URL USER PASSWORD-FILE [--cacert FILE | --insecure]\n");
      return 2;
    }
  g_autofree char *password = NULL;
  g_autofree char *ca_text = NULL;
  gsize ca_len = 0;
  if (!g_file_get_contents (argv[4], &password, NULL, &error)
      || (cacert && !g_file_get_contents (cacert, &ca_text, &ca_len, &error)))
    {
      g_printerr ("vsphere-tool: %s\n", error->message);
      return 1;
    }
  g_strchomp (password);
  g_autoptr (GBytes) ca = ca_text ? g_bytes_new (ca_text, ca_len) : NULL;
  g_autoptr (MtvVsphere) vs = mtv_vsphere_connect (argv[2], ca, insecure, argv[3], password, &error);
  if (vs == NULL)
    {
      g_printerr ("vsphere-tool: %s\n", error->message);
      return 1;
    }
  const MtvVsphereService *s = mtv_vsphere_service (vs);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  const char *fields[][2] = { { "apiVersion", s->api_version }, { "apiType", s->api_type },
                              { "fullName", s->full_name }, { "instanceUuid", s->instance_uuid },
                              { "rootFolder", s->root_folder }, { "propertyCollector", s->property_collector },
                              { "thumbprint", mtv_soap_thumbprint (mtv_vsphere_soap (vs)) } };
  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      json_builder_set_member_name (b, fields[i][0]);
      json_builder_add_string_value (b, fields[i][1] ? fields[i][1] : "");
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = json_to_string (root, FALSE);
  g_print ("%s\n", text);
  return 0;
}

/* The vSphere client of mtvd driven from the tests (test_vsphere.py):
 *
 *   vsphere-tool about URL USER PASSWORD-FILE [--cacert FILE | --insecure]
 *   vsphere-tool retrieve URL USER PASSWORD-FILE TYPE PATH... [--page N] [--count] [--insecure]
 *   vsphere-tool vms URL USER PASSWORD-FILE [--insecure]   (the inventory's VM models)
 *
 * logs in, prints the ServiceContent's About and the server's thumbprint,
 * or every object of TYPE with the properties PATH..., as JSON, logs out.
 * Errors go to standard error, exit status 1. */
#include "providers/vsphere/vsphere-client.h"
#include "providers/vsphere/vsphere-model.h"

#include <json-glib/json-glib.h>

static gboolean
count_one (JsonObject *object, gpointer data, GError **error)
{
  (*(guint *) data)++;
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *cacert = NULL;
  gboolean insecure = FALSE;
  int page = 0;
  gboolean count = FALSE;
  const GOptionEntry entries[] = {
    { "count", 0, 0, G_OPTION_ARG_NONE, &count, "Print only how many objects there are", NULL },
    { "page", 0, 0, G_OPTION_ARG_INT, &page, "Ask for N objects a page", "N" },
    { "cacert", 0, 0, G_OPTION_ARG_FILENAME, &cacert, "Trust the CAs in FILE", "FILE" },
    { "insecure", 0, 0, G_OPTION_ARG_NONE, &insecure, "Do not verify the server", NULL },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) options = g_option_context_new ("about|retrieve URL USER PASSWORD-FILE [TYPE PATH...]");
  g_option_context_add_main_entries (options, entries, NULL);
  gboolean about = argc >= 2 && g_strcmp0 (argv[1], "about") == 0;
  gboolean vms = argc >= 2 && g_strcmp0 (argv[1], "vms") == 0;
  if (!g_option_context_parse (options, &argc, &argv, &error) || ((about || vms) ? argc != 5 : argc < 7)
      || (!about && !vms && g_strcmp0 (argv[1], "retrieve") != 0))
    {
      g_printerr ("usage: vsphere-tool about URL USER PASSWORD-FILE [--cacert FILE | --insecure]\n"
                  "       vsphere-tool retrieve URL USER PASSWORD-FILE TYPE PATH... [--page N] [--insecure]\n");
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
  if (vms)
    {
      g_autoptr (JsonArray) objects = mtv_vsphere_retrieve (vs, "VirtualMachine", mtv_vsphere_vm_paths, 100, &error);
      if (objects == NULL)
        {
          g_printerr ("vsphere-tool: %s\n", error->message);
          return 1;
        }
      g_autoptr (JsonArray) models = json_array_new ();
      for (guint i = 0; i < json_array_get_length (objects); i++)
        json_array_add_object_element (models, mtv_vsphere_vm_model (json_array_get_object_element (objects, i)));
      g_autoptr (JsonNode) list = json_node_new (JSON_NODE_ARRAY);
      json_node_set_array (list, models);
      g_autofree char *text = json_to_string (list, FALSE);
      g_print ("%s\n", text);
      return 0;
    }
  if (!about && count)
    {
      /* How many, without keeping them (memory figures for bench/README). */
      guint n = 0;
      if (!mtv_vsphere_retrieve_each (vs, argv[5], (const char *const *) argv + 6, (guint) MAX (page, 0), count_one, &n,
                                      &error))
        {
          g_printerr ("vsphere-tool: %s\n", error->message);
          return 1;
        }
      g_print ("%u\n", n);
      return 0;
    }
  if (!about)
    {
      g_autoptr (JsonArray) objects = mtv_vsphere_retrieve (vs, argv[5], (const char *const *) argv + 6,
                                                            (guint) MAX (page, 0), &error);
      if (objects == NULL)
        {
          g_printerr ("vsphere-tool: %s\n", error->message);
          return 1;
        }
      g_autoptr (JsonNode) list = json_node_new (JSON_NODE_ARRAY);
      json_node_set_array (list, objects);
      g_autofree char *text = json_to_string (list, FALSE);
      g_print ("%s\n", text);
      return 0;
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

/* Runs the VM builder on a JSON description read from stdin and prints
 * {"manifests": [...], "domainXml": "..."}: lets the tests check the builder's
 * output against KubeVirt's and CDI's schemas and libvirt's. */
#include "targets/mtv-vm-builder.h"
#include "mtv-json.h"

#include <stdio.h>

static JsonObject *
object (JsonObject *in, const char *key)
{
  return json_object_has_member (in, key) ? json_object_get_object_member (in, key) : NULL;
}

static GStrv
strings (JsonObject *in, const char *key)
{
  if (!json_object_has_member (in, key))
    return NULL;
  JsonArray *a = json_object_get_array_member (in, key);
  GStrv v = g_new0 (char *, json_array_get_length (a) + 1);
  for (guint i = 0; i < json_array_get_length (a); i++)
    v[i] = g_strdup (json_array_get_string_element (a, i));
  return v;
}

int
main (void)
{
  g_autoptr (GString) text = g_string_new (NULL);
  char buf[4096];
  size_t n;
  while ((n = fread (buf, 1, sizeof buf, stdin)) > 0)
    g_string_append_len (text, buf, (gssize) n);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) in = mtv_json_object_from_string (text->str, "input", &error);
  if (in == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  g_auto (GStrv) files = strings (in, "diskFiles");
  g_auto (GStrv) formats = strings (in, "diskFormats");
  MtvVmBuildInput build = {
    .name = json_object_get_string_member (in, "name"),
    .namespace = json_object_get_string_member (in, "namespace"),
    .plan_name = "plan",
    .plan_uid = "0b5b4f36-0000-4000-8000-000000000001",
    .migration_id = "0b5b4f36-0000-4000-8000-000000000002",
    .plan_spec = object (in, "plan"),
    .plan_vm = object (in, "planVm"),
    .vm = object (in, "vm"),
    .network_map = object (in, "networkMap"),
    .storage_map = object (in, "storageMap"),
    .disk_files = (const char *const *) files,
    .disk_formats = (const char *const *) formats,
  };
  g_autoptr (JsonArray) manifests = mtv_vm_build_manifests (&build, &error);
  g_autofree char *xml = manifests ? mtv_vm_build_domain_xml (&build, &error) : NULL;
  if (xml == NULL)
    {
      g_printerr ("%s\n", error->message);
      return 1;
    }
  g_autoptr (JsonObject) out = json_object_new ();
  json_object_set_array_member (out, "manifests", json_array_ref (manifests));
  json_object_set_string_member (out, "domainXml", xml);
  g_autofree char *result = mtv_json_object_to_string (out, TRUE);
  puts (result);
  return 0;
}

/* libFuzzer target for vSphere's SOAP replies: the envelope, faults, the
 * ServiceContent, RetrievePropertiesEx pages, WaitForUpdatesEx update sets, QueryChangedDiskAreas windows, and
 * the models and linked
 * inventory made of them (see fuzz-yaml.c for how it runs). */
#include "vsphere/vsphere-client.h"
#include "vsphere/vsphere-inventory.h"
#include "vsphere/vsphere-model.h"
#include "vsphere/vsphere-warm.h"
#include "vsphere/vsphere-watch.h"
#include "migration/source-adapter.h"

#include "fuzz-xml.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_xml_init ();
  g_autoptr (GError) error = NULL;
  xmlDoc *doc = mtv_soap_parse_reply ((const char *) data, size, &error);
  if (doc)
    {
      MtvVsphereService service = { 0 };
      if (mtv_vsphere_service_parse (mtv_soap_reply (doc), &service, NULL))
        mtv_vsphere_service_clear (&service);
      g_free (mtv_soap_type (mtv_soap_reply (doc)));
      g_autoptr (JsonArray) objects = json_array_new ();
      g_autofree char *token = NULL;
      g_autoptr (GError) objects_error = NULL;
      if (!mtv_vsphere_parse_objects (mtv_soap_reply (doc), objects, &token, &objects_error))
        g_assert (objects_error && token == NULL);
      g_autoptr (MtvVsphereInventory) inv = mtv_vsphere_inventory_new ();
      for (guint i = 0; i < json_array_get_length (objects); i++)
        {
          JsonObject *o = json_array_get_object_element (objects, i);
          json_object_unref (mtv_vsphere_vm_model (o));
          mtv_vsphere_inventory_put (inv, o);
        }
      json_object_unref (mtv_vsphere_inventory_build (inv, "fuzz"));
      g_autoptr (JsonArray) updates = json_array_new ();
      g_autofree char *version = NULL;
      gboolean truncated;
      g_autoptr (GError) updates_error = NULL;
      if (!mtv_vsphere_parse_updates (mtv_soap_reply (doc), updates, &version, &truncated, &updates_error))
        g_assert (updates_error && version == NULL);
      g_autoptr (GArray) areas = g_array_new (FALSE, FALSE, sizeof (MtvExtent));
      guint64 start = 0, length = 0, capacity = 1ull << 40;
      if (mtv_vsphere_parse_changed_areas (mtv_soap_reply (doc), capacity, &start, &length, areas, NULL))
        for (guint i = 0; i < areas->len; i++)
          {
            /* In order, inside the window, inside the disk: what mtv-transfer is given. */
            MtvExtent *e = &g_array_index (areas, MtvExtent, i);
            g_assert (e->length > 0 && e->offset >= start && e->offset + e->length <= start + length);
            g_assert (start + length <= capacity);
            g_assert (i == 0 || e->offset >= g_array_index (areas, MtvExtent, i - 1).offset
                                                 + g_array_index (areas, MtvExtent, i - 1).length);
          }
      xmlFreeDoc (doc);
    }
  else
    g_assert (error != NULL && g_utf8_validate (error->message, -1, NULL));
  return 0;
}

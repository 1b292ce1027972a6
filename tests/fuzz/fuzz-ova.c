/* libFuzzer target for the OVA parsers: the tar member walk and the OVF
 * descriptor parser, on the same bytes (see fuzz-yaml.c for how it runs). */
#include "ova/ova-ovf.h"
#include "ova/ova-tar.h"

#include "fuzz-xml.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_xml_init ();
  GPtrArray *members = ova_tar_list_bytes (data, size, NULL);
  if (members)
    {
      for (guint i = 0; i < members->len; i++)
        {
          OvaTarMember *m = members->pdata[i];
          g_assert (m->offset + m->size <= size);
          g_assert (ova_path_is_safe (m->name));
          g_assert (g_utf8_validate (m->name, -1, NULL));
        }
      g_ptr_array_unref (members);
    }
  JsonObject *ovf = ova_ovf_parse ((const char *) data, size, NULL);
  if (ovf)
    {
      g_assert (json_object_has_member (ovf, "vms"));
      json_object_unref (ovf);
    }
  return 0;
}

#include "fuzz-xml.h"

#include <glib.h>
#include <libxml/parser.h>

static void
silence_libxml (void *ctx, const char *msg, ...)
{
}

void
fuzz_xml_init (void)
{
  static gsize initialized;
  if (g_once_init_enter (&initialized))
    {
      xmlInitParser ();
      xmlSetGenericErrorFunc (NULL, silence_libxml);
      g_once_init_leave (&initialized, 1);
    }
}

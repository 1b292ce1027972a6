/* libFuzzer target for the parsers of outside input in the spine: YAML/JSON
 * documents (`--vms @file`, later manifests) and the kubectl-mtv pair syntax.
 * Built with clang -fsanitize=fuzzer when available; otherwise
 * fuzz-driver.c replays a corpus plus random mutations so the target runs in
 * every build (and under ASan in CI). */
#include "mtv-pairs.h"
#include "mtv-yaml.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (JsonNode) node = mtv_yaml_parse ((const char *) data, size, "fuzz", NULL);
  if (node)
    {
      /* What parses must emit and parse back to the same tree. */
      g_autofree char *again = mtv_yaml_emit (node);
      g_autoptr (JsonNode) back = mtv_yaml_parse (again, strlen (again), "fuzz-again", NULL);
      g_assert (back != NULL);
      g_assert (json_node_equal (node, back));
    }
  GVariant *v;
  if ((v = mtv_pairs_parse_network (text, NULL)))
    g_variant_unref (g_variant_ref_sink (v));
  if ((v = mtv_pairs_parse_storage (text, NULL, NULL, NULL)))
    g_variant_unref (g_variant_ref_sink (v));
  return 0;
}

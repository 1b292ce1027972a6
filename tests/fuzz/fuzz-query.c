/* libFuzzer target for the inventory query language: any text either parses
 * (and then runs over a small inventory without crashing) or is refused with
 * a message. Built like fuzz-yaml.c (replay driver in every build). */
#include "mtv-query.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const char inventory[] =
  "[{\"name\": \"a\", \"cpuCount\": 2, \"memoryMB\": 2048, \"disks\": [{\"capacity\": 1024}],"
  "  \"created\": \"2024-01-01\", \"tags\": [\"x\", \"y\"], \"flag\": true, \"none\": null},"
  " {\"name\": \"b\", \"cpuCount\": 0, \"disks\": [], \"nested\": {\"k\": [1, 2, {\"z\": \"q\"}]}}]";

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (GError) error = NULL;
  g_autoptr (TslNode) tree = tsl_parse (text, &error);
  if (tree)
    {
      /* What parses prints. */
      g_autofree char *printed = tsl_node_to_tree (tree);
      g_autoptr (JsonNode) json = tsl_node_to_json (tree);
      g_assert (printed != NULL && json != NULL);
    }
  else
    g_assert (error != NULL && strstr (error->message, "position") != NULL);
  g_clear_error (&error);
  g_autoptr (MtvQuery) q = mtv_query_parse (text, &error);
  if (q)
    {
      g_autoptr (JsonNode) docs = json_from_string (inventory, NULL);
      g_autoptr (JsonArray) rows = mtv_query_run (q, json_node_get_array (docs), &error);
      g_assert ((rows != NULL) != (error != NULL));
      g_free (mtv_query_describe (q));
    }
  else
    g_assert (error != NULL);
  return 0;
}

/* YAML <-> JSON conversion and the kubectl-mtv pair syntax. */
#include "mtv-error.h"
#include "mtv-json.h"
#include "mtv-pairs.h"
#include "mtv-yaml.h"

#include <string.h>

static void
test_roundtrip (void)
{
  const char *json = "{\"a\":\"true\",\"b\":true,\"c\":12,\"d\":\"12\",\"e\":null,\"f\":[\"x\",{\"g\":\"\"}],"
                     "\"h\":\"2026-01-01T00:00:00Z\",\"i\":\"yes\",\"j\":\"a: b\",\"k\":1.5,\"l\":\"multi\\nline\"}";
  g_autoptr (JsonObject) object = mtv_json_object_from_string (json, "test", NULL);
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), object);
  g_autofree char *yaml = mtv_yaml_emit (node);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) back = mtv_yaml_parse (yaml, strlen (yaml), "roundtrip", &error);
  g_assert_no_error (error);
  g_assert_true (json_node_equal (node, back));
}

static void
test_errors (void)
{
  static const struct {
    const char *text;
    const char *words;
  } cases[] = {
    { "a: [1, 2", "line" },
    { "a: &x 1\nb: *x\n", "aliases" },
    { "a: 1\na: 2\n", "twice" },
    { "", "empty" },
    { "--- 1\n--- 2\n", "more than one" },
    { "? [a]\n: b\n", "plain string" },
    { "\"unterminated", "YAML" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonNode) node = mtv_yaml_parse (cases[i].text, strlen (cases[i].text), "doc", &error);
      g_assert_null (node);
      g_assert_error (error, MTV_ERROR, MTV_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, cases[i].words));
      g_assert_true (g_str_has_prefix (error->message, "doc:"));
    }
  /* Deep nesting is refused, not a stack overflow. */
  g_autoptr (GString) deep = g_string_new (NULL);
  for (int i = 0; i < 10000; i++)
    g_string_append_c (deep, '[');
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = mtv_yaml_parse (deep->str, deep->len, "deep", &error);
  g_assert_null (node);
  g_assert_error (error, MTV_ERROR, MTV_ERROR_INVALID);
}

/* Dictionary order in a GVariant is not fixed: compare as JSON. */
static void
assert_pairs (GVariant *pairs, const char *expected_json)
{
  g_autoptr (JsonNode) got = json_gvariant_serialize (pairs);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, expected_json, -1, NULL));
  if (!json_node_equal (got, json_parser_get_root (parser)))
    {
      g_autofree char *text = json_to_string (got, FALSE);
      g_error ("pairs %s, expected %s", text, expected_json);
    }
}

static void
test_network_pairs (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) pairs = g_variant_ref_sink (
    mtv_pairs_parse_network ("VM Network:default, a:b:ns/nad ,x:ignored,y:pod,z:nad", &error));
  g_assert_no_error (error);
  assert_pairs (pairs,
    "[{\"source\": {\"name\": \"VM Network\"}, \"destination\": {\"type\": \"pod\"}},"
    " {\"source\": {\"name\": \"a:b\"}, \"destination\": {\"type\": \"multus\", \"namespace\": \"ns\", \"name\": \"nad\"}},"
    " {\"source\": {\"name\": \"x\"}, \"destination\": {\"type\": \"ignored\"}},"
    " {\"source\": {\"name\": \"y\"}, \"destination\": {\"type\": \"pod\"}},"
    " {\"source\": {\"name\": \"z\"}, \"destination\": {\"type\": \"multus\", \"name\": \"nad\"}}]");
  const char *bad[] = { "nocolon", ":x", "x:", NULL };
  for (guint i = 0; bad[i]; i++)
    {
      g_autoptr (GError) e = NULL;
      g_assert_null (mtv_pairs_parse_network (bad[i], &e));
      g_assert_error (e, MTV_ERROR, MTV_ERROR_INVALID);
    }
}

static void
test_storage_pairs (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) pairs = g_variant_ref_sink (
    mtv_pairs_parse_storage ("ds1:std;volumeMode=Block;accessMode=RWX,ds2:fast", "Filesystem", NULL, &error));
  g_assert_no_error (error);
  assert_pairs (pairs,
    "[{\"source\": {\"name\": \"ds1\"}, \"destination\": {\"storageClass\": \"std\", \"volumeMode\": \"Block\", \"accessMode\": \"ReadWriteMany\"}},"
    " {\"source\": {\"name\": \"ds2\"}, \"destination\": {\"storageClass\": \"fast\", \"volumeMode\": \"Filesystem\"}}]");
  g_autoptr (GError) e = NULL;
  g_assert_null (mtv_pairs_parse_storage ("a:b;color=red", NULL, NULL, &e));
  g_assert_error (e, MTV_ERROR, MTV_ERROR_INVALID);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/yaml/roundtrip", test_roundtrip);
  g_test_add_func ("/yaml/errors", test_errors);
  g_test_add_func ("/pairs/network", test_network_pairs);
  g_test_add_func ("/pairs/storage", test_storage_pairs);
  return g_test_run ();
}

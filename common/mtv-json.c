#include "mtv-json.h"
#include "mtv-error.h"

char *
mtv_json_object_to_string (JsonObject *object, gboolean pretty)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (node, object);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, pretty);
  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

JsonObject *
mtv_json_object_from_string (const char *text, const char *what, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) local_error = NULL;

  if (!json_parser_load_from_data (parser, text, -1, &local_error))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: not valid JSON: %s", what,
                   local_error->message);
      return NULL;
    }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: expected a JSON object", what);
      return NULL;
    }
  return mtv_json_object_copy (json_node_get_object (root));
}

JsonObject *
mtv_json_object_copy (JsonObject *object)
{
  /* A round trip through text gives a deep, mutable copy whatever the source. */
  g_autofree char *text = mtv_json_object_to_string (object, FALSE);
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, -1, NULL))
    g_assert_not_reached ();
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

JsonObject *
mtv_json_object_shallow_copy (JsonObject *object)
{
  JsonObject *copy = json_object_new ();
  JsonObjectIter it;
  const char *name;
  JsonNode *member;
  json_object_iter_init (&it, object);
  while (json_object_iter_next (&it, &name, &member))
    json_object_set_member (copy, name, json_node_copy (member));
  return copy;
}

gboolean
mtv_json_object_equal (JsonObject *a, JsonObject *b)
{
  g_autoptr (JsonNode) na = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonNode) nb = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (na, a);
  json_node_set_object (nb, b);
  return json_node_equal (na, nb);
}

void
mtv_json_object_apply_changes (JsonObject *into, JsonObject *before, JsonObject *after)
{
  JsonObjectIter it;
  const char *name;
  JsonNode *member;
  json_object_iter_init (&it, after);
  while (json_object_iter_next (&it, &name, &member))
    {
      JsonNode *was = json_object_get_member (before, name);
      if (was == NULL || !json_node_equal (was, member))
        json_object_set_member (into, name, json_node_copy (member));
    }
  json_object_iter_init (&it, before);
  while (json_object_iter_next (&it, &name, &member))
    if (!json_object_has_member (after, name))
      json_object_remove_member (into, name);
}

JsonNode *
mtv_json_lookup_path (JsonObject *object, const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, ".", -1);
  JsonObject *cur = object;

  for (guint i = 0; parts[i] != NULL; i++)
    {
      JsonNode *node = json_object_get_member (cur, parts[i]);
      if (node == NULL)
        return NULL;
      if (parts[i + 1] == NULL)
        return node;
      if (!JSON_NODE_HOLDS_OBJECT (node))
        return NULL;
      cur = json_node_get_object (node);
    }
  return NULL;
}

static void
set_path_in (JsonObject *object, char **parts, JsonNode *node)
{
  if (parts[1] == NULL)
    {
      if (node != NULL)
        json_object_set_member (object, parts[0], node);
      else
        json_object_remove_member (object, parts[0]);
      return;
    }

  JsonNode *child = json_object_get_member (object, parts[0]);
  if (child == NULL || !JSON_NODE_HOLDS_OBJECT (child))
    {
      if (node == NULL)
        return;
      json_object_set_object_member (object, parts[0], json_object_new ());
      child = json_object_get_member (object, parts[0]);
    }
  JsonObject *child_object = json_node_get_object (child);
  set_path_in (child_object, parts + 1, node);
  if (json_object_get_size (child_object) == 0)
    json_object_remove_member (object, parts[0]);
}

void
mtv_json_set_path (JsonObject *object, const char *path, JsonNode *node)
{
  g_auto (GStrv) parts = g_strsplit (path, ".", -1);
  set_path_in (object, parts, node);
}

const char *
mtv_json_string (JsonObject *object, const char *name)
{
  JsonNode *n = object ? json_object_get_member (object, name) : NULL;
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING ? json_node_get_string (n)
                                                                                       : NULL;
}

JsonObject *
mtv_json_object (JsonObject *object, const char *name)
{
  JsonNode *n = object ? json_object_get_member (object, name) : NULL;
  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

JsonArray *
mtv_json_array (JsonObject *object, const char *name)
{
  JsonNode *n = object ? json_object_get_member (object, name) : NULL;
  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

gint64
mtv_json_int (JsonObject *object, const char *name, gint64 fallback)
{
  JsonNode *n = object ? json_object_get_member (object, name) : NULL;
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64 ? json_node_get_int (n)
                                                                                      : fallback;
}

JsonObject *
mtv_json_array_object (JsonArray *array, guint index)
{
  JsonNode *n = array && index < json_array_get_length (array) ? json_array_get_element (array, index) : NULL;
  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

guint
mtv_json_array_length (JsonArray *array)
{
  return array ? json_array_get_length (array) : 0;
}

JsonObject *
mtv_json_copy_or_new (JsonObject *object)
{
  return object ? mtv_json_object_copy (object) : json_object_new ();
}

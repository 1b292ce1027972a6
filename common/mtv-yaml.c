#include "mtv-yaml.h"
#include "mtv-error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---- parsing ------------------------------------------------------------------ */

typedef struct {
  yaml_parser_t parser;
  const char *what;
  GError **error;
  guint depth;
} Reader;

#define MAX_DEPTH 64

static gboolean
fail (Reader *r, const yaml_event_t *event, const char *message)
{
  g_set_error (r->error, MTV_ERROR, MTV_ERROR_INVALID, "%s: line %zu: %s", r->what,
               (event ? event->start_mark.line : r->parser.problem_mark.line) + 1, message);
  return FALSE;
}

static gboolean
next_event (Reader *r, yaml_event_t *event)
{
  if (yaml_parser_parse (&r->parser, event))
    return TRUE;
  g_autofree char *msg = g_strdup_printf ("not valid YAML: %s",
                                          r->parser.problem ? r->parser.problem : "parse error");
  return fail (r, NULL, msg);
}

static JsonNode *
scalar_to_json (const yaml_event_t *event)
{
  const char *v = (const char *) event->data.scalar.value;
  gsize len = event->data.scalar.length;
  if (event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strlen (v) == len)
    {
      if (len == 0 || g_str_equal (v, "~") || g_str_equal (v, "null") || g_str_equal (v, "Null")
          || g_str_equal (v, "NULL"))
        return json_node_init_null (json_node_alloc ());
      if (g_str_equal (v, "true") || g_str_equal (v, "True") || g_str_equal (v, "TRUE"))
        return json_node_init_boolean (json_node_alloc (), TRUE);
      if (g_str_equal (v, "false") || g_str_equal (v, "False") || g_str_equal (v, "FALSE"))
        return json_node_init_boolean (json_node_alloc (), FALSE);
      char *end = NULL;
      errno = 0;
      gint64 i = g_ascii_strtoll (v, &end, 10);
      if (*v && end && *end == '\0' && errno == 0)
        return json_node_init_int (json_node_alloc (), i);
      if (strpbrk (v, "0123456789") && strspn (v, "0123456789+-.eE") == len)
        {
          double d = g_ascii_strtod (v, &end);
          if (end && *end == '\0')
            return json_node_init_double (json_node_alloc (), d);
        }
    }
  return json_node_init_string (json_node_alloc (), v);
}

static JsonNode *read_node (Reader *r, yaml_event_t *event);

static JsonNode *
read_sequence (Reader *r)
{
  g_autoptr (JsonNode) node = json_node_init_array (json_node_alloc (), json_array_new ());
  JsonArray *array = json_node_get_array (node);
  json_array_unref (array);
  for (;;)
    {
      yaml_event_t event;
      if (!next_event (r, &event))
        return NULL;
      if (event.type == YAML_SEQUENCE_END_EVENT)
        {
          yaml_event_delete (&event);
          return g_steal_pointer (&node);
        }
      JsonNode *child = read_node (r, &event);
      yaml_event_delete (&event);
      if (child == NULL)
        return NULL;
      json_array_add_element (array, child);
    }
}

static JsonNode *
read_mapping (Reader *r)
{
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), json_object_new ());
  JsonObject *object = json_node_get_object (node);
  json_object_unref (object);
  for (;;)
    {
      yaml_event_t key;
      if (!next_event (r, &key))
        return NULL;
      if (key.type == YAML_MAPPING_END_EVENT)
        {
          yaml_event_delete (&key);
          return g_steal_pointer (&node);
        }
      if (key.type != YAML_SCALAR_EVENT)
        {
          fail (r, &key, "a mapping key must be a plain string");
          yaml_event_delete (&key);
          return NULL;
        }
      g_autofree char *name = g_strndup ((const char *) key.data.scalar.value, key.data.scalar.length);
      if (json_object_has_member (object, name))
        {
          g_autofree char *msg = g_strdup_printf ("key \"%s\" appears twice", name);
          fail (r, &key, msg);
          yaml_event_delete (&key);
          return NULL;
        }
      yaml_event_delete (&key);
      yaml_event_t value;
      if (!next_event (r, &value))
        return NULL;
      JsonNode *child = read_node (r, &value);
      yaml_event_delete (&value);
      if (child == NULL)
        return NULL;
      json_object_set_member (object, name, child);
    }
}

static JsonNode *
read_node (Reader *r, yaml_event_t *event)
{
  JsonNode *node = NULL;
  switch (event->type)
    {
    case YAML_SCALAR_EVENT:
      return scalar_to_json (event);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
      if (++r->depth > MAX_DEPTH)
        {
          fail (r, event, "nested too deeply");
          return NULL;
        }
      node = event->type == YAML_SEQUENCE_START_EVENT ? read_sequence (r) : read_mapping (r);
      r->depth--;
      return node;
    case YAML_ALIAS_EVENT:
      fail (r, event, "anchors and aliases are not accepted");
      return NULL;
    default:
      fail (r, event, "unexpected YAML structure");
      return NULL;
    }
}

JsonNode *
mtv_yaml_parse (const char *text, gsize length, const char *what, GError **error)
{
  Reader r = { .what = what, .error = error };
  JsonNode *root = NULL;
  gboolean ok = TRUE;

  yaml_parser_initialize (&r.parser);
  yaml_parser_set_input_string (&r.parser, (const unsigned char *) text, length);
  for (;;)
    {
      yaml_event_t event;
      if (!next_event (&r, &event))
        {
          ok = FALSE;
          break;
        }
      yaml_event_type_t type = event.type;
      if (type == YAML_STREAM_END_EVENT)
        {
          yaml_event_delete (&event);
          break;
        }
      if (type == YAML_STREAM_START_EVENT || type == YAML_DOCUMENT_START_EVENT
          || type == YAML_DOCUMENT_END_EVENT)
        {
          /* One document only. */
          if (type == YAML_DOCUMENT_START_EVENT && root != NULL)
            {
              ok = fail (&r, &event, "more than one document");
              yaml_event_delete (&event);
              break;
            }
          yaml_event_delete (&event);
          continue;
        }
      root = read_node (&r, &event);
      yaml_event_delete (&event);
      if (root == NULL)
        {
          ok = FALSE;
          break;
        }
    }
  yaml_parser_delete (&r.parser);
  if (!ok)
    {
      g_clear_pointer (&root, json_node_unref);
      return NULL;
    }
  if (root == NULL)
    g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: the document is empty", what);
  return root;
}

/* ---- emitting ----------------------------------------------------------------- */

static gboolean
needs_quotes (const char *s)
{
  /* Empty strings, and ones a YAML 1.1 reader takes for a date or number. */
  if (*s == '\0' || g_ascii_isdigit (*s))
    return TRUE;
  g_autoptr (JsonNode) as_plain = NULL;
  yaml_event_t fake = { 0 };
  fake.type = YAML_SCALAR_EVENT;
  fake.data.scalar.value = (yaml_char_t *) s;
  fake.data.scalar.length = strlen (s);
  fake.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
  as_plain = scalar_to_json (&fake);
  if (!JSON_NODE_HOLDS_VALUE (as_plain) || json_node_get_value_type (as_plain) != G_TYPE_STRING)
    return TRUE;
  /* YAML 1.1 readers take these for booleans. */
  static const char *const yaml11[] = { "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
                                        "on", "On", "ON", "off", "Off", "OFF", NULL };
  return g_strv_contains (yaml11, s);
}

/* Plain where a reader gets the same string back, double-quoted otherwise. */
static gboolean
emit_scalar (yaml_emitter_t *e, const char *value, gboolean quote)
{
  yaml_event_t event;
  yaml_scalar_event_initialize (&event, NULL, NULL, (yaml_char_t *) value, (int) strlen (value),
                                !quote, 1, quote ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE);
  return yaml_emitter_emit (e, &event);
}

static gboolean
emit_node (yaml_emitter_t *e, JsonNode *node)
{
  yaml_event_t event;
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObject *o = json_node_get_object (node);
        yaml_mapping_start_event_initialize (&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (!yaml_emitter_emit (e, &event))
          return FALSE;
        g_autoptr (GList) members = json_object_get_members (o);
        for (GList *l = members; l; l = l->next)
          if (!emit_scalar (e, l->data, needs_quotes (l->data))
              || !emit_node (e, json_object_get_member (o, l->data)))
            return FALSE;
        yaml_mapping_end_event_initialize (&event);
        return yaml_emitter_emit (e, &event);
      }
    case JSON_NODE_ARRAY:
      {
        JsonArray *a = json_node_get_array (node);
        yaml_sequence_start_event_initialize (&event, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (!yaml_emitter_emit (e, &event))
          return FALSE;
        for (guint i = 0; i < json_array_get_length (a); i++)
          if (!emit_node (e, json_array_get_element (a, i)))
            return FALSE;
        yaml_sequence_end_event_initialize (&event);
        return yaml_emitter_emit (e, &event);
      }
    case JSON_NODE_NULL:
      return emit_scalar (e, "null", FALSE);
    case JSON_NODE_VALUE:
      {
        GType t = json_node_get_value_type (node);
        if (t == G_TYPE_STRING)
          {
            const char *s = json_node_get_string (node);
            return emit_scalar (e, s, needs_quotes (s));
          }
        if (t == G_TYPE_BOOLEAN)
          return emit_scalar (e, json_node_get_boolean (node) ? "true" : "false", FALSE);
        if (t == G_TYPE_INT64)
          {
            char buf[32];
            g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, json_node_get_int (node));
            return emit_scalar (e, buf, FALSE);
          }
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        g_ascii_dtostr (buf, sizeof buf, json_node_get_double (node));
        return emit_scalar (e, buf, FALSE);
      }
    }
  return FALSE;
}

static int
write_to_gstring (void *data, unsigned char *buffer, size_t size)
{
  g_string_append_len (data, (const char *) buffer, (gssize) size);
  return 1;
}

char *
mtv_yaml_emit (JsonNode *node)
{
  GString *out = g_string_new (NULL);
  yaml_emitter_t e;
  yaml_event_t event;

  yaml_emitter_initialize (&e);
  yaml_emitter_set_output (&e, write_to_gstring, out);
  yaml_emitter_set_unicode (&e, 1);
  yaml_emitter_set_width (&e, -1);
  yaml_stream_start_event_initialize (&event, YAML_UTF8_ENCODING);
  gboolean ok = yaml_emitter_emit (&e, &event);
  yaml_document_start_event_initialize (&event, NULL, NULL, NULL, 1);
  ok = ok && yaml_emitter_emit (&e, &event) && emit_node (&e, node);
  yaml_document_end_event_initialize (&event, 1);
  ok = ok && yaml_emitter_emit (&e, &event);
  yaml_stream_end_event_initialize (&event);
  ok = ok && yaml_emitter_emit (&e, &event);
  yaml_emitter_delete (&e);
  /* Emitting a tree built in memory only fails on allocation. */
  g_assert (ok);
  return g_string_free (out, FALSE);
}

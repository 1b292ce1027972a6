#include "mtv-spec.h"
#include "mtv-error.h"
#include "mtv-json.h"
#include "mtv-text.h"

#include <string.h>

void
mtv_reference_free (MtvReference *ref)
{
  g_free (ref->name);
  g_free (ref->field);
  g_free (ref);
}

void
mtv_reference_add (GPtrArray *refs, MtvKind kind, const char *name, const char *field)
{
  MtvReference *ref = g_new0 (MtvReference, 1);
  ref->kind = kind;
  ref->name = g_strdup (name);
  ref->field = g_strdup (field);
  g_ptr_array_add (refs, ref);
}

const char *
mtv_reference_name (JsonNode *node)
{
  if (node == NULL)
    return NULL;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonNode *name = json_object_get_member (json_node_get_object (node), "name");
      if (name && JSON_NODE_HOLDS_VALUE (name) && json_node_get_value_type (name) == G_TYPE_STRING)
        return json_node_get_string (name);
    }
  return NULL;
}

char *
mtv_spec_property_name (const char *key)
{
  GString *s = g_string_new (NULL);
  for (const char *p = key; *p; p++)
    {
      if (g_ascii_isupper (*p) && p != key && (g_ascii_islower (p[-1]) || g_ascii_isdigit (p[-1])))
        g_string_append_c (s, '-');
      g_string_append_c (s, g_ascii_tolower (*p));
    }
  return g_string_free (s, FALSE);
}

gboolean
mtv_spec_check_label (const char *what, const char *value, GError **error)
{
  return mtv_name_validate (value, what, error);
}

static const char *
signature_of (MtvFieldType type)
{
  switch (type)
    {
    case MTV_FIELD_STRING:
    case MTV_FIELD_REFERENCE:
    case MTV_FIELD_NAMESPACED_REFERENCE:
    case MTV_FIELD_JSON_OBJECT:
      return "s";
    case MTV_FIELD_BOOLEAN:
      return "b";
    case MTV_FIELD_INT64:
      return "x";
    case MTV_FIELD_STRING_MAP:
      return "a{ss}";
    case MTV_FIELD_LIST:
      return "aa{sv}";
    }
  g_assert_not_reached ();
}

static const MtvField *
find_field (const MtvField *fields, gsize n_fields, const char *key)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_strcmp0 (fields[i].key, key) == 0)
      return &fields[i];
  return NULL;
}

static char *
known_keys (const MtvField *fields, gsize n_fields)
{
  g_autoptr (GString) s = g_string_new (NULL);
  for (gsize i = 0; i < n_fields; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", fields[i].key);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static gboolean
invalid (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, MTV_ERROR, MTV_ERROR_INVALID, msg);
  return FALSE;
}

static gsize
bound_of (const MtvField *field)
{
  if (field->max)
    return field->max;
  switch (field->type)
    {
    case MTV_FIELD_JSON_OBJECT:
      return MTV_SPEC_MAX_JSON;
    case MTV_FIELD_STRING_MAP:
      return MTV_SPEC_MAX_MAP_ENTRIES;
    case MTV_FIELD_LIST:
      return MTV_SPEC_MAX_LIST;
    default:
      return MTV_SPEC_MAX_STRING;
    }
}

static gboolean
too_large (GError **error, const char *what, gsize size, gsize max)
{
  g_autofree char *shown = mtv_text_size (max);
  return invalid (error, "%s: %zu bytes; at most %s", what, size, shown);
}

static gboolean
check_string_value (const MtvField *field, const char *value, GError **error)
{
  if (field->allowed && !g_strv_contains (field->allowed, value))
    {
      g_autofree char *allowed = g_strjoinv (", ", (char **) field->allowed);
      g_autofree char *shown = g_strescape (value, NULL);
      return invalid (error, "%s: \"%s\" is not one of %s", field->key, shown, allowed);
    }
  if (field->check_string)
    {
      g_autoptr (GError) local_error = NULL;
      if (!field->check_string (value, &local_error))
        return invalid (error, "%s: %s", field->key, local_error->message);
    }
  return TRUE;
}

static JsonNode *
take_object (JsonObject *object)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, object);
  return node;
}

/* Converts one a{sv} value into the JSON stored for @field. */
static JsonNode *
field_to_json (const MtvField *field, GVariant *value, GError **error)
{
  const char *sig = signature_of (field->type);
  if (!g_variant_is_of_type (value, G_VARIANT_TYPE (sig)))
    {
      invalid (error, "%s: expected a value of D-Bus type %s, got %s", field->key, sig,
               g_variant_get_type_string (value));
      return NULL;
    }

  switch (field->type)
    {
    case MTV_FIELD_STRING:
      {
        gsize length;
        const char *s = g_variant_get_string (value, &length);
        if (length > bound_of (field))
          {
            too_large (error, field->key, length, bound_of (field));
            return NULL;
          }
        if (*s == '\0' && (field->flags & (MTV_FIELD_REQUIRED | MTV_FIELD_NON_EMPTY)))
          {
            invalid (error, "%s: must not be empty", field->key);
            return NULL;
          }
        if (*s != '\0' && !check_string_value (field, s, error))
          return NULL;
        return json_node_init_string (json_node_alloc (), s);
      }
    case MTV_FIELD_BOOLEAN:
      return json_node_init_boolean (json_node_alloc (), g_variant_get_boolean (value));
    case MTV_FIELD_INT64:
      {
        gint64 v = g_variant_get_int64 (value);
        if (v < 0)
          {
            invalid (error, "%s: must not be negative", field->key);
            return NULL;
          }
        return json_node_init_int (json_node_alloc (), v);
      }
    case MTV_FIELD_STRING_MAP:
      {
        if (g_variant_n_children (value) > bound_of (field))
          {
            invalid (error, "%s: %zu entries; at most %zu", field->key, g_variant_n_children (value),
                     bound_of (field));
            return NULL;
          }
        g_autoptr (JsonObject) map = json_object_new ();
        GVariantIter iter;
        const char *k, *v;
        g_variant_iter_init (&iter, value);
        while (g_variant_iter_next (&iter, "{&s&s}", &k, &v))
          {
            if (strlen (k) > MTV_SPEC_MAX_MAP_KEY)
              {
                g_autofree char *what = g_strdup_printf ("%s: a key", field->key);
                too_large (error, what, strlen (k), MTV_SPEC_MAX_MAP_KEY);
                return NULL;
              }
            if (strlen (v) > MTV_SPEC_MAX_STRING)
              {
                g_autofree char *what = g_strdup_printf ("%s.%s", field->key, k);
                too_large (error, what, strlen (v), MTV_SPEC_MAX_STRING);
                return NULL;
              }
            json_object_set_string_member (map, k, v);
          }
        return take_object (g_steal_pointer (&map));
      }
    case MTV_FIELD_JSON_OBJECT:
      {
        gsize length;
        const char *text = g_variant_get_string (value, &length);
        if (length > bound_of (field))
          {
            too_large (error, field->key, length, bound_of (field));
            return NULL;
          }
        g_autoptr (GError) parse_error = NULL;
        g_autoptr (JsonNode) node = *text ? json_from_string (text, &parse_error) : NULL;
        if (*text && (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)))
          {
            invalid (error, "%s: not a JSON object (%s)", field->key,
                     parse_error ? parse_error->message : "another JSON value");
            return NULL;
          }
        return node ? g_steal_pointer (&node) : take_object (json_object_new ());
      }
    case MTV_FIELD_REFERENCE:
      {
        const char *name = g_variant_get_string (value, NULL);
        if (!mtv_name_validate (name, field->key, error))
          return NULL;
        JsonObject *ref = json_object_new ();
        json_object_set_string_member (ref, "name", name);
        return take_object (ref);
      }
    case MTV_FIELD_NAMESPACED_REFERENCE:
      {
        const char *text = g_variant_get_string (value, NULL);
        g_auto (GStrv) parts = g_strsplit (text, "/", -1);
        if (g_strv_length (parts) != 2)
          {
            g_autofree char *shown = g_strescape (text, NULL);
            invalid (error, "%s: \"%s\" is not of the form namespace/name", field->key, shown);
            return NULL;
          }
        if (!mtv_name_validate (parts[0], field->key, error)
            || !mtv_name_validate (parts[1], field->key, error))
          return NULL;
        JsonObject *ref = json_object_new ();
        json_object_set_string_member (ref, "name", parts[1]);
        json_object_set_string_member (ref, "namespace", parts[0]);
        return take_object (ref);
      }
    case MTV_FIELD_LIST:
      {
        JsonArray *array = json_array_new ();
        g_autoptr (JsonNode) array_node = json_node_init_array (json_node_alloc (), array);
        json_array_unref (array);
        gsize n = g_variant_n_children (value);
        if (n == 0 && (field->flags & MTV_FIELD_NON_EMPTY))
          {
            invalid (error, "%s: must have at least one item", field->key);
            return NULL;
          }
        if (n > bound_of (field))
          {
            invalid (error, "%s: %zu items; at most %zu", field->key, n, bound_of (field));
            return NULL;
          }
        for (gsize i = 0; i < n; i++)
          {
            g_autoptr (GVariant) item = g_variant_get_child_value (value, i);
            if (g_variant_get_size (item) > MTV_SPEC_MAX_ITEM)
              {
                g_autofree char *what = g_strdup_printf ("%s[%zu]", field->key, i);
                too_large (error, what, g_variant_get_size (item), MTV_SPEC_MAX_ITEM);
                return NULL;
              }
            g_autoptr (JsonNode) node = json_gvariant_serialize (item);
            g_autoptr (GError) item_error = NULL;
            JsonObject *object = json_node_get_object (node);
            if (field->check_item && !field->check_item (object, &item_error))
              {
                invalid (error, "%s[%zu]: %s", field->key, i, item_error->message);
                return NULL;
              }
            json_array_add_element (array, g_steal_pointer (&node));
          }
        return g_steal_pointer (&array_node);
      }
    }
  g_assert_not_reached ();
}

JsonObject *
mtv_spec_merge (const MtvField *fields, gsize n_fields, const char *kind_name, JsonObject *base,
                GVariant *changes, const char *const *unset, GError **error)
{
  g_autoptr (JsonObject) spec = base ? mtv_json_object_copy (base) : json_object_new ();
  GVariantIter iter;
  const char *key;
  GVariant *raw;

  g_variant_iter_init (&iter, changes);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &raw))
    {
      g_autoptr (GVariant) value = raw;
      const MtvField *field = find_field (fields, n_fields, key);
      if (field == NULL)
        {
          g_autofree char *known = known_keys (fields, n_fields);
          g_autofree char *shown = g_strescape (key, NULL);
          invalid (error, "\"%s\" is not a field of a %s (known: %s)", shown, kind_name, known);
          return NULL;
        }
      g_autoptr (JsonNode) node = field_to_json (field, value, error);
      if (node == NULL)
        return NULL;
      if (base && (field->flags & MTV_FIELD_IMMUTABLE))
        {
          JsonNode *old = mtv_json_lookup_path (base, field->json_path);
          if (old == NULL || !json_node_equal (old, node))
            {
              invalid (error, "%s: cannot be changed once the %s exists; delete it and create it anew",
                       field->key, kind_name);
              return NULL;
            }
        }
      mtv_json_set_path (spec, field->json_path, g_steal_pointer (&node));
    }

  for (guint i = 0; unset && unset[i]; i++)
    {
      const MtvField *field = find_field (fields, n_fields, unset[i]);
      if (field == NULL)
        {
          g_autofree char *shown = g_strescape (unset[i], NULL);
          invalid (error, "unset: \"%s\" is not a field of a %s", shown, kind_name);
          return NULL;
        }
      if (field->flags & (MTV_FIELD_REQUIRED | MTV_FIELD_IMMUTABLE))
        {
          invalid (error, "unset: %s is required and cannot be removed", field->key);
          return NULL;
        }
      mtv_json_set_path (spec, field->json_path, NULL);
    }

  for (gsize i = 0; i < n_fields; i++)
    {
      const MtvField *field = &fields[i];
      if (mtv_json_lookup_path (spec, field->json_path) != NULL)
        continue;
      if (base == NULL && field->default_value)
        mtv_json_set_path (spec, field->json_path,
                           json_node_init_string (json_node_alloc (), field->default_value));
      else if (field->flags & MTV_FIELD_REQUIRED)
        {
          invalid (error, "%s: is required for a %s", field->key, kind_name);
          return NULL;
        }
    }
  g_autoptr (JsonNode) whole = json_node_init_object (json_node_alloc (), spec);
  gsize size = 0;
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  json_generator_set_root (generator, whole);
  g_free (json_generator_to_data (generator, &size));
  if (size > MTV_SPEC_MAX_BYTES)
    {
      g_autofree char *what = g_strdup_printf ("the %s's spec", kind_name);
      too_large (error, what, size, MTV_SPEC_MAX_BYTES);
      return NULL;
    }
  return g_steal_pointer (&spec);
}

/* The stored JSON of @field as a GVariant of the property's type; an absent
 * value gives the type's empty value. */
static GVariant *
json_to_variant (const MtvField *field, JsonNode *node)
{
  switch (field->type)
    {
    case MTV_FIELD_STRING:
      return g_variant_new_string (node && JSON_NODE_HOLDS_VALUE (node) ? json_node_get_string (node) : "");
    case MTV_FIELD_BOOLEAN:
      return g_variant_new_boolean (node && JSON_NODE_HOLDS_VALUE (node) && json_node_get_boolean (node));
    case MTV_FIELD_INT64:
      return g_variant_new_int64 (node && JSON_NODE_HOLDS_VALUE (node) ? json_node_get_int (node) : 0);
    case MTV_FIELD_REFERENCE:
      {
        const char *name = mtv_reference_name (node);
        return g_variant_new_string (name ? name : "");
      }
    case MTV_FIELD_NAMESPACED_REFERENCE:
      {
        if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
          return g_variant_new_string ("");
        JsonObject *o = json_node_get_object (node);
        g_autofree char *text = g_strdup_printf (
          "%s/%s", json_object_get_string_member_with_default (o, "namespace", ""),
          json_object_get_string_member_with_default (o, "name", ""));
        return g_variant_new_string (text);
      }
    case MTV_FIELD_JSON_OBJECT:
      {
        if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node) || json_object_get_size (json_node_get_object (node)) == 0)
          return g_variant_new_string ("");
        g_autofree char *text = json_to_string (node, FALSE);
        return g_variant_new_string (text);
      }
    case MTV_FIELD_STRING_MAP:
    case MTV_FIELD_LIST:
      {
        const char *sig = signature_of (field->type);
        GVariant *v = node ? json_gvariant_deserialize (node, sig, NULL) : NULL;
        return v ? v : g_variant_new_array (G_VARIANT_TYPE (sig + 1), NULL, 0);
      }
    }
  g_assert_not_reached ();
}

gsize
mtv_spec_properties_size (const MtvField *fields, gsize n_fields, JsonObject *spec)
{
  gsize size = 0;
  for (gsize i = 0; i < n_fields; i++)
    if (!(fields[i].flags & MTV_FIELD_NOT_A_PROPERTY))
      {
        g_autoptr (GVariant) value = g_variant_ref_sink (
          json_to_variant (&fields[i], mtv_json_lookup_path (spec, fields[i].json_path)));
        /* The name, the signature and the framing around the value. */
        size += strlen (fields[i].key) + 16 + g_variant_get_size (value);
      }
  return size;
}

void
mtv_spec_to_properties (const MtvField *fields, gsize n_fields, JsonObject *spec, GObject *iface)
{
  for (gsize i = 0; i < n_fields; i++)
    {
      const MtvField *field = &fields[i];
      if (field->flags & MTV_FIELD_NOT_A_PROPERTY)
        continue;
      g_autofree char *prop = mtv_spec_property_name (field->key);
      GParamSpec *pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (iface), prop);
      /* A field without its property is a programming error the unit tests catch. */
      g_return_if_fail (pspec != NULL);

      g_autoptr (GVariant) value = g_variant_ref_sink (
        json_to_variant (field, mtv_json_lookup_path (spec, field->json_path)));
      g_auto (GValue) gvalue = G_VALUE_INIT;
      if (pspec->value_type == G_TYPE_VARIANT)
        {
          g_value_init (&gvalue, G_TYPE_VARIANT);
          g_value_set_variant (&gvalue, value);
        }
      else
        g_dbus_gvariant_to_gvalue (value, &gvalue);
      g_object_set_property (iface, prop, &gvalue);
    }
}

void
mtv_spec_collect_references (const MtvField *fields, gsize n_fields, JsonObject *spec,
                             GPtrArray *refs)
{
  for (gsize i = 0; i < n_fields; i++)
    if (fields[i].type == MTV_FIELD_REFERENCE)
      {
        const char *name = mtv_reference_name (mtv_json_lookup_path (spec, fields[i].json_path));
        if (name)
          mtv_reference_add (refs, fields[i].ref_kind, name, fields[i].key);
      }
}

gboolean
mtv_spec_check_members (JsonObject *item, const char *const *keys, GError **error)
{
  g_autoptr (GList) members = json_object_get_members (item);
  for (GList *l = members; l; l = l->next)
    if (!g_strv_contains (keys, l->data))
      {
        g_autofree char *known = g_strjoinv (", ", (char **) keys);
        g_autofree char *shown = g_strescape (l->data, NULL);
        return invalid (error, "unknown field \"%s\" (known: %s)", shown, known);
      }
  return TRUE;
}

JsonObject *
mtv_spec_check_string_object (JsonNode *node, const char *what, const char *const *keys,
                              GError **error)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      invalid (error, "%s: expected a dictionary (a{sv})", what);
      return NULL;
    }
  JsonObject *object = json_node_get_object (node);
  g_autoptr (GError) local_error = NULL;
  if (!mtv_spec_check_members (object, keys, &local_error))
    {
      invalid (error, "%s: %s", what, local_error->message);
      return NULL;
    }
  g_autoptr (GList) members = json_object_get_members (object);
  for (GList *l = members; l; l = l->next)
    {
      JsonNode *v = json_object_get_member (object, l->data);
      if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_STRING)
        {
          invalid (error, "%s.%s: expected a string", what, (const char *) l->data);
          return NULL;
        }
    }
  return object;
}

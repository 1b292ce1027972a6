#pragma once
#include <json-glib/json-glib.h>

/* Compact JSON text of an object (for the database and D-Bus replies). */
char *mtv_json_object_to_string (JsonObject *object, gboolean pretty);
/* Parses text that must hold one JSON object; the error names @what. */
JsonObject *mtv_json_object_from_string (const char *text, const char *what, GError **error);
/* A deep copy. */
JsonObject *mtv_json_object_copy (JsonObject *object);
/* A new object with @object's members, their values shared (not copied):
 * set members of the copy freely, change nothing inside them. For
 * objects nobody changes once made (published inventories). */
JsonObject *mtv_json_object_shallow_copy (JsonObject *object);
/* Whether two objects hold the same JSON (member order ignored). */
gboolean mtv_json_object_equal (JsonObject *a, JsonObject *b);
/* What changed from @before to @after (members set, changed or removed)
 * done to @into as well; members nobody changed stay as @into has them. So
 * two writers that each took a copy of @into keep both their changes. */
void mtv_json_object_apply_changes (JsonObject *into, JsonObject *before, JsonObject *after);

/* The value at a dotted path ("provider.source"), or NULL. */
JsonNode *mtv_json_lookup_path (JsonObject *object, const char *path);
/* Sets (or, with a NULL @node, removes) the value at a dotted path, creating
 * intermediate objects and pruning ones left empty. Takes @node. */
void mtv_json_set_path (JsonObject *object, const char *path, JsonNode *node);

/* A member that is a string, or NULL (absent, null or another type); @object may be NULL. */
const char *mtv_json_string (JsonObject *object, const char *name);
/* A member that is an object, or NULL; @object may be NULL. */
JsonObject *mtv_json_object (JsonObject *object, const char *name);
/* A member that is an array, or NULL; @object may be NULL. */
JsonArray *mtv_json_array (JsonObject *object, const char *name);
/* A member that is an integer (a whole JSON number), or @fallback. */
gint64 mtv_json_int (JsonObject *object, const char *name, gint64 fallback);
/* Element @index of @array if it is an object, else NULL; @array may be NULL. */
JsonObject *mtv_json_array_object (JsonArray *array, guint index);
/* The number of elements of @array, 0 for NULL. */
guint mtv_json_array_length (JsonArray *array);
/* A deep copy of @object, or a new empty object when it is NULL. */
JsonObject *mtv_json_copy_or_new (JsonObject *object);

#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include "mtv-names.h"

/* A kind's spec is described by a table of fields. The table drives all three
 * ways a spec travels: the a{sv} a D-Bus caller sends is checked and merged
 * into the stored Forklift-shaped JSON, the JSON becomes typed D-Bus
 * properties, and references between items are found for validation and for
 * refusing to delete what is still in use. */

typedef enum {
  MTV_FIELD_STRING,               /* s      <-> "string" */
  MTV_FIELD_BOOLEAN,              /* b      <-> true/false */
  MTV_FIELD_INT64,                /* x      <-> integer */
  MTV_FIELD_STRING_MAP,           /* a{ss}  <-> {"k": "v"} */
  MTV_FIELD_REFERENCE,            /* s name <-> {"name": name} */
  MTV_FIELD_NAMESPACED_REFERENCE, /* s "namespace/name" <-> {"namespace", "name"} */
  MTV_FIELD_LIST,                 /* aa{sv} <-> [{...}], each item checked by check_item */
  MTV_FIELD_JSON_OBJECT,          /* s JSON text <-> {...} (a Kubernetes object such as an Affinity) */
} MtvFieldType;

typedef enum {
  MTV_FIELD_REQUIRED = 1 << 0,
  MTV_FIELD_IMMUTABLE = 1 << 1,
  MTV_FIELD_NON_EMPTY = 1 << 2,   /* a list must have at least one item, a string given must not be empty */
  /* Too large for a property (every GetManagedObjects reply carries every
   * property of every object): Export has it. */
  MTV_FIELD_NOT_A_PROPERTY = 1 << 3,
} MtvFieldFlags;

/* What a field holds at most, unless its table's max says otherwise: no
 * input may grow mtvd's objects without bound (mtvd(8), LIMITS). */
#define MTV_SPEC_MAX_STRING 4096           /* bytes of a string */
#define MTV_SPEC_MAX_JSON 65536            /* bytes of a JSON object field's text */
#define MTV_SPEC_MAX_MAP_ENTRIES 64        /* entries of a string map */
#define MTV_SPEC_MAX_MAP_KEY 253           /* bytes of a map key (a Kubernetes label key's length) */
#define MTV_SPEC_MAX_LIST 1000             /* items of a list */
#define MTV_SPEC_MAX_ITEM 65536            /* bytes of one list item, as JSON */
#define MTV_SPEC_MAX_BYTES (4 << 20)       /* a whole spec, as JSON */
#define MTV_HOOK_MAX_PLAYBOOK (1 << 20)    /* bytes of a hook's playbook (base64) */
#define MTV_PLAN_MAX_VMS 5000              /* VMs of a plan */
#define MTV_SECRET_MAX_VALUE (1 << 20)     /* bytes of one credential (a CA bundle) */
#define MTV_QUERY_MAX_BYTES 65536          /* bytes of an inventory query */

typedef struct {
  const char *key;                /* the a{sv} key; the D-Bus property is Key */
  const char *json_path;          /* dotted path in the Forklift spec */
  MtvFieldType type;
  MtvFieldFlags flags;
  const char *const *allowed;     /* strings: the accepted values, NULL-terminated */
  const char *default_value;      /* strings: stored at creation when not given */
  MtvKind ref_kind;               /* references: the kind referred to */
  /* Lists: checks and normalises one item (already converted to JSON). The
   * error message is prefixed with "<key>[<index>]: " by the caller. */
  gboolean (*check_item) (JsonObject *item, GError **error);
  /* Strings: an extra check of the value. */
  gboolean (*check_string) (const char *value, GError **error);
  /* Strings and JSON objects: bytes; maps: entries; lists: items. 0: the
   * default MTV_SPEC_MAX_* of the type. */
  gsize max;
} MtvField;

/* An item's reference to another item, found in its spec. */
typedef struct {
  MtvKind kind;
  char *name;
  char *field;                    /* where: "sourceProvider", "vms[2].hooks[0]" */
} MtvReference;

void mtv_reference_free (MtvReference *ref);
void mtv_reference_add (GPtrArray *refs, MtvKind kind, const char *name, const char *field);

/* The JSON form of a reference inside list items ({"name": "x"}) or a plain
 * string: the name, or NULL. */
const char *mtv_reference_name (JsonNode *node);

/* Merges @changes (a{sv}) into a copy of @base (NULL at creation), removes
 * the @unset keys, applies defaults at creation and checks every field.
 * Errors are MTV_ERROR_INVALID and name the field. */
JsonObject *mtv_spec_merge (const MtvField *fields, gsize n_fields, const char *kind_name,
                            JsonObject *base, GVariant *changes, const char *const *unset,
                            GError **error);

/* About how many bytes the properties of @spec take in a D-Bus message. */
gsize mtv_spec_properties_size (const MtvField *fields, gsize n_fields, JsonObject *spec);

/* Sets the kind interface's typed properties from the stored spec. */
void mtv_spec_to_properties (const MtvField *fields, gsize n_fields, JsonObject *spec,
                             GObject *iface);

/* Adds the references held by top-level reference fields to @refs. */
void mtv_spec_collect_references (const MtvField *fields, gsize n_fields, JsonObject *spec,
                                  GPtrArray *refs);

/* "targetNamespace" -> "target-namespace": the GObject property gdbus-codegen
 * generates for the D-Bus property TargetNamespace. */
char *mtv_spec_property_name (const char *key);

/* Checks a value against a DNS-1123 label, naming the field in the error. */
gboolean mtv_spec_check_label (const char *what, const char *value, GError **error);

/* Checks that @node is an object whose members are all among @keys and all
 * strings; returns it or NULL with an error naming @what. */
JsonObject *mtv_spec_check_string_object (JsonNode *node, const char *what,
                                          const char *const *keys, GError **error);

/* Checks that a list item has only the members in @keys. */
gboolean mtv_spec_check_members (JsonObject *item, const char *const *keys, GError **error);

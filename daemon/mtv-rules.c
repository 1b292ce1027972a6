/* Validation rules from *.rules files, evaluated with the query language. */
#include "mtv-rules.h"
#include "tsl.h"
#include "mtv-json.h"

#include <string.h>

typedef enum { SCOPE_VM, SCOPE_EACH, SCOPE_ANY } Scope;

/* "text {expr} text": literal pieces and expressions, alternating. */
typedef struct {
  GPtrArray *literals;  /* n + 1 strings */
  GPtrArray *exprs;     /* n TslNode */
} Template;

typedef struct {
  char *type, *name, *file;
  char *id, *category;
  Template *label, *assessment;
  TslNode *when;
  Scope scope;
  TslPath *list;
} Rule;

struct _MtvRules {
  GPtrArray *rules;     /* Rule, in load order */
  GPtrArray *faults;
};

static const char *const categories[] = { "Critical", "Warning", "Information", "Advisory" };
static const char *const known_keys[] = { "id", "category", "label", "assessment", "when", "each", "any", "enabled" };

static void
template_free (Template *t)
{
  if (t == NULL)
    return;
  g_ptr_array_free (t->literals, TRUE);
  g_ptr_array_free (t->exprs, TRUE);
  g_free (t);
}

static void
rule_free (Rule *r)
{
  g_free (r->type);
  g_free (r->name);
  g_free (r->file);
  g_free (r->id);
  g_free (r->category);
  template_free (r->label);
  template_free (r->assessment);
  tsl_node_free (r->when);
  if (r->list)
    tsl_path_free (r->list);
  g_free (r);
}

static Template *
template_parse (const char *text, GError **error)
{
  Template *t = g_new0 (Template, 1);
  t->literals = g_ptr_array_new_with_free_func (g_free);
  t->exprs = g_ptr_array_new_with_free_func ((GDestroyNotify) tsl_node_free);
  GString *literal = g_string_new (NULL);
  for (const char *p = text; *p; p++)
    {
      if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}'))
        {
          g_string_append_c (literal, *p++);
          continue;
        }
      if (*p != '{')
        {
          g_string_append_c (literal, *p);
          continue;
        }
      const char *end = strchr (p, '}');
      if (end == NULL)
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "'{' without '}' in \"%s\"", text);
          goto fail;
        }
      g_autofree char *expr = g_strndup (p + 1, (gsize) (end - p - 1));
      TslNode *node = tsl_parse (expr, error);
      if (node == NULL)
        goto fail;
      g_ptr_array_add (t->literals, g_string_free (literal, FALSE));
      literal = g_string_new (NULL);
      g_ptr_array_add (t->exprs, node);
      p = end;
    }
  g_ptr_array_add (t->literals, g_string_free (literal, FALSE));
  return t;
fail:
  g_string_free (literal, TRUE);
  template_free (t);
  return NULL;
}

/* ---- loading ------------------------------------------------------------------- */

static void
fault (MtvRules *rules, const char *file, const char *rule, const char *message)
{
  char *text = rule ? g_strdup_printf ("%s: [%s]: %s", file, rule, message) : g_strdup_printf ("%s: %s", file, message);
  g_warning ("validation rules: %s (skipped)", text);
  g_ptr_array_add (rules->faults, text);
}

static gint
find_rule (MtvRules *rules, const char *type, const char *name)
{
  for (guint i = 0; i < rules->rules->len; i++)
    {
      Rule *r = rules->rules->pdata[i];
      if (g_str_equal (r->type, type) && g_str_equal (r->name, name))
        return (gint) i;
    }
  return -1;
}

static Rule *
parse_rule (GKeyFile *kf, const char *group, GError **error)
{
  g_auto (GStrv) keys = g_key_file_get_keys (kf, group, NULL, NULL);
  for (guint i = 0; keys && keys[i]; i++)
    if (!g_strv_contains (known_keys, keys[i]))
      {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND,
                     "unknown key \"%s\" (rules have: id, category, label, assessment, when, each, any, enabled)", keys[i]);
        return NULL;
      }
  g_autoptr (GError) local = NULL;
  g_autofree char *label = NULL, *assessment = NULL, *when = NULL, *list = NULL;
  Rule *r = g_new0 (Rule, 1);
  r->name = g_strdup (group);
  const char *required[] = { "id", "category", "label", "assessment", "when" };
  for (gsize i = 0; i < G_N_ELEMENTS (required); i++)
    if (!g_key_file_has_key (kf, group, required[i], NULL))
      {
        g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND, "no \"%s\"", required[i]);
        goto fail;
      }
  r->id = g_key_file_get_string (kf, group, "id", NULL);
  r->category = g_key_file_get_string (kf, group, "category", NULL);
  if (!g_strv_contains (categories, r->category))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "category \"%s\" is not Critical, Warning, Information or Advisory", r->category);
      goto fail;
    }
  label = g_key_file_get_string (kf, group, "label", NULL);
  assessment = g_key_file_get_string (kf, group, "assessment", NULL);
  /* The condition is read as written: its backslashes are the query's own
   * string escapes ('c:\\' is c:\), not the key file's. */
  when = g_key_file_get_value (kf, group, "when", NULL);
  if (!(r->label = template_parse (label, &local)) || !(r->assessment = template_parse (assessment, &local)))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "label or assessment: %s", local->message);
      goto fail;
    }
  if (!(r->when = tsl_parse (when, &local)))
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "when: %s", local->message);
      goto fail;
    }
  gboolean each = g_key_file_has_key (kf, group, "each", NULL), any = g_key_file_has_key (kf, group, "any", NULL);
  if (each && any)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "\"each\" and \"any\" exclude each other");
      goto fail;
    }
  if (each || any)
    {
      list = g_key_file_get_value (kf, group, each ? "each" : "any", NULL);
      r->scope = each ? SCOPE_EACH : SCOPE_ANY;
      r->list = tsl_path_new (list);
    }
  return r;
fail:
  rule_free (r);
  return NULL;
}

static void
load_file (MtvRules *rules, const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  gsize type_len = strcspn (base, "-.");
  g_autofree char *type = g_strndup (base, type_len);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  if (type_len == 0)
    {
      fault (rules, path, NULL, "the file name must start with a provider type (vsphere.rules, ova-site.rules)");
      return;
    }
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &error))
    {
      fault (rules, path, NULL, error->message);
      return;
    }
  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i]; i++)
    {
      gint at = find_rule (rules, type, groups[i]);
      GError *local = NULL;
      gboolean enabled = !g_key_file_has_key (kf, groups[i], "enabled", NULL)
                         || g_key_file_get_boolean (kf, groups[i], "enabled", &local);
      if (local)
        {
          fault (rules, path, groups[i], local->message);
          g_error_free (local);
          continue;
        }
      if (!enabled)
        {
          if (at >= 0)
            g_ptr_array_remove_index (rules->rules, (guint) at);
          continue;
        }
      Rule *r = parse_rule (kf, groups[i], &local);
      if (r == NULL)
        {
          fault (rules, path, groups[i], local->message);
          g_error_free (local);
          continue;
        }
      r->type = g_strdup (type);
      r->file = g_strdup (path);
      if (at >= 0)
        {
          rule_free (rules->rules->pdata[at]);
          rules->rules->pdata[at] = r;
        }
      else
        g_ptr_array_add (rules->rules, r);
    }
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

MtvRules *
mtv_rules_load (const char *const *dirs)
{
  MtvRules *rules = g_new0 (MtvRules, 1);
  rules->rules = g_ptr_array_new_with_free_func ((GDestroyNotify) rule_free);
  rules->faults = g_ptr_array_new_with_free_func (g_free);
  for (guint d = 0; dirs && dirs[d]; d++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GDir) dir = g_dir_open (dirs[d], 0, &error);
      if (dir == NULL)
        {
          if (!g_error_matches (error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            fault (rules, dirs[d], NULL, error->message);
          continue;
        }
      g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
      const char *name;
      while ((name = g_dir_read_name (dir)))
        if (g_str_has_suffix (name, ".rules") && name[0] != '.')
          g_ptr_array_add (names, g_build_filename (dirs[d], name, NULL));
      g_ptr_array_sort (names, compare_strings);
      for (guint i = 0; i < names->len; i++)
        load_file (rules, names->pdata[i]);
    }
  return rules;
}

void
mtv_rules_free (MtvRules *rules)
{
  if (rules == NULL)
    return;
  g_ptr_array_free (rules->rules, TRUE);
  g_ptr_array_free (rules->faults, TRUE);
  g_free (rules);
}

const GPtrArray *
mtv_rules_faults (MtvRules *rules)
{
  return rules->faults;
}

guint
mtv_rules_count (MtvRules *rules, const char *provider_type)
{
  guint n = 0;
  for (guint i = 0; i < rules->rules->len; i++)
    n += g_str_equal (((Rule *) rules->rules->pdata[i])->type, provider_type);
  return n;
}

/* ---- evaluating ------------------------------------------------------------------ */

typedef struct {
  JsonNode *vm;
  JsonNode *element;   /* with each/any, else NULL */
} RuleScope;

/* vm.FIELD is the VM's; other names are the element's (or the VM's). */
static gboolean
scope_lookup (const TslNode *identifier, TslValue *value, TslArena *arena, gpointer user_data)
{
  RuleScope *s = user_data;
  if (s->element && g_strcmp0 (tsl_path_first_key (identifier->path), "vm") == 0)
    tsl_path_lookup_from (identifier->path, 1, s->vm, value, arena);
  else
    tsl_path_lookup (identifier->path, s->element ? s->element : s->vm, value, arena);
  return TRUE;
}

static void
append_value (GString *out, const TslValue *v)
{
  switch (v->type)
    {
    case TSL_VALUE_NUMBER:
      /* Whole numbers read best in a sentence ("has 3 MB free"). */
      g_string_append_printf (out, "%.0f", v->number);
      break;
    case TSL_VALUE_STRING:
    case TSL_VALUE_TIME:
      g_string_append (out, v->string ? v->string : "");
      break;
    case TSL_VALUE_BOOL:
      g_string_append (out, v->boolean ? "true" : "false");
      break;
    case TSL_VALUE_NULL:
      break;
    default:
      {
        g_autoptr (JsonNode) node = tsl_value_to_json (v);
        g_autofree char *text = json_to_string (node, FALSE);
        g_string_append (out, text);
      }
    }
}

static char *
template_expand (const Template *t, RuleScope *scope, TslArena *arena)
{
  GString *out = g_string_new (t->literals->pdata[0]);
  for (guint i = 0; i < t->exprs->len; i++)
    {
      TslValue v;
      if (tsl_evaluate (t->exprs->pdata[i], scope_lookup, scope, arena, &v, NULL))
        append_value (out, &v);
      g_string_append (out, t->literals->pdata[i + 1]);
    }
  return g_string_free (out, FALSE);
}

static gboolean
holds (const Rule *r, RuleScope *scope, TslArena *arena)
{
  TslValue v;
  /* A condition that cannot be evaluated on this VM (a field of another
   * type than the rule expects) raises nothing. */
  return tsl_evaluate (r->when, scope_lookup, scope, arena, &v, NULL) && tsl_value_truthy (&v);
}

static void
add_concern (JsonArray *concerns, const Rule *r, RuleScope *scope, TslArena *arena)
{
  JsonObject *c = json_object_new ();
  json_object_set_string_member (c, "id", r->id);
  json_object_set_string_member (c, "category", r->category);
  g_autofree char *label = template_expand (r->label, scope, arena);
  g_autofree char *assessment = template_expand (r->assessment, scope, arena);
  json_object_set_string_member (c, "label", label);
  json_object_set_string_member (c, "assessment", assessment);
  json_array_add_object_element (concerns, c);
}

/* The objects of the rule's list in @vm (borrowed from @vm). */
static GPtrArray *
list_elements (const Rule *r, JsonNode *vm)
{
  GPtrArray *elements = g_ptr_array_new ();
  g_autoptr (TslArena) arena = tsl_arena_new ();
  TslValue v;
  tsl_path_lookup (r->list, vm, &v, arena);
  for (guint i = 0; v.type == TSL_VALUE_ARRAY && i < v.n_items; i++)
    if (v.items[i].type == TSL_VALUE_OBJECT)
      g_ptr_array_add (elements, v.items[i].object);
  return elements;
}

static void
evaluate_rule (const Rule *r, JsonNode *vm, JsonArray *concerns, TslArena *arena)
{
  RuleScope scope = { vm, NULL };
  if (r->scope == SCOPE_VM)
    {
      if (holds (r, &scope, arena))
        add_concern (concerns, r, &scope, arena);
      return;
    }
  g_autoptr (GPtrArray) elements = list_elements (r, vm);
  for (guint i = 0; i < elements->len; i++)
    {
      scope.element = elements->pdata[i];
      if (!holds (r, &scope, arena))
        continue;
      add_concern (concerns, r, &scope, arena);
      if (r->scope == SCOPE_ANY)
        return;
    }
}

JsonArray *
mtv_rules_evaluate (MtvRules *rules, const char *provider_type, JsonNode *vm)
{
  JsonArray *concerns = json_array_new ();
  g_autoptr (TslArena) arena = tsl_arena_new ();
  for (guint i = 0; i < rules->rules->len; i++)
    {
      const Rule *r = rules->rules->pdata[i];
      if (!g_str_equal (r->type, provider_type))
        continue;
      tsl_arena_reset (arena);
      evaluate_rule (r, vm, concerns, arena);
    }
  return concerns;
}

JsonArray *
mtv_rules_evaluate_rule (MtvRules *rules, const char *provider_type, const char *name, JsonNode *vm)
{
  gint at = find_rule (rules, provider_type, name);
  if (at < 0)
    return NULL;
  JsonArray *concerns = json_array_new ();
  g_autoptr (TslArena) arena = tsl_arena_new ();
  evaluate_rule (rules->rules->pdata[at], vm, concerns, arena);
  return concerns;
}

GStrv
mtv_rules_names (MtvRules *rules, const char *provider_type)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  for (guint i = 0; i < rules->rules->len; i++)
    {
      Rule *r = rules->rules->pdata[i];
      if (g_str_equal (r->type, provider_type))
        g_strv_builder_add (b, r->name);
    }
  return g_strv_builder_end (b);
}

/* @vm with the rules' concerns added: a copy, or @vm itself when none apply. */
static JsonObject *
apply_to_vm (MtvRules *rules, const char *provider_type, JsonObject *vm)
{
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (node, vm);
  g_autoptr (JsonArray) found = mtv_rules_evaluate (rules, provider_type, node);
  if (json_array_get_length (found) == 0)
    return json_object_ref (vm);
  /* The VM's values shared, its concerns a new list: nothing published changes. */
  JsonObject *o = mtv_json_object_shallow_copy (vm);
  JsonArray *concerns = json_array_new ();
  JsonNode *existing = json_object_get_member (vm, "concerns");
  for (guint k = 0; existing && JSON_NODE_HOLDS_ARRAY (existing) && k < json_array_get_length (json_node_get_array (existing)); k++)
    json_array_add_element (concerns, json_node_copy (json_array_get_element (json_node_get_array (existing), k)));
  for (guint k = 0; k < json_array_get_length (found); k++)
    json_array_add_element (concerns, json_node_copy (json_array_get_element (found, k)));
  json_object_set_array_member (o, "concerns", concerns);
  return o;
}

GHashTable *
mtv_rules_cache_new (void)
{
  return g_hash_table_new_full (g_direct_hash, g_direct_equal, (GDestroyNotify) json_object_unref,
                                (GDestroyNotify) json_object_unref);
}

JsonObject *
mtv_rules_apply_cached (MtvRules *rules, const char *provider_type, JsonObject *inventory, GHashTable **cache)
{
  /* Inventories are not changed once published: without rules to add, the
   * same one serves (no copy of a large inventory on every report). */
  JsonNode *vms = json_object_get_member (inventory, "vms");
  if (mtv_rules_count (rules, provider_type) == 0 || vms == NULL || !JSON_NODE_HOLDS_ARRAY (vms))
    return json_object_ref (inventory);
  /* The other kinds are shared as they are (published inventories are not
   * changed); "vms" is replaced below. */
  JsonObject *result = mtv_json_object_shallow_copy (inventory);
  GHashTable *next = mtv_rules_cache_new ();
  JsonArray *in = json_node_get_array (vms);
  JsonArray *out = json_array_sized_new (json_array_get_length (in));
  for (guint i = 0; i < json_array_get_length (in); i++)
    {
      JsonNode *vm = json_array_get_element (in, i);
      if (!JSON_NODE_HOLDS_OBJECT (vm))
        {
          json_array_add_element (out, json_node_copy (vm));
          continue;
        }
      JsonObject *o = json_node_get_object (vm);
      JsonObject *applied = g_hash_table_lookup (*cache, o);
      applied = applied ? json_object_ref (applied) : apply_to_vm (rules, provider_type, o);
      g_hash_table_replace (next, json_object_ref (o), json_object_ref (applied));
      json_array_add_object_element (out, applied);
    }
  json_object_set_array_member (result, "vms", out);
  g_hash_table_unref (*cache);
  *cache = next;
  return result;
}

JsonObject *
mtv_rules_apply (MtvRules *rules, const char *provider_type, JsonObject *inventory)
{
  g_autoptr (GHashTable) cache = mtv_rules_cache_new ();
  return mtv_rules_apply_cached (rules, provider_type, inventory, &cache);
}

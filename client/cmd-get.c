/* mtvctl get providers|mappings|plans|hooks, describe, delete */
#include "mtv-ctl.h"
#include "mtv-error.h"
#include "mtv-json.h"

#include <stdio.h>
#include <string.h>

GStrv
mtv_ctl_requested_names (int argc, char **argv, const char *name_flag)
{
  GStrvBuilder *b = g_strv_builder_new ();
  if (name_flag)
    g_strv_builder_add (b, name_flag);
  for (int i = 1; i < argc; i++)
    {
      g_auto (GStrv) parts = g_strsplit (argv[i], ",", -1);
      for (guint j = 0; parts[j]; j++)
        if (*parts[j])
          g_strv_builder_add (b, parts[j]);
    }
  GStrv names = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  return names;
}

/* The objects of @kinds, or just the @names of them (NotFound when missing). */
static GList *
select_objects (MtvClient *client, const MtvKind *kinds, guint n_kinds, GStrv names, GError **error)
{
  GList *result = NULL;
  for (guint k = 0; k < n_kinds; k++)
    {
      GList *all = mtv_client_list (client, kinds[k], error);
      if (all == NULL && *error)
        {
          g_list_free_full (result, g_object_unref);
          return NULL;
        }
      result = g_list_concat (result, all);
    }
  if (names[0] == NULL)
    return result;

  GList *chosen = NULL;
  for (guint i = 0; names[i]; i++)
    {
      GList *match = NULL;
      for (GList *l = result; l; l = l->next)
        if (g_strcmp0 (mtv_resource_get_name (mtv_object_peek_resource (l->data)), names[i]) == 0)
          match = l;
      if (match == NULL)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_NOT_FOUND, "%s \"%s\" does not exist",
                       n_kinds == 1 ? mtv_kind_to_string (kinds[0]) : "mapping", names[i]);
          g_list_free_full (chosen, g_object_unref);
          g_list_free_full (result, g_object_unref);
          return NULL;
        }
      chosen = g_list_append (chosen, g_object_ref (match->data));
    }
  g_list_free_full (result, g_object_unref);
  return chosen;
}

static MtvKind
kind_of (MtvObject *object)
{
  MtvKind kind = MTV_KIND_PROVIDER;
  mtv_kind_from_string (mtv_resource_get_kind (mtv_object_peek_resource (object)), &kind);
  return kind;
}

/* -o json|yaml: one resource for one name asked for, else a kubectl-style List. */
static gboolean
print_manifests (MtvClient *client, GList *objects, gboolean single, MtvOutputFormat format,
                 GError **error)
{
  g_autoptr (JsonArray) items = json_array_new ();
  for (GList *l = objects; l; l = l->next)
    {
      MtvResource *r = mtv_object_peek_resource (l->data);
      JsonObject *manifest = mtv_client_export (client, kind_of (l->data), mtv_resource_get_name (r), error);
      if (manifest == NULL)
        return FALSE;
      json_array_add_object_element (items, manifest);
    }
  g_autoptr (JsonNode) node = NULL;
  if (single && json_array_get_length (items) == 1)
    node = json_node_copy (json_array_get_element (items, 0));
  else
    {
      JsonObject *list = json_object_new ();
      json_object_set_string_member (list, "apiVersion", "v1");
      json_object_set_string_member (list, "kind", "List");
      json_object_set_array_member (list, "items", json_array_ref (items));
      node = json_node_init_object (json_node_alloc (), list);
      json_object_unref (list);
    }
  mtv_output_print_node (node, format);
  return TRUE;
}

static const char *
yes_no (gboolean b)
{
  return b ? "true" : "false";
}

static void
add_row (MtvTable *table, MtvObject *object)
{
  MtvResource *r = mtv_object_peek_resource (object);
  g_autofree char *age = mtv_output_age (mtv_resource_get_creation_timestamp (r));
  const char *name = mtv_resource_get_name (r);
  const char *phase = mtv_resource_get_phase (r);

  switch (kind_of (object))
    {
    case MTV_KIND_PROVIDER:
      {
        MtvProvider *p = mtv_object_peek_provider (object);
        mtv_table_add_row (table, name, mtv_provider_get_type_ (p), mtv_provider_get_url (p), phase,
                           yes_no (mtv_provider_get_has_credentials (p)), age);
        break;
      }
    case MTV_KIND_NETWORK_MAP:
    case MTV_KIND_STORAGE_MAP:
      {
        gboolean network = kind_of (object) == MTV_KIND_NETWORK_MAP;
        const char *source = network ? mtv_network_map_get_source_provider (mtv_object_peek_network_map (object))
                                     : mtv_storage_map_get_source_provider (mtv_object_peek_storage_map (object));
        const char *target = network ? mtv_network_map_get_target_provider (mtv_object_peek_network_map (object))
                                     : mtv_storage_map_get_target_provider (mtv_object_peek_storage_map (object));
        GVariant *pairs = network ? mtv_network_map_get_pairs (mtv_object_peek_network_map (object))
                                  : mtv_storage_map_get_pairs (mtv_object_peek_storage_map (object));
        g_autofree char *n = g_strdup_printf ("%zu", pairs ? g_variant_n_children (pairs) : 0);
        mtv_table_add_row (table, name, network ? "network" : "storage", source, target, n, phase, age);
        break;
      }
    case MTV_KIND_PLAN:
      {
        MtvPlan *p = mtv_object_peek_plan (object);
        GVariant *vms = mtv_plan_get_vms (p);
        g_autofree char *n = g_strdup_printf ("%zu", vms ? g_variant_n_children (vms) : 0);
        /* Ready is the condition, which stays True while and after the plan runs. */
        gboolean ready = FALSE;
        GVariantIter iter;
        const char *type, *cstatus;
        GVariant *conditions = mtv_resource_get_conditions (r);
        if (conditions)
          {
            g_variant_iter_init (&iter, conditions);
            while (g_variant_iter_next (&iter, "(&s&s&s&s&s&s)", &type, &cstatus, NULL, NULL, NULL, NULL))
              ready |= g_str_equal (type, "Ready") && g_str_equal (cstatus, "True");
          }
        mtv_table_add_row (table, name, mtv_plan_get_source_provider (p), mtv_plan_get_target_provider (p),
                           mtv_plan_get_type_ (p), n, yes_no (ready), phase, yes_no (mtv_plan_get_archived (p)), age);
        break;
      }
    case MTV_KIND_HOOK:
      {
        MtvHook *h = mtv_object_peek_hook (object);
        g_autofree char *deadline = g_strdup_printf ("%" G_GINT64_FORMAT, mtv_hook_get_deadline (h));
        mtv_table_add_row (table, name, mtv_hook_get_image (h), mtv_hook_get_service_account (h), deadline,
                           phase, age);
        break;
      }
    case MTV_N_KINDS:
      g_assert_not_reached ();
    }
}

static MtvTable *
table_for (MtvKind kind)
{
  switch (kind)
    {
    case MTV_KIND_PROVIDER:
      return mtv_table_new ("NAME", "TYPE", "URL", "STATUS", "CREDENTIALS", "AGE", NULL);
    case MTV_KIND_NETWORK_MAP:
    case MTV_KIND_STORAGE_MAP:
      return mtv_table_new ("NAME", "TYPE", "SOURCE", "TARGET", "PAIRS", "STATUS", "AGE", NULL);
    case MTV_KIND_PLAN:
      return mtv_table_new ("NAME", "SOURCE", "TARGET", "TYPE", "VMS", "READY", "STATUS", "ARCHIVED", "AGE", NULL);
    case MTV_KIND_HOOK:
      return mtv_table_new ("NAME", "IMAGE", "SERVICE-ACCOUNT", "DEADLINE", "STATUS", "AGE", NULL);
    case MTV_N_KINDS:
      break;
    }
  g_assert_not_reached ();
}

static int
run_get (MtvCtl *ctl, int argc, char **argv, const MtvKind *kinds, guint n_kinds, const char *what)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL, *output = NULL;
  g_autofree char *summary = g_strdup_printf ("List %s, or show the named ones.", what);
  MtvOutputFormat format;
  MtvClient *client;

  if (!mtv_ctl_parse ("[NAME[,NAME...]]", summary, &argc, &argv, NULL, &name_flag, &output, &error)
      || !mtv_output_format_parse (output, &format, &error)
      || !(client = mtv_ctl_client (ctl, &error)))
    return mtv_ctl_finish (FALSE, error);

  g_auto (GStrv) names = mtv_ctl_requested_names (argc, argv, name_flag);
  GList *objects = select_objects (client, kinds, n_kinds, names, &error);
  if (error)
    return mtv_ctl_finish (FALSE, error);
  gboolean ok = TRUE;
  if (format != MTV_OUTPUT_TABLE)
    ok = print_manifests (client, objects, g_strv_length (names) == 1, format, &error);
  else if (objects == NULL)
    g_printerr ("No %s found.\n", what);
  else
    {
      g_autoptr (MtvTable) table = table_for (kinds[0]);
      for (GList *l = objects; l; l = l->next)
        add_row (table, l->data);
      mtv_table_print (table);
    }
  g_list_free_full (objects, g_object_unref);
  return mtv_ctl_finish (ok, error);
}

int
mtv_cmd_get_providers (MtvCtl *ctl, int argc, char **argv)
{
  static const MtvKind kinds[] = { MTV_KIND_PROVIDER };
  return run_get (ctl, argc, argv, kinds, 1, "providers");
}

int
mtv_cmd_get_plans (MtvCtl *ctl, int argc, char **argv)
{
  static const MtvKind kinds[] = { MTV_KIND_PLAN };
  return run_get (ctl, argc, argv, kinds, 1, "plans");
}

int
mtv_cmd_get_hooks (MtvCtl *ctl, int argc, char **argv)
{
  static const MtvKind kinds[] = { MTV_KIND_HOOK };
  return run_get (ctl, argc, argv, kinds, 1, "hooks");
}

/* get mappings [network|storage] [NAME] */
int
mtv_cmd_get_mappings (MtvCtl *ctl, int argc, char **argv)
{
  static const MtvKind both[] = { MTV_KIND_NETWORK_MAP, MTV_KIND_STORAGE_MAP };
  const MtvKind *kinds = both;
  guint n = 2;
  if (argc > 1 && g_str_equal (argv[1], "network"))
    kinds = &both[0], n = 1;
  else if (argc > 1 && g_str_equal (argv[1], "storage"))
    kinds = &both[1], n = 1;
  if (n == 1)
    {
      argv[1] = argv[0];
      return run_get (ctl, argc - 1, argv + 1, kinds, n, "mappings");
    }
  return run_get (ctl, argc, argv, kinds, n, "mappings");
}

/* ---- describe ------------------------------------------------------------------ */

static void
describe_value (const char *key, JsonNode *node, int indent)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      printf ("%*s%s:\n", indent, "", key);
      JsonObject *o = json_node_get_object (node);
      g_autoptr (GList) members = json_object_get_members (o);
      for (GList *l = members; l; l = l->next)
        describe_value (l->data, json_object_get_member (o, l->data), indent + 2);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *a = json_node_get_array (node);
      printf ("%*s%s:%s\n", indent, "", key, json_array_get_length (a) ? "" : " (none)");
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          g_autofree char *item = g_strdup_printf ("[%u]", i);
          describe_value (item, json_array_get_element (a, i), indent + 2);
        }
    }
  else
    {
      g_autoptr (JsonGenerator) gen = json_generator_new ();
      json_generator_set_root (gen, node);
      g_autofree char *text = JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING
                                ? g_strdup (json_node_get_string (node))
                                : json_generator_to_data (gen, NULL);
      printf ("%*s%s: %s\n", indent, "", key, text);
    }
}

int
mtv_cmd_describe (MtvCtl *ctl, MtvKind kind, int argc, char **argv)
{
  gboolean watch = FALSE;
  for (int i = 1; i < argc; i++)
    if (kind == MTV_KIND_PLAN && (g_str_equal (argv[i], "--watch") || g_str_equal (argv[i], "-w")))
      {
        watch = TRUE;
        memmove (&argv[i], &argv[i + 1], (size_t) (argc - i) * sizeof (char *));
        argc--, i--;
      }
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL, *output = NULL;
  g_autofree char *summary = g_strdup_printf ("Show a %s in detail.", mtv_kind_to_string (kind));
  MtvOutputFormat format;
  MtvClient *client;
  const char *name;

  if (!mtv_ctl_parse ("NAME", summary, &argc, &argv, NULL, &name_flag, &output, &error)
      || !mtv_output_format_parse (output, &format, &error)
      || !(name = mtv_ctl_single_name (argc, argv, name_flag, mtv_kind_to_string (kind), &error))
      || !(client = mtv_ctl_client (ctl, &error)))
    return mtv_ctl_finish (FALSE, error);

  if (watch)
    return mtv_cmd_watch_plan (ctl, name);
  g_autoptr (JsonObject) manifest = mtv_client_export (client, kind, name, &error);
  if (manifest == NULL)
    return mtv_ctl_finish (FALSE, error);
  if (format != MTV_OUTPUT_TABLE)
    {
      g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), manifest);
      mtv_output_print_node (node, format);
      return 0;
    }

  JsonObject *metadata = json_object_get_object_member (manifest, "metadata");
  JsonObject *status = json_object_get_object_member (manifest, "status");
  printf ("Name:        %s\n", name);
  printf ("Kind:        %s\n", mtv_kind_to_string (kind));
  printf ("UID:         %s\n", json_object_get_string_member_with_default (metadata, "uid", ""));
  printf ("Created:     %s\n", json_object_get_string_member_with_default (metadata, "creationTimestamp", ""));
  printf ("Generation:  %" G_GINT64_FORMAT "\n", json_object_get_int_member_with_default (metadata, "generation", 0));
  printf ("Status:      %s\n", json_object_get_string_member_with_default (status, "phase", ""));
  printf ("\n");
  JsonNode *annotations = json_object_get_member (metadata, "annotations");
  if (annotations)
    describe_value ("Annotations", annotations, 0);
  describe_value ("Spec", json_object_get_member (manifest, "spec"), 0);
  printf ("\nConditions:\n");
  g_autoptr (MtvTable) table = mtv_table_new ("  TYPE", "STATUS", "CATEGORY", "REASON", "MESSAGE", "SINCE", NULL);
  JsonArray *conditions = json_object_get_array_member (status, "conditions");
  for (guint i = 0; conditions && i < json_array_get_length (conditions); i++)
    {
      JsonObject *c = json_array_get_object_element (conditions, i);
      g_autofree char *type = g_strdup_printf ("  %s", json_object_get_string_member_with_default (c, "type", ""));
#define S(k) json_object_get_string_member_with_default (c, k, "")
      mtv_table_add_row (table, type, S ("status"), S ("category"), S ("reason"), S ("message"),
                         S ("lastTransitionTime"));
#undef S
    }
  mtv_table_print (table);
  if (kind == MTV_KIND_PLAN)
    mtv_describe_plan_migrations (client, name, manifest);
  return 0;
}

/* ---- delete -------------------------------------------------------------------- */

int
mtv_cmd_delete (MtvCtl *ctl, MtvKind kind, int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL;
  gboolean all = FALSE;
  MtvClient *client;
  g_autofree char *usage = g_strdup_printf ("NAME[,NAME...] | --all");
  g_autofree char *summary = g_strdup_printf ("Delete %ss.", mtv_kind_to_string (kind));

  /* --all is read here rather than through mtv_ctl_parse's table. */
  for (int i = 1; i < argc; i++)
    if (g_str_equal (argv[i], "--all") || g_str_equal (argv[i], "-A"))
      {
        all = TRUE;
        memmove (&argv[i], &argv[i + 1], (size_t) (argc - i) * sizeof (char *));
        argc--;
        i--;
      }
  if (!mtv_ctl_parse (usage, summary, &argc, &argv, NULL, &name_flag, NULL, &error)
      || !(client = mtv_ctl_client (ctl, &error)))
    return mtv_ctl_finish (FALSE, error);

  g_auto (GStrv) names = mtv_ctl_requested_names (argc, argv, name_flag);
  if (all == (names[0] != NULL))
    {
      g_set_error (&error, MTV_ERROR, MTV_ERROR_INVALID, "give names or --all (one of the two)");
      return mtv_ctl_finish (FALSE, error);
    }
  if (all)
    {
      g_strfreev (names);
      GStrvBuilder *b = g_strv_builder_new ();
      g_autolist (MtvObject) objects = mtv_client_list (client, kind, &error);
      if (error)
        {
          g_strv_builder_unref (b);
          return mtv_ctl_finish (FALSE, error);
        }
      for (GList *l = objects; l; l = l->next)
        g_strv_builder_add (b, mtv_resource_get_name (mtv_object_peek_resource (l->data)));
      names = g_strv_builder_end (b);
      g_strv_builder_unref (b);
    }
  int status = 0;
  for (guint i = 0; names[i]; i++)
    {
      g_autoptr (GError) one = NULL;
      if (mtv_client_delete (client, kind, names[i], &one))
        {
          g_autofree char *kind_lower = g_ascii_strdown (mtv_kind_to_string (kind), -1);
          g_print ("%s/%s deleted\n", kind_lower, names[i]);
        }
      else
        {
          mtv_client_print_error (one);
          status = 1;
        }
    }
  return status;
}

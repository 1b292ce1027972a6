/* mtvctl get inventory KIND PROVIDER [-q QUERY] [-o table|json|yaml|planvms] */
#include "mtv-ctl.h"
#include "mtv-error.h"
#include "mtv-query.h"
#include "mtv-yaml.h"

/* Plural and singular, as kubectl-mtv accepts both. Which a provider has
 * depends on its type; mtvd says so when asked for one it has not. */
static const char *
inventory_kind (const char *word)
{
  static const char *const kinds[][2] = {
    { "vm", "vms" }, { "network", "networks" }, { "storage", "storages" }, { "disk", "disks" },
    { "host", "hosts" }, { "cluster", "clusters" }, { "datastore", "datastores" },
    { "datacenter", "datacenters" }, { "folder", "folders" }, { "namespace", "namespaces" }, { "pvc", "pvcs" },
    { "data-volume", "datavolumes" }, { "datavolume", "datavolumes" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (kinds); i++)
    if (g_strcmp0 (word, kinds[i][0]) == 0 || g_strcmp0 (word, kinds[i][1]) == 0)
      return kinds[i][1];
  return NULL;
}

static const char *
str (JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member (o, key);
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING ? json_node_get_string (n) : "";
}

static char *
num (JsonObject *o, const char *key)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member_with_default (o, key, 0));
}

static guint
count (JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member (o, key);
  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_array_get_length (json_node_get_array (n)) : 0;
}

static void
print_table (const char *kind, JsonArray *items)
{
  g_autoptr (MtvTable) table = NULL;
  if (g_str_equal (kind, "vms"))
    table = mtv_table_new ("NAME", "ID", "CPUS", "MEMORY(MB)", "FIRMWARE", "DISKS", "NICS", "CONCERNS", NULL);
  else if (g_str_equal (kind, "disks"))
    table = mtv_table_new ("NAME", "ID", "CAPACITY", "CONTROLLER", "VM", NULL);
  else
    table = mtv_table_new ("NAME", "ID", NULL);
  for (guint i = 0; i < json_array_get_length (items); i++)
    {
      JsonObject *o = json_array_get_object_element (items, i);
      if (g_str_equal (kind, "vms"))
        {
          g_autofree char *cpus = num (o, "cpuCount"), *mem = num (o, "memoryMB");
          g_autofree char *disks = g_strdup_printf ("%u", count (o, "disks"));
          g_autofree char *nics = g_strdup_printf ("%u", count (o, "nics"));
          g_autofree char *concerns = g_strdup_printf ("%u", count (o, "concerns"));
          mtv_table_add_row (table, str (o, "name"), str (o, "id"), cpus, mem, str (o, "firmware"), disks, nics,
                             concerns);
        }
      else if (g_str_equal (kind, "disks"))
        {
          g_autofree char *capacity = g_format_size_full ((guint64) json_object_get_int_member_with_default (o, "capacity", 0),
                                                          G_FORMAT_SIZE_IEC_UNITS);
          mtv_table_add_row (table, str (o, "name"), str (o, "id"), capacity, str (o, "controller"), str (o, "vm"));
        }
      else
        mtv_table_add_row (table, str (o, "name"), str (o, "id"));
    }
  mtv_table_print (table);
}

/* A cell of a SELECT column: strings as they are, the rest as compact JSON. */
static char *
cell_text (JsonNode *node)
{
  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return g_strdup ("");
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  return json_to_string (node, FALSE);
}

static void
print_columns (const char *const *columns, JsonArray *rows)
{
  guint n = g_strv_length ((char **) columns);
  g_auto (GStrv) headers = g_new0 (char *, n + 1);
  for (guint k = 0; k < n; k++)
    headers[k] = g_utf8_strup (columns[k], -1);
  g_autoptr (MtvTable) table = mtv_table_new_strv ((const char *const *) headers);
  for (guint i = 0; i < json_array_get_length (rows); i++)
    {
      JsonObject *o = json_array_get_object_element (rows, i);
      g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
      for (guint k = 0; k < n; k++)
        g_ptr_array_add (cells, cell_text (json_object_get_member (o, columns[k])));
      g_ptr_array_add (cells, NULL);
      mtv_table_add_row_strv (table, (const char *const *) cells->pdata);
    }
  mtv_table_print (table);
}

/* -o planvms: the rows as Plan spec.vms entries, for `create plan --vms @file`. */
static gboolean
print_planvms (JsonArray *rows, GError **error)
{
  g_autoptr (JsonArray) vms = json_array_new ();
  for (guint i = 0; i < json_array_get_length (rows); i++)
    {
      JsonObject *o = json_array_get_object_element (rows, i);
      const char *id = str (o, "id"), *name = str (o, "name");
      if (!*id && !*name)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                       "-o planvms needs each row's id or name (row %u has neither; SELECT id, name or none)", i);
          return FALSE;
        }
      JsonObject *vm = json_object_new ();
      if (*id)
        json_object_set_string_member (vm, "id", id);
      if (*name)
        json_object_set_string_member (vm, "name", name);
      json_array_add_object_element (vms, vm);
    }
  g_autoptr (JsonNode) node = json_node_init_array (json_node_alloc (), vms);
  mtv_output_print_node (node, MTV_OUTPUT_YAML);
  return TRUE;
}

static const MtvFlag inventory_flags[] = {
  { "provider", 'p', MTV_FLAG_RAW, NULL, "The provider (instead of the positional PROVIDER)", "PROVIDER" },
  { "query", 'q', MTV_FLAG_RAW, NULL,
    "Query: [SELECT f [AS a], ...] [WHERE expr] [GROUP BY f] [ORDER BY f [DESC]] [LIMIT n]; "
    "a bare expression is a WHERE (see mtvctl(1), QUERIES)", "QUERY" },
};

static gboolean
list_inventory (MtvCtl *ctl, MtvFlagValues *values, const char *name_flag, const char *output, int argc, char **argv,
                GError **error)
{
  MtvOutputFormat format = MTV_OUTPUT_TABLE;
  MtvClient *client;
  gboolean planvms = g_strcmp0 (output, "planvms") == 0;
  if (!planvms && !mtv_output_format_parse (output, &format, error))
    return FALSE;
  const char *kind = argc > 1 ? inventory_kind (argv[1]) : NULL;
  if (kind == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "say what to list: vms, networks, storages, disks, hosts, clusters, datastores, "
                   "folders, datacenters, namespaces, pvcs or datavolumes");
      return FALSE;
    }
  if (planvms && !g_str_equal (kind, "vms"))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "-o planvms lists VMs: use it with get inventory vms");
      return FALSE;
    }
  const char *provider_flag = g_hash_table_lookup (values->raw, "provider");
  const char *query_text = g_hash_table_lookup (values->raw, "query");
  const char *provider = mtv_ctl_single_name (argc - 1, argv + 1, name_flag ? name_flag : provider_flag, "provider",
                                              error);
  if (provider == NULL)
    return FALSE;
  /* A query that does not parse is refused here, with the message mtvd would give. */
  g_autoptr (MtvQuery) query = NULL;
  if (query_text && (query = mtv_query_parse (query_text, error)) == NULL)
    {
      g_prefix_error (error, "-q: ");
      return FALSE;
    }
  if (!(client = mtv_ctl_client (ctl, error)))
    return FALSE;

  guint64 revision = 0;
  g_autoptr (JsonArray) rows = query_text ? mtv_client_query_inventory (client, provider, kind, query_text, &revision,
                                                                       error)
                                          : mtv_client_get_inventory (client, provider, kind, &revision, error);
  if (rows == NULL)
    return FALSE;
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_ARRAY);
  json_node_set_array (root, rows);
  g_auto (GStrv) columns = query ? mtv_query_columns (query) : NULL;
  if (planvms)
    return print_planvms (rows, error);
  if (format != MTV_OUTPUT_TABLE)
    mtv_output_print_node (root, format);
  else if (json_array_get_length (rows) == 0)
    g_printerr ("No %s in provider %s%s.\n", kind, provider, query ? " match the query" : "");
  else if (columns)
    print_columns ((const char *const *) columns, rows);
  else
    print_table (kind, rows);
  return TRUE;
}

int
mtv_cmd_get_inventory (MtvCtl *ctl, int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL, *output = NULL;
  MtvFlagValues values;
  mtv_flag_values_init (&values, inventory_flags, G_N_ELEMENTS (inventory_flags));
  gboolean ok = mtv_ctl_parse ("KIND PROVIDER",
                               "List a provider's inventory, all of it or what a query selects. KIND: vms, networks, "
                               "storages, disks, hosts, clusters, datastores, ... (what the provider's type has).\n"
                               "-o also takes planvms: the VMs as a list for `create plan --vms @FILE`.",
                               &argc, &argv, &values, &name_flag, &output, &error)
                && list_inventory (ctl, &values, name_flag, output, argc, argv, &error);
  mtv_flag_values_clear (&values);
  return mtv_ctl_finish (ok, error);
}

/* mtvctl get inventory vms|networks|storages|disks PROVIDER */
#include "mtv-ctl.h"
#include "mtv-error.h"

/* Plural and singular, as kubectl-mtv accepts both. */
static const char *
inventory_kind (const char *word)
{
  static const char *const kinds[][2] = {
    { "vm", "vms" }, { "network", "networks" }, { "storage", "storages" }, { "disk", "disks" },
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

int
mtv_cmd_get_inventory (MtvCtl *ctl, int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *provider_flag = NULL, *output = NULL;
  MtvOutputFormat format;
  MtvClient *client;

  /* -p/--provider is kubectl-mtv's spelling; mtv_ctl_parse's -M means the same. */
  if (!mtv_ctl_parse ("vms|networks|storages|disks PROVIDER",
                      "List a provider's inventory: VMs, networks, storages or disks.", &argc, &argv, NULL,
                      &provider_flag, &output, &error)
      || !mtv_output_format_parse (output, &format, &error))
    return mtv_ctl_finish (FALSE, error);
  const char *kind = argc > 1 ? inventory_kind (argv[1]) : NULL;
  if (kind == NULL)
    {
      g_set_error (&error, MTV_ERROR, MTV_ERROR_INVALID, "say what to list: vms, networks, storages or disks");
      return mtv_ctl_finish (FALSE, error);
    }
  const char *provider = mtv_ctl_single_name (argc - 1, argv + 1, provider_flag, "provider", &error);
  if (provider == NULL || !(client = mtv_ctl_client (ctl, &error)))
    return mtv_ctl_finish (FALSE, error);

  guint64 revision = 0;
  g_autofree char *text = mtv_client_get_inventory (client, provider, kind, &revision, &error);
  if (text == NULL)
    return mtv_ctl_finish (FALSE, error);
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, -1, &error))
    return mtv_ctl_finish (FALSE, error);
  JsonNode *root = json_parser_get_root (parser);
  if (format != MTV_OUTPUT_TABLE)
    mtv_output_print_node (root, format);
  else if (json_array_get_length (json_node_get_array (root)) == 0)
    g_printerr ("No %s in provider %s.\n", kind, provider);
  else
    print_table (kind, json_node_get_array (root));
  return 0;
}

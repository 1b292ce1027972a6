/* Inventory query speed: 10,000 VM documents shaped like a vSphere inventory,
 * each query run --runs times; prints the median and best in milliseconds
 * beside the same filter written as a plain C loop over the JSON (the floor
 * for any interpreter over these documents). Not a test: asserts nothing.
 *
 *   build/bench/query-bench [--vms N] [--runs N] */
#include "mtv-query.h"

#include <stdlib.h>
#include <string.h>

static JsonArray *
make_inventory (guint n)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (42);
  JsonArray *vms = json_array_sized_new (n);
  static const char *const states[] = { "poweredOn", "poweredOff", "suspended" };
  static const char *const oses[] = { "rhel9_64Guest", "windows2019srv_64Guest", "debian12_64Guest", "ubuntu64Guest" };
  for (guint i = 0; i < n; i++)
    {
      JsonObject *vm = json_object_new ();
      g_autofree char *name = g_strdup_printf ("%s-%05u", i % 3 ? "web" : "db", i);
      g_autofree char *id = g_strdup_printf ("vm-%u", 1000 + i);
      json_object_set_string_member (vm, "id", id);
      json_object_set_string_member (vm, "name", name);
      json_object_set_string_member (vm, "powerState", states[g_rand_int_range (rand, 0, 3)]);
      json_object_set_string_member (vm, "guestId", oses[g_rand_int_range (rand, 0, 4)]);
      json_object_set_int_member (vm, "cpuCount", 1 << g_rand_int_range (rand, 0, 6));
      json_object_set_int_member (vm, "memoryMB", 1024 * (1 << g_rand_int_range (rand, 0, 7)));
      json_object_set_boolean_member (vm, "changeTrackingEnabled", g_rand_boolean (rand));
      json_object_set_string_member (vm, "firmware", g_rand_boolean (rand) ? "efi" : "bios");
      JsonArray *disks = json_array_new ();
      for (int d = g_rand_int_range (rand, 1, 4); d > 0; d--)
        {
          JsonObject *disk = json_object_new ();
          json_object_set_int_member (disk, "capacity", (gint64) g_rand_int_range (rand, 1, 2048) << 30);
          json_object_set_string_member (disk, "datastore", g_rand_boolean (rand) ? "ds-1" : "ds-2");
          json_object_set_boolean_member (disk, "shared", g_rand_int_range (rand, 0, 50) == 0);
          json_array_add_object_element (disks, disk);
        }
      json_object_set_array_member (vm, "disks", disks);
      JsonArray *concerns = json_array_new ();
      json_object_set_array_member (vm, "concerns", concerns);
      json_array_add_object_element (vms, vm);
    }
  return vms;
}

static int
compare_doubles (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static void
report (const char *what, double *times, int runs, guint rows)
{
  qsort (times, (size_t) runs, sizeof *times, compare_doubles);
  g_print ("%-78s %8.2f %8.2f %7u\n", what, times[runs / 2], times[0], rows);
}

/* The first query as a hand-written loop: what no query engine can beat. */
static guint
plain_loop (JsonArray *vms)
{
  guint kept = 0;
  for (guint i = 0; i < json_array_get_length (vms); i++)
    {
      JsonObject *vm = json_array_get_object_element (vms, i);
      if (json_object_get_int_member (vm, "cpuCount") > 4
          && strcmp (json_object_get_string_member (vm, "powerState"), "poweredOn") == 0)
        kept++;
    }
  return kept;
}

int
main (int argc, char **argv)
{
  int n_vms = 10000, runs = 50;
  GOptionEntry entries[] = {
    { "vms", 0, 0, G_OPTION_ARG_INT, &n_vms, "VM documents (default 10000)", "N" },
    { "runs", 0, 0, G_OPTION_ARG_INT, &runs, "Runs per query (default 50)", "N" },
    G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- inventory query speed");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error) || n_vms < 1 || runs < 1)
    {
      g_printerr ("%s\n", error ? error->message : "--vms and --runs must be positive");
      return 2;
    }
  g_autoptr (JsonArray) vms = make_inventory ((guint) n_vms);
  static const char *const queries[] = {
    "cpuCount > 4 and powerState = 'poweredOn'",
    "name like 'db-%' or guestId ~= '^windows'",
    "any(disks[*].capacity > 1Ti) and not changeTrackingEnabled",
    "sum(disks[*].capacity) between 500Gi and 2Ti and firmware in ['efi']",
    "any(disks[*].shared) or len(concerns) > 0",
    "SELECT name, cpuCount, memoryMB WHERE memoryMB >= 16Gi / 1Mi ORDER BY memoryMB DESC, name LIMIT 20",
    "SELECT powerState, count(*) AS vms, sum(memoryMB) AS mem, avg(cpuCount) AS cpus GROUP BY powerState",
  };
  g_autofree double *times = g_new (double, runs);
  g_print ("%u VM documents, %d runs each; milliseconds\n\n", n_vms, runs);
  g_print ("%-78s %8s %8s %7s\n", "query", "median", "best", "rows");
  guint rows = 0;
  for (int r = 0; r < runs; r++)
    {
      gint64 t = g_get_monotonic_time ();
      rows = plain_loop (vms);
      times[r] = (g_get_monotonic_time () - t) / 1000.0;
    }
  report ("[plain C loop] cpuCount > 4 and powerState = 'poweredOn'", times, runs, rows);
  for (gsize q = 0; q < G_N_ELEMENTS (queries); q++)
    {
      g_autoptr (MtvQuery) query = mtv_query_parse (queries[q], &error);
      if (query == NULL)
        {
          g_printerr ("%s: %s\n", queries[q], error->message);
          return 1;
        }
      for (int r = 0; r < runs; r++)
        {
          gint64 t = g_get_monotonic_time ();
          g_autoptr (JsonArray) result = mtv_query_run (query, vms, &error);
          times[r] = (g_get_monotonic_time () - t) / 1000.0;
          rows = json_array_get_length (result);
        }
      report (queries[q], times, runs, rows);
    }
  /* What QueryInventory adds on top: the rows as JSON text for the reply. */
  g_autoptr (MtvQuery) query = mtv_query_parse (queries[0], NULL);
  for (int r = 0; r < runs; r++)
    {
      gint64 t = g_get_monotonic_time ();
      g_autoptr (JsonArray) result = mtv_query_run (query, vms, NULL);
      g_autoptr (JsonNode) node = json_node_init_array (json_node_alloc (), result);
      g_free (json_to_string (node, FALSE));
      times[r] = (g_get_monotonic_time () - t) / 1000.0;
      rows = json_array_get_length (result);
    }
  report ("[with the reply's JSON text] query 1", times, runs, rows);
  return 0;
}

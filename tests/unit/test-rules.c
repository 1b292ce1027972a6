/* The shipped validation rules against their cases (tests/rules/TYPE.json:
 * for every rule a VM that must raise its concern and one that must not, as
 * Forklift's *_test.rego files have), and the rule engine's handling of
 * drop-ins and broken files. Usage: test-rules RULES-DIR CASES-DIR */
#include "mtv-rules.h"

#include <glib/gstdio.h>
#include <string.h>

static const char *rules_dir, *cases_dir;
static const char *const types[] = { "ova", "vsphere", "ovirt", "openstack", "hyperv" };

static gboolean
raises (JsonArray *concerns, const char *id)
{
  for (guint i = 0; i < json_array_get_length (concerns); i++)
    if (g_strcmp0 (json_object_get_string_member (json_array_get_object_element (concerns, i), "id"), id) == 0)
      return TRUE;
  return FALSE;
}

static void
test_shipped_rules (void)
{
  const char *dirs[] = { rules_dir, NULL };
  g_autoptr (MtvRules) rules = mtv_rules_load (dirs);
  /* Every shipped rule loads. */
  for (guint i = 0; i < mtv_rules_faults (rules)->len; i++)
    g_printerr ("fault: %s\n", (char *) mtv_rules_faults (rules)->pdata[i]);
  g_assert_cmpuint (mtv_rules_faults (rules)->len, ==, 0);
  guint total = 0;
  for (gsize t = 0; t < G_N_ELEMENTS (types); t++)
    {
      g_autofree char *path = g_strdup_printf ("%s/%s.json", cases_dir, types[t]);
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GError) error = NULL;
      if (!json_parser_load_from_file (parser, path, &error))
        g_error ("%s", error->message);
      JsonObject *cases = json_node_get_object (json_parser_get_root (parser));
      g_auto (GStrv) names = mtv_rules_names (rules, types[t]);
      total += g_strv_length (names);
      for (guint i = 0; names[i]; i++)
        {
          if (!json_object_has_member (cases, names[i]))
            g_error ("%s rule %s has no test cases in %s", types[t], names[i], path);
          JsonObject *c = json_object_get_object_member (cases, names[i]);
          g_autoptr (JsonArray) yes = mtv_rules_evaluate_rule (rules, types[t], names[i], json_object_get_member (c, "positive"));
          g_autoptr (JsonArray) no = mtv_rules_evaluate_rule (rules, types[t], names[i], json_object_get_member (c, "negative"));
          if (json_array_get_length (yes) == 0)
            g_error ("%s rule %s: the positive case raises nothing", types[t], names[i]);
          if (json_array_get_length (no) != 0)
            g_error ("%s rule %s: the negative case raises %s", types[t], names[i],
                     json_object_get_string_member (json_array_get_object_element (no, 0), "label"));
          JsonObject *concern = json_array_get_object_element (yes, 0);
          g_assert_true (g_str_has_prefix (json_object_get_string_member (concern, "id"),
                                           g_str_equal (types[t], "vsphere") ? "vmware." : types[t]));
          const char *fields[] = { "label", "assessment" };
          for (gsize f = 0; f < G_N_ELEMENTS (fields); f++)
            if (json_object_has_member (c, fields[f]))
              g_assert_cmpstr (json_object_get_string_member (concern, fields[f]), ==,
                               json_object_get_string_member (c, fields[f]));
        }
      /* No case for a rule that does not exist (a renamed rule). */
      g_autoptr (GList) members = json_object_get_members (cases);
      for (GList *l = members; l; l = l->next)
        if (!g_strv_contains ((const char *const *) names, l->data))
          g_error ("%s: case %s names no rule", path, (char *) l->data);
    }
  /* Forklift's 101 policies; three are split in two or four rules here. */
  g_assert_cmpuint (total, ==, 105);
}

static char *
write_file (const char *dir, const char *name, const char *text)
{
  char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  return path;
}

static JsonNode *
vm (const char *json)
{
  JsonNode *node = json_from_string (json, NULL);
  g_assert_nonnull (node);
  return node;
}

static void
test_drop_ins_and_faults (void)
{
  g_autofree char *tmp = g_dir_make_tmp ("mtv-rules-XXXXXX", NULL);
  g_autofree char *shipped = g_build_filename (tmp, "shipped", NULL);
  g_autofree char *dropins = g_build_filename (tmp, "rules.d", NULL);
  g_mkdir (shipped, 0755);
  g_mkdir (dropins, 0755);
  g_free (write_file (shipped, "ova.rules",
                      "[big]\nid=ova.big\ncategory=Warning\nlabel=Big: {memoryMB} MB\nassessment=a\nwhen=memoryMB > 4096\n"
                      "[many]\nid=ova.many\ncategory=Information\nlabel=l\nassessment=a\nwhen=len(disks) > 1\n"));
  /* A drop-in: replaces one rule, disables another, adds one with each=. */
  g_free (write_file (dropins, "ova-site.rules",
                      "[big]\nid=ova.big\ncategory=Critical\nlabel=Too big\nassessment=a\nwhen=memoryMB > 8192\n"
                      "[many]\nenabled=false\n"
                      "[thin]\nid=ova.thin\ncategory=Advisory\nlabel=Disk {name} of {vm.name} is thin\nassessment=a\n"
                      "each=disks\nwhen=thin = true\n"));
  /* Broken files and rules: reported and skipped, the rest still loads. */
  g_free (write_file (dropins, "ova-broken.rules", "[x\nid=1\n"));
  g_free (write_file (dropins, "ova-bad-rules.rules",
                      "[nocond]\nid=a\ncategory=Warning\nlabel=l\nassessment=a\n"
                      "[badcat]\nid=a\ncategory=Fatal\nlabel=l\nassessment=a\nwhen=true\n"
                      "[badwhen]\nid=a\ncategory=Warning\nlabel=l\nassessment=a\nwhen=cpuCount >\n"
                      "[typo]\nid=a\ncategory=Warning\nlabel=l\nassessment=a\nwehn=true\nwhen=true\n"
                      "[badlabel]\nid=a\ncategory=Warning\nlabel=l {len(\nassessment=a\nwhen=true\n"
                      "[both]\nid=a\ncategory=Warning\nlabel=l\nassessment=a\nwhen=true\neach=disks\nany=disks\n"));
  g_free (write_file (dropins, "ova-binary.rules", "\xff\xfe\x00garbage"));
  const char *dirs[] = { shipped, dropins, NULL };
  g_autoptr (MtvRules) rules = mtv_rules_load (dirs);
  const GPtrArray *faults = mtv_rules_faults (rules);
  g_autofree char *all = NULL;
  {
    g_autoptr (GString) s = g_string_new (NULL);
    for (guint i = 0; i < faults->len; i++)
      g_string_append_printf (s, "%s\n", (char *) faults->pdata[i]);
    all = g_string_free (g_steal_pointer (&s), FALSE);
  }
  const char *expected[] = { "ova-broken.rules", "[nocond]: no \"when\"", "[badcat]: category \"Fatal\"",
                             "[badwhen]: when: syntax error", "[typo]: unknown key \"wehn\"", "[badlabel]: label",
                             "[both]: \"each\" and \"any\"", "ova-binary.rules" };
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    if (strstr (all, expected[i]) == NULL)
      g_error ("want a fault with '%s' in:\n%s", expected[i], all);
  g_assert_cmpuint (mtv_rules_count (rules, "ova"), ==, 2);

  g_autoptr (JsonNode) doc = vm ("{\"name\": \"db\", \"memoryMB\": 16384, \"disks\": [{\"name\": \"a\", \"thin\": true},"
                                 " {\"name\": \"b\", \"thin\": false}, {\"name\": \"c\", \"thin\": true}]}");
  g_autoptr (JsonArray) concerns = mtv_rules_evaluate (rules, "ova", doc);
  g_assert_cmpuint (json_array_get_length (concerns), ==, 3);
  g_assert_true (raises (concerns, "ova.big") && !raises (concerns, "ova.many"));
  JsonObject *big = json_array_get_object_element (concerns, 0);
  g_assert_cmpstr (json_object_get_string_member (big, "category"), ==, "Critical");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (concerns, 1), "label"), ==,
                   "Disk a of db is thin");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (concerns, 2), "label"), ==,
                   "Disk c of db is thin");

  /* apply: a copy with the concerns added after the backend's own. */
  g_autoptr (JsonNode) inv = vm ("{\"vms\": [{\"name\": \"db\", \"memoryMB\": 16384, \"concerns\": [{\"id\": \"own\"}]},"
                                 " {\"name\": \"small\", \"memoryMB\": 512}], \"networks\": []}");
  g_autoptr (JsonObject) applied = mtv_rules_apply (rules, "ova", json_node_get_object (inv));
  JsonArray *vms = json_object_get_array_member (applied, "vms");
  JsonArray *first = json_object_get_array_member (json_array_get_object_element (vms, 0), "concerns");
  g_assert_cmpuint (json_array_get_length (first), ==, 2);
  g_assert_true (raises (first, "own") && raises (first, "ova.big"));
  g_assert_false (json_object_has_member (json_array_get_object_element (vms, 1), "concerns"));
  /* The input is left alone. */
  JsonArray *orig = json_object_get_array_member (json_array_get_object_element (
      json_object_get_array_member (json_node_get_object (inv), "vms"), 0), "concerns");
  g_assert_cmpuint (json_array_get_length (orig), ==, 1);
  /* Rules of other types do not apply. */
  g_autoptr (JsonArray) none = mtv_rules_evaluate (rules, "vsphere", doc);
  g_assert_cmpuint (json_array_get_length (none), ==, 0);
  /* A missing directory is no fault (no drop-ins yet). */
  const char *missing[] = { "/nonexistent/rules.d", NULL };
  g_autoptr (MtvRules) empty = mtv_rules_load (missing);
  g_assert_cmpuint (mtv_rules_faults (empty)->len, ==, 0);
  g_autofree char *rm = g_strdup_printf ("rm -rf %s", tmp);
  g_assert_cmpint (system (rm), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL);
  if (argc < 3)
    g_error ("usage: test-rules RULES-DIR CASES-DIR");
  rules_dir = argv[1];
  cases_dir = argv[2];
  g_test_add_func ("/rules/shipped", test_shipped_rules);
  g_test_add_func ("/rules/drop-ins-and-faults", test_drop_ins_and_faults);
  return g_test_run ();
}

/* The per-kind field tables, their D-Bus properties and the spec merge. */
#include "mtv-daemon.h"
#include "mtv-error.h"
#include "mtv-item.h"
#include "mtv-json.h"

#include <string.h>

/* Every field of every kind must have the property gdbus-codegen made for it,
 * of the matching type, or mtvd would drop it silently; one too large for a
 * property must have none. */
static void
test_fields_have_properties (void)
{
  for (MtvKind k = 0; k < MTV_N_KINDS; k++)
    {
      const MtvKindInfo *info = mtv_kind_info (k);
      g_autoptr (GObject) iface = g_object_new (info->skeleton_type (), NULL);
      GDBusInterfaceInfo *dbus_info = g_dbus_interface_skeleton_get_info (G_DBUS_INTERFACE_SKELETON (iface));
      for (gsize i = 0; i < info->n_fields; i++)
        {
          g_autofree char *prop = mtv_spec_property_name (info->fields[i].key);
          g_autofree char *dbus_name = g_strdup (info->fields[i].key);
          dbus_name[0] = g_ascii_toupper (dbus_name[0]);
          GDBusPropertyInfo *p = g_dbus_interface_info_lookup_property (dbus_info, dbus_name);
          if (info->fields[i].flags & MTV_FIELD_NOT_A_PROPERTY)
            {
              g_assert_null (g_object_class_find_property (G_OBJECT_GET_CLASS (iface), prop));
              g_assert_null (p);
              continue;
            }
          g_assert_nonnull (g_object_class_find_property (G_OBJECT_GET_CLASS (iface), prop));
          g_assert_nonnull (p);
        }
    }
}

static void
test_property_names (void)
{
  g_autofree char *a = mtv_spec_property_name ("targetNamespace");
  g_autofree char *b = mtv_spec_property_name ("preserveStaticIPs");
  g_autofree char *c = mtv_spec_property_name ("type");
  g_assert_cmpstr (a, ==, "target-namespace");
  g_assert_cmpstr (b, ==, "preserve-static-ips");
  g_assert_cmpstr (c, ==, "type");
}

static JsonObject *
merge (MtvKind kind, JsonObject *base, const char *spec_text, const char *const *unset, GError **error)
{
  const MtvKindInfo *info = mtv_kind_info (kind);
  g_autoptr (GVariant) spec = g_variant_ref_sink (g_variant_new_parsed (spec_text));
  return mtv_spec_merge (info->fields, info->n_fields, mtv_kind_to_string (kind), base, spec, unset, error);
}

static void
test_merge_plan (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) spec = merge (MTV_KIND_PLAN, NULL,
    "{'sourceProvider': <'a'>, 'targetProvider': <'b'>, 'networkMap': <'n'>, 'storageMap': <'s'>,"
    " 'vms': <[{'name': <'vm1'>, 'hooks': <[{'hook': <'h'>, 'step': <'PreHook'>}]>}]>,"
    " 'transferNetwork': <'ns/nad'>, 'targetLabels': <{'a': 'b'}>}", NULL, &error);
  g_assert_no_error (error);
  g_autofree char *text = mtv_json_object_to_string (spec, FALSE);
  /* Forklift's shape: references as objects, defaults filled. */
  g_assert_nonnull (strstr (text, "\"provider\":{\"source\":{\"name\":\"a\"},\"destination\":{\"name\":\"b\"}}"));
  g_assert_nonnull (strstr (text, "\"map\":{\"network\":{\"name\":\"n\"},\"storage\":{\"name\":\"s\"}}"));
  g_assert_nonnull (strstr (text, "\"hooks\":[{\"hook\":{\"name\":\"h\"},\"step\":\"PreHook\"}]"));
  g_assert_nonnull (strstr (text, "\"transferNetwork\":{\"name\":\"nad\",\"namespace\":\"ns\"}"));
  g_assert_nonnull (strstr (text, "\"type\":\"cold\""));
  g_assert_nonnull (strstr (text, "\"targetNamespace\":\"default\""));

  /* Update: keys not given stay; unset removes; required stays required. */
  const char *const unset[] = { "targetLabels", NULL };
  g_autoptr (JsonObject) updated = merge (MTV_KIND_PLAN, spec, "{'type': <'warm'>}", unset, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (updated, "type"), ==, "warm");
  g_assert_false (json_object_has_member (updated, "targetLabels"));
  g_assert_true (json_object_has_member (updated, "vms"));
  /* The base is not modified. */
  g_assert_true (json_object_has_member (spec, "targetLabels"));

  const char *const unset_required[] = { "vms", NULL };
  g_autoptr (JsonObject) bad = merge (MTV_KIND_PLAN, spec, "@a{sv} {}", unset_required, &error);
  g_assert_null (bad);
  g_assert_error (error, MTV_ERROR, MTV_ERROR_INVALID);
}

static void
test_properties_from_spec (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) spec = merge (MTV_KIND_PLAN, NULL,
    "{'sourceProvider': <'a'>, 'targetProvider': <'b'>, 'networkMap': <'n'>, 'storageMap': <'s'>,"
    " 'vms': <[{'id': <'vm-1'>}]>, 'preserveStaticIPs': <true>, 'transferNetwork': <'ns/nad'>}", NULL, &error);
  g_assert_no_error (error);
  g_autoptr (MtvPlan) plan = MTV_PLAN (mtv_plan_skeleton_new ());
  mtv_spec_to_properties (mtv_kind_info (MTV_KIND_PLAN)->fields, mtv_kind_info (MTV_KIND_PLAN)->n_fields,
                          spec, G_OBJECT (plan));
  g_assert_cmpstr (mtv_plan_get_source_provider (plan), ==, "a");
  g_assert_cmpstr (mtv_plan_get_network_map (plan), ==, "n");
  g_assert_cmpstr (mtv_plan_get_type_ (plan), ==, "cold");
  g_assert_cmpstr (mtv_plan_get_transfer_network (plan), ==, "ns/nad");
  g_assert_true (mtv_plan_get_preserve_static_ips (plan));
  g_assert_false (mtv_plan_get_archived (plan));
  g_assert_cmpuint (g_variant_n_children (mtv_plan_get_vms (plan)), ==, 1);
  g_assert_cmpuint (g_variant_n_children (mtv_plan_get_target_labels (plan)), ==, 0);
}

static void
test_names (void)
{
  static const struct {
    const char *name;
    gboolean ok;
  } cases[] = {
    { "a", TRUE }, { "web-1", TRUE }, { "0abc", TRUE }, { "x23456789012345678901234567890123456789012345678901234567890123", TRUE },
    { "", FALSE }, { "-a", FALSE }, { "a-", FALSE }, { "A", FALSE }, { "a_b", FALSE }, { "a.b", FALSE },
    { "a b", FALSE }, { "é", FALSE }, { "x234567890123456789012345678901234567890123456789012345678901234", FALSE },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      gboolean ok = mtv_name_validate (cases[i].name, "name", &error);
      g_assert_cmpint (ok, ==, cases[i].ok);
      if (!ok)
        g_assert_error (error, MTV_ERROR, MTV_ERROR_INVALID);
    }
  g_autofree char *path = mtv_object_path_for (MTV_KIND_PLAN, "web-1");
  g_assert_true (g_variant_is_object_path (path));
  g_assert_cmpstr (path, ==, "/org/mtvd/Mtv1/plans/web_2d1");
}

/* Two writers that each took a copy of one object (jobs for two disks of
 * a VM, with its session) keep both their changes, and a removal. */
static void
test_apply_changes (void)
{
  g_autoptr (JsonObject) into = mtv_json_object_from_string ("{\"a\": 1, \"b\": {\"x\": 1}, \"gone\": true}",
                                                             "t", NULL);
  g_autoptr (JsonObject) before = mtv_json_object_copy (into);
  g_autoptr (JsonObject) one = mtv_json_object_copy (into), two = mtv_json_object_copy (into);
  json_object_set_int_member (one, "a", 2);
  json_object_remove_member (one, "gone");
  json_object_set_object_member (two, "b", mtv_json_object_from_string ("{\"x\": 2}", "t", NULL));
  json_object_set_string_member (two, "new", "yes");
  mtv_json_object_apply_changes (into, before, one);
  mtv_json_object_apply_changes (into, before, two);
  g_autoptr (JsonObject) want = mtv_json_object_from_string ("{\"a\": 2, \"b\": {\"x\": 2}, \"new\": \"yes\"}",
                                                             "t", NULL);
  g_assert_true (mtv_json_object_equal (into, want));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json/apply-changes", test_apply_changes);
  g_test_add_func ("/spec/fields-have-properties", test_fields_have_properties);
  g_test_add_func ("/spec/property-names", test_property_names);
  g_test_add_func ("/spec/merge-plan", test_merge_plan);
  g_test_add_func ("/spec/properties-from-spec", test_properties_from_spec);
  g_test_add_func ("/names/dns-1123", test_names);
  return g_test_run ();
}

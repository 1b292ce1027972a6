#include "mtv-item.h"
#include "mtv-json.h"

#include <string.h>

MtvItem *
mtv_item_new (MtvRecord *record)
{
  const MtvKindInfo *info = mtv_kind_info (record->kind);
  MtvItem *item = g_new0 (MtvItem, 1);
  item->record = record;
  item->secret_keys = g_new0 (char *, 1);
  item->object_path = mtv_object_path_for (record->kind, record->name);
  item->object = mtv_object_skeleton_new (item->object_path);
  item->resource = mtv_resource_skeleton_new ();
  item->kind_iface = g_object_new (info->skeleton_type (), NULL);
  g_dbus_object_skeleton_add_interface (G_DBUS_OBJECT_SKELETON (item->object),
                                        G_DBUS_INTERFACE_SKELETON (item->resource));
  g_dbus_object_skeleton_add_interface (G_DBUS_OBJECT_SKELETON (item->object), item->kind_iface);
  return item;
}

void
mtv_item_free (MtvItem *item)
{
  if (item == NULL)
    return;
  if (item->runtime)
    item->runtime_free (item->runtime);
  g_clear_object (&item->kind_iface);
  g_clear_object (&item->resource);
  g_clear_object (&item->object);
  g_strfreev (item->secret_keys);
  g_clear_pointer (&item->credentials, json_object_unref);
  g_free (item->object_path);
  mtv_record_free (item->record);
  g_free (item);
}

void
mtv_item_sync_properties (MtvItem *item)
{
  const MtvRecord *r = item->record;
  const MtvKindInfo *info = mtv_kind_info (r->kind);
  MtvResource *res = item->resource;

  mtv_resource_set_kind (res, mtv_kind_to_string (r->kind));
  mtv_resource_set_name (res, r->name);
  mtv_resource_set_uid (res, r->uid);
  mtv_resource_set_creation_timestamp (res, r->created);
  mtv_resource_set_generation (res, r->generation);
  mtv_resource_set_observed_generation (
    res, (guint64) json_object_get_int_member_with_default (r->status, "observedGeneration", 0));
  mtv_resource_set_phase (res, mtv_record_phase (r));
  mtv_resource_set_conditions (res, mtv_status_conditions_variant (r->status));
  mtv_spec_to_properties (info->fields, info->n_fields, r->spec, G_OBJECT (item->kind_iface));

  if (MTV_IS_PROVIDER (item->kind_iface))
    {
      mtv_provider_set_has_credentials (MTV_PROVIDER (item->kind_iface), item->secret_keys[0] != NULL);
      mtv_provider_set_credential_keys (MTV_PROVIDER (item->kind_iface),
                                        (const char *const *) item->secret_keys);
    }
  item->bus_size = strlen (item->object_path) + 64;
  GDBusInterfaceSkeleton *ifaces[] = { G_DBUS_INTERFACE_SKELETON (res), item->kind_iface };
  for (gsize i = 0; i < G_N_ELEMENTS (ifaces); i++)
    {
      g_autoptr (GVariant) props = g_dbus_interface_skeleton_get_properties (ifaces[i]);
      item->bus_size += g_variant_get_size (props) + strlen (g_dbus_interface_skeleton_get_info (ifaces[i])->name);
    }
}

JsonObject *
mtv_item_to_manifest (MtvItem *item, JsonObject *spec)
{
  const MtvRecord *r = item->record;
  JsonObject *manifest = json_object_new ();
  json_object_set_string_member (manifest, "apiVersion", "forklift.konveyor.io/v1beta1");
  json_object_set_string_member (manifest, "kind", mtv_kind_to_string (r->kind));

  JsonObject *metadata = json_object_new ();
  json_object_set_string_member (metadata, "name", r->name);
  json_object_set_string_member (metadata, "uid", r->uid);
  json_object_set_int_member (metadata, "generation", (gint64) r->generation);
  json_object_set_string_member (metadata, "creationTimestamp", r->created);
  json_object_set_object_member (manifest, "metadata", metadata);

  json_object_set_object_member (manifest, "spec", json_object_ref (spec));
  json_object_set_object_member (manifest, "status", mtv_json_object_copy (r->status));
  return manifest;
}

#include "mtv-client.h"
#include "mtv-error.h"
#include "mtv-json.h"

/* Long enough for a person to answer a polkit password prompt. */
#define CALL_TIMEOUT_MS (10 * 60 * 1000)

MtvClient *
mtv_client_new (gboolean session_bus, GError **error)
{
  /* Registers the error domain so remote errors come back with our codes. */
  (void) mtv_error_quark ();
  g_autoptr (GDBusConnection) bus =
    g_bus_get_sync (session_bus ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, NULL, error);
  if (bus == NULL)
    return NULL;
  MtvClient *client = g_new0 (MtvClient, 1);
  client->bus = g_steal_pointer (&bus);
  return client;
}

void
mtv_client_free (MtvClient *client)
{
  if (client == NULL)
    return;
  g_clear_object (&client->objects);
  g_clear_object (&client->bus);
  g_free (client);
}

static GVariant *
call (MtvClient *client, const char *path, const char *iface, const char *method,
      GVariant *params, const char *reply_type, GError **error)
{
  return g_dbus_connection_call_sync (client->bus, MTV_BUS_NAME, path, iface, method, params,
                                      reply_type ? G_VARIANT_TYPE (reply_type) : NULL,
                                      G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                                      CALL_TIMEOUT_MS, NULL, error);
}

static GDBusObjectManager *objects (MtvClient *client, GError **error);

static GVariant *
empty_options (void)
{
  return g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0);
}

char *
mtv_client_create (MtvClient *client, MtvKind kind, const char *name, GVariant *spec, GError **error)
{
  static const char *const methods[MTV_N_KINDS] = {
    [MTV_KIND_PROVIDER] = "CreateProvider", [MTV_KIND_NETWORK_MAP] = "CreateNetworkMap",
    [MTV_KIND_STORAGE_MAP] = "CreateStorageMap", [MTV_KIND_HOOK] = "CreateHook",
    [MTV_KIND_PLAN] = "CreatePlan",
  };
  g_autoptr (GVariant) reply =
    call (client, MTV_ROOT_PATH, "org.mtvd.Mtv1.Manager", methods[kind],
          g_variant_new ("(s@a{sv}@a{sv})", name, spec, empty_options ()), "(o)", error);
  if (reply == NULL)
    return NULL;
  char *path = NULL;
  g_variant_get (reply, "(o)", &path);
  return path;
}

gboolean
mtv_client_update (MtvClient *client, MtvKind kind, const char *name, GVariant *spec,
                   const char *const *unset, GError **error)
{
  g_autofree char *path = mtv_object_path_for (kind, name);
  GVariantBuilder options;
  g_variant_builder_init (&options, G_VARIANT_TYPE ("a{sv}"));
  if (unset && unset[0])
    g_variant_builder_add (&options, "{sv}", "unset", g_variant_new_strv (unset, -1));
  g_autoptr (GVariant) reply =
    call (client, path, "org.mtvd.Mtv1.Resource", "Update",
          g_variant_new ("(@a{sv}a{sv})", spec, &options), NULL, error);
  return reply != NULL;
}

/* A call to a missing object fails with UnknownObject; say which item. */
static void
name_missing (GError **error, MtvKind kind, const char *name)
{
  if (error && *error
      && (g_error_matches (*error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT)
          || g_error_matches (*error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD)))
    {
      g_clear_error (error);
      g_set_error (error, MTV_ERROR, MTV_ERROR_NOT_FOUND, "%s \"%s\" does not exist",
                   mtv_kind_to_string (kind), name);
    }
}

gboolean
mtv_client_delete (MtvClient *client, MtvKind kind, const char *name, GError **error)
{
  g_autofree char *path = mtv_object_path_for (kind, name);
  g_autoptr (GVariant) reply = call (client, path, "org.mtvd.Mtv1.Resource", "Delete",
                                     g_variant_new ("(@a{sv})", empty_options ()), NULL, error);
  name_missing (error, kind, name);
  return reply != NULL;
}

JsonObject *
mtv_client_export (MtvClient *client, MtvKind kind, const char *name, GError **error)
{
  g_autofree char *path = mtv_object_path_for (kind, name);
  g_autoptr (GVariant) reply = call (client, path, "org.mtvd.Mtv1.Resource", "Export",
                                     g_variant_new ("(@a{sv})", empty_options ()), "(s)", error);
  name_missing (error, kind, name);
  if (reply == NULL)
    return NULL;
  const char *text;
  g_variant_get (reply, "(&s)", &text);
  return mtv_json_object_from_string (text, "manifest from mtvd", error);
}

/* Objects per GetInventory or QueryInventory reply: a page stays far below
 * what a D-Bus message may carry, whatever the objects. */
#define INVENTORY_PAGE 1000
/* Tries to read every page from one revision before giving up. */
#define INVENTORY_TRIES 5

/* GetInventory (@query NULL) or QueryInventory, page by page: all of it,
 * from one revision. */
static JsonArray *
inventory_call (MtvClient *client, const char *provider, const char *kind, const char *query, guint64 *revision,
                GError **error)
{
  g_autofree char *path = mtv_object_path_for (MTV_KIND_PROVIDER, provider);
  for (guint attempt = 0; attempt < INVENTORY_TRIES; attempt++)
    {
      g_autoptr (JsonArray) all = json_array_new ();
      guint64 first = 0;
      gboolean changed = FALSE;
      for (guint32 offset = 0; !changed; offset += INVENTORY_PAGE)
        {
          GVariantDict options;
          g_variant_dict_init (&options, NULL);
          g_variant_dict_insert (&options, "offset", "u", offset);
          g_variant_dict_insert (&options, "limit", "u", (guint32) INVENTORY_PAGE);
          GVariant *opts = g_variant_dict_end (&options);
          GVariant *params = query ? g_variant_new ("(ss@a{sv})", kind, query, opts)
                                   : g_variant_new ("(s@a{sv})", kind, opts);
          g_autoptr (GVariant) reply = call (client, path, "org.mtvd.Mtv1.Provider",
                                             query ? "QueryInventory" : "GetInventory", params, "(st)", error);
          name_missing (error, MTV_KIND_PROVIDER, provider);
          if (reply == NULL)
            return NULL;
          const char *text;
          guint64 rev;
          g_variant_get (reply, "(&st)", &text, &rev);
          g_autoptr (JsonParser) parser = json_parser_new ();
          if (!json_parser_load_from_data (parser, text, -1, error) || !JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)))
            {
              if (error && *error == NULL)
                g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "mtvd answered no list");
              return NULL;
            }
          if (offset == 0)
            first = rev;
          changed = rev != first;   /* it changed between pages: read it all again */
          JsonArray *page = json_node_get_array (json_parser_get_root (parser));
          for (guint i = 0; i < json_array_get_length (page); i++)
            json_array_add_element (all, json_node_copy (json_array_get_element (page, i)));
          if (json_array_get_length (page) < INVENTORY_PAGE)
            break;
        }
      if (changed)
        continue;
      *revision = first;
      return g_steal_pointer (&all);
    }
  g_set_error (error, MTV_ERROR, MTV_ERROR_BUSY, "the inventory of provider %s kept changing while it was read; "
               "try again", provider);
  return NULL;
}

JsonArray *
mtv_client_get_inventory (MtvClient *client, const char *provider, const char *kind,
                          guint64 *revision, GError **error)
{
  return inventory_call (client, provider, kind, NULL, revision, error);
}

JsonArray *
mtv_client_query_inventory (MtvClient *client, const char *provider, const char *kind, const char *query,
                            guint64 *revision, GError **error)
{
  return inventory_call (client, provider, kind, query, revision, error);
}

char *
mtv_client_start_plan (MtvClient *client, const char *plan, const char *cutover, GError **error)
{
  g_autofree char *path = mtv_object_path_for (MTV_KIND_PLAN, plan);
  GVariantDict options;
  g_variant_dict_init (&options, NULL);
  if (cutover)
    g_variant_dict_insert (&options, "cutover", "s", cutover);
  g_autoptr (GVariant) reply = call (client, path, "org.mtvd.Mtv1.Plan", "Start",
                                     g_variant_new ("(@a{sv})", g_variant_dict_end (&options)), "(o)", error);
  name_missing (error, MTV_KIND_PLAN, plan);
  if (reply == NULL)
    return NULL;
  char *migration = NULL;
  g_variant_get (reply, "(o)", &migration);
  return migration;
}

gboolean
mtv_client_cutover (MtvClient *client, const char *migration_path, const char *when, GError **error)
{
  g_autoptr (GVariant) reply = call (client, migration_path, "org.mtvd.Mtv1.Migration", "Cutover",
                                     g_variant_new ("(s@a{sv})", when, empty_options ()), NULL, error);
  return reply != NULL;
}

MtvObject *
mtv_client_object (MtvClient *client, const char *path, GError **error)
{
  GDBusObjectManager *manager = objects (client, error);
  GDBusObject *object = manager ? g_dbus_object_manager_get_object (manager, path) : NULL;
  if (object == NULL && manager)
    g_set_error (error, MTV_ERROR, MTV_ERROR_NOT_FOUND, "%s is gone", path);
  return object ? MTV_OBJECT (object) : NULL;
}

gboolean
mtv_client_cancel (MtvClient *client, const char *migration_path, const char *const *vms, GError **error)
{
  g_autoptr (GVariant) reply = call (client, migration_path, "org.mtvd.Mtv1.Migration", "Cancel",
                                     g_variant_new ("(^as@a{sv})", vms, empty_options ()), NULL, error);
  return reply != NULL;
}

static GDBusObjectManager *
objects (MtvClient *client, GError **error)
{
  if (client->objects == NULL)
    client->objects = mtv_object_manager_client_new_sync (
      client->bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE, MTV_BUS_NAME, MTV_ROOT_PATH, NULL, error);
  return client->objects;
}

static gint
compare_by_name (gconstpointer a, gconstpointer b)
{
  MtvResource *ra = mtv_object_peek_resource (MTV_OBJECT ((gpointer) a));
  MtvResource *rb = mtv_object_peek_resource (MTV_OBJECT ((gpointer) b));
  return g_strcmp0 (mtv_resource_get_name (ra), mtv_resource_get_name (rb));
}

GList *
mtv_client_list (MtvClient *client, MtvKind kind, GError **error)
{
  GDBusObjectManager *manager = objects (client, error);
  if (manager == NULL)
    return NULL;
  g_autofree char *owner = g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (manager));
  if (owner == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED,
                   "mtvd is not running (nobody owns %s on the bus)", MTV_BUS_NAME);
      return NULL;
    }
  GList *all = g_dbus_object_manager_get_objects (manager);
  GList *result = NULL;
  for (GList *l = all; l; l = l->next)
    {
      MtvResource *resource = mtv_object_peek_resource (MTV_OBJECT (l->data));
      if (resource && g_strcmp0 (mtv_resource_get_kind (resource), mtv_kind_to_string (kind)) == 0)
        result = g_list_prepend (result, g_object_ref (l->data));
    }
  g_list_free_full (all, g_object_unref);
  return g_list_sort (result, compare_by_name);
}

MtvObject *
mtv_client_get (MtvClient *client, MtvKind kind, const char *name, GError **error)
{
  GDBusObjectManager *manager = objects (client, error);
  if (manager == NULL)
    return NULL;
  g_autofree char *path = mtv_object_path_for (kind, name);
  GDBusObject *object = g_dbus_object_manager_get_object (manager, path);
  if (object == NULL)
    g_set_error (error, MTV_ERROR, MTV_ERROR_NOT_FOUND, "%s \"%s\" does not exist",
                 mtv_kind_to_string (kind), name);
  return object ? MTV_OBJECT (object) : NULL;
}

void
mtv_client_print_error (const GError *error)
{
  g_autoptr (GError) copy = g_error_copy (error);
  g_dbus_error_strip_remote_error (copy);
  g_printerr ("Error: %s\n", copy->message);
}

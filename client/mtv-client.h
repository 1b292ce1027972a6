#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include "mtv-dbus-generated.h"
#include "mtv-names.h"

/* mtvctl's side of the bus: one connection, calls that allow polkit to ask
 * for a password, and the item objects read through the ObjectManager. */
typedef struct {
  GDBusConnection *bus;
  GDBusObjectManager *objects; /* on first use */
} MtvClient;

MtvClient *mtv_client_new (gboolean session_bus, GError **error);
void mtv_client_free (MtvClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvClient, mtv_client_free)

/* Create returns the new object's path. */
char *mtv_client_create (MtvClient *client, MtvKind kind, const char *name, GVariant *spec,
                         GError **error);
gboolean mtv_client_update (MtvClient *client, MtvKind kind, const char *name, GVariant *spec,
                            const char *const *unset, GError **error);
gboolean mtv_client_delete (MtvClient *client, MtvKind kind, const char *name, GError **error);
/* The item as a Forklift resource. */
JsonObject *mtv_client_export (MtvClient *client, MtvKind kind, const char *name, GError **error);

/* A provider's inventory of @kind, and its revision (read in pages). */
JsonArray *mtv_client_get_inventory (MtvClient *client, const char *provider, const char *kind,
                                     guint64 *revision, GError **error);
/* QueryInventory: the rows of @query over @kind. */
JsonArray *mtv_client_query_inventory (MtvClient *client, const char *provider, const char *kind, const char *query,
                                       guint64 *revision, GError **error);

/* Plan.Start (@cutover: RFC 3339, or NULL): the new migration's object path. */
char *mtv_client_start_plan (MtvClient *client, const char *plan, const char *cutover, GError **error);
/* Migration.Cutover. */
gboolean mtv_client_cutover (MtvClient *client, const char *migration_path, const char *when, GError **error);
/* The object at @path; NotFound when it is gone. */
MtvObject *mtv_client_object (MtvClient *client, const char *path, GError **error);
/* Migration.Cancel. */
gboolean mtv_client_cancel (MtvClient *client, const char *migration_path, const char *const *vms, GError **error);

/* The items of @kind (MtvObject proxies), sorted by name. */
GList *mtv_client_list (MtvClient *client, MtvKind kind, GError **error);
/* One item; NotFound names it. */
MtvObject *mtv_client_get (MtvClient *client, MtvKind kind, const char *name, GError **error);

/* Prints "Error: <message>" to stderr (remote error names stripped). */
void mtv_client_print_error (const GError *error);

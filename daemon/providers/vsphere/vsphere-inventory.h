#pragma once
/* A vSphere provider's inventory as mtv serves it: the kinds (datacenters,
 * folders, clusters, hosts, datastores, networks, vms) with Forklift's
 * vSphere model names, kept object by object so that a change reported by
 * WaitForUpdatesEx replaces one object, and linked when published: every
 * object's inventory path, a VM's datacenter, cluster, networks and the
 * storage its disks map by. Pure: unit-tested. */
#include <json-glib/json-glib.h>

typedef struct {
  const char *kind;                 /* the inventory kind ("hosts") */
  const char *type;                 /* the vSphere type read for it (subtypes included) */
  const char *const *paths;         /* what is read */
  const char *const *watch;         /* whose change makes the object be read again */
  JsonObject *(*model) (JsonObject *object);   /* from {"id", "type", "props"} */
} MtvVsphereKind;

/* The kinds, parents before children; NULL-terminated by kind. */
extern const MtvVsphereKind mtv_vsphere_kinds[];
/* The kind an object of vSphere type @type belongs to, or NULL. */
const MtvVsphereKind *mtv_vsphere_kind_of_type (const char *type);

typedef struct _MtvVsphereInventory MtvVsphereInventory;
MtvVsphereInventory *mtv_vsphere_inventory_new (void);
void mtv_vsphere_inventory_free (MtvVsphereInventory *inv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvVsphereInventory, mtv_vsphere_inventory_free)

/* The model of a retrieved object and the kind it belongs to, or NULL when
 * its type is none of the kinds. */
JsonObject *mtv_vsphere_model (JsonObject *object, const char **kind);
/* Puts (or replaces) object @id's @model (taken) of @kind. */
void mtv_vsphere_inventory_put_model (MtvVsphereInventory *inv, const char *id, const char *kind, JsonObject *model);
/* Both: FALSE when the object's type is none of the kinds. */
gboolean mtv_vsphere_inventory_put (MtvVsphereInventory *inv, JsonObject *object);
/* Removes object @id (it left the inventory). */
void mtv_vsphere_inventory_remove (MtvVsphereInventory *inv, const char *id);
guint mtv_vsphere_inventory_count (MtvVsphereInventory *inv, const char *kind);

/* The inventory to publish: {"about": @about, "vms": [...], "hosts": [...],
 * ...}, linked. The objects are shared with @inv and never changed after:
 * use @inv and what it built from one thread only (JSON-GLib's reference
 * counts are not atomic). */
JsonObject *mtv_vsphere_inventory_build (MtvVsphereInventory *inv, const char *about);

#pragma once
#include "mtv-dbus-generated.h"
#include "mtv-kinds.h"

/* A stored item and the D-Bus object that shows it. */
typedef struct {
  MtvRecord *record;
  GStrv secret_keys;               /* names of stored credential fields */
  JsonObject *credentials;         /* a provider's, as stored (never shown) */
  char *object_path;
  MtvObjectSkeleton *object;
  MtvResource *resource;
  GDBusInterfaceSkeleton *kind_iface;
  gsize bus_size;                  /* bytes of its properties in a GetManagedObjects reply */
  gpointer runtime;                /* what the kind runs for the item (a provider's backend) */
  GDestroyNotify runtime_free;
} MtvItem;

/* Takes @record. */
MtvItem *mtv_item_new (MtvRecord *record);
void mtv_item_free (MtvItem *item);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvItem, mtv_item_free)

/* Copies the record (identity, spec, status) into the D-Bus properties. */
void mtv_item_sync_properties (MtvItem *item);

/* The item as a Forklift custom resource. */
JsonObject *mtv_item_to_manifest (MtvItem *item, JsonObject *spec);

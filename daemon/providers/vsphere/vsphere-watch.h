#pragma once
/* Changes in a vSphere inventory as they happen: a property filter on a
 * ContainerView of the watched types, in a PropertyCollector of the
 * session's own, and WaitForUpdatesEx from version to version. What comes
 * back is which objects entered, changed or left: the inventory reads the
 * changed ones again (mtv_vsphere_get), so a change to any property is
 * taken whole, whatever form the server reported it in. */
#include "vsphere-client.h"

typedef struct {
  const char *type;
  const char *const *paths;   /* the properties whose change is reported */
  gboolean alone;             /* in a filter of its own (see vsphere-watch.c) */
} MtvVsphereWatchSpec;

typedef struct _MtvVsphereWatch MtvVsphereWatch;

/* @specs: @n types to watch, below the root folder. */
MtvVsphereWatch *mtv_vsphere_watch_new (MtvVsphere *vs, const MtvVsphereWatchSpec *specs, guint n, GError **error);
/* Removes the filter, the view and the collector from the server (best
 * effort) and frees. */
void mtv_vsphere_watch_free (MtvVsphere *vs, MtvVsphereWatch *watch);

/* Waits up to @seconds for changes since the last call (the first call:
 * every object, as "enter") and returns them, each {"id", "type", "kind":
 * "enter"|"modify"|"leave"}, empty when nothing changed in time. A
 * truncated update set is followed at once to its end. */
JsonArray *mtv_vsphere_watch_wait (MtvVsphere *vs, MtvVsphereWatch *watch, guint seconds, GError **error);
/* The version of the last update set ("" before the first). */
const char *mtv_vsphere_watch_version (MtvVsphereWatch *watch);

/* The object updates of a WaitForUpdatesEx reply, added to @into; the new
 * @version (NULL when the wait ended without changes) and whether the set
 * was truncated (pure, fuzzed). */
gboolean mtv_vsphere_parse_updates (xmlNode *reply, JsonArray *into, char **version, gboolean *truncated,
                                    GError **error);

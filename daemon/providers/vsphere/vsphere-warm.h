#pragma once
/* What a warm migration needs of vSphere: snapshots of a VM, the state of
 * each disk at a snapshot (its backing file, whether that is a delta over a
 * parent, its change id), and the areas that changed since an earlier
 * change id (QueryChangedDiskAreas, paged over the disk). Calls block: run
 * them in a worker thread. */
#include "vsphere-client.h"

/* A snapshot of VM @vm named @name, without memory, not quiesced; its moref. */
char *mtv_vsphere_snapshot_create (MtvVsphere *vs, const char *vm, const char *name, const char *description,
                                   guint timeout_seconds, GError **error);
/* Removes snapshot @snapshot (its disks consolidated into the VM's); a
 * snapshot that is already gone is not an error. */
gboolean mtv_vsphere_snapshot_remove (MtvVsphere *vs, const char *snapshot, guint timeout_seconds, GError **error);
/* The snapshot's disks by device key: {"KEY": {"file", "changeId"?,
 * "delta": whether the file is a delta over a parent}}. */
JsonObject *mtv_vsphere_snapshot_disks (MtvVsphere *vs, const char *snapshot, GError **error);
/* The areas of disk @key (@capacity bytes) of VM @vm that changed between
 * change id @change_id and snapshot @snapshot ("*": every allocated area). */
GArray *mtv_vsphere_changed_areas (MtvVsphere *vs, const char *vm, const char *snapshot, gint64 key,
                                   guint64 capacity, const char *change_id, GError **error);

/* One QueryChangedDiskAreas reply (pure, fuzzed): its window (@start,
 * @length) and its areas appended to @into (MtvExtent), each checked to lie
 * in the window of a disk of @capacity bytes. */
gboolean mtv_vsphere_parse_changed_areas (xmlNode *reply, guint64 capacity, guint64 *start, guint64 *length,
                                          GArray *into, GError **error);

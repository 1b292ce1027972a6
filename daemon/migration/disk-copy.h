#pragma once
/* The copy of one disk of a VM: the disk's NBD server (the command the
 * source adapter names), then mtv-transfer from it into the sink the target
 * adapter gave, or the target's own pull of it from mtvd's disk server.
 * Helpers killed under it are started again a few times; its end is
 * reported once, after its server is gone. A VM's disks each have one, all
 * at once (phases-disks.c). Internal to the engine. */
#include "engine.h"

typedef struct _MtvDiskCopy MtvDiskCopy;

/* The copy ended: @ok, or @failure says why ("copying disk D: ..."). The
 * copy's helpers are gone; the copy itself is the caller's to free. */
typedef void (*MtvDiskCopyEnded) (MtvDiskCopy *copy, gboolean ok, const char *failure);

/* Disk @index of @v (@disk, as mtv_vm_disks gives it), not started yet. */
MtvDiskCopy *mtv_disk_copy_new (MtvVm *v, guint index, JsonObject *disk);
void mtv_disk_copy_free (MtvDiskCopy *copy);
/* Starts it: into @sink (taken; NULL when the target pulls the disk). */
void mtv_disk_copy_start (MtvDiskCopy *copy, MtvDiskSink *sink, MtvDiskCopyEnded ended);
/* Asks what runs to stop (the VM was cancelled); TRUE when something was
 * running and will report its end. */
gboolean mtv_disk_copy_cancel (MtvDiskCopy *copy);
/* Whether its server, mtv-transfer or the target's pull is still running. */
gboolean mtv_disk_copy_running (MtvDiskCopy *copy);
/* Whether the target pulls this disk (cluster transfer mode). */
gboolean mtv_disk_copy_pulling (MtvDiskCopy *copy);

guint mtv_disk_copy_index (MtvDiskCopy *copy);
/* The copy of disk @index of @v in flight (v->copying), or NULL. */
MtvDiskCopy *mtv_disk_copy_find (MtvVm *v, guint index);
/* Bytes copied so far and the current rate (bytes per second). */
guint64 mtv_disk_copy_bytes (MtvDiskCopy *copy);
double mtv_disk_copy_rate (MtvDiskCopy *copy);

/* Whether @v's target pulls its disks itself (CDI importers). */
gboolean mtv_vm_target_pulls_disks (MtvVm *v);
/* The VM it copies for. */
MtvVm *mtv_disk_copy_vm (MtvDiskCopy *copy);

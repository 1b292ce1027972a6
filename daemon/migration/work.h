#pragma once
#include <gio/gio.h>

/* Blocking work (a Kubernetes call, libvirt, qemu-img, a hook) runs in a
 * worker thread and reports back on the main loop, but only while what it
 * belongs to lives: once @alive is cancelled (its run was freed) the result
 * is dropped and nothing of the owner is touched. The same holds for the
 * messages (progress) a worker posts while it runs. */
typedef struct _MtvWork MtvWork;

/* In the worker. @stop is cancelled when the work should end early (the VM
 * was cancelled, mtvd stops); it may be NULL. */
typedef gboolean (*MtvWorkFunc) (MtvWork *work, gpointer data, GCancellable *stop, GError **error);
/* On the main loop: @error is NULL when the work succeeded. */
typedef void (*MtvWorkDone) (gpointer owner, gpointer data, const GError *error);
typedef void (*MtvWorkMessage) (gpointer owner, gpointer message);

/* Runs @func (@data, freed with @free_data afterwards) in a thread, then
 * @done (may be NULL) unless @alive (may be NULL: always) was cancelled. */
void mtv_work_start (GCancellable *alive, GCancellable *stop, MtvWorkFunc func, gpointer data, GDestroyNotify free_data,
                     MtvWorkDone done, gpointer owner);

/* From the worker: calls @func (owner, @message) on the main loop under the
 * same rule, in order with the work's other messages and before its @done. */
void mtv_work_post (MtvWork *work, MtvWorkMessage func, gpointer message, GDestroyNotify free_message);

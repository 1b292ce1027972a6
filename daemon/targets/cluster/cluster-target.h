#pragma once
#include "kube-client.h"

/* The cluster target (an openshift provider): each disk becomes a DataVolume
 * with an upload source that mtv-transfer streams into through CDI's upload
 * proxy; the VirtualMachine is applied once every disk has arrived. All of
 * it blocks: call from a worker thread. Objects carry the builder's labels
 * (app, plan, migration, vmID) so a failed VM's objects are found again. */

/* Applies @dv (from the VM builder) and asks CDI for an upload token for it:
 * the URL to POST the disk to and the token. @proxy_url overrides the
 * CDIConfig's status.uploadProxyURL when non-NULL. */
gboolean mtv_cluster_prepare_disk (MtvKube *kube, JsonObject *dv, const char *proxy_url, char **upload_url,
                                   char **token, GError **error);

/* Waits until the DataVolume @name in @ns succeeded; fails when it failed or
 * @timeout_seconds passed. @progress (may be NULL) gets the percentage CDI
 * reports in status.progress as it changes. */
typedef void (*MtvClusterProgress) (double percent, gpointer data);
gboolean mtv_cluster_wait_disk (MtvKube *kube, const char *ns, const char *name, guint timeout_seconds,
                                MtvClusterProgress progress, gpointer data, GError **error);

/* Cluster transfer mode: applies @dv with @source, a DataVolume source
 * that CDI's importer reads ({"http": {"url"}} for mtvd's disk server,
 * {"vddk": {...}} for vSphere itself), then waits as mtv_cluster_wait_disk.
 * With @secret (string values), a Secret holding them is made first with
 * the DataVolume's labels, named by the source's secretRef, and deleted
 * once the import ended whatever its outcome. */
gboolean mtv_cluster_import_disk (MtvKube *kube, JsonObject *dv, JsonObject *source, JsonObject *secret,
                                  guint timeout_seconds, MtvClusterProgress progress, gpointer data, GError **error);

/* Applies the VirtualMachine manifest. */
gboolean mtv_cluster_create_vm (MtvKube *kube, JsonObject *vm, GError **error);

/* Deletes the DataVolumes, VirtualMachine, hook Jobs, ConfigMaps and import Secrets of one migrated VM. */
gboolean mtv_cluster_remove_vm (MtvKube *kube, const char *ns, const char *migration_id, const char *vm_name,
                                GError **error);

#pragma once
#include "kube-client.h"

/* Decentralized live migration of a KubeVirt VM (KubeVirt's feature gate
 * DecentralizedLiveMigration), Forklift's OCP live itinerary: the target's
 * DataVolumes (blank, filled by the migration), the target VM waiting as a
 * receiver, the receiving and the sending VirtualMachineInstanceMigration,
 * then the target VM's run strategy restored. Blocking; @phase is called from
 * the calling thread as each step begins. */
typedef void (*MtvLivePhase) (const char *phase, gpointer data);

typedef struct {
  JsonObject *source_vm;       /* the source VirtualMachine object */
  const char *target_namespace;
  const char *target_name;
  JsonObject *labels;          /* ownership labels for what is created */
  JsonObject *storage_map;     /* StorageMap spec: VM/CLAIM -> storage class */
  const char *migration_id;    /* unique: receive/sendTo migrationID */
} MtvLiveInput;

gboolean mtv_cluster_live_migrate (MtvKube *source, MtvKube *target, const MtvLiveInput *in, MtvLivePhase phase,
                                   gpointer data, GError **error);

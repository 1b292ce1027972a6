#pragma once
#include "kube-client.h"

/* Decentralized live migration of a KubeVirt VM (KubeVirt's feature gate
 * DecentralizedLiveMigration), Forklift's OCP live itinerary, one phase at a
 * time: EnsureDataVolumes (the target's, blank: the migration fills them),
 * CreateTarget (the VM waiting as a receiver), WaitForTargetVMI,
 * CreateVirtualMachineInstanceMigrations (the receiving one, then the
 * sending one with the receiver's address), WaitForStateTransfer (then the
 * target VM's run strategy is restored). Blocking. */

typedef struct {
  JsonObject *source_vm;       /* the source VirtualMachine object */
  const char *target_namespace;
  const char *target_name;
  JsonObject *labels;          /* ownership labels for what is created */
  JsonObject *storage_map;     /* StorageMap spec: VM/CLAIM -> storage class */
  const char *migration_id;    /* unique: receive/sendTo migrationID */
} MtvLiveInput;

/* @state (stored between phases) keeps the source's run strategy and the
 * receiving migration's name. */
gboolean mtv_cluster_live_step (MtvKube *source, MtvKube *target, const MtvLiveInput *in, const char *phase,
                                JsonObject *state, GError **error);

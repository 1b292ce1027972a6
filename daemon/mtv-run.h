#pragma once
#include "mtv-kinds.h"
#include "mtv-dbus-generated.h"

/* One run of a plan (a Migration): the VMs it moves, each through Forklift's
 * cold itinerary (Started, PreHook, CreateDataVolumes, CopyDisks, CreateVM,
 * PostHook, Completed) with the disks copied by mtv-transfer from an NBD
 * server the source backend names. Every phase change is stored before it is
 * shown; progress is shown as it comes. */
typedef struct _MtvRun MtvRun;

/* What the daemon gives runs. */
typedef struct {
  MtvDaemon *daemon;
  GDBusObjectManagerServer *objects;
  const char *runtime_dir;   /* private directory for NBD sockets */
  const char *checkpoint_dir; /* persistent directory for copy checkpoints */
  const char *transfer_path; /* the mtv-transfer binary */
  /* Called after a VM finished (to start others) and whenever the plan's
   * status may have changed. */
  void (*changed) (MtvDaemon *daemon, MtvRun *run);
  /* Persists the run's state (JSON). */
  gboolean (*save) (MtvDaemon *daemon, const char *id, const char *plan, JsonObject *state, GError **error);
} MtvRunHost;

/* A new run of @plan, snapshotting what it needs (specs, maps, the source
 * VMs). Fails with Invalid when a VM cannot be found. */
MtvRun *mtv_run_new (const MtvRunHost *host, const MtvRecord *plan, GError **error);
/* A run read back from the store. VMs that were copying disks when mtvd
 * stopped go on from their copies' checkpoints; VMs stopped in another phase
 * are failed (their partial disks removed); pending ones will run. */
MtvRun *mtv_run_restore (const MtvRunHost *host, const char *id, JsonObject *state);
void mtv_run_free (MtvRun *run);

const char *mtv_run_id (MtvRun *run);
MtvMigration *mtv_run_iface (MtvRun *run);
const char *mtv_run_plan (MtvRun *run);
const char *mtv_run_object_path (MtvRun *run);
/* Running, Succeeded, Failed or Canceled. */
const char *mtv_run_phase (MtvRun *run);
gboolean mtv_run_finished (MtvRun *run);
/* How many VMs are copying now. */
guint mtv_run_active (MtvRun *run);
/* Starts pending VMs while fewer than @limit VMs run in all; returns how many it started. */
guint mtv_run_start_pending (MtvRun *run, guint budget);
/* Cancels the named VMs (all unfinished when @vms is empty). */
gboolean mtv_run_cancel (MtvRun *run, const char *const *vms, GError **error);
/* The run as Forklift's plan status.migration. */
JsonObject *mtv_run_status (MtvRun *run);
/* Stops child processes at daemon shutdown without changing stored state. */
void mtv_run_shutdown (MtvRun *run);

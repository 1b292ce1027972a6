#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>

/* One run of a plan (a Migration): its VMs, each taken through the
 * itinerary of the plan's type (itinerary.h) by calling the source and
 * target adapters. Every phase change is stored before the phase acts;
 * progress is shown as it comes, on the Migration and MigrationVm objects. */
typedef struct _MtvRun MtvRun;
typedef struct _MtvAuth MtvAuth;
typedef struct _MtvSourceAdapter MtvSourceAdapter;
typedef struct _MtvTargetAdapter MtvTargetAdapter;

/* What the daemon gives runs: the engine knows nothing else of it. */
typedef struct _MtvRunHost MtvRunHost;
struct _MtvRunHost {
  GDBusObjectManagerServer *objects;
  MtvAuth *auth;                 /* for the Migration object's methods */
  const char *runtime_dir;       /* private directory: NBD sockets, scripts */
  const char *checkpoint_dir;    /* persistent: copy checkpoints, changed-extent lists */
  const char *transfer_path;     /* the mtv-transfer binary */
  gpointer data;                 /* passed back to the functions below */
  /* A VM finished (start others) or the plan's status may have changed. */
  void (*changed) (gpointer data, MtvRun *run);
  /* Persists the run's own state (JSON: plan, phase, times, the snapshot),
   * and apart from it the state of its VM @index. */
  gboolean (*save) (gpointer data, const char *id, const char *plan, JsonObject *state, GError **error);
  gboolean (*save_vm) (gpointer data, const char *id, guint index, JsonObject *state, GError **error);
  /* A provider's credentials (a new object; empty when none are stored). */
  JsonObject *(*credentials) (gpointer data, const char *provider);
  /* Seconds between warm precopies (Forklift's controller_precopy_interval). */
  guint (*precopy_interval) (gpointer data);
  /* Seconds a disk copy may go without progress before it is given up. */
  guint (*stall_timeout) (gpointer data);
  /* Seconds removing a snapshot may take (Forklift's
   * controller_snapshot_removal_timeout_minutes). */
  guint (*snapshot_removal_timeout) (gpointer data);
  /* The adapters of a provider type, or NULL when it has none. */
  const MtvSourceAdapter *(*source_adapter) (gpointer data, const char *type);
  const MtvTargetAdapter *(*target_adapter) (gpointer data, const char *type);
};

/* A new run of plan @plan. @snapshot holds what the run needs and keeps:
 * "planSpec", "planUid", "sourceProvider" and "targetProvider" ({"name",
 * "spec"}), "networkMap", "storageMap" (specs), "hooks" (name -> {"uid",
 * "spec"}) and "vms" ([{"planVm", "vm", "targetName"}]). @cutover (may be
 * NULL) is an RFC 3339 time for a warm run. Fails with Invalid when the
 * providers' types cannot do what the plan asks. */
MtvRun *mtv_run_new (const MtvRunHost *host, const char *id, const char *plan, JsonObject *snapshot,
                     const char *cutover, GError **error);
/* A run read back from the store (its state with "vmStates", each with its
 * "index"). VMs stopped by a restart in a phase that
 * resumes (itinerary.h) wait to go on there; VMs stopped in another phase
 * fail with the reason and what they left is cleaned up; pending ones run. */
MtvRun *mtv_run_restore (const MtvRunHost *host, const char *id, JsonObject *state);
void mtv_run_free (MtvRun *run);

const char *mtv_run_id (MtvRun *run);
const char *mtv_run_plan (MtvRun *run);
const char *mtv_run_object_path (MtvRun *run);
/* Running, Succeeded, Failed or Canceled. */
const char *mtv_run_phase (MtvRun *run);
/* How many VMs it migrates. */
guint mtv_run_n_vms (MtvRun *run);
gboolean mtv_run_finished (MtvRun *run);
/* How many VMs are running now. */
guint mtv_run_active (MtvRun *run);
/* Starts (or resumes) pending VMs, at most @budget; returns how many. */
guint mtv_run_start_pending (MtvRun *run, guint budget);
/* Cancels the named VMs (all unfinished when @vms is empty). */
gboolean mtv_run_cancel (MtvRun *run, const char *const *vms, GError **error);
/* Sets or moves the cutover of a warm run (RFC 3339); Invalid for other
 * types, Busy once the cutover has begun. */
gboolean mtv_run_set_cutover (MtvRun *run, const char *when, GError **error);
/* The run as Forklift's plan status.migration. */
JsonObject *mtv_run_status (MtvRun *run);
/* Stops child processes at daemon shutdown without changing stored state. */
void mtv_run_shutdown (MtvRun *run);

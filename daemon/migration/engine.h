#pragma once
/* The engine's own view of a run and its VMs, shared by the files of
 * daemon/migration/ and nothing else. It names the run's public types
 * (run.h) and the itineraries' (itinerary.h) without including them:
 * they are the engine's interface, this is its inside. */
#include "source-adapter.h"
#include "target-adapter.h"
#include "work.h"
#include "mtv-dbus-generated.h"

typedef struct _MtvRun MtvRun;
typedef struct _MtvRunHost MtvRunHost;
typedef struct _MtvVm MtvVm;
typedef struct _MtvPhase MtvPhase;
typedef struct _MtvItinerary MtvItinerary;

/* The target's per-run instance, counted: workers hold it too. */
typedef struct {
  const MtvTargetAdapter *adapter;
  gpointer instance;
} MtvTargetLink;

struct _MtvVm {
  MtvRun *run;
  guint index;
  JsonObject *plan_vm, *vm;
  char *name, *id, *target_name;

  /* Stored (vm_state in run.c). */
  char *status;               /* Pending, Running, Succeeded, Failed, Canceled */
  char *phase;
  char *error;
  char *started, *completed;
  guint64 bytes_total, bytes_base, bytes_now;
  GArray *disks_done;         /* indexes (guint) of the disks this copy round has copied */
  char *copy_round;           /* the copy phase and precopy the disks done are of */
  JsonArray *copies;          /* mtv-transfer's summary of each disk copied, with its index "disk" */
  JsonObject *session;        /* the source adapter's */
  JsonObject *target;         /* the target adapter's */
  char *power;                /* the source's power state before it was turned off */
  gboolean powered_off;       /* mtvd turned the source off: turned back on if the VM fails */
  gboolean allocated;         /* the target may hold something of this VM */
  guint undoing;              /* its source's release or target's cleanup in flight: the run goes on */
  gboolean phase_done;        /* the phase's work is done (stored: a restart goes on to the next) */
  gboolean created;           /* the target VM exists: kept when a later phase fails */
  gboolean release_pending;   /* the source's session (and power) are still to be released */
  gboolean cleanup_pending;   /* what a failed VM left on the target is still to be removed */
  char *release_error;        /* why the last release of its source failed (tried again at the next start) */
  char *snapshot;             /* warm: the snapshot the next copy reads */
  JsonObject *checkpoint;     /* warm: the disks' state the copies have reached */
  JsonObject *next_checkpoint;/* warm: the disks' state at the current snapshot */
  GPtrArray *snapshots;       /* warm: every snapshot that exists (ids) */
  guint precopies;            /* warm: copies done */
  gint64 next_precopy;        /* warm: when the next precopy starts (unix seconds) */
  JsonArray *precopy_log;     /* warm: its copy rounds (precopies.c) */
  gint64 downtime_start;      /* when the source was turned off (µs since the epoch), 0 before */
  gint64 downtime;            /* from then to the target VM created (µs), 0 before */

  /* Not stored. */
  gboolean resume;            /* restored in a resumable phase: re-enter it */
  gboolean resumed;           /* the current phase was entered again after a restart */
  gboolean cancel_requested;
  GCancellable *stop;         /* cancelled when the VM is cancelled or the run goes */
  JsonArray *source_disks;    /* from the source's open_disks */
  double rate;
  guint wait_source;          /* the timer of a waiting phase */
  void (*wait_then) (MtvVm *v);
  guint wait_ticks;
  guint busy;                 /* adapter jobs in flight */
  gboolean dirty;             /* committed, not yet stored */
  guint flush_source;
  GPtrArray *copying;         /* the disks' copies in flight (MtvDiskCopy, disk-copy.h) */

  char *path;                 /* the MigrationVm object */
  MtvObjectSkeleton *object;
  MtvMigrationVm *iface;
};

struct _MtvRun {
  const MtvRunHost *host;
  char *id, *plan, *path, *phase, *started, *completed, *cutover;
  JsonObject *snapshot;       /* see mtv_run_new */
  const MtvItinerary *itinerary;
  const MtvSourceAdapter *source;
  const MtvTargetAdapter *target;
  MtvTargetLink *link;        /* NULL when the target could not be attached */
  GPtrArray *vms;
  GCancellable *alive;
  MtvObjectSkeleton *object;
  MtvMigration *iface;
};

/* Drops a reference to the target's instance (detached with the last). */
void mtv_target_link_release (MtvTargetLink *link);

/* ---- run.c ---------------------------------------------------------------------- */
JsonObject *mtv_run_snap (MtvRun *run, const char *key);
/* Whether its itinerary precopies (warm): the only one with a cutover. */
gboolean mtv_run_is_warm (MtvRun *run);
const char *mtv_run_target_namespace (MtvRun *run);
/* Stores the run's own state (not its VMs'). */
void mtv_run_save (MtvRun *run);
/* Stores one VM's state. */
void mtv_vm_save (MtvVm *v);
/* Recomputes the run's phase from its VMs'. */
void mtv_run_update_phase (MtvRun *run);

/* ---- vm.c: the phase driver ----------------------------------------------------- */
MtvVm *mtv_vm_new (MtvRun *run, guint index, JsonObject *plan_vm, JsonObject *vm, const char *target_name);
void mtv_vm_free (MtvVm *v);
/* Starts a pending VM, or resumes a restored one in its phase. */
void mtv_vm_begin (MtvVm *v);
/* Goes to the next phase that applies. */
/* The current phase did its work: stored now, so that a phase that does not
 * resume (a hook) is not failed, or done twice, by a restart before the next. */
void mtv_vm_phase_done (MtvVm *v);
void mtv_vm_next (MtvVm *v);
/* Goes to phase @name (loops: warm precopies). */
void mtv_vm_goto (MtvVm *v, const char *name);
/* Fails the VM with @message (cleaning up as its state says). */
void mtv_vm_fail (MtvVm *v, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Ends the VM: Succeeded, Failed or Canceled. */
void mtv_vm_finish (MtvVm *v, const char *status, const char *error);
/* A restored VM found stopped in a phase that does not resume. */
void mtv_vm_interrupted (MtvVm *v);
/* Releases the source of a VM that ended before mtvd could (after a restart). */
void mtv_vm_release_source (MtvVm *v);
/* Removes what a VM left on the target, in the background. */
void mtv_vm_cleanup_target (MtvVm *v);
/* A change of the VM's stored fields: stored, and then shown, before the VM
 * next acts (mtv_vm_flush), at the latest when the main loop is idle. */
void mtv_vm_commit (MtvVm *v);
/* Stores and shows what was committed. Every act calls it first: a worker,
 * a helper process, a wait, the end. So the state is durable before the VM
 * acts on it, with one write for the phases it went through without acting. */
void mtv_vm_flush (MtvVm *v);
/* The VM's disks as the source serves them. */
JsonArray *mtv_vm_disks (MtvVm *v);
/* The hook of step @step (PreHook, PostHook) in the plan's entry, or NULL. */
const char *mtv_vm_hook (MtvVm *v, const char *step);
char *mtv_vm_checkpoint_path (MtvVm *v, guint disk, const char *what);
/* A phase waits: @then runs in @ms milliseconds (unless the VM is
 * cancelled meanwhile: then it ends Canceled). */
void mtv_vm_after (MtvVm *v, guint ms, void (*then) (MtvVm *v));

/* Blocking adapter calls, in a worker. @call gets contexts made of copies
 * (what it changed in the session and target state is taken back when it
 * returns, success or not, beside other jobs' changes); on success @then runs on the main loop, on failure the VM fails
 * with the error. */
typedef struct _MtvVmJob MtvVmJob;
struct _MtvVmJob {
  MtvSourceContext source;
  MtvTargetContext target;
  const MtvSourceAdapter *source_adapter;
  const MtvTargetAdapter *target_adapter;
  guint index;                /* a disk, where it matters */
  char *text;                 /* in and out: a snapshot id, a power state, a phase name, a URL */
  gboolean flag;              /* out: powered off, snapshot ready */
  JsonArray *disks;           /* out: open_disks */
  JsonObject *object;         /* in and out: a checkpoint */
  JsonObject *base;           /* in: the checkpoint changes are counted from */
  JsonObject *result;         /* out: import_source */
  JsonObject *secret;         /* in and out: what an import's Secret holds (never stored) */
  GStrv paths;                /* in: files, one per disk (changed-extent lists) */
  MtvDiskSink sink;           /* out: disk_sink */
  MtvHookRun hook;            /* in: run_hook */
  MtvWork *work;              /* for mtv_work_post */
  MtvVm *owner;               /* only for messages, which check the run lives */
  gboolean (*call) (MtvVmJob *job, GCancellable *stop, GError **error);
  void (*then) (MtvVm *v, MtvVmJob *job);
  /* On failure instead of failing the VM (NULL: fail it). */
  void (*failed) (MtvVm *v, MtvVmJob *job, const GError *error);
  GPtrArray *keep;            /* what the contexts point into */
  JsonObject *session_before, *target_before;   /* the VM's, as the contexts were made of them */
  MtvTargetLink *link;
};
/* @then runs on the main loop once @call succeeded; NULL: the VM goes on
 * to its next phase. */
MtvVmJob *mtv_vm_job_new (MtvVm *v, gboolean (*call) (MtvVmJob *, GCancellable *, GError **),
                          void (*then) (MtvVm *, MtvVmJob *));
/* Keeps a copy of @s for as long as the job lives and returns it. */
const char *mtv_vm_job_keep (MtvVmJob *job, const char *s);
void mtv_vm_job_run (MtvVm *v, MtvVmJob *job);

/* ---- run-object.c: the D-Bus objects --------------------------------------------- */
void mtv_run_object_init (MtvRun *run);
void mtv_run_object_export (MtvRun *run);
void mtv_run_object_unexport (MtvRun *run);
void mtv_vm_object_init (MtvVm *v);
void mtv_vm_object_free (MtvVm *v);
/* The VM's properties from its state. */
void mtv_vm_show (MtvVm *v);
void mtv_run_show (MtvRun *run);
void mtv_vm_emit_progress (MtvVm *v);

/* ---- phases: one function per phase, by file ---------------------------------------- */
void mtv_phase_started (MtvVm *v);
void mtv_phase_hook (MtvVm *v);
void mtv_phase_store_power_state (MtvVm *v);
void mtv_phase_power_off (MtvVm *v);
void mtv_phase_wait_for_power_off (MtvVm *v);
void mtv_phase_create_data_volumes (MtvVm *v);
void mtv_phase_copy_disks (MtvVm *v);
void mtv_phase_convert_guest (MtvVm *v);
void mtv_phase_create_vm (MtvVm *v);
void mtv_phase_completed (MtvVm *v);
void mtv_phase_live_step (MtvVm *v);
void mtv_phase_create_snapshot (MtvVm *v);
void mtv_phase_wait_for_snapshot (MtvVm *v);
void mtv_phase_store_snapshot_deltas (MtvVm *v);
void mtv_phase_add_checkpoint (MtvVm *v);
void mtv_phase_copying_paused (MtvVm *v);
void mtv_phase_remove_snapshot (MtvVm *v);
/* The disks' copies (phases-disks.c): asking what runs to stop (TRUE when
 * something will report its end), and stopping it all now. */
gboolean mtv_copy_cancel (MtvVm *v);
void mtv_copy_free (MtvVm *v);
/* Whether disk @disk is copied in this copy round; whether it is being
 * copied (and how far it got). */
gboolean mtv_vm_disk_copied (MtvVm *v, guint disk);
gboolean mtv_vm_disk_copying (MtvVm *v, guint disk, guint64 *bytes);
/* The copies' progress changed: the VM's sums of it shown. */
void mtv_vm_copies_progress (MtvVm *v);
/* ---- precopies.c: a warm VM's copy rounds, for its status --------------------------- */
void mtv_precopy_begin (MtvVm *v);
void mtv_precopy_end (MtvVm *v, JsonObject *checkpoint);
void mtv_precopy_downtime_begins (MtvVm *v);
void mtv_precopy_downtime_ends (MtvVm *v);
/* Forklift's vms[].warm (NULL for other plan types), and mtv's figures as
 * the DiskTransfer step's annotations. */
JsonObject *mtv_precopy_status (MtvVm *v);
void mtv_precopy_annotate (MtvVm *v, JsonObject *annotations);
/* The cutover time moved: waiting VMs look again (phases-warm.c). */
void mtv_phase_cutover_changed (MtvVm *v);

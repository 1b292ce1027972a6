#pragma once
#include <gio/gio.h>
#include <json-glib/json-glib.h>

/* What a migration needs of a target platform: a table of functions that
 * daemon/targets/<type>/ fills. attach and detach run on the main loop and
 * must not block; every other function blocks and is called from a worker
 * thread. What a target cannot do is NULL (live migration, pulling disks). */

typedef struct _MtvTargetContext MtvTargetContext;
struct _MtvTargetContext {
  /* Who the VM is and where it goes. */
  const char *name;            /* the target VM's name */
  const char *namespace;
  const char *plan_name, *plan_uid, *migration_id;
  JsonObject *plan_spec;       /* the plan's spec */
  JsonObject *plan_vm;         /* the plan's entry for this VM */
  JsonObject *vm;              /* the source inventory VM */
  JsonObject *network_map, *storage_map;   /* map specs */
  JsonObject *provider_spec;   /* the target provider's spec */
  const char *workdir;         /* mtvd's private runtime directory (new at every start) */
  /* The source, for what crosses both sides (live migration). */
  JsonObject *source_spec, *source_credentials;
  gpointer instance;           /* what attach returned */
  /* The VM's state on the target side (the directory it made, what a live
   * migration has reached). The engine stores it: never a secret. The only
   * thing an adapter may change. */
  JsonObject *state;
};

/* Where mtv-transfer writes one disk. */
typedef struct {
  char *destination;           /* a file or block device, an NBD URI or an upload URL */
  char *token;                 /* bearer token for an upload URL: a secret, never stored */
  char *cacert;                /* a CA file the upload URL's server is checked against */
  gboolean insecure;           /* the upload URL's certificate is not checked */
  gboolean resumable;          /* a checkpoint can resume an interrupted copy into it */
} MtvDiskSink;

void mtv_disk_sink_clear (MtvDiskSink *sink);

/* A hook to run for a VM (PreHook or PostHook). */
typedef struct {
  const char *name;            /* the Hook's name */
  const char *uid;
  JsonObject *spec;            /* image, playbook (base64), serviceAccount, deadline, command */
  const char *step;            /* PreHook or PostHook */
  guint deadline;              /* seconds it may take (never 0) */
  JsonObject *plan;            /* plan.yml: the plan's name and spec */
  JsonObject *workload;        /* workload.yml: the source VM */
} MtvHookRun;

/* Called from the worker while a disk is pulled: bytes done so far. */
typedef void (*MtvPullProgress) (guint64 done, gpointer data);

typedef struct _MtvTargetAdapter MtvTargetAdapter;
struct _MtvTargetAdapter {
  /* Per run: a connection (a Kubernetes client), from the provider's spec
   * and credentials; @workdir is private to mtvd, @run_id names the run. */
  gpointer (*attach) (JsonObject *provider_spec, JsonObject *credentials, const char *workdir, const char *run_id,
                      GError **error);
  void (*detach) (gpointer instance);

  /* CreateDataVolumes: room for the VM (a directory, the DataVolumes' plan).
   * Idempotent, as create_vm: after a restart it is called again for the
   * same VM and must take what it made before as its own. */
  gboolean (*allocate) (const MtvTargetContext *ctx, GError **error);
  /* Where disk @index is written; @delta: into what an earlier copy wrote. */
  gboolean (*disk_sink) (const MtvTargetContext *ctx, guint index, gboolean delta, MtvDiskSink *sink, GError **error);
  /* Whether this target pulls disks itself (CDI importers) instead of
   * being written to, and the pull of disk @index from @url (it is served
   * there as raw bytes by mtvd until the pull ends). */
  gboolean (*pulls_disks) (gpointer instance);
  char *(*publish_disk) (gpointer instance, const char *nbd_uri, guint64 size);
  void (*withdraw_disk) (gpointer instance, const char *url);
  gboolean (*pull_disk) (const MtvTargetContext *ctx, guint index, const char *url, MtvPullProgress progress,
                         gpointer data, GError **error);
  /* Imports disk @index from a source adapter's import_source (@source),
   * making the Secret it names from @secret and removing it once the
   * import ended; NULL when this target cannot. */
  gboolean (*import_disk) (const MtvTargetContext *ctx, guint index, JsonObject *source, JsonObject *secret,
                           MtvPullProgress progress, gpointer data, GError **error);
  /* Once disk @index is copied and verified: what remains (a conversion
   * to qcow2, waiting for the DataVolume). */
  gboolean (*finish_disk) (const MtvTargetContext *ctx, guint index, GError **error);
  /* CreateVM; sets "destination" (and what else it made) in ctx->state.
   * Idempotent: called again after a restart, it completes or redoes what
   * it had begun (a restart must not fail a VM whose disks are copied). */
  gboolean (*create_vm) (const MtvTargetContext *ctx, GError **error);
  /* One phase of the live itinerary, by its name (Forklift's). */
  gboolean (*live_step) (const MtvTargetContext *ctx, const char *phase, GError **error);
  /* Whether a hook (its spec) can run on this target, for the plan's
   * validation; does not block. */
  gboolean (*check_hook) (JsonObject *hook_spec, GError **error);
  /* Runs a hook where this target runs them; on failure the error says
   * why, with the hook's output. */
  gboolean (*run_hook) (const MtvTargetContext *ctx, const MtvHookRun *hook, GCancellable *stop, GError **error);
  /* Removes what a VM that failed left on the target (disks, objects,
   * hook jobs); only what this VM made, as ctx->state records. */
  gboolean (*cleanup) (const MtvTargetContext *ctx, GError **error);
};

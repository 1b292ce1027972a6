#include "mtv-run.h"
#include "mtv-error.h"
#include "mtv-inventory.h"
#include "mtv-json.h"
#include "mtv-provider-runtime.h"
#include "targets/local/local-target.h"
#include "targets/cluster/cluster-target.h"
#include "targets/cluster/cluster-live.h"
#include "targets/cluster/disk-http.h"
#include "providers/openshift/openshift-connection.h"
#include "targets/mtv-vm-builder.h"

#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <unistd.h>

/* The user-facing steps and the itinerary phases each covers. */
static const struct {
  const char *step;
  const char *const phases[10];
} pipeline[] = {
  { "Initialize", { "Started", "PreHook", "PowerOffSource", "CreateDataVolumes", "EnsureDataVolumes", "CreateTarget",
                    "WaitForTargetVMI", "CreateVMIMs", NULL } },
  { "DiskTransfer", { "CopyDisks", "WaitForStateTransfer", NULL } },
  { "VirtualMachineCreation", { "CreateVM", "PostHook", "Completed", NULL } },
};

typedef struct {
  MtvRun *run;
  guint index;
  JsonObject *plan_vm;
  JsonObject *vm;
  char *name, *id, *target_name;
  char *status, *phase, *error, *destination;
  char *started, *completed;
  guint64 bytes_total, bytes_base, bytes_now;
  double rate;
  guint disk;
  gboolean cancel_requested;
  gboolean dir_created;
  gboolean resume;              /* restored mid-copy: go on from the checkpoints */
  char *dir;
  char *libvirt_domain;
  char *socket;
  GSubprocess *server, *transfer;
  GCancellable *io;
  guint wait_source;
  guint wait_ticks;
  char *transfer_error;
  gboolean transfer_ok;
  char *path;
  JsonArray *manifests;         /* cluster target: [DataVolume..., VirtualMachine] */
  JsonArray *source_disks;      /* prepared source (an exported KubeVirt VM): its disks as served */
  JsonObject *source_state;     /* what releasing the source needs (stored) */
  JsonArray *copies;            /* mtv-transfer's summary of each disk it copied, with its index "disk" (stored) */
  char *upload_url, *upload_token;
  MtvObjectSkeleton *object;
  MtvMigrationVm *iface;
} VmRun;

struct _MtvRun {
  const MtvRunHost *host;
  char *id, *plan, *path, *phase, *started, *completed;
  JsonObject *snapshot; /* planSpec, planUid, sourceProvider, targetProvider, networkMap, storageMap */
  GPtrArray *vms;
  MtvObjectSkeleton *object;
  MtvMigration *iface;
  /* The cluster target: a counted box holding the client (worker threads
   * hold it too), the provider's CA as a file for mtv-transfer, and a
   * cancellable that tells late worker results the run is gone. */
  MtvKube **kube;
  MtvDiskHttp *disk_http;       /* cluster transfer mode: CDI pulls the disks from here */
  char *cacert_file;
  gboolean insecure;
  char *proxy_url;
  GCancellable *alive;
};

static char *
now (void)
{
  return mtv_now_rfc3339 ();
}

static JsonObject *
snap (MtvRun *run, const char *key)
{
  return json_object_get_object_member (run->snapshot, key);
}

static const char *
target_namespace (MtvRun *run)
{
  return json_object_get_string_member_with_default (snap (run, "planSpec"), "targetNamespace", "default");
}

/* The credentials of the plan's source provider (a new object). */
static JsonObject *
source_credentials (MtvRun *run)
{
  const char *name = mtv_reference_name (mtv_json_lookup_path (snap (run, "planSpec"), "provider.source"));
  return mtv_daemon_provider_credentials (run->host->daemon, name ? name : "");
}

/* What the VM builder needs of @v; the local target adds its disk files. */
static MtvVmBuildInput
build_input (VmRun *v)
{
  MtvRun *run = v->run;
  return (MtvVmBuildInput) {
    .name = v->target_name,
    .namespace = target_namespace (run),
    .plan_name = run->plan,
    .plan_uid = json_object_get_string_member (run->snapshot, "planUid"),
    .migration_id = run->id,
    .plan_spec = snap (run, "planSpec"),
    .plan_vm = v->plan_vm,
    .vm = v->vm,
    .network_map = snap (run, "networkMap"),
    .storage_map = snap (run, "storageMap"),
  };
}

/* ---- state, persisted and shown --------------------------------------------- */

static JsonObject *
vm_state (VmRun *v)
{
  JsonObject *o = json_object_new ();
  json_object_set_object_member (o, "planVm", json_object_ref (v->plan_vm));
  json_object_set_object_member (o, "vm", json_object_ref (v->vm));
  json_object_set_string_member (o, "targetName", v->target_name);
  json_object_set_string_member (o, "status", v->status);
  json_object_set_string_member (o, "phase", v->phase);
  json_object_set_string_member (o, "error", v->error ? v->error : "");
  json_object_set_string_member (o, "destination", v->destination ? v->destination : "");
  json_object_set_string_member (o, "started", v->started ? v->started : "");
  json_object_set_string_member (o, "completed", v->completed ? v->completed : "");
  json_object_set_int_member (o, "bytesTotal", (gint64) v->bytes_total);
  json_object_set_int_member (o, "bytesDone", (gint64) (v->bytes_base + v->bytes_now));
  json_object_set_boolean_member (o, "dirCreated", v->dir_created);
  json_object_set_int_member (o, "disk", v->disk);
  json_object_set_int_member (o, "bytesBase", (gint64) v->bytes_base);
  if (v->source_state)
    json_object_set_object_member (o, "sourceState", json_object_ref (v->source_state));
  json_object_set_array_member (o, "copies", json_array_ref (v->copies));
  return o;
}

static void
save (MtvRun *run)
{
  JsonObject *state = json_object_new ();
  json_object_set_string_member (state, "plan", run->plan);
  json_object_set_string_member (state, "phase", run->phase);
  json_object_set_string_member (state, "started", run->started);
  json_object_set_string_member (state, "completed", run->completed ? run->completed : "");
  json_object_set_object_member (state, "snapshot", json_object_ref (run->snapshot));
  JsonArray *vms = json_array_new ();
  for (guint i = 0; i < run->vms->len; i++)
    json_array_add_object_element (vms, vm_state (run->vms->pdata[i]));
  json_object_set_array_member (state, "vms", vms);
  g_autoptr (GError) error = NULL;
  if (!run->host->save (run->host->daemon, run->id, run->plan, state, &error))
    g_warning ("migration %s: cannot store its state: %s", run->id, error->message);
  json_object_unref (state);
}

static const char *
step_of (const char *phase)
{
  for (guint s = 0; s < G_N_ELEMENTS (pipeline); s++)
    for (guint p = 0; pipeline[s].phases[p]; p++)
      if (g_strcmp0 (phase, pipeline[s].phases[p]) == 0)
        return pipeline[s].step;
  return "Initialize";
}

static void
show (VmRun *v)
{
  guint64 done = v->bytes_base + v->bytes_now;
  mtv_migration_vm_set_status (v->iface, v->status);
  mtv_migration_vm_set_phase (v->iface, v->phase);
  mtv_migration_vm_set_step (v->iface, step_of (v->phase));
  mtv_migration_vm_set_error (v->iface, v->error ? v->error : "");
  mtv_migration_vm_set_destination (v->iface, v->destination ? v->destination : "");
  mtv_migration_vm_set_bytes_total (v->iface, v->bytes_total);
  mtv_migration_vm_set_bytes_transferred (v->iface, done);
  mtv_migration_vm_set_rate (v->iface, v->rate);
  double progress = g_strcmp0 (v->status, "Succeeded") == 0 ? 1.0
                    : v->bytes_total ? (double) done / v->bytes_total : 0.0;
  mtv_migration_vm_set_progress (v->iface, progress);
  guint64 eta = 0;
  if (v->rate > 0 && done < v->bytes_total && g_strcmp0 (v->status, "Running") == 0)
    eta = (guint64) g_get_real_time () + (guint64) ((v->bytes_total - done) / v->rate * 1e6);
  mtv_migration_vm_set_expected_end_time (v->iface, eta);
}

static void
set_run_phase (MtvRun *run)
{
  guint succeeded = 0, failed = 0, canceled = 0, open = 0;
  for (guint i = 0; i < run->vms->len; i++)
    {
      VmRun *v = run->vms->pdata[i];
      if (g_str_equal (v->status, "Succeeded"))
        succeeded++;
      else if (g_str_equal (v->status, "Failed"))
        failed++;
      else if (g_str_equal (v->status, "Canceled"))
        canceled++;
      else
        open++;
    }
  const char *phase = open ? "Running" : failed ? "Failed" : canceled && !succeeded ? "Canceled" : "Succeeded";
  if (!g_str_equal (phase, run->phase))
    {
      g_free (run->phase);
      run->phase = g_strdup (phase);
      if (!open && run->completed == NULL)
        run->completed = now ();
    }
  mtv_migration_set_phase (run->iface, run->phase);
  mtv_migration_set_completed (run->iface, run->completed ? run->completed : "");
}

/* A phase change: stored, then shown. */
static void
enter (VmRun *v, const char *phase)
{
  g_free (v->phase);
  v->phase = g_strdup (phase);
  g_message ("migration %s: VM %s: %s", v->run->id, v->name, phase);
  save (v->run);
  show (v);
}

static char *
checkpoint_path (VmRun *v, guint disk)
{
  g_autofree char *name = g_strdup_printf ("%s-%u-%u.checkpoint", v->run->id, v->index, disk);
  return g_build_filename (v->run->host->checkpoint_dir, name, NULL);
}

static gboolean is_cluster (MtvRun *run);
static void cluster_remove (VmRun *v);
static void source_release (VmRun *v, gboolean restore_power);

static void
finish (VmRun *v, const char *status, const char *error)
{
  MtvRun *run = v->run;
  /* Whatever the outcome, no copy of this VM will go on. */
  JsonArray *disks = json_object_get_array_member (v->vm, "disks");
  for (guint i = 0; disks && i < json_array_get_length (disks); i++)
    {
      g_autofree char *cp = checkpoint_path (v, i);
      unlink (cp);
    }
  if (!g_str_equal (status, "Succeeded") && v->dir_created)
    {
      if (is_cluster (run))
        cluster_remove (v);
      else
        mtv_local_abort (v->dir);
      v->dir_created = FALSE;
    }
  source_release (v, !g_str_equal (status, "Succeeded"));
  g_free (v->status);
  v->status = g_strdup (status);
  g_free (v->error);
  v->error = g_strdup (error);
  g_free (v->completed);
  v->completed = now ();
  v->rate = 0;
  if (error)
    g_message ("migration %s: VM %s %s: %s", run->id, v->name, status, error);
  else
    g_message ("migration %s: VM %s %s", run->id, v->name, status);
  set_run_phase (run);
  save (run);
  show (v);
  run->host->changed (run->host->daemon, run);
}

/* ---- the itinerary ---------------------------------------------------------------- */


/* Helpers must not outlive mtvd: a killed mtvd's copies would otherwise go on
 * writing into disks its successor removes. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static GSubprocessLauncher *
launcher_new (GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  return launcher;
}


/* ---- the cluster target: its blocking calls run in worker threads ---------------- */

static gboolean
is_cluster (MtvRun *run)
{
  return run->kube != NULL;
}

static void
clear_kube (gpointer box)
{
  mtv_kube_free (*(MtvKube **) box);
}

typedef enum { JOB_PREPARE_DISK, JOB_WAIT_DISK, JOB_IMPORT_DISK, JOB_CREATE_VM, JOB_REMOVE_VM } JobKind;

typedef struct {
  JobKind kind;
  MtvKube **kube;
  JsonObject *object;       /* the DataVolume or VirtualMachine manifest */
  char *ns, *name, *migration, *proxy;
  char *upload_url, *token; /* results of JOB_PREPARE_DISK */
  char *import_url;         /* JOB_IMPORT_DISK: where CDI pulls the disk from */
  VmRun *v;                 /* for progress messages, which check alive */
  guint64 capacity;
  GCancellable *alive;
} ClusterJob;

static void
cluster_job_free (ClusterJob *job)
{
  g_atomic_rc_box_release_full (job->kube, clear_kube);
  g_clear_pointer (&job->object, json_object_unref);
  g_free (job->ns), g_free (job->name), g_free (job->migration), g_free (job->proxy);
  g_free (job->upload_url);
  g_free (job->import_url);
  if (job->token)
    memset (job->token, 0, strlen (job->token));
  g_free (job->token);
  g_object_unref (job->alive);
  g_free (job);
}

typedef struct {
  VmRun *v;
  guint64 done;
  GCancellable *alive;
} ProgressMessage;

static gboolean
deliver_progress (gpointer data)
{
  ProgressMessage *m = data;
  if (!g_cancellable_is_cancelled (m->alive))
    {
      VmRun *v = m->v;
      v->bytes_now = m->done;
      show (v);
      mtv_migration_emit_progress (v->run->iface, v->path, v->bytes_base + v->bytes_now, v->bytes_total);
    }
  g_object_unref (m->alive);
  g_free (m);
  return G_SOURCE_REMOVE;
}

/* From the worker watching the DataVolume: CDI's percentage as bytes. */
static void
import_progress (double percent, gpointer data)
{
  ClusterJob *job = data;
  ProgressMessage *m = g_new0 (ProgressMessage, 1);
  m->v = job->v;
  m->done = (guint64) (job->capacity * CLAMP (percent, 0.0, 100.0) / 100.0);
  m->alive = g_object_ref (job->alive);
  g_idle_add (deliver_progress, m);
}

static void
cluster_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ClusterJob *job = data;
  MtvKube *kube = *job->kube;
  GError *error = NULL;
  gboolean ok = FALSE;
  switch (job->kind)
    {
    case JOB_PREPARE_DISK:
      ok = mtv_cluster_prepare_disk (kube, job->object, job->proxy, &job->upload_url, &job->token, &error);
      break;
    case JOB_WAIT_DISK:
      ok = mtv_cluster_wait_disk (kube, job->ns, job->name, 3600, NULL, NULL, &error);
      break;
    case JOB_IMPORT_DISK:
      ok = mtv_cluster_import_disk (kube, job->object, job->import_url, 24 * 3600, import_progress, job, &error);
      break;
    case JOB_CREATE_VM:
      ok = mtv_cluster_create_vm (kube, job->object, &error);
      break;
    case JOB_REMOVE_VM:
      ok = mtv_cluster_remove_vm (kube, job->ns, job->migration, job->name, &error);
      break;
    }
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static ClusterJob *
cluster_job_new (VmRun *v, JobKind kind)
{
  MtvRun *run = v->run;
  ClusterJob *job = g_new0 (ClusterJob, 1);
  job->kind = kind;
  job->kube = g_atomic_rc_box_acquire (run->kube);
  job->alive = g_object_ref (run->alive);
  job->ns = g_strdup (target_namespace (run));
  job->name = g_strdup (v->target_name);
  job->migration = g_strdup (run->id);
  job->proxy = g_strdup (run->proxy_url);
  return job;
}

static void
cluster_run (ClusterJob *job, GAsyncReadyCallback done, VmRun *v)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, done, v);
  g_task_set_task_data (task, job, (GDestroyNotify) cluster_job_free);
  g_task_run_in_thread (task, cluster_thread);
}

/* The VM a job was for when it succeeded; NULL when the run is gone (then
 * nothing may be touched) or the job failed (then the VM has failed). */
static VmRun *
cluster_done (GAsyncResult *res, gpointer data)
{
  ClusterJob *job = g_task_get_task_data (G_TASK (res));
  if (g_cancellable_is_cancelled (job->alive))
    return NULL;
  VmRun *v = data;
  g_autoptr (GError) error = NULL;
  if (!g_task_propagate_boolean (G_TASK (res), &error))
    {
      finish (v, "Failed", error->message);
      return NULL;
    }
  return v;
}

static void
on_removed (GObject *source, GAsyncResult *res, gpointer data)
{
  ClusterJob *job = g_task_get_task_data (G_TASK (res));
  g_autoptr (GError) error = NULL;
  if (!g_task_propagate_boolean (G_TASK (res), &error))
    g_warning ("migration %s: VM %s: its objects in the cluster could not be removed: %s", job->migration, job->name,
               error->message);
}

/* A failed or cancelled VM's DataVolumes and VirtualMachine go, in the background. */
static void
cluster_remove (VmRun *v)
{
  cluster_run (cluster_job_new (v, JOB_REMOVE_VM), on_removed, v);
}

static JsonArray *
cluster_manifests (VmRun *v, GError **error)
{
  MtvVmBuildInput in = build_input (v);
  return mtv_vm_build_manifests (&in, error);
}

/* Connects a run to its cluster target; FALSE with @error when it cannot. */
static gboolean
cluster_attach (MtvRun *run, const char *target_name, GError **error)
{
  JsonObject *target = snap (run, "targetProvider");
  if (g_strcmp0 (json_object_get_string_member_with_default (target, "type", ""), "openshift") != 0
      && g_strcmp0 (json_object_get_string_member_with_default (target, "type", ""), "kubevirt") != 0)
    return TRUE;
  g_autoptr (JsonObject) credentials = mtv_daemon_provider_credentials (run->host->daemon, target_name);
  MtvKubeConfig *config = mtv_openshift_connection (target, credentials, error);
  if (config == NULL)
    return FALSE;
  run->insecure = config->insecure;
  if (config->ca_pem)
    {
      /* mtv-transfer takes the CA as a file; it holds no secret. */
      run->cacert_file = g_strdup_printf ("%s/%s-ca.pem", run->host->runtime_dir, run->id);
      if (!g_file_set_contents (run->cacert_file, g_bytes_get_data (config->ca_pem, NULL),
                                (gssize) g_bytes_get_size (config->ca_pem), error))
        {
          mtv_kube_config_free (config);
          return FALSE;
        }
    }
  JsonObject *settings = json_object_has_member (target, "settings") ? json_object_get_object_member (target, "settings") : NULL;
  run->proxy_url = g_strdup (settings ? json_object_get_string_member_with_default (settings, "uploadProxyURL", NULL) : NULL);
  const char *mode = settings ? json_object_get_string_member_with_default (settings, "transferMode", "host") : "host";
  if (g_str_equal (mode, "cluster"))
    {
      /* CDI's importer pods pull the disks from mtvd: they must reach it. */
      run->disk_http = mtv_disk_http_new (json_object_get_string_member_with_default (settings, "diskServerAddress", NULL),
                                          error);
      if (run->disk_http == NULL)
        {
          mtv_kube_config_free (config);
          return FALSE;
        }
    }
  else if (!g_str_equal (mode, "host"))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "settings.transferMode: \"%s\" is not host or cluster", mode);
      mtv_kube_config_free (config);
      return FALSE;
    }
  run->kube = g_atomic_rc_box_new0 (MtvKube *);
  *run->kube = mtv_kube_new (config);
  return TRUE;
}


/* ---- live migration between KubeVirt clusters (decentralized) --------------------- */

static void complete (VmRun *v);

typedef struct {
  MtvKube **target;
  JsonObject *source_spec, *source_credentials, *vm_object, *labels, *storage_map;
  char *target_namespace, *target_name, *migration_id;
  VmRun *v;                 /* only for phase messages, which check alive */
  GCancellable *alive;
} LiveJob;

static void
live_job_free (LiveJob *job)
{
  g_atomic_rc_box_release_full (job->target, clear_kube);
  g_clear_pointer (&job->source_spec, json_object_unref);
  g_clear_pointer (&job->source_credentials, json_object_unref);
  g_clear_pointer (&job->vm_object, json_object_unref);
  g_clear_pointer (&job->labels, json_object_unref);
  g_clear_pointer (&job->storage_map, json_object_unref);
  g_free (job->target_namespace), g_free (job->target_name), g_free (job->migration_id);
  g_object_unref (job->alive);
  g_free (job);
}

typedef struct {
  VmRun *v;
  char *phase;
  GCancellable *alive;
} PhaseMessage;

static gboolean
deliver_phase (gpointer data)
{
  PhaseMessage *m = data;
  if (!g_cancellable_is_cancelled (m->alive))
    enter (m->v, m->phase);
  g_object_unref (m->alive);
  g_free (m->phase);
  g_free (m);
  return G_SOURCE_REMOVE;
}

/* From the worker: the step shows on D-Bus through the main loop. */
static void
live_phase (const char *phase, gpointer data)
{
  LiveJob *job = data;
  PhaseMessage *m = g_new0 (PhaseMessage, 1);
  m->v = job->v;
  m->phase = g_strdup (phase);
  m->alive = g_object_ref (job->alive);
  g_idle_add (deliver_phase, m);
}

static void
live_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  LiveJob *job = data;
  GError *error = NULL;
  MtvKubeConfig *config = mtv_openshift_connection (job->source_spec, job->source_credentials, &error);
  g_autoptr (MtvKube) source_kube = config ? mtv_kube_new (config) : NULL;
  MtvLiveInput in = {
    .source_vm = job->vm_object,
    .target_namespace = job->target_namespace,
    .target_name = job->target_name,
    .labels = job->labels,
    .storage_map = job->storage_map,
    .migration_id = job->migration_id,
  };
  if (source_kube && mtv_cluster_live_migrate (source_kube, *job->target, &in, live_phase, job, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
on_live_done (GObject *source, GAsyncResult *res, gpointer data)
{
  LiveJob *job = g_task_get_task_data (G_TASK (res));
  if (g_cancellable_is_cancelled (job->alive))
    return;
  VmRun *v = data;
  g_autoptr (GError) error = NULL;
  if (!g_task_propagate_boolean (G_TASK (res), &error))
    {
      finish (v, "Failed", error->message);
      return;
    }
  g_free (v->destination);
  v->destination = g_strdup_printf ("%s/%s", job->target_namespace, job->target_name);
  complete (v);
}

static gboolean
is_live (MtvRun *run)
{
  return g_strcmp0 (json_object_get_string_member_with_default (snap (run, "planSpec"), "type", "cold"), "live") == 0;
}

static void
begin_live (VmRun *v)
{
  MtvRun *run = v->run;
  JsonObject *object = json_object_get_object_member (v->vm, "object");
  if (!is_cluster (run) || object == NULL)
    {
      finish (v, "Failed", "live migration needs a KubeVirt source and a KubeVirt target");
      return;
    }
  LiveJob *job = g_new0 (LiveJob, 1);
  job->target = g_atomic_rc_box_acquire (run->kube);
  job->source_spec = json_object_ref (snap (run, "sourceProvider"));
  job->source_credentials = source_credentials (run);
  job->vm_object = json_object_ref (object);
  job->storage_map = json_object_ref (snap (run, "storageMap"));
  job->target_namespace = g_strdup (target_namespace (run));
  job->target_name = g_strdup (v->target_name);
  job->migration_id = g_strdup_printf ("%s-%s", v->id, run->id);
  MtvVmBuildInput in = build_input (v);
  job->labels = mtv_vm_build_labels (&in);
  job->v = v;
  job->alive = g_object_ref (run->alive);
  v->dir_created = TRUE;   /* objects may exist in the target from here on */
  g_autoptr (GTask) task = g_task_new (NULL, NULL, on_live_done, v);
  g_task_set_task_data (task, job, (GDestroyNotify) live_job_free);
  g_task_run_in_thread (task, live_thread);
}


/* ---- sources that prepare a VM first (KubeVirt: stop and export it) -------------- */

typedef struct {
  const MtvProviderBackend *backend;
  JsonObject *spec, *credentials, *vm, *state;
  char *workdir;
  JsonArray *disks;
  gboolean release, restore_power;
  GCancellable *alive;
} SourceJob;

static void
source_job_free (SourceJob *job)
{
  g_clear_pointer (&job->spec, json_object_unref);
  g_clear_pointer (&job->credentials, json_object_unref);
  g_clear_pointer (&job->vm, json_object_unref);
  g_clear_pointer (&job->state, json_object_unref);
  g_clear_pointer (&job->disks, json_array_unref);
  g_free (job->workdir);
  g_object_unref (job->alive);
  g_free (job);
}

static const MtvProviderBackend *
source_backend (MtvRun *run)
{
  const MtvProviderType *type = mtv_provider_type_lookup (json_object_get_string_member (snap (run, "sourceProvider"), "type"));
  return type ? type->backend : NULL;
}

static SourceJob *
source_job_new (VmRun *v)
{
  MtvRun *run = v->run;
  SourceJob *job = g_new0 (SourceJob, 1);
  job->backend = source_backend (run);
  job->spec = json_object_ref (snap (run, "sourceProvider"));
  job->credentials = source_credentials (run);
  job->vm = json_object_ref (v->vm);
  job->state = v->source_state ? json_object_ref (v->source_state) : NULL;
  job->workdir = g_strdup (run->host->runtime_dir);
  job->alive = g_object_ref (run->alive);
  return job;
}

static void
source_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  SourceJob *job = data;
  GError *error = NULL;
  gboolean ok;
  if (job->release)
    ok = job->backend->release_vm (job->spec, job->credentials, job->state, job->restore_power, &error);
  else
    {
      g_clear_pointer (&job->state, json_object_unref);
      job->disks = job->backend->prepare_vm (job->spec, job->credentials, job->vm, job->workdir, &job->state, &error);
      ok = job->disks != NULL;
    }
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
on_source_released (GObject *source, GAsyncResult *res, gpointer data)
{
  SourceJob *job = g_task_get_task_data (G_TASK (res));
  g_autoptr (GError) error = NULL;
  if (!g_task_propagate_boolean (G_TASK (res), &error))
    g_warning ("VM %s: the source could not be released (export removed, power restored): %s",
               json_object_get_string_member_with_default (job->vm, "name", "?"), error->message);
}

/* After the VM ended: the export goes; a VM that did not migrate runs again
 * as it did, as Forklift restores the source's power state. */
static void
source_release (VmRun *v, gboolean restore_power)
{
  if (v->source_state == NULL)
    return;
  SourceJob *job = source_job_new (v);
  job->release = TRUE;
  job->restore_power = restore_power;
  g_autoptr (GTask) task = g_task_new (NULL, NULL, on_source_released, NULL);
  g_task_set_task_data (task, job, (GDestroyNotify) source_job_free);
  g_task_run_in_thread (task, source_thread);
}


static void copy_disk (VmRun *v);

static const char *
format_of (VmRun *v, guint index)
{
  JsonObject *disk = json_array_get_object_element (json_object_get_array_member (v->vm, "disks"), index);
  g_autofree char *name = g_strdup_printf ("%s/%s", v->name, json_object_get_string_member_with_default (disk, "name", ""));
  JsonObject *pair = mtv_inventory_find_pair (snap (v->run, "storageMap"),
                                              json_object_get_string_member_with_default (disk, "id", ""), name);
  return mtv_local_disk_format (pair ? json_object_get_object_member (pair, "destination") : NULL);
}

static JsonArray *
disks_of (VmRun *v)
{
  return json_object_get_array_member (v->vm, "disks");
}

static void
complete (VmRun *v)
{
  enter (v, "Completed");
  finish (v, "Succeeded", NULL);
}

typedef struct {
  char *uri;
  char *xml;
} DefineJob;

static void
define_job_free (DefineJob *job)
{
  g_free (job->uri);
  g_free (job->xml);
  g_free (job);
}

static void
define_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  DefineJob *job = data;
  GError *error = NULL;
  char *uuid = mtv_local_define (job->uri, job->xml, &error);
  if (uuid)
    g_task_return_pointer (task, uuid, g_free);
  else
    g_task_return_error (task, error);
}

static void
on_defined (GObject *source, GAsyncResult *res, gpointer data)
{
  VmRun *v = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *uuid = g_task_propagate_pointer (G_TASK (res), &error);
  if (uuid == NULL)
    {
      finish (v, "Failed", error->message);
      return;
    }
  JsonObject *target = snap (v->run, "targetProvider");
  g_free (v->libvirt_domain);
  v->libvirt_domain = g_strdup_printf ("%s %s",
                                       json_object_get_string_member (json_object_get_object_member (target, "settings"),
                                                                      "libvirtURI"), uuid);
  complete (v);
}

static void
on_vm_created (GObject *source, GAsyncResult *res, gpointer data)
{
  VmRun *v = cluster_done (res, data);
  if (v == NULL)
    return;
  ClusterJob *job = g_task_get_task_data (G_TASK (res));
  g_free (v->destination);
  v->destination = g_strdup_printf ("%s/%s", job->ns, job->name);
  complete (v);
}

static void
create_vm (VmRun *v)
{
  MtvRun *run = v->run;
  enter (v, "CreateVM");
  if (is_cluster (run))
    {
      ClusterJob *job = cluster_job_new (v, JOB_CREATE_VM);
      guint n = json_array_get_length (v->manifests);
      job->object = json_object_ref (json_array_get_object_element (v->manifests, n - 1));
      cluster_run (job, on_vm_created, v);
      return;
    }
  guint n = json_array_get_length (disks_of (v));
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) formats = g_ptr_array_new ();
  for (guint i = 0; i < n; i++)
    {
      g_ptr_array_add (files, mtv_local_image_path (v->dir, i, format_of (v, i)));
      g_ptr_array_add (formats, (gpointer) format_of (v, i));
    }
  g_ptr_array_add (files, NULL);
  g_ptr_array_add (formats, NULL);
  MtvVmBuildInput in = build_input (v);
  in.disk_files = (const char *const *) files->pdata;
  in.disk_formats = (const char *const *) formats->pdata;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonArray) manifests = mtv_vm_build_manifests (&in, &error);
  g_autofree char *xml = manifests ? mtv_vm_build_domain_xml (&in, &error) : NULL;
  if (xml == NULL || !mtv_local_finish (v->dir, v->target_name, manifests, xml, &error))
    {
      finish (v, "Failed", error->message);
      return;
    }
  g_free (v->destination);
  v->destination = g_strdup (v->dir);
  JsonObject *target = snap (run, "targetProvider");
  JsonObject *settings = json_object_has_member (target, "settings") ? json_object_get_object_member (target, "settings") : NULL;
  const char *uri = settings ? json_object_get_string_member_with_default (settings, "libvirtURI", NULL) : NULL;
  if (uri == NULL)
    {
      complete (v);
      return;
    }
  /* libvirt calls block: they run in a worker thread. */
  DefineJob *job = g_new0 (DefineJob, 1);
  job->uri = g_strdup (uri);
  job->xml = g_steal_pointer (&xml);
  g_autoptr (GTask) task = g_task_new (NULL, NULL, on_defined, v);
  g_task_set_task_data (task, job, (GDestroyNotify) define_job_free);
  g_task_run_in_thread (task, define_thread);
}

/* A disk the storage pair wants as qcow2 is converted from the copied raw
 * image and compared with it before the raw image goes. */
static void disk_done (VmRun *v);

/* NULL when a qemu-img run succeeded; else why it did not. */
static char *
qemu_img_failure (GObject *source, GAsyncResult *res, VmRun *v)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL, *err = NULL;
  GSubprocess *proc = G_SUBPROCESS (source);
  gboolean ok = g_subprocess_communicate_utf8_finish (proc, res, &out, &err, &error)
                && g_subprocess_get_if_exited (proc) && g_subprocess_get_exit_status (proc) == 0;
  g_object_unref (proc);
  if (ok)
    return NULL;
  return g_strdup_printf ("converting disk %u to qcow2: %s", v->disk,
                          error ? error->message : g_strstrip (err && *err ? err : (out ? out : "")));
}

static void
on_compared (GObject *source, GAsyncResult *res, gpointer data)
{
  VmRun *v = data;
  g_autofree char *failure = qemu_img_failure (source, res, v);
  if (failure)
    {
      finish (v, "Failed", failure);
      return;
    }
  g_autofree char *raw = mtv_local_disk_path (v->dir, v->disk);
  g_unlink (raw);
  disk_done (v);
}

static void
run_qemu_img (VmRun *v, GAsyncReadyCallback done, const char *first, ...)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  va_list ap;
  va_start (ap, first);
  for (const char *arg = first; arg; arg = va_arg (ap, const char *))
    g_strv_builder_add (b, arg);
  va_end (ap);
  g_auto (GStrv) argv = g_strv_builder_end (b);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  GSubprocess *proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv, &error);
  if (proc == NULL)
    {
      finish (v, "Failed", error->message);
      return;
    }
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, done, v);
}

static void
on_converted (GObject *source, GAsyncResult *res, gpointer data)
{
  VmRun *v = data;
  g_autofree char *failure = qemu_img_failure (source, res, v);
  if (failure)
    {
      finish (v, "Failed", failure);
      return;
    }
  g_autofree char *raw = mtv_local_disk_path (v->dir, v->disk);
  g_autofree char *qcow2 = mtv_local_image_path (v->dir, v->disk, "qcow2");
  run_qemu_img (v, on_compared, "qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", raw, qcow2, NULL);
}

static void
disk_done (VmRun *v)
{
  JsonObject *disk = json_array_get_object_element (disks_of (v), v->disk);
  v->bytes_base += (guint64) json_object_get_int_member_with_default (disk, "capacity", 0);
  v->bytes_now = 0;
  v->disk++;
  g_clear_pointer (&v->upload_url, g_free);
  if (v->upload_token)
    memset (v->upload_token, 0, strlen (v->upload_token));
  g_clear_pointer (&v->upload_token, g_free);
  save (v->run); /* a restart goes on with the next disk */
  copy_disk (v);
}

static void
on_disk_arrived (GObject *source, GAsyncResult *res, gpointer data)
{
  VmRun *v = cluster_done (res, data);
  if (v)
    disk_done (v);
}

static void
on_server_gone (GObject *source, GAsyncResult *res, gpointer data)
{
  VmRun *v = data;
  g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL);
  g_clear_object (&v->server);
  if (v->socket)
    unlink (v->socket);
  g_clear_pointer (&v->socket, g_free);
  if (v->cancel_requested)
    finish (v, "Canceled", NULL);
  else if (!v->transfer_ok)
    finish (v, "Failed", v->transfer_error ? v->transfer_error : "the disk copy failed");
  else if (is_cluster (v->run) && v->run->disk_http)
    disk_done (v);   /* the import's watch saw the DataVolume succeed */
  else if (is_cluster (v->run))
    {
      ClusterJob *job = cluster_job_new (v, JOB_WAIT_DISK);
      g_free (job->name);
      job->name = mtv_vm_disk_volume_name (v->target_name, v->disk);
      cluster_run (job, on_disk_arrived, v);
    }
  else if (g_str_equal (format_of (v, v->disk), "qcow2"))
    {
      g_autofree char *raw = mtv_local_disk_path (v->dir, v->disk);
      g_autofree char *qcow2 = mtv_local_image_path (v->dir, v->disk, "qcow2");
      run_qemu_img (v, on_converted, "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, qcow2, NULL);
    }
  else
    disk_done (v);
}

static void
stop_server (VmRun *v)
{
  if (v->server == NULL)
    {
      on_server_gone (NULL, NULL, v);
      return;
    }
  g_subprocess_send_signal (v->server, SIGTERM);
  g_subprocess_wait_async (v->server, NULL, on_server_gone, v);
}

static void
on_transfer_done (GObject *source, GAsyncResult *res, gpointer data)
{
  VmRun *v = data;
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr (GError) error = NULL;
  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), res, &out, &err, &error);
  v->transfer_ok = error == NULL && g_subprocess_get_if_exited (v->transfer)
                   && g_subprocess_get_exit_status (v->transfer) == 0;
  g_free (v->transfer_error);
  v->transfer_error = NULL;
  JsonObject *summary = v->transfer_ok && out ? mtv_json_object_from_string (out, "mtv-transfer's summary", NULL) : NULL;
  if (summary)
    {
      json_object_set_int_member (summary, "disk", v->disk);
      json_array_add_object_element (v->copies, summary);
    }
  if (!v->transfer_ok)
    {
      g_autofree char *msg = g_strdup (err && *err ? g_strstrip (err) : (error ? error->message : "mtv-transfer failed"));
      if (g_str_has_prefix (msg, "mtv-transfer: "))
        memmove (msg, msg + strlen ("mtv-transfer: "), strlen (msg) - strlen ("mtv-transfer: ") + 1);
      JsonObject *disk = json_array_get_object_element (disks_of (v), v->disk);
      v->transfer_error = g_strdup_printf ("copying disk %s: %s", json_object_get_string_member_with_default (disk, "name", "?"), msg);
    }
  g_cancellable_cancel (v->io);
  g_clear_object (&v->io);
  g_clear_object (&v->transfer);
  stop_server (v);
}

static void read_progress (GDataInputStream *in, VmRun *v);

static void
on_progress_line (GObject *source, GAsyncResult *res, gpointer data)
{
  GDataInputStream *in = G_DATA_INPUT_STREAM (source);
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (in, res, NULL, &error);
  if (line == NULL)
    {
      g_object_unref (in);
      return; /* end of stream, or cancelled: the VM may be gone */
    }
  VmRun *v = data;
  g_autoptr (JsonObject) o = mtv_json_object_from_string (line, "progress", NULL);
  if (o)
    {
      v->bytes_now = (guint64) json_object_get_int_member_with_default (o, "bytes_done", 0);
      v->rate = json_object_get_double_member_with_default (o, "rate", 0);
      show (v);
      mtv_migration_emit_progress (v->run->iface, v->path, v->bytes_base + v->bytes_now, v->bytes_total);
    }
  read_progress (in, v);
}

static void
read_progress (GDataInputStream *in, VmRun *v)
{
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, v->io, on_progress_line, v);
}

static void
on_disk_imported (GObject *source, GAsyncResult *res, gpointer data)
{
  ClusterJob *job = g_task_get_task_data (G_TASK (res));
  if (g_cancellable_is_cancelled (job->alive))
    return;   /* the run and its disk server are gone */
  VmRun *v = data;
  mtv_disk_http_withdraw (v->run->disk_http, job->import_url);
  g_autoptr (GError) error = NULL;
  v->transfer_ok = g_task_propagate_boolean (G_TASK (res), &error);
  g_free (v->transfer_error);
  v->transfer_error = error ? g_strdup (error->message) : NULL;
  stop_server (v);
}

/* Cluster transfer mode: the disk is published over HTTP and CDI imports it. */
static void
start_import (VmRun *v)
{
  MtvRun *run = v->run;
  g_autofree char *uri = g_strdup_printf ("nbd+unix:///?socket=%s", v->socket);
  JsonObject *disk = json_array_get_object_element (disks_of (v), v->disk);
  ClusterJob *job = cluster_job_new (v, JOB_IMPORT_DISK);
  job->capacity = (guint64) json_object_get_int_member_with_default (disk, "capacity", 0);
  job->import_url = mtv_disk_http_publish (run->disk_http, uri, job->capacity);
  job->object = json_object_ref (json_array_get_object_element (v->manifests, v->disk));
  job->v = v;
  cluster_run (job, on_disk_imported, v);
}

static void
start_transfer (VmRun *v)
{
  MtvRun *run = v->run;
  g_autoptr (GError) error = NULL;
  if (run->disk_http)
    {
      start_import (v);
      return;
    }
  int fds[2];
  if (!g_unix_open_pipe (fds, FD_CLOEXEC, &error))
    {
      finish (v, "Failed", error->message);
      return;
    }
  g_autofree char *uri = g_strdup_printf ("nbd+unix:///?socket=%s", v->socket);
  g_autofree char *dest = is_cluster (run) ? g_strdup (v->upload_url) : mtv_local_disk_path (v->dir, v->disk);
  int token_fds[2] = { -1, -1 };
  if (is_cluster (run))
    {
      /* The upload token goes through a pipe, never on the command line. */
      if (!g_unix_open_pipe (token_fds, FD_CLOEXEC, &error)
          || write (token_fds[1], v->upload_token, strlen (v->upload_token)) != (ssize_t) strlen (v->upload_token))
        {
          close (fds[0]), close (fds[1]);
          finish (v, "Failed", error ? error->message : "cannot pass the upload token");
          return;
        }
      close (token_fds[1]);
    }
  JsonObject *settings = json_object_has_member (snap (run, "sourceProvider"), "settings")
                           ? json_object_get_object_member (snap (run, "sourceProvider"), "settings") : NULL;
  const char *max_rate = settings ? json_object_get_string_member_with_default (settings, "transferMaxRate", NULL) : NULL;
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_autofree char *checkpoint = checkpoint_path (v, v->disk);
  g_strv_builder_add_many (b, run->host->transfer_path, "--progress-fd", "3", NULL);
  if (is_cluster (run))
    {
      /* An upload cannot resume from a checkpoint: it starts over. */
      g_strv_builder_add_many (b, "--token-fd", "4", NULL);
      if (run->cacert_file)
        g_strv_builder_add_many (b, "--cacert", run->cacert_file, NULL);
      if (run->insecure)
        g_strv_builder_add (b, "--insecure");
    }
  else
    g_strv_builder_add_many (b, "--checkpoint", checkpoint, NULL);
  if (max_rate)
    g_strv_builder_add_many (b, "--max-rate", max_rate, NULL);
  g_strv_builder_add_many (b, uri, dest, NULL);
  g_auto (GStrv) argv = g_strv_builder_end (b);

  g_autoptr (GSubprocessLauncher) launcher =
    launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_take_fd (launcher, fds[1], 3);
  if (token_fds[0] >= 0)
    g_subprocess_launcher_take_fd (launcher, token_fds[0], 4);
  v->transfer = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv, &error);
  if (v->transfer == NULL)
    {
      close (fds[0]);
      g_autofree char *msg = g_strdup_printf ("cannot start mtv-transfer: %s", error->message);
      v->transfer_ok = FALSE;
      v->transfer_error = g_steal_pointer (&msg);
      stop_server (v);
      return;
    }
  v->io = g_cancellable_new ();
  GDataInputStream *in = g_data_input_stream_new (g_unix_input_stream_new (fds[0], TRUE));
  g_object_unref (g_filter_input_stream_get_base_stream (G_FILTER_INPUT_STREAM (in)));
  read_progress (in, v);
  g_subprocess_communicate_utf8_async (v->transfer, NULL, NULL, on_transfer_done, v);
}

/* Disk servers (qemu-nbd) allocate a buffer per request. With glibc's default
 * thresholds a 1 MiB buffer (mtv-transfer's read size) is handed back to the
 * kernel when freed and returns page-faulted and zeroed for the next request:
 * that doubled qemu-nbd's CPU time per copy. Keeping freed memory (at most
 * what is in flight) avoids it; see bench/README.md. */
#define DISK_SERVER_MALLOC_TUNABLES "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728"

/* qemu-nbd takes a moment to listen; the socket's appearance says it does. */
static gboolean
wait_for_socket (gpointer data)
{
  VmRun *v = data;
  if (v->cancel_requested)
    {
      v->wait_source = 0;
      v->transfer_ok = FALSE;
      stop_server (v);
      return G_SOURCE_REMOVE;
    }
  if (g_file_test (v->socket, G_FILE_TEST_EXISTS))
    {
      v->wait_source = 0;
      start_transfer (v);
      return G_SOURCE_REMOVE;
    }
  if (g_subprocess_get_identifier (v->server) == NULL || ++v->wait_ticks > 600)
    {
      v->wait_source = 0;
      v->transfer_ok = FALSE;
      g_free (v->transfer_error);
      v->transfer_error = g_strdup ("the disk's NBD server (qemu-nbd) did not start");
      stop_server (v);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
on_disk_prepared (GObject *source, GAsyncResult *res, gpointer data)
{
  VmRun *v = cluster_done (res, data);
  if (v == NULL)
    return;
  ClusterJob *job = g_task_get_task_data (G_TASK (res));
  g_free (v->upload_url);
  v->upload_url = g_steal_pointer (&job->upload_url);
  g_free (v->upload_token);
  v->upload_token = g_steal_pointer (&job->token);
  copy_disk (v);
}

static void
copy_disk (VmRun *v)
{
  MtvRun *run = v->run;
  JsonArray *disks = disks_of (v);
  if (v->cancel_requested)
    {
      finish (v, "Canceled", NULL);
      return;
    }
  if (v->disk >= json_array_get_length (disks))
    {
      create_vm (v);
      return;
    }
  if (is_cluster (run) && run->disk_http == NULL && v->upload_token == NULL)
    {
      ClusterJob *job = cluster_job_new (v, JOB_PREPARE_DISK);
      job->object = json_object_ref (json_array_get_object_element (v->manifests, v->disk));
      cluster_run (job, on_disk_prepared, v);
      return;
    }
  JsonObject *disk = json_array_get_object_element (v->source_disks ? v->source_disks : disks, v->disk);
  const MtvProviderType *type = mtv_provider_type_lookup (
    json_object_get_string_member (snap (run, "sourceProvider"), "type"));
  g_autoptr (GError) error = NULL;
  g_free (v->socket);
  v->socket = g_strdup_printf ("%s/%s-%u-%u.sock", run->host->runtime_dir, run->id, v->index, v->disk);
  unlink (v->socket);
  g_auto (GStrv) argv = type && type->backend && type->backend->disk_server_argv
                          ? type->backend->disk_server_argv (disk, v->socket, &error)
                          : NULL;
  if (argv == NULL)
    {
      finish (v, "Failed", error ? error->message : "the source cannot serve its disks");
      return;
    }
  g_autoptr (GSubprocessLauncher) launcher =
    launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_setenv (launcher, "GLIBC_TUNABLES", DISK_SERVER_MALLOC_TUNABLES, TRUE);
  v->server = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv, &error);
  if (v->server == NULL)
    {
      finish (v, "Failed", error->message);
      return;
    }
  v->wait_ticks = 0;
  v->wait_source = g_timeout_add (50, wait_for_socket, v);
}

static void on_source_prepared (GObject *source, GAsyncResult *res, gpointer data);
static void on_source_reprepared (GObject *source, GAsyncResult *res, gpointer data);
static void begin_target (VmRun *v);

static void
begin (VmRun *v)
{
  MtvRun *run = v->run;
  g_free (v->status);
  v->status = g_strdup ("Running");
  if (v->resume)
    {
      /* mtvd restarted mid-copy: the directory is ours, the copies have checkpoints. */
      v->resume = FALSE;
      set_run_phase (run);
      g_message ("migration %s: VM %s: resuming at disk %u", run->id, v->name, v->disk);
      const MtvProviderBackend *backend = source_backend (run);
      if (backend && backend->prepare_vm && v->source_disks == NULL)
        {
          /* The export token died with the old mtvd: prepare again. */
          g_autoptr (GTask) task = g_task_new (NULL, NULL, on_source_reprepared, v);
          g_task_set_task_data (task, source_job_new (v), (GDestroyNotify) source_job_free);
          g_task_run_in_thread (task, source_thread);
          return;
        }
      if (is_cluster (run) && v->manifests == NULL)
        {
          g_autoptr (GError) error = NULL;
          if ((v->manifests = cluster_manifests (v, &error)) == NULL)
            {
              finish (v, "Failed", error->message);
              return;
            }
        }
      enter (v, "CopyDisks");
      copy_disk (v);
      return;
    }
  g_free (v->started);
  v->started = now ();
  set_run_phase (run);
  enter (v, "Started");
  if (is_live (run))
    {
      begin_live (v);
      return;
    }
  const MtvProviderBackend *backend = source_backend (run);
  if (backend && backend->prepare_vm && v->source_disks == NULL)
    {
      /* Forklift's PowerOffSource: stop the VM and export it, in a worker. */
      enter (v, "PowerOffSource");
      g_autoptr (GTask) task = g_task_new (NULL, NULL, on_source_prepared, v);
      g_task_set_task_data (task, source_job_new (v), (GDestroyNotify) source_job_free);
      g_task_run_in_thread (task, source_thread);
      return;
    }
  begin_target (v);
}

/* The VM a successful prepare_vm was for, with its prepared disks and the
 * state release needs (kept even when preparing failed half way); NULL when
 * the run is gone or preparing failed (then the VM has failed). */
static VmRun *
source_prepared (GAsyncResult *res, gpointer data)
{
  SourceJob *job = g_task_get_task_data (G_TASK (res));
  if (g_cancellable_is_cancelled (job->alive))
    return NULL;
  VmRun *v = data;
  g_autoptr (GError) error = NULL;
  if (job->state)
    {
      g_clear_pointer (&v->source_state, json_object_unref);
      v->source_state = json_object_ref (job->state);
    }
  if (!g_task_propagate_boolean (G_TASK (res), &error))
    {
      finish (v, "Failed", error->message);
      return NULL;
    }
  g_clear_pointer (&v->source_disks, json_array_unref);
  v->source_disks = g_steal_pointer (&job->disks);
  save (v->run);
  return v;
}

static void
on_source_prepared (GObject *source, GAsyncResult *res, gpointer data)
{
  VmRun *v = source_prepared (res, data);
  if (v)
    begin_target (v);
}

/* After a restart: prepared again, the VM resumes its copy. */
static void
on_source_reprepared (GObject *source, GAsyncResult *res, gpointer data)
{
  VmRun *v = source_prepared (res, data);
  if (v == NULL)
    return;
  v->resume = TRUE;
  begin (v);
}

static void
begin_target (VmRun *v)
{
  MtvRun *run = v->run;
  enter (v, "CreateDataVolumes");
  g_autoptr (GError) error = NULL;
  if (is_cluster (run))
    {
      /* The DataVolumes are made disk by disk, just before each copy. */
      g_clear_pointer (&v->manifests, json_array_unref);
      if ((v->manifests = cluster_manifests (v, &error)) == NULL)
        {
          finish (v, "Failed", error->message);
          return;
        }
      v->dir_created = TRUE;   /* objects may exist in the cluster from here on */
      enter (v, "CopyDisks");
      copy_disk (v);
      return;
    }
  g_free (v->dir);
  v->dir = mtv_local_vm_dir (snap (run, "targetProvider"), target_namespace (run), v->target_name);
  if (!mtv_local_prepare (v->dir, &error))
    {
      finish (v, "Failed", error->message);
      return;
    }
  v->dir_created = TRUE;
  enter (v, "CopyDisks");
  copy_disk (v);
}

/* ---- construction ------------------------------------------------------------ */

static VmRun *
vm_new (MtvRun *run, guint index, JsonObject *plan_vm, JsonObject *vm, const char *target_name)
{
  VmRun *v = g_new0 (VmRun, 1);
  v->run = run;
  v->index = index;
  v->plan_vm = json_object_ref (plan_vm);
  v->vm = json_object_ref (vm);
  v->name = g_strdup (json_object_get_string_member_with_default (vm, "name", ""));
  v->id = g_strdup (json_object_get_string_member_with_default (vm, "id", ""));
  v->target_name = g_strdup (target_name);
  v->status = g_strdup ("Pending");
  v->phase = g_strdup ("Pending");
  v->copies = json_array_new ();
  JsonArray *disks = disks_of (v);
  for (guint i = 0; disks && i < json_array_get_length (disks); i++)
    v->bytes_total += (guint64) json_object_get_int_member_with_default (json_array_get_object_element (disks, i), "capacity", 0);
  v->path = g_strdup_printf ("%s/vms/%u", run->path, index);
  v->object = mtv_object_skeleton_new (v->path);
  v->iface = mtv_migration_vm_skeleton_new ();
  mtv_migration_vm_set_name (v->iface, v->name);
  mtv_migration_vm_set_id (v->iface, v->id);
  mtv_migration_vm_set_target_name (v->iface, v->target_name);
  mtv_object_skeleton_set_migration_vm (v->object, v->iface);
  return v;
}

static void
vm_free (VmRun *v)
{
  if (v->wait_source)
    g_source_remove (v->wait_source);
  if (v->io)
    g_cancellable_cancel (v->io);
  g_clear_object (&v->io);
  g_clear_object (&v->transfer);
  g_clear_object (&v->server);
  g_dbus_object_manager_server_unexport (v->run->host->objects, v->path);
  g_clear_object (&v->iface);
  g_clear_object (&v->object);
  json_object_unref (v->plan_vm);
  json_object_unref (v->vm);
  g_clear_pointer (&v->manifests, json_array_unref);
  g_clear_pointer (&v->source_disks, json_array_unref);
  g_clear_pointer (&v->source_state, json_object_unref);
  json_array_unref (v->copies);
  g_free (v->upload_url);
  g_free (v->upload_token);
  g_free (v->name), g_free (v->id), g_free (v->target_name), g_free (v->status), g_free (v->phase);
  g_free (v->error), g_free (v->destination), g_free (v->started), g_free (v->completed);
  g_free (v->dir), g_free (v->libvirt_domain), g_free (v->socket), g_free (v->transfer_error), g_free (v->path);
  g_free (v);
}

static MtvRun *
run_alloc (const MtvRunHost *host, const char *id, const char *plan, JsonObject *snapshot)
{
  MtvRun *run = g_new0 (MtvRun, 1);
  run->host = host;
  run->id = g_strdup (id);
  run->plan = g_strdup (plan);
  run->path = g_strdup_printf ("%s/migrations/%s", MTV_ROOT_PATH, id);
  run->phase = g_strdup ("Running");
  run->snapshot = json_object_ref (snapshot);
  run->vms = g_ptr_array_new_with_free_func ((GDestroyNotify) vm_free);
  run->alive = g_cancellable_new ();
  run->object = mtv_object_skeleton_new (run->path);
  run->iface = mtv_migration_skeleton_new ();
  mtv_migration_set_plan (run->iface, plan);
  mtv_migration_set_cutover (run->iface, "");
  mtv_object_skeleton_set_migration (run->object, run->iface);
  return run;
}

static void
export (MtvRun *run)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new ();
  for (guint i = 0; i < run->vms->len; i++)
    {
      VmRun *v = run->vms->pdata[i];
      g_ptr_array_add (paths, v->path);
      show (v);
      g_dbus_object_manager_server_export (run->host->objects, G_DBUS_OBJECT_SKELETON (v->object));
    }
  g_ptr_array_add (paths, NULL);
  mtv_migration_set_vms (run->iface, (const char *const *) paths->pdata);
  mtv_migration_set_started (run->iface, run->started);
  set_run_phase (run);
  g_dbus_object_manager_server_export (run->host->objects, G_DBUS_OBJECT_SKELETON (run->object));
}

MtvRun *
mtv_run_new (const MtvRunHost *host, const MtvRecord *plan, GError **error)
{
  MtvDaemon *daemon = host->daemon;
  JsonObject *spec = plan->spec;
#define REF(path) mtv_reference_name (mtv_json_lookup_path (spec, path))
  const MtvRecord *source = mtv_daemon_lookup_record (daemon, MTV_KIND_PROVIDER, REF ("provider.source"));
  const MtvRecord *target = mtv_daemon_lookup_record (daemon, MTV_KIND_PROVIDER, REF ("provider.destination"));
  const MtvRecord *net = mtv_daemon_lookup_record (daemon, MTV_KIND_NETWORK_MAP, REF ("map.network"));
  const MtvRecord *storage = mtv_daemon_lookup_record (daemon, MTV_KIND_STORAGE_MAP, REF ("map.storage"));
#undef REF
  MtvProviderRuntime *rt = source ? mtv_daemon_provider_runtime (daemon, source->name) : NULL;
  if (!source || !target || !net || !storage || rt == NULL || rt->inventory == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "the plan's providers, maps or inventory are not available");
      return NULL;
    }
  const char *target_type = json_object_get_string_member (target->spec, "type");
  if (g_strcmp0 (target_type, "local") != 0 && g_strcmp0 (target_type, "openshift") != 0
      && g_strcmp0 (target_type, "kubevirt") != 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "a %s provider cannot be a migration target", target_type);
      return NULL;
    }
  g_autoptr (JsonObject) snapshot = json_object_new ();
  json_object_set_object_member (snapshot, "planSpec", mtv_json_object_copy (spec));
  json_object_set_string_member (snapshot, "planUid", plan->uid);
  json_object_set_object_member (snapshot, "sourceProvider", mtv_json_object_copy (source->spec));
  json_object_set_object_member (snapshot, "targetProvider", mtv_json_object_copy (target->spec));
  json_object_set_object_member (snapshot, "networkMap", mtv_json_object_copy (net->spec));
  json_object_set_object_member (snapshot, "storageMap", mtv_json_object_copy (storage->spec));

  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *id = g_strndup (uuid, 8);
  MtvRun *run = run_alloc (host, id, plan->name, snapshot);
  run->started = now ();
  if (!cluster_attach (run, target->name, error))
    {
      g_prefix_error (error, "target %s: ", target->name);
      mtv_run_free (run);
      return NULL;
    }
  JsonArray *vms = json_object_get_array_member (spec, "vms");
  for (guint i = 0; i < json_array_get_length (vms); i++)
    {
      JsonObject *plan_vm = json_array_get_object_element (vms, i);
      JsonObject *vm = mtv_inventory_find_vm (rt->inventory, plan_vm);
      if (vm == NULL)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "vms[%u]: the VM is not in the source inventory", i);
          mtv_run_free (run);
          return NULL;
        }
      const char *explicit_name = json_object_get_string_member_with_default (plan_vm, "targetName", NULL);
      g_autofree char *target_name = explicit_name ? g_strdup (explicit_name)
                                                   : mtv_name_from_vm (json_object_get_string_member (vm, "name"));
      g_autoptr (JsonObject) vm_copy = mtv_json_object_copy (vm);
      g_autoptr (JsonObject) plan_vm_copy = mtv_json_object_copy (plan_vm);
      g_ptr_array_add (run->vms, vm_new (run, i, plan_vm_copy, vm_copy, target_name));
    }
  save (run);
  export (run);
  return run;
}

static const char *
member (JsonObject *o, const char *key)
{
  return json_object_get_string_member_with_default (o, key, "");
}

MtvRun *
mtv_run_restore (const MtvRunHost *host, const char *id, JsonObject *state)
{
  MtvRun *run = run_alloc (host, id, member (state, "plan"), json_object_get_object_member (state, "snapshot"));
  run->started = g_strdup (member (state, "started"));
  if (*member (state, "completed"))
    run->completed = g_strdup (member (state, "completed"));
  g_free (run->phase);
  run->phase = g_strdup (member (state, "phase"));
  JsonArray *vms = json_object_get_array_member (state, "vms");
  gboolean changed = FALSE;
  g_autoptr (GError) attach_error = NULL;
  const char *target_name = mtv_reference_name (mtv_json_lookup_path (snap (run, "planSpec"), "provider.destination"));
  if (!cluster_attach (run, target_name ? target_name : "", &attach_error))
    g_warning ("migration %s: its target cluster is not reachable as configured: %s", id, attach_error->message);
  for (guint i = 0; i < json_array_get_length (vms); i++)
    {
      JsonObject *o = json_array_get_object_element (vms, i);
      VmRun *v = vm_new (run, i, json_object_get_object_member (o, "planVm"), json_object_get_object_member (o, "vm"),
                         member (o, "targetName"));
      g_free (v->status), v->status = g_strdup (member (o, "status"));
      g_free (v->phase), v->phase = g_strdup (member (o, "phase"));
      v->error = *member (o, "error") ? g_strdup (member (o, "error")) : NULL;
      v->destination = *member (o, "destination") ? g_strdup (member (o, "destination")) : NULL;
      v->started = *member (o, "started") ? g_strdup (member (o, "started")) : NULL;
      v->completed = *member (o, "completed") ? g_strdup (member (o, "completed")) : NULL;
      v->dir_created = json_object_get_boolean_member_with_default (o, "dirCreated", FALSE);
      if (json_object_has_member (o, "sourceState"))
        v->source_state = json_object_ref (json_object_get_object_member (o, "sourceState"));
      JsonNode *copies = json_object_get_member (o, "copies");
      if (copies && JSON_NODE_HOLDS_ARRAY (copies))
        {
          json_array_unref (v->copies);
          v->copies = json_array_ref (json_node_get_array (copies));
        }
      g_ptr_array_add (run->vms, v);
      v->dir = mtv_local_vm_dir (snap (run, "targetProvider"), target_namespace (run), v->target_name);
      v->disk = (guint) json_object_get_int_member_with_default (o, "disk", 0);
      v->bytes_base = (guint64) json_object_get_int_member_with_default (o, "bytesBase", 0);
      if (g_str_equal (v->status, "Running") && g_str_equal (v->phase, "CopyDisks") && v->dir_created)
        {
          /* It was copying: it goes on where its copy's checkpoint says. */
          v->resume = TRUE;
          g_free (v->status), v->status = g_strdup ("Pending");
          changed = TRUE;
        }
      else if (g_str_equal (v->status, "Running"))
        {
          /* Stopped in another phase: what it wrote is incomplete. */
          g_autofree char *why = g_strdup_printf ("mtvd stopped while the VM was in phase %s; its partial disks were removed",
                                                  v->phase);
          if (v->dir_created && is_cluster (run))
            cluster_remove (v);
          else if (v->dir_created)
            mtv_local_abort (v->dir);
          v->dir_created = FALSE;
          g_free (v->status), v->status = g_strdup ("Failed");
          g_free (v->error), v->error = g_steal_pointer (&why);
          g_free (v->completed), v->completed = now ();
          changed = TRUE;
        }
    }
  set_run_phase (run);
  if (changed)
    save (run);
  export (run);
  return run;
}

void
mtv_run_free (MtvRun *run)
{
  if (run == NULL)
    return;
  g_cancellable_cancel (run->alive);
  g_ptr_array_unref (run->vms);
  g_object_unref (run->alive);
  if (run->kube)
    g_atomic_rc_box_release_full (run->kube, clear_kube);
  if (run->cacert_file)
    unlink (run->cacert_file);
  g_clear_pointer (&run->disk_http, mtv_disk_http_free);
  g_free (run->cacert_file);
  g_free (run->proxy_url);
  g_dbus_object_manager_server_unexport (run->host->objects, run->path);
  g_clear_object (&run->iface);
  g_clear_object (&run->object);
  json_object_unref (run->snapshot);
  g_free (run->id), g_free (run->plan), g_free (run->path), g_free (run->phase);
  g_free (run->started), g_free (run->completed);
  g_free (run);
}

const char *mtv_run_id (MtvRun *run) { return run->id; }
MtvMigration *mtv_run_iface (MtvRun *run) { return run->iface; }
const char *mtv_run_plan (MtvRun *run) { return run->plan; }
const char *mtv_run_object_path (MtvRun *run) { return run->path; }
const char *mtv_run_phase (MtvRun *run) { return run->phase; }

gboolean
mtv_run_finished (MtvRun *run)
{
  return !g_str_equal (run->phase, "Running");
}

guint
mtv_run_active (MtvRun *run)
{
  guint n = 0;
  for (guint i = 0; i < run->vms->len; i++)
    n += g_str_equal (((VmRun *) run->vms->pdata[i])->status, "Running");
  return n;
}

guint
mtv_run_start_pending (MtvRun *run, guint budget)
{
  guint started = 0;
  for (guint i = 0; i < run->vms->len && started < budget; i++)
    {
      VmRun *v = run->vms->pdata[i];
      if (g_str_equal (v->status, "Pending"))
        {
          started++;
          begin (v);
        }
    }
  return started;
}

gboolean
mtv_run_cancel (MtvRun *run, const char *const *vms, GError **error)
{
  for (guint n = 0; vms && vms[n]; n++)
    {
      gboolean found = FALSE;
      for (guint i = 0; i < run->vms->len; i++)
        {
          VmRun *v = run->vms->pdata[i];
          found |= g_str_equal (v->name, vms[n]) || g_str_equal (v->id, vms[n]);
        }
      if (!found)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_NOT_FOUND, "VM \"%s\" is not in migration %s", vms[n], run->id);
          return FALSE;
        }
    }
  for (guint i = 0; i < run->vms->len; i++)
    {
      VmRun *v = run->vms->pdata[i];
      gboolean named = vms == NULL || vms[0] == NULL || g_strv_contains (vms, v->name) || g_strv_contains (vms, v->id);
      if (!named || v->cancel_requested)
        continue;
      if (g_str_equal (v->status, "Pending"))
        {
          v->cancel_requested = TRUE;
          finish (v, "Canceled", NULL);
        }
      else if (g_str_equal (v->status, "Running"))
        {
          v->cancel_requested = TRUE;
          if (v->transfer)
            g_subprocess_send_signal (v->transfer, SIGTERM);
          else if (is_cluster (run) && run->disk_http && g_str_equal (v->phase, "CopyDisks"))
            cluster_remove (v);   /* the import's watch sees its DataVolume go */
        }
    }
  return TRUE;
}

/* Forklift's DiskTransfer tasks: one per disk, in MB, with what mtv-transfer
 * reported for a disk it copied (bytes read, written and zeroed, whether it
 * was verified). @step_phase is the DiskTransfer step's. */
static JsonArray *
disk_tasks (VmRun *v, const char *step_phase)
{
  JsonArray *tasks = json_array_new ();
  JsonArray *disks = disks_of (v);
  for (guint i = 0; disks && i < json_array_get_length (disks); i++)
    {
      JsonObject *disk = json_array_get_object_element (disks, i);
      guint64 capacity = (guint64) json_object_get_int_member_with_default (disk, "capacity", 0);
      gboolean done = g_str_equal (step_phase, "Completed") || i < v->disk;
      gboolean current = !done && i == v->disk && !g_str_equal (step_phase, "Pending");
      JsonObject *task = json_object_new ();
      g_autofree char *fallback = g_strdup_printf ("disk-%u", i);
      json_object_set_string_member (task, "name", json_object_get_string_member_with_default (disk, "name", fallback));
      json_object_set_string_member (task, "phase", done ? "Completed" : current ? step_phase : "Pending");
      JsonObject *progress = json_object_new ();
      json_object_set_int_member (progress, "completed", (gint64) ((done ? capacity : current ? v->bytes_now : 0) >> 20));
      json_object_set_int_member (progress, "total", (gint64) (capacity >> 20));
      json_object_set_object_member (task, "progress", progress);
      JsonObject *annotations = json_object_new ();
      json_object_set_string_member (annotations, "unit", "MB");
      for (guint c = 0; c < json_array_get_length (v->copies); c++)
        {
          JsonObject *copy = json_array_get_object_element (v->copies, c);
          if (json_object_get_int_member_with_default (copy, "disk", -1) != (gint64) i)
            continue;
          /* A copy resumed after a restart reports what it did since. */
          static const char *const counts[] = { "bytes_read", "bytes_written", "bytes_zeroed", NULL };
          static const char *const names[] = { "bytesRead", "bytesWritten", "bytesZeroed" };
          for (guint k = 0; counts[k]; k++)
            {
              g_autofree char *value = g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member_with_default (copy, counts[k], 0));
              json_object_set_string_member (annotations, names[k], value);
            }
          json_object_set_string_member (annotations, "verified",
                                         json_object_get_boolean_member_with_default (copy, "verified", FALSE) ? "true" : "false");
        }
      json_object_set_object_member (task, "annotations", annotations);
      json_array_add_object_element (tasks, task);
    }
  return tasks;
}

JsonObject *
mtv_run_status (MtvRun *run)
{
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "id", run->id);
  json_object_set_string_member (o, "phase", run->phase);
  json_object_set_string_member (o, "started", run->started);
  if (run->completed)
    json_object_set_string_member (o, "completed", run->completed);
  JsonArray *vms = json_array_new ();
  for (guint i = 0; i < run->vms->len; i++)
    {
      VmRun *v = run->vms->pdata[i];
      JsonObject *vm = json_object_new ();
      json_object_set_string_member (vm, "id", v->id);
      json_object_set_string_member (vm, "name", v->name);
      json_object_set_string_member (vm, "targetName", v->target_name);
      json_object_set_string_member (vm, "phase", v->phase);
      json_object_set_string_member (vm, "status", v->status);
      if (v->started)
        json_object_set_string_member (vm, "started", v->started);
      if (v->completed)
        json_object_set_string_member (vm, "completed", v->completed);
      if (v->destination)
        json_object_set_string_member (vm, "destination", v->destination);
      if (v->libvirt_domain)
        json_object_set_string_member (vm, "libvirtDomain", v->libvirt_domain);
      if (v->error)
        {
          JsonObject *err = json_object_new ();
          json_object_set_string_member (err, "phase", v->phase);
          JsonArray *reasons = json_array_new ();
          json_array_add_string_element (reasons, v->error);
          json_object_set_array_member (err, "reasons", reasons);
          json_object_set_object_member (vm, "error", err);
        }
      /* Forklift's pipeline: each step with its phase and completed/total. */
      JsonArray *steps = json_array_new ();
      const char *current = step_of (v->phase);
      gboolean reached = FALSE, passed = TRUE;
      for (guint s = 0; s < G_N_ELEMENTS (pipeline); s++)
        {
          JsonObject *step = json_object_new ();
          json_object_set_string_member (step, "name", pipeline[s].step);
          gboolean is_current = g_str_equal (current, pipeline[s].step) && !g_str_equal (v->status, "Pending");
          if (is_current)
            reached = TRUE, passed = FALSE;
          const char *phase = g_str_equal (v->status, "Succeeded") ? "Completed"
                              : is_current ? (g_str_equal (v->status, "Running") ? "Running" : v->status)
                              : (passed && reached == FALSE && !g_str_equal (v->status, "Pending")) ? "Completed"
                                                                                                      : "Pending";
          json_object_set_string_member (step, "phase", phase);
          JsonObject *progress = json_object_new ();
          guint64 total = g_str_equal (pipeline[s].step, "DiskTransfer") ? v->bytes_total >> 20 : 1;
          guint64 done = g_str_equal (pipeline[s].step, "DiskTransfer") ? (v->bytes_base + v->bytes_now) >> 20
                                                                        : g_str_equal (phase, "Completed");
          if (g_str_equal (phase, "Completed"))
            done = total;
          json_object_set_int_member (progress, "completed", (gint64) done);
          json_object_set_int_member (progress, "total", (gint64) total);
          json_object_set_object_member (step, "progress", progress);
          if (g_str_equal (pipeline[s].step, "DiskTransfer"))
            {
              JsonObject *annotations = json_object_new ();
              json_object_set_string_member (annotations, "unit", "MB");
              json_object_set_object_member (step, "annotations", annotations);
              if (!is_live (run))
                json_object_set_array_member (step, "tasks", disk_tasks (v, phase));
            }
          json_array_add_object_element (steps, step);
        }
      json_object_set_array_member (vm, "pipeline", steps);
      json_array_add_object_element (vms, vm);
    }
  json_object_set_array_member (o, "vms", vms);
  return o;
}

void
mtv_run_shutdown (MtvRun *run)
{
  for (guint i = 0; i < run->vms->len; i++)
    {
      VmRun *v = run->vms->pdata[i];
      if (v->transfer)
        g_subprocess_force_exit (v->transfer);
      if (v->server)
        g_subprocess_force_exit (v->server);
    }
}

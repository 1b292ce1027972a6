/* A KubeVirt cluster (an openshift provider) as a migration target: per run
 * a Kubernetes client, the provider's CA as a file for mtv-transfer, and in
 * cluster transfer mode the HTTP server CDI's importers pull disks from. */
#include "cluster-target.h"
#include "cluster-hook.h"
#include "cluster-live.h"
#include "disk-http.h"
#include "mtv-error.h"
#include "mtv-json.h"
#include "providers/openshift/openshift-connection.h"
#include "targets/mtv-vm-builder.h"

#include <glib/gstdio.h>

#define DISK_WAIT_SECONDS 3600
#define IMPORT_SECONDS (24 * 3600)

typedef struct {
  MtvKube *kube;
  char *cacert_file;      /* holds no secret */
  gboolean insecure;
  char *proxy_url;
  MtvDiskHttp *disk_http; /* cluster transfer mode */
} Cluster;

static void
detach (gpointer instance)
{
  Cluster *c = instance;
  mtv_kube_free (c->kube);
  if (c->cacert_file)
    g_unlink (c->cacert_file);
  g_free (c->cacert_file);
  g_free (c->proxy_url);
  g_clear_pointer (&c->disk_http, mtv_disk_http_free);
  g_free (c);
}

static gpointer
attach (JsonObject *spec, JsonObject *credentials, const char *workdir, const char *run_id, GError **error)
{
  g_autoptr (MtvKubeConfig) config = mtv_openshift_connection (spec, credentials, error);
  if (config == NULL)
    return NULL;
  Cluster *c = g_new0 (Cluster, 1);
  c->insecure = config->insecure;
  JsonObject *settings = mtv_json_object (spec, "settings");
  c->proxy_url = g_strdup (mtv_json_string (settings, "uploadProxyURL"));
  const char *mode = mtv_json_string (settings, "transferMode") ? mtv_json_string (settings, "transferMode") : "host";
  if (g_str_equal (mode, "cluster"))
    {
      /* CDI's importer pods pull the disks from mtvd: they must reach it. */
      c->disk_http = mtv_disk_http_new (mtv_json_string (settings, "diskServerAddress"), error);
      if (c->disk_http == NULL)
        {
          detach (c);
          return NULL;
        }
    }
  else if (!g_str_equal (mode, "host"))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "settings.transferMode: \"%s\" is not host or cluster", mode);
      detach (c);
      return NULL;
    }
  if (config->ca_pem)
    {
      c->cacert_file = g_strdup_printf ("%s/%s-ca.pem", workdir, run_id);
      if (!g_file_set_contents (c->cacert_file, g_bytes_get_data (config->ca_pem, NULL),
                                (gssize) g_bytes_get_size (config->ca_pem), error))
        {
          detach (c);
          return NULL;
        }
    }
  c->kube = mtv_kube_new (g_steal_pointer (&config));
  return c;
}

static Cluster *
cluster (const MtvTargetContext *ctx)
{
  return ctx->instance;
}

static JsonArray *
manifests (const MtvTargetContext *ctx, GError **error)
{
  MtvVmBuildInput in = mtv_vm_build_input (ctx);
  return mtv_vm_build_manifests (&in, error);
}

/* The DataVolumes are made disk by disk, just before each copy; here the
 * manifests are only checked to be buildable (every disk and NIC mapped). */
static gboolean
allocate (const MtvTargetContext *ctx, GError **error)
{
  g_autoptr (JsonArray) m = manifests (ctx, error);
  return m != NULL;
}

static JsonObject *
data_volume (const MtvTargetContext *ctx, guint index, GError **error)
{
  g_autoptr (JsonArray) m = manifests (ctx, error);
  if (m == NULL)
    return NULL;
  return json_object_ref (json_array_get_object_element (m, index));
}

static gboolean
disk_sink (const MtvTargetContext *ctx, guint index, gboolean delta, MtvDiskSink *sink, GError **error)
{
  if (delta)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "a KubeVirt cluster takes whole disks only, not the changed "
                   "areas of a warm precopy");
      return FALSE;
    }
  g_autoptr (JsonObject) dv = data_volume (ctx, index, error);
  if (dv == NULL
      || !mtv_cluster_prepare_disk (cluster (ctx)->kube, dv, cluster (ctx)->proxy_url, &sink->destination, &sink->token,
                                    error))
    return FALSE;
  /* An upload cannot resume from a checkpoint: it starts over. */
  sink->cacert = g_strdup (cluster (ctx)->cacert_file);
  sink->insecure = cluster (ctx)->insecure;
  return TRUE;
}

static gboolean
pulls_disks (gpointer instance)
{
  return ((Cluster *) instance)->disk_http != NULL;
}

static char *
publish_disk (gpointer instance, const char *nbd_uri, guint64 size)
{
  return mtv_disk_http_publish (((Cluster *) instance)->disk_http, nbd_uri, size);
}

static void
withdraw_disk (gpointer instance, const char *url)
{
  mtv_disk_http_withdraw (((Cluster *) instance)->disk_http, url);
}

typedef struct {
  guint64 capacity;
  MtvPullProgress progress;
  gpointer data;
} Pull;

/* CDI's percentage as bytes. */
static void
on_import_progress (double percent, gpointer data)
{
  Pull *p = data;
  p->progress ((guint64) (p->capacity * CLAMP (percent, 0.0, 100.0) / 100.0), p->data);
}

static gboolean
import_disk (const MtvTargetContext *ctx, guint index, JsonObject *source, JsonObject *secret,
             MtvPullProgress progress, gpointer data, GError **error)
{
  g_autoptr (JsonObject) dv = data_volume (ctx, index, error);
  if (dv == NULL)
    return FALSE;
  JsonObject *disk = json_array_get_object_element (json_object_get_array_member (ctx->vm, "disks"), index);
  Pull p = { (guint64) json_object_get_int_member_with_default (disk, "capacity", 0), progress, data };
  return mtv_cluster_import_disk (cluster (ctx)->kube, dv, source, secret, IMPORT_SECONDS, on_import_progress, &p,
                                  error);
}

/* From mtvd's disk server: CDI's http source. */
static gboolean
pull_disk (const MtvTargetContext *ctx, guint index, const char *url, MtvPullProgress progress, gpointer data,
           GError **error)
{
  g_autoptr (JsonObject) source = json_object_new ();
  JsonObject *http = json_object_new ();
  json_object_set_string_member (http, "url", url);
  json_object_set_object_member (source, "http", http);
  return import_disk (ctx, index, source, NULL, progress, data, error);
}

static gboolean
finish_disk (const MtvTargetContext *ctx, guint index, GError **error)
{
  g_autofree char *name = mtv_vm_disk_volume_name (ctx->name, index);
  return mtv_cluster_wait_disk (cluster (ctx)->kube, ctx->namespace, name, DISK_WAIT_SECONDS, NULL, NULL, error);
}

static gboolean
create_vm (const MtvTargetContext *ctx, GError **error)
{
  g_autoptr (JsonArray) m = manifests (ctx, error);
  if (m == NULL
      || !mtv_cluster_create_vm (cluster (ctx)->kube, json_array_get_object_element (m, json_array_get_length (m) - 1),
                                 error))
    return FALSE;
  g_autofree char *destination = g_strdup_printf ("%s/%s", ctx->namespace, ctx->name);
  json_object_set_string_member (ctx->state, "destination", destination);
  return TRUE;
}

static gboolean
live_step (const MtvTargetContext *ctx, const char *phase, GError **error)
{
  JsonObject *object = mtv_json_object (ctx->vm, "object");
  if (object == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "live migration needs a KubeVirt source VM");
      return FALSE;
    }
  MtvKubeConfig *config = mtv_openshift_connection (ctx->source_spec, ctx->source_credentials, error);
  if (config == NULL)
    return FALSE;
  g_autoptr (MtvKube) source = mtv_kube_new (config);
  MtvVmBuildInput build = mtv_vm_build_input (ctx);
  g_autoptr (JsonObject) labels = mtv_vm_build_labels (&build);
  g_autofree char *migration_id = g_strdup_printf ("%s-%s", mtv_json_string (ctx->vm, "id"), ctx->migration_id);
  MtvLiveInput in = {
    .source_vm = object,
    .target_namespace = ctx->namespace,
    .target_name = ctx->name,
    .labels = labels,
    .storage_map = ctx->storage_map,
    .migration_id = migration_id,
  };
  if (!mtv_cluster_live_step (source, cluster (ctx)->kube, &in, phase, ctx->state, error))
    return FALSE;
  if (g_str_equal (phase, "WaitForStateTransfer"))
    {
      g_autofree char *destination = g_strdup_printf ("%s/%s", ctx->namespace, ctx->name);
      json_object_set_string_member (ctx->state, "destination", destination);
    }
  return TRUE;
}

static gboolean
run_hook (const MtvTargetContext *ctx, const MtvHookRun *hook, GCancellable *stop, GError **error)
{
  return mtv_cluster_run_hook (cluster (ctx)->kube, ctx, hook, stop, error);
}

/* Everything made for the VM carries its labels: DataVolumes, the
 * VirtualMachine, hook Jobs and their ConfigMaps, import Secrets. */
static gboolean
cleanup (const MtvTargetContext *ctx, GError **error)
{
  return mtv_cluster_remove_vm (cluster (ctx)->kube, ctx->namespace, ctx->migration_id, ctx->name, error);
}

const MtvTargetAdapter mtv_cluster_target = {
  .attach = attach,
  .detach = detach,
  .allocate = allocate,
  .disk_sink = disk_sink,
  .pulls_disks = pulls_disks,
  .publish_disk = publish_disk,
  .withdraw_disk = withdraw_disk,
  .pull_disk = pull_disk,
  .import_disk = import_disk,
  .finish_disk = finish_disk,
  .create_vm = create_vm,
  .live_step = live_step,
  .check_hook = mtv_cluster_check_hook,
  .run_hook = run_hook,
  .cleanup = cleanup,
};

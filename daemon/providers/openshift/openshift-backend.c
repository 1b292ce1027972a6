/* The openshift (kubevirt) provider: a KubeVirt cluster, as a migration
 * target (and, later, source). Its backend connects with the provider's URL
 * and token (or a kubeconfig, or the pod's service account), checks that
 * KubeVirt and CDI are there, and publishes what plans are validated against:
 * namespaces, storage classes, NetworkAttachmentDefinitions and VMs, with
 * Forklift's openshift inventory names. It polls every refreshInterval. */
#include "kube-client.h"
#include "mtv-json.h"
#include "openshift-connection.h"
#include "openshift-inventory.h"
#include "mtv-provider-backend.h"
#include "mtv-provider-settings.h"
#include "mtv-provider-types.h"

#include <string.h>

#define REFRESH_SECONDS 30

typedef struct {
  char *name;
  const MtvInventorySink *sink;
  gpointer host;
  MtvKube **kube;         /* a counted box: a poll in flight holds it too; NULL content: unusable configuration */
  char *config_failure;
  GCancellable *cancellable;
  gboolean polling;
  guint timer;
  guint interval;
} Openshift;

typedef struct {
  JsonObject *inventory;
  char *failure;
} Poll;

/* A list, or an empty one when the API is not installed (404). */
static JsonArray *
list_or_empty (MtvKube *kube, const MtvKubeResource *r, gboolean *installed, GError **error)
{
  GError *local = NULL;
  JsonArray *items = mtv_kube_list (kube, r, NULL, NULL, 0, NULL, &local);
  if (installed)
    *installed = items != NULL;
  if (items == NULL && g_error_matches (local, MTV_KUBE_ERROR, 404))
    {
      g_error_free (local);
      return json_array_new ();
    }
  if (local)
    g_propagate_error (error, local);
  return items;
}

static JsonObject *
collect (MtvKube *kube, GError **error)
{
  g_autoptr (JsonNode) version = mtv_kube_request (kube, "GET", "/version", NULL, NULL, error);
  if (version == NULL)
    return NULL;
  const char *k8s = JSON_NODE_HOLDS_OBJECT (version) ? mtv_json_string (json_node_get_object (version), "gitVersion") : NULL;
  gboolean have_kubevirt, have_cdi;
  g_autoptr (JsonArray) kubevirts = list_or_empty (kube, &MTV_KUBE_KUBEVIRTS, &have_kubevirt, error);
  g_autoptr (JsonArray) cdis = kubevirts ? list_or_empty (kube, &MTV_KUBE_CDIS, &have_cdi, error) : NULL;
  if (cdis == NULL)
    return NULL;
  if (!have_kubevirt || !have_cdi)
    {
      g_set_error (error, MTV_KUBE_ERROR, 404, "the cluster (Kubernetes %s) has no %s: install it to migrate VMs there",
                   k8s ? k8s : "?", !have_kubevirt ? "KubeVirt (kubevirt.io/v1)" : "CDI (cdi.kubevirt.io/v1beta1)");
      return NULL;
    }
  g_autoptr (JsonArray) namespaces = mtv_kube_list (kube, &MTV_KUBE_NAMESPACES, NULL, NULL, 0, NULL, error);
  g_autoptr (JsonArray) classes = namespaces ? mtv_kube_list (kube, &MTV_KUBE_STORAGE_CLASSES, NULL, NULL, 0, NULL, error)
                                             : NULL;
  g_autoptr (JsonArray) nads = classes ? list_or_empty (kube, &MTV_KUBE_NADS, NULL, error) : NULL;
  g_autoptr (JsonArray) vms = nads ? mtv_kube_list (kube, &MTV_KUBE_VIRTUAL_MACHINES, NULL, NULL, 0, NULL, error) : NULL;
  g_autoptr (JsonArray) dvs = vms ? list_or_empty (kube, &MTV_KUBE_DATAVOLUMES, NULL, error) : NULL;
  g_autoptr (JsonArray) pvcs = dvs ? mtv_kube_list (kube, &MTV_KUBE_PVCS, NULL, NULL, 0, NULL, error) : NULL;
  g_autoptr (JsonArray) vmis = pvcs ? mtv_kube_list (kube, &MTV_KUBE_VIRTUAL_MACHINE_INSTANCES, NULL, NULL, 0, NULL, error)
                                    : NULL;
  if (vmis == NULL)
    return NULL;

  MtvOpenshiftLists lists = {
    .kubernetes_version = k8s, .kubevirts = kubevirts, .cdis = cdis, .namespaces = namespaces,
    .storage_classes = classes, .nads = nads, .vms = vms, .dvs = dvs, .pvcs = pvcs, .vmis = vmis,
  };
  return mtv_openshift_inventory (&lists);
}

static void
poll_free (Poll *p)
{
  g_clear_pointer (&p->inventory, json_object_unref);
  g_free (p->failure);
  g_free (p);
}

static void
clear_kube (gpointer box)
{
  mtv_kube_free (*(MtvKube **) box);
}

static void
release_kube (gpointer box)
{
  g_atomic_rc_box_release_full (box, clear_kube);
}

static void
poll_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  MtvKube *kube = *(MtvKube **) data;
  Poll *p = g_new0 (Poll, 1);
  g_autoptr (GError) error = NULL;
  p->inventory = collect (kube, &error);
  if (p->inventory == NULL)
    p->failure = g_strdup (error->message);
  g_task_return_pointer (task, p, (GDestroyNotify) poll_free);
}

static gboolean start_poll (gpointer data);

static void
poll_done (GObject *source, GAsyncResult *result, gpointer data)
{
  GCancellable *cancellable = g_task_get_cancellable (G_TASK (result));
  Poll *p = g_task_propagate_pointer (G_TASK (result), NULL);
  if (g_cancellable_is_cancelled (cancellable))
    {
      /* Stopped meanwhile: the instance is gone, only the poll is left. */
      if (p)
        poll_free (p);
      return;
    }
  Openshift *o = data;
  o->polling = FALSE;
  g_autoptr (GPtrArray) faults = g_ptr_array_new ();
  o->sink->publish (o->host, p ? g_steal_pointer (&p->inventory) : NULL, p ? p->failure : "no answer", faults);
  if (p)
    poll_free (p);
  o->timer = g_timeout_add_seconds (o->interval, start_poll, o);
}

static gboolean
start_poll (gpointer data)
{
  Openshift *o = data;
  o->timer = 0;
  if (*o->kube == NULL)
    {
      g_autoptr (GPtrArray) faults = g_ptr_array_new ();
      o->sink->publish (o->host, NULL, o->config_failure, faults);
      return G_SOURCE_REMOVE;
    }
  o->polling = TRUE;
  g_autoptr (GTask) task = g_task_new (NULL, o->cancellable, poll_done, o);
  /* The task holds the client: it outlives a stop while a poll is in flight. */
  g_task_set_task_data (task, g_atomic_rc_box_acquire (o->kube), release_kube);
  g_task_run_in_thread (task, poll_thread);
  return G_SOURCE_REMOVE;
}

static gpointer
openshift_start (const char *name, JsonObject *spec, JsonObject *credentials, const MtvInventorySink *sink,
                 gpointer host)
{
  Openshift *o = g_new0 (Openshift, 1);
  o->name = g_strdup (name);
  o->sink = sink;
  o->host = host;
  o->cancellable = g_cancellable_new ();
  o->interval = mtv_provider_setting_seconds (spec, "refreshInterval", 1, 86400, REFRESH_SECONDS);
  g_autoptr (GError) error = NULL;
  MtvKubeConfig *config = mtv_openshift_connection (spec, credentials, &error);
  o->kube = g_atomic_rc_box_new0 (MtvKube *);
  if (config)
    *o->kube = mtv_kube_new (config);
  else
    o->config_failure = g_strdup (error->message);
  o->timer = g_idle_add (start_poll, o);
  return o;
}

static void
openshift_stop (gpointer instance)
{
  Openshift *o = instance;
  if (o->timer)
    g_source_remove (o->timer);
  /* A poll in flight finishes in its thread, then its task drops the client. */
  g_cancellable_cancel (o->cancellable);
  release_kube (o->kube);
  g_object_unref (o->cancellable);
  g_free (o->config_failure);
  g_free (o->name);
  g_free (o);
}

static const char *const kinds[] = { "vms", "namespaces", "networks", "storages", "pvcs", "datavolumes", NULL };

const MtvProviderBackend mtv_openshift_backend = {
  .type = "openshift",
  .inventory_kinds = kinds,
  .start = openshift_start,
  .stop = openshift_stop,
};

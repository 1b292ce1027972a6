/* The OVA source provider: a directory of .ova archives and unpacked .ovf
 * descriptors (or one .ova), rescanned in a worker thread so the inventory
 * follows files as they appear, change and disappear. */
#include "mtv-provider-backend.h"
#include "mtv-provider-settings.h"
#include "mtv-provider-types.h"
#include "ova-scan.h"
#include "mtv-error.h"

#define RESCAN_SECONDS 10

typedef struct {
  char *name;
  char *root;
  const MtvInventorySink *sink;
  gpointer host;
  GCancellable *cancellable;
  GHashTable *digests; /* owned by the scan in flight, or here between scans */
  gboolean scanning;
  guint timer;
} Ova;

typedef struct {
  char *root;
  GHashTable *digests;
  JsonObject *inventory;
  char *failure;
  GPtrArray *faults;
} ScanJob;

static void
scan_job_free (ScanJob *job)
{
  g_free (job->root);
  g_clear_pointer (&job->digests, g_hash_table_unref);
  g_clear_pointer (&job->inventory, json_object_unref);
  g_free (job->failure);
  g_ptr_array_unref (job->faults);
  g_free (job);
}

static void
scan_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  ScanJob *job = data;
  g_autoptr (GError) error = NULL;
  job->inventory = ova_scan (job->root, job->digests, job->faults, &error);
  if (job->inventory == NULL)
    job->failure = g_strdup (error->message);
  g_task_return_boolean (task, TRUE);
}

static void scan_now (Ova *ova);

static gboolean
on_timer (gpointer data)
{
  scan_now (data);
  return G_SOURCE_CONTINUE;
}

static void
on_scanned (GObject *source, GAsyncResult *result, gpointer data)
{
  GTask *task = G_TASK (result);
  ScanJob *job = g_task_get_task_data (task);
  if (g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    return; /* stopped meanwhile: the instance is gone */
  Ova *ova = data;
  ova->scanning = FALSE;
  ova->digests = g_steal_pointer (&job->digests);
  ova->sink->publish (ova->host, g_steal_pointer (&job->inventory), job->failure, job->faults);
}

static void
scan_now (Ova *ova)
{
  if (ova->scanning)
    return;
  ova->scanning = TRUE;
  ScanJob *job = g_new0 (ScanJob, 1);
  job->root = g_strdup (ova->root);
  job->digests = g_steal_pointer (&ova->digests);
  job->faults = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GTask) task = g_task_new (NULL, ova->cancellable, on_scanned, ova);
  g_task_set_task_data (task, job, (GDestroyNotify) scan_job_free);
  g_task_run_in_thread (task, scan_thread);
}

static gpointer
ova_start (const char *name, JsonObject *spec, JsonObject *credentials, const MtvInventorySink *sink, gpointer host)
{
  Ova *ova = g_new0 (Ova, 1);
  ova->name = g_strdup (name);
  g_autoptr (GUri) uri = g_uri_parse (json_object_get_string_member_with_default (spec, "url", ""),
                                      G_URI_FLAGS_NONE, NULL);
  ova->root = g_strdup (uri ? g_uri_get_path (uri) : "");
  ova->sink = sink;
  ova->host = host;
  ova->cancellable = g_cancellable_new ();
  ova->digests = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  scan_now (ova);
  /* settings.refreshInterval: seconds between rescans. */
  guint interval = mtv_provider_setting_seconds (spec, "refreshInterval", 1, 86400, RESCAN_SECONDS);
  ova->timer = g_timeout_add_seconds (interval, on_timer, ova);
  return ova;
}

static void
ova_stop (gpointer instance)
{
  Ova *ova = instance;
  g_source_remove (ova->timer);
  /* A scan in flight finishes in its thread; its result is dropped. */
  g_cancellable_cancel (ova->cancellable);
  g_object_unref (ova->cancellable);
  g_clear_pointer (&ova->digests, g_hash_table_unref);
  g_free (ova->root);
  g_free (ova->name);
  g_free (ova);
}

static const char *const ova_kinds[] = { "vms", "networks", "storages", "disks", NULL };

const MtvProviderBackend mtv_ova_backend = {
  .type = "ova",
  .inventory_kinds = ova_kinds,
  .start = ova_start,
  .stop = ova_stop,
};

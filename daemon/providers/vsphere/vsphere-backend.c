/* The vsphere provider's inventory: one thread per provider holds a session
 * with the vCenter (or ESXi), reads every kind in pages through the
 * PropertyCollector, then waits on WaitForUpdatesEx and reads again only
 * the objects that changed. It makes each object's model and hands the
 * models to the main thread, which keeps the inventory and publishes each
 * batch within the second it arrives (the published objects are shared
 * from one publication to the next, so only one thread may hold them:
 * JSON-GLib's reference counts are not atomic). A failure (the server gone,
 * the session refused) is published as the provider's condition and the
 * thread starts over, from a full read, after refreshInterval. */
#include "mtv-provider-backend.h"
#include "mtv-provider-settings.h"
#include "mtv-provider-types.h"
#include "mtv-json.h"
#include "vsphere-connection.h"
#include "vsphere-inventory.h"
#include "vsphere-watch.h"

/* Seconds between attempts after a failure (settings.refreshInterval). */
#define RETRY_SECONDS 30
/* How long one WaitForUpdatesEx waits: also how soon a stop is noticed. */
#define WAIT_SECONDS 2
/* Objects per RetrievePropertiesEx page (a VM with its devices is ~90 KB). */
#define PAGE_OBJECTS 100

typedef struct {
  gint refs;
  gint stopped;             /* atomic: set by stop, read by the thread */
  char *name;
  JsonObject *spec, *credentials;
  guint retry;
  GThread *thread;
  /* The main thread's alone. */
  const MtvInventorySink *sink;
  gpointer host;
  MtvVsphereInventory *inv;
} Vsphere;

/* What the thread learned: models made, objects gone, or a failure. */
typedef struct {
  Vsphere *v;
  gboolean full;            /* the models are everything there is */
  GPtrArray *ids, *kinds, *models;   /* in step; kinds static */
  GPtrArray *gone;
  char *about, *fingerprint, *api_version, *version;
  char *failure;
} Report;

static Report *
report_new (Vsphere *v)
{
  Report *r = g_new0 (Report, 1);
  g_atomic_int_inc (&v->refs);
  r->v = v;
  r->ids = g_ptr_array_new_with_free_func (g_free);
  r->kinds = g_ptr_array_new ();
  r->models = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  r->gone = g_ptr_array_new_with_free_func (g_free);
  return r;
}

static void vsphere_unref (Vsphere *v);

static void
report_free (Report *r)
{
  g_ptr_array_unref (r->ids);
  g_ptr_array_unref (r->kinds);
  g_ptr_array_unref (r->models);
  g_ptr_array_unref (r->gone);
  g_free (r->about);
  g_free (r->fingerprint);
  g_free (r->api_version);
  g_free (r->version);
  g_free (r->failure);
  vsphere_unref (r->v);
  g_free (r);
}

static void
vsphere_unref (Vsphere *v)
{
  if (!g_atomic_int_dec_and_test (&v->refs))
    return;
  g_assert (v->inv == NULL);   /* freed by stop, on the main thread */
  g_free (v->name);
  json_object_unref (v->spec);
  json_object_unref (v->credentials);
  g_free (v);
}

static gboolean
stopped (Vsphere *v)
{
  return g_atomic_int_get (&v->stopped);
}

/* On the main thread: the report into the inventory, and published. */
static gboolean
deliver (gpointer data)
{
  Report *r = data;
  Vsphere *v = r->v;
  if (!stopped (v))
    {
      g_autoptr (GPtrArray) faults = g_ptr_array_new ();
      if (r->failure)
        v->sink->publish (v->host, NULL, r->failure, faults);
      else
        {
          if (r->full || v->inv == NULL)
            {
              g_clear_pointer (&v->inv, mtv_vsphere_inventory_free);
              v->inv = mtv_vsphere_inventory_new ();
            }
          for (guint i = 0; i < r->models->len; i++)
            mtv_vsphere_inventory_put_model (v->inv, r->ids->pdata[i], r->kinds->pdata[i],
                                             json_object_ref (r->models->pdata[i]));
          for (guint i = 0; i < r->gone->len; i++)
            mtv_vsphere_inventory_remove (v->inv, r->gone->pdata[i]);
          JsonObject *out = mtv_vsphere_inventory_build (v->inv, r->about);
          if (r->fingerprint)
            json_object_set_string_member (out, "fingerprint", r->fingerprint);
          json_object_set_string_member (out, "apiVersion", r->api_version ? r->api_version : "");
          /* WaitForUpdatesEx's version the inventory is at (a restart reads anew). */
          json_object_set_string_member (out, "version", r->version ? r->version : "");
          v->sink->publish (v->host, out, NULL, faults);
        }
    }
  report_free (r);
  return G_SOURCE_REMOVE;
}

/* From the thread to the main loop, where the inventory and the sink live:
 * always queued there. (g_main_context_invoke would run it in this thread
 * whenever no thread owns the main context: before the loop runs and while
 * mtvd shuts down, when it found the daemon's tables freed under it.) */
static void
send_report (Report *r)
{
  g_idle_add (deliver, r);
}

static void
report_failure (Vsphere *v, const char *failure)
{
  Report *r = report_new (v);
  r->failure = g_strdup (failure);
  send_report (r);
}

/* The server's identity, on a report of models. */
static void
describe (Report *r, MtvVsphere *vs, MtvVsphereWatch *watch)
{
  const MtvVsphereService *s = mtv_vsphere_service (vs);
  const char *thumbprint = mtv_soap_thumbprint (mtv_vsphere_soap (vs));
  /* "VMware vCenter Server 7.0.0 build-..., certificate SHA-1 thumbprint AB:CD:...". */
  r->about = g_strdup_printf ("%s%s%s", s->full_name ? s->full_name : s->api_type,
                              thumbprint ? ", certificate SHA-1 thumbprint " : "", thumbprint ? thumbprint : "");
  r->fingerprint = g_strdup (thumbprint);
  r->api_version = g_strdup (s->api_version);
  r->version = g_strdup (mtv_vsphere_watch_version (watch));
}

static void
add_model (Report *r, JsonObject *object)
{
  const char *kind = NULL;
  JsonObject *model = mtv_vsphere_model (object, &kind);
  if (model == NULL)
    return;
  g_ptr_array_add (r->ids, g_strdup (json_object_get_string_member (object, "id")));
  g_ptr_array_add (r->kinds, (gpointer) kind);
  g_ptr_array_add (r->models, model);
}

static gboolean
put_each (JsonObject *object, gpointer data, GError **error)
{
  Report *r = data;
  if (stopped (r->v))
    {
      /* A full read of 10,000 VMs takes seconds: a stop ends it at the next object. */
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "the provider was stopped");
      return FALSE;
    }
  add_model (r, object);
  return TRUE;
}

/* The changed objects read again (or dropped, when they left or are gone). */
static gboolean
read_changes (MtvVsphere *vs, Report *r, JsonArray *changes, GError **error)
{
  for (guint i = 0; i < json_array_get_length (changes); i++)
    {
      JsonObject *c = json_array_get_object_element (changes, i);
      const char *id = mtv_json_string (c, "id"), *type = mtv_json_string (c, "type");
      const MtvVsphereKind *k = mtv_vsphere_kind_of_type (type);
      if (k == NULL)
        continue;
      if (g_strcmp0 (mtv_json_string (c, "kind"), "leave") == 0)
        {
          g_ptr_array_add (r->gone, g_strdup (id));
          continue;
        }
      GError *local = NULL;
      g_autoptr (JsonObject) object = mtv_vsphere_get (vs, type, id, k->paths, &local);
      if (object)
        add_model (r, object);
      else if (mtv_soap_is_fault (local, "ManagedObjectNotFound"))
        g_ptr_array_add (r->gone, g_strdup (id));
      else
        {
          g_propagate_prefixed_error (error, local, "reading %s %s again: ", type, id);
          return FALSE;
        }
      g_clear_error (&local);
    }
  return TRUE;
}

/* Watches, reads everything, then follows the changes until a stop or an
 * error; TRUE with *@again when the session was renewed under it (the
 * server dropped the watch with the old session: start over). */
static gboolean
follow (Vsphere *v, MtvVsphere *vs, gboolean *again, GError **error)
{
  *again = FALSE;
  guint logins = mtv_vsphere_logins (vs);
  /* Watched from before the full read: what changes during it comes next. */
  MtvVsphereWatchSpec specs[16];
  guint n = 0;
  for (const MtvVsphereKind *k = mtv_vsphere_kinds; k->kind && n < G_N_ELEMENTS (specs); k++)
    if (k->watch)
      specs[n++] = (MtvVsphereWatchSpec) { k->type, k->watch, g_str_equal (k->kind, "vms") };
  MtvVsphereWatch *watch = mtv_vsphere_watch_new (vs, specs, n, error);
  if (watch == NULL)
    return FALSE;
  g_autoptr (JsonArray) initial = mtv_vsphere_watch_wait (vs, watch, 0, error);
  gboolean ok = initial != NULL;
  Report *all = report_new (v);
  all->full = TRUE;
  for (const MtvVsphereKind *k = mtv_vsphere_kinds; ok && k->kind; k++)
    ok = mtv_vsphere_retrieve_each (vs, k->type, k->paths, PAGE_OBJECTS, put_each, all, error);
  if (ok)
    {
      describe (all, vs, watch);
      send_report (all);
    }
  else
    report_free (all);
  while (ok && !stopped (v))
    {
      g_autoptr (JsonArray) changes = mtv_vsphere_watch_wait (vs, watch, WAIT_SECONDS, error);
      if (changes == NULL || json_array_get_length (changes) == 0)
        {
          ok = changes != NULL;
          continue;
        }
      Report *r = report_new (v);
      ok = read_changes (vs, r, changes, error);
      if (ok && !stopped (v))
        {
          describe (r, vs, watch);
          send_report (r);
        }
      else
        report_free (r);
    }
  if (!ok && mtv_vsphere_logins (vs) != logins)
    {
      g_clear_error (error);
      *again = ok = TRUE;
    }
  mtv_vsphere_watch_free (vs, watch);
  return ok;
}

static gboolean
session (Vsphere *v, GError **error)
{
  g_autoptr (MtvVsphere) vs = mtv_vsphere_connection (v->spec, v->credentials, error);
  if (vs == NULL)
    return FALSE;
  gboolean again = TRUE;
  while (again && !stopped (v))
    if (!follow (v, vs, &again, error))
      return FALSE;
  return TRUE;
}

static gpointer
run (gpointer data)
{
  Vsphere *v = data;
  while (!stopped (v))
    {
      g_autoptr (GError) error = NULL;
      if (session (v, &error) || stopped (v))
        break;
      report_failure (v, error->message);
      for (guint i = 0; i < v->retry * 10 && !stopped (v); i++)
        g_usleep (G_USEC_PER_SEC / 10);
    }
  vsphere_unref (v);
  return NULL;
}

static gpointer
vsphere_start (const char *name, JsonObject *spec, JsonObject *credentials, const MtvInventorySink *sink, gpointer host)
{
  Vsphere *v = g_new0 (Vsphere, 1);
  v->refs = 2;   /* ours and the thread's */
  v->name = g_strdup (name);
  v->spec = mtv_json_object_copy (spec);
  v->credentials = credentials ? mtv_json_object_copy (credentials) : json_object_new ();
  v->sink = sink;
  v->host = host;
  v->retry = mtv_provider_setting_seconds (spec, "refreshInterval", 1, 86400, RETRY_SECONDS);
  g_autofree char *thread_name = g_strdup_printf ("vsphere-%.8s", name);
  v->thread = g_thread_new (thread_name, run, v);
  return v;
}

static void
vsphere_stop (gpointer instance)
{
  Vsphere *v = instance;
  /* The thread ends within a wait (WAIT_SECONDS), logging out; it is not
   * waited for here, so a stop never blocks the daemon. */
  g_atomic_int_set (&v->stopped, 1);
  /* Here, on the main thread that shares its objects with what was published. */
  g_clear_pointer (&v->inv, mtv_vsphere_inventory_free);
  g_thread_unref (v->thread);
  vsphere_unref (v);
}

static const char *const kinds[] = { "vms", "hosts", "clusters", "datastores", "networks", "folders", "datacenters", NULL };

const MtvProviderBackend mtv_vsphere_backend = {
  .type = "vsphere",
  .inventory_kinds = kinds,
  .start = vsphere_start,
  .stop = vsphere_stop,
};

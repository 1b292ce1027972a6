/* The vsphere provider's inventory: one thread per provider holds a session
 * with the vCenter (or ESXi), reads every kind in pages through the
 * PropertyCollector, publishes, then waits on WaitForUpdatesEx and reads
 * again only the objects that changed, publishing each batch within the
 * second it arrives. A failure (the server gone, the session refused) is
 * published as the provider's condition and the thread starts over, from a
 * full read, after refreshInterval. */
#include "mtv-provider-backend.h"
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
  const MtvInventorySink *sink;   /* used on the main thread only */
  gpointer host;
  guint retry;
  GThread *thread;
} Vsphere;

typedef struct {
  Vsphere *v;
  JsonObject *inventory;
  char *failure;
} Report;

static void
vsphere_unref (Vsphere *v)
{
  if (!g_atomic_int_dec_and_test (&v->refs))
    return;
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

static gboolean
deliver (gpointer data)
{
  Report *r = data;
  if (!stopped (r->v))
    {
      g_autoptr (GPtrArray) faults = g_ptr_array_new ();
      r->v->sink->publish (r->v->host, g_steal_pointer (&r->inventory), r->failure, faults);
    }
  g_clear_pointer (&r->inventory, json_object_unref);
  g_free (r->failure);
  vsphere_unref (r->v);
  g_free (r);
  return G_SOURCE_REMOVE;
}

/* From the thread to the main loop, where the sink lives. */
static void
report (Vsphere *v, JsonObject *inventory, const char *failure)
{
  Report *r = g_new0 (Report, 1);
  g_atomic_int_inc (&v->refs);
  r->v = v;
  r->inventory = inventory;
  r->failure = g_strdup (failure);
  g_main_context_invoke (NULL, deliver, r);
}

static gboolean
put_each (JsonObject *object, gpointer data, GError **error)
{
  mtv_vsphere_inventory_put (data, object);
  return TRUE;
}

/* "VMware vCenter Server 7.0.0 build-..., certificate SHA-1 AB:CD:...". */
static char *
about_of (MtvVsphere *vs)
{
  const MtvVsphereService *s = mtv_vsphere_service (vs);
  const char *thumbprint = mtv_soap_thumbprint (mtv_vsphere_soap (vs));
  return g_strdup_printf ("%s%s%s", s->full_name ? s->full_name : s->api_type,
                          thumbprint ? ", certificate SHA-1 thumbprint " : "", thumbprint ? thumbprint : "");
}

static JsonObject *
build (MtvVsphere *vs, MtvVsphereInventory *inv, MtvVsphereWatch *watch)
{
  g_autofree char *about = about_of (vs);
  JsonObject *out = mtv_vsphere_inventory_build (inv, about);
  const char *thumbprint = mtv_soap_thumbprint (mtv_vsphere_soap (vs));
  if (thumbprint)
    json_object_set_string_member (out, "fingerprint", thumbprint);
  json_object_set_string_member (out, "apiVersion", mtv_vsphere_service (vs)->api_version);
  /* WaitForUpdatesEx's version the inventory is at (a restart reads anew). */
  json_object_set_string_member (out, "version", mtv_vsphere_watch_version (watch));
  return out;
}

/* The changed objects read again (or dropped, when they left or are gone). */
static gboolean
apply_changes (MtvVsphere *vs, MtvVsphereInventory *inv, JsonArray *changes, GError **error)
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
          mtv_vsphere_inventory_remove (inv, id);
          continue;
        }
      GError *local = NULL;
      g_autoptr (JsonObject) object = mtv_vsphere_get (vs, type, id, k->paths, &local);
      if (object)
        mtv_vsphere_inventory_put (inv, object);
      else if (mtv_soap_is_fault (local, "ManagedObjectNotFound"))
        mtv_vsphere_inventory_remove (inv, id);
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
  g_autoptr (MtvVsphereInventory) inv = mtv_vsphere_inventory_new ();
  for (const MtvVsphereKind *k = mtv_vsphere_kinds; ok && k->kind; k++)
    ok = mtv_vsphere_retrieve_each (vs, k->type, k->paths, PAGE_OBJECTS, put_each, inv, error);
  if (ok)
    report (v, build (vs, inv, watch), NULL);
  while (ok && !stopped (v))
    {
      g_autoptr (JsonArray) changes = mtv_vsphere_watch_wait (vs, watch, WAIT_SECONDS, error);
      ok = changes && apply_changes (vs, inv, changes, error);
      if (ok && json_array_get_length (changes) > 0 && !stopped (v))
        report (v, build (vs, inv, watch), NULL);
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
      report (v, NULL, error->message);
      for (guint i = 0; i < v->retry * 10 && !stopped (v); i++)
        g_usleep (G_USEC_PER_SEC / 10);
    }
  vsphere_unref (v);
  return NULL;
}

static guint
retry_seconds (JsonObject *spec)
{
  const char *text = mtv_json_string (mtv_json_object (spec, "settings"), "refreshInterval");
  guint64 value;
  if (text && g_ascii_string_to_unsigned (text, 10, 1, 86400, &value, NULL))
    return (guint) value;
  return RETRY_SECONDS;
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
  v->retry = retry_seconds (spec);
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

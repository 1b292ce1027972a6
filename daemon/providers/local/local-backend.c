/* The local target provider: VMs land in a directory on this host. Its
 * "inventory" is empty; being ready means the directory can be written. */
#include "mtv-provider-backend.h"
#include "mtv-provider-types.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>

typedef struct {
  char *root;
  const MtvInventorySink *sink;
  gpointer host;
  guint idle;
} Local;

/* Under mtvd.service only some places are writable (ProtectSystem=strict). */
#define WRITABLE_HINT " (mtvd.service lets mtvd write under /var/lib/mtv and /var/tmp; another place needs " \
                      "ReadWritePaths= in a drop-in, see mtvd(8))"

/* Checked when the provider starts, so that a plan into a place mtvd cannot
 * write is refused when it is validated, not when its first disk is copied. */
static gboolean
check (gpointer data)
{
  Local *local = data;
  local->idle = 0;
  g_autofree char *failure = NULL;
  if (g_mkdir_with_parents (local->root, 0755) < 0)
    failure = g_strdup_printf ("cannot create %s: %s%s", local->root, g_strerror (errno),
                               errno == EROFS || errno == EACCES ? WRITABLE_HINT : "");
  else if (access (local->root, W_OK | X_OK) < 0)
    failure = g_strdup_printf ("cannot write to %s: %s%s", local->root, g_strerror (errno),
                               errno == EROFS || errno == EACCES ? WRITABLE_HINT : "");
  g_autoptr (GPtrArray) faults = g_ptr_array_new ();
  local->sink->publish (local->host, failure ? NULL : json_object_new (), failure, faults);
  return G_SOURCE_REMOVE;
}

static gpointer
local_start (const char *name, JsonObject *spec, JsonObject *credentials, const MtvInventorySink *sink, gpointer host)
{
  Local *local = g_new0 (Local, 1);
  g_autoptr (GUri) uri = g_uri_parse (json_object_get_string_member_with_default (spec, "url", ""),
                                      G_URI_FLAGS_NONE, NULL);
  local->root = g_strdup (uri ? g_uri_get_path (uri) : "");
  local->sink = sink;
  local->host = host;
  /* Reported from the main loop, like every backend's reports. */
  local->idle = g_idle_add (check, local);
  return local;
}

static void
local_stop (gpointer instance)
{
  Local *local = instance;
  if (local->idle)
    g_source_remove (local->idle);
  g_free (local->root);
  g_free (local);
}

static const char *const local_kinds[] = { NULL };

const MtvProviderBackend mtv_local_backend = {
  .type = "local",
  .inventory_kinds = local_kinds,
  .start = local_start,
  .stop = local_stop,
};

#pragma once
#include <json-glib/json-glib.h>

/* The inventory side of a provider type (one folder under
 * daemon/providers/): mtvd starts one instance per provider of the type and
 * restarts it when the provider's spec changes. The backend reports, from
 * the main thread, through the sink it was given. What migrations need of
 * the type is its source adapter (migration/source-adapter.h). */

typedef struct {
  /* The inventory ({"vms": [...], "networks": [...], ...}; taken), or NULL
   * with @failure when the provider cannot be reached at all. @faults are
   * problems with parts of it (one line each, naming the part). */
  void (*publish) (gpointer host, JsonObject *inventory, const char *failure, GPtrArray *faults);
} MtvInventorySink;

struct _MtvProviderBackend {
  const char *type;
  /* The inventory kinds this backend serves (NULL-terminated). */
  const char *const *inventory_kinds;
  /* @credentials: the provider's write-only secrets (a JSON object of strings). */
  gpointer (*start) (const char *name, JsonObject *spec, JsonObject *credentials, const MtvInventorySink *sink,
                     gpointer host);
  void (*stop) (gpointer instance);
};

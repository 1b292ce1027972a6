#pragma once
#include "mtv-kinds.h"
#include "providers/mtv-provider-backend.h"
#include "providers/mtv-provider-types.h"

/* A running provider: its backend instance and the last inventory it
 * reported. Providers whose type has no backend have none. */
typedef struct {
  MtvDaemon *daemon;
  char *name;
  const MtvProviderBackend *backend;
  gpointer instance;
  gboolean reported;    /* the backend has reported at least once */
  JsonObject *raw;      /* as the backend reported it */
  JsonObject *inventory; /* raw plus the validation rules' concerns: what is served */
  guint64 revision;
  char *failure;
  GPtrArray *faults;
} MtvProviderRuntime;

/* Starts the backend for @record, or returns NULL when its type has none.
 * @stored is what the store kept ({"revision", "inventory"}, may be empty):
 * revisions go on from it, and with @serve_stored its inventory is served
 * until the backend reports (after a restart of mtvd, not after a change of
 * the provider's spec). */
MtvProviderRuntime *mtv_provider_runtime_start (MtvDaemon *daemon, const MtvRecord *record, JsonObject *stored,
                                                gboolean serve_stored);
void mtv_provider_runtime_free (MtvProviderRuntime *runtime);
/* Recomputes the concerns with the daemon's current rules; TRUE when the
 * served inventory changed (its revision was bumped). */
gboolean mtv_provider_runtime_reapply (MtvProviderRuntime *runtime);

/* Called by the runtime when a report changed something the daemon shows. */
void mtv_daemon_provider_reported (MtvDaemon *daemon, const char *name, gboolean inventory_changed);
/* The provider's credentials (a new object; empty when none are stored). */
JsonObject *mtv_daemon_provider_credentials (MtvDaemon *daemon, const char *name);
/* The validation rules in force. */
struct _MtvRules *mtv_daemon_rules (MtvDaemon *daemon);
/* The runtime of a provider, or NULL. */
MtvProviderRuntime *mtv_daemon_provider_runtime (MtvDaemon *daemon, const char *name);

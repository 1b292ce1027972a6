#pragma once
#include "mtv-record.h"
#include "providers/mtv-provider-backend.h"
#include "providers/mtv-provider-types.h"

typedef struct _MtvRules MtvRules;

/* What the daemon gives a running provider. */
typedef struct {
  gpointer data;
  /* The validation rules in force. */
  MtvRules *(*rules) (gpointer data);
  /* A report changed something the daemon shows. */
  void (*reported) (gpointer data, const char *name, gboolean inventory_changed);
} MtvProviderRuntimeHost;

/* A running provider: its backend instance and the last inventory it
 * reported. Providers whose type has no backend have none. */
typedef struct _MtvProviderRuntime MtvProviderRuntime;
struct _MtvProviderRuntime {
  const MtvProviderRuntimeHost *host;
  char *name;
  const MtvProviderBackend *backend;
  gpointer instance;
  gboolean reported;    /* the backend has reported at least once */
  JsonObject *raw;      /* as the backend reported it */
  JsonObject *inventory; /* raw plus the validation rules' concerns: what is served */
  guint64 revision;
  char *failure;
  GPtrArray *faults;
  GHashTable *applied_vms;  /* the rules' result per VM object the backend published (mtv_rules_apply_cached) */
};

/* Starts the backend for @record with its @credentials, or returns NULL
 * when its type has none. @stored is what the store kept ({"revision",
 * "inventory"}, may be empty): revisions go on from it, and with
 * @serve_stored its inventory is served until the backend reports (after a
 * restart of mtvd, not after a change of the provider's spec). */
MtvProviderRuntime *mtv_provider_runtime_start (const MtvProviderRuntimeHost *host, const MtvRecord *record,
                                                JsonObject *credentials, JsonObject *stored, gboolean serve_stored);
void mtv_provider_runtime_free (MtvProviderRuntime *runtime);
/* Recomputes the concerns with the daemon's current rules; TRUE when the
 * served inventory changed (its revision was bumped). */
gboolean mtv_provider_runtime_reapply (MtvProviderRuntime *runtime);


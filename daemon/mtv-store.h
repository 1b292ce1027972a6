#pragma once
#include "mtv-record.h"

/* The state database: one SQLite file (WAL, synchronous=FULL) under the state
 * directory. Every write is one transaction that is durable when the call
 * returns, so a D-Bus reply is only ever sent for committed state. */
typedef struct _MtvStore MtvStore;

MtvStore *mtv_store_open (const char *state_dir, GError **error);
void mtv_store_close (MtvStore *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvStore, mtv_store_close)

/* Inserts or replaces the record. For a provider, a non-NULL @credentials
 * (a JSON object of strings) replaces its stored credentials in the same
 * transaction. */
gboolean mtv_store_put (MtvStore *store, const MtvRecord *record, JsonObject *credentials,
                        GError **error);
/* Removes the record and, for a provider, its credentials. */
gboolean mtv_store_delete (MtvStore *store, MtvKind kind, const char *name, GError **error);

/* All records, ordered by kind then name. */
GPtrArray *mtv_store_load_all (MtvStore *store, GError **error);
/* Migration runs: their state as JSON, by id. */
gboolean mtv_store_put_run (MtvStore *store, const char *id, const char *plan, JsonObject *state, GError **error);
/* A run's VM @index, apart from the run (a VM's change writes only its row). */
gboolean mtv_store_put_run_vm (MtvStore *store, const char *id, guint index, JsonObject *state, GError **error);
/* Removes a run with its VMs. */
gboolean mtv_store_delete_run (MtvStore *store, const char *id, GError **error);
/* id -> state (JsonObject) with "vmStates" (each with its "index"), in the
 * order they were started. */
GPtrArray *mtv_store_load_runs (MtvStore *store, GError **error);

/* Service settings (JSON object), {} when none were set. */
JsonObject *mtv_store_get_settings (MtvStore *store, GError **error);
gboolean mtv_store_put_settings (MtvStore *store, JsonObject *settings, GError **error);

/* The provider's credentials, or an empty object when none are stored. */
JsonObject *mtv_store_get_credentials (MtvStore *store, const char *provider, GError **error);

/* A provider's last inventory as {"revision": N, "inventory": {...} or null,
 * "raw": {...}} (served, and as its backend reported it without the rules'
 * concerns), or an empty object when none was stored. */
JsonObject *mtv_store_get_inventory (MtvStore *store, const char *provider, GError **error);
gboolean mtv_store_put_inventory (MtvStore *store, const char *provider, guint64 revision, JsonObject *inventory,
                                  JsonObject *raw, GError **error);

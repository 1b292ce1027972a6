#include "mtv-store.h"
#include "mtv-error.h"
#include "mtv-json.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <sys/stat.h>

struct _MtvStore {
  sqlite3 *db;
};

static const char schema[] =
  "CREATE TABLE IF NOT EXISTS objects ("
  "  kind TEXT NOT NULL,"
  "  name TEXT NOT NULL,"
  "  uid TEXT NOT NULL,"
  "  created TEXT NOT NULL,"
  "  generation INTEGER NOT NULL,"
  "  spec TEXT NOT NULL,"
  "  status TEXT NOT NULL,"
  "  PRIMARY KEY (kind, name));"
  /* Credentials live apart from specs so no query for specs can return them. */
  "CREATE TABLE IF NOT EXISTS settings ("
  "  id INTEGER PRIMARY KEY CHECK (id = 1),"
  "  data TEXT NOT NULL);"
  "CREATE TABLE IF NOT EXISTS runs ("
  "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  id TEXT UNIQUE NOT NULL,"
  "  plan TEXT NOT NULL,"
  "  state TEXT NOT NULL);"
  /* Each VM of a run apart: a VM's phase change writes its own row only. */
  "CREATE TABLE IF NOT EXISTS run_vms ("
  "  run TEXT NOT NULL,"
  "  idx INTEGER NOT NULL,"
  "  state TEXT NOT NULL,"
  "  PRIMARY KEY (run, idx));"
  "CREATE TABLE IF NOT EXISTS credentials ("
  "  provider TEXT PRIMARY KEY NOT NULL,"
  "  data TEXT NOT NULL);"
  /* The last inventory of each provider: {"revision": N, "inventory": {...}
   * as served, "raw": {...} as the backend reported it}. */
  "CREATE TABLE IF NOT EXISTS inventory ("
  "  provider TEXT PRIMARY KEY NOT NULL,"
  "  data TEXT NOT NULL);";

static gboolean
sql_failed (MtvStore *store, int rc, const char *what, GError **error)
{
  g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "state database: %s: %s", what,
               store->db ? sqlite3_errmsg (store->db) : sqlite3_errstr (rc));
  return FALSE;
}

static gboolean
exec (MtvStore *store, const char *sql, GError **error)
{
  int rc = sqlite3_exec (store->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return sql_failed (store, rc, sql, error);
  return TRUE;
}

MtvStore *
mtv_store_open (const char *state_dir, GError **error)
{
  g_autoptr (MtvStore) store = g_new0 (MtvStore, 1);
  g_autofree char *path = g_build_filename (state_dir, "mtvd.db", NULL);

  if (g_mkdir_with_parents (state_dir, 0700) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "cannot create state directory %s: %s", state_dir, g_strerror (saved));
      return NULL;
    }

  int rc = sqlite3_open_v2 (path, &store->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                            NULL);
  if (rc != SQLITE_OK)
    {
      sql_failed (store, rc, path, error);
      return NULL;
    }
  /* The database holds credentials: only root may read it, whatever the umask. */
  if (g_chmod (path, 0600) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot chmod %s: %s",
                   path, g_strerror (saved));
      return NULL;
    }
  sqlite3_busy_timeout (store->db, 5000);
  /* WAL with synchronous=FULL: a commit is on disk before sqlite3_step returns. */
  if (!exec (store, "PRAGMA journal_mode=WAL;", error)
      || !exec (store, "PRAGMA synchronous=FULL;", error)
      || !exec (store, schema, error))
    return NULL;
  return g_steal_pointer (&store);
}

void
mtv_store_close (MtvStore *store)
{
  if (store == NULL)
    return;
  if (store->db)
    sqlite3_close (store->db);
  g_free (store);
}

/* Runs one statement with text/int64 parameters given as a GVariant tuple. */
static gboolean
run (MtvStore *store, const char *sql, GVariant *params, GError **error)
{
  g_autoptr (GVariant) owned = g_variant_ref_sink (params);
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (store->db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    return sql_failed (store, rc, sql, error);

  for (gsize i = 0; i < g_variant_n_children (owned); i++)
    {
      g_autoptr (GVariant) v = g_variant_get_child_value (owned, i);
      if (g_variant_is_of_type (v, G_VARIANT_TYPE_STRING))
        sqlite3_bind_text (stmt, (int) i + 1, g_variant_get_string (v, NULL), -1, SQLITE_TRANSIENT);
      else
        sqlite3_bind_int64 (stmt, (int) i + 1, (sqlite3_int64) g_variant_get_uint64 (v));
    }
  rc = sqlite3_step (stmt);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    return sql_failed (store, rc, sql, error);
  return TRUE;
}

static gboolean
in_transaction (MtvStore *store, gboolean ok, GError **error)
{
  if (ok)
    return exec (store, "COMMIT;", error);
  sqlite3_exec (store->db, "ROLLBACK;", NULL, NULL, NULL);
  return FALSE;
}

/* The JSON object in the one text column of the row @sql selects (with @param
 * bound when given), or an empty object when there is no such row. */
static JsonObject *
get_object (MtvStore *store, const char *sql, const char *param, const char *what, GError **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (store->db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      sql_failed (store, rc, sql, error);
      return NULL;
    }
  if (param)
    sqlite3_bind_text (stmt, 1, param, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step (stmt);
  JsonObject *result = NULL;
  if (rc == SQLITE_ROW)
    result = mtv_json_object_from_string ((const char *) sqlite3_column_text (stmt, 0), what, error);
  else if (rc == SQLITE_DONE)
    result = json_object_new ();
  else
    sql_failed (store, rc, sql, error);
  sqlite3_finalize (stmt);
  return result;
}

gboolean
mtv_store_put (MtvStore *store, const MtvRecord *record, JsonObject *credentials, GError **error)
{
  g_autofree char *spec = mtv_json_object_to_string (record->spec, FALSE);
  g_autofree char *status = mtv_json_object_to_string (record->status, FALSE);

  if (!exec (store, "BEGIN IMMEDIATE;", error))
    return FALSE;

  gboolean ok = run (store,
                     "INSERT OR REPLACE INTO objects (kind, name, uid, created, generation, spec, status)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?);",
                     g_variant_new ("(sssstss)", mtv_kind_collection (record->kind), record->name,
                                    record->uid, record->created, (guint64) record->generation,
                                    spec, status),
                     error);
  if (ok && credentials != NULL && record->kind == MTV_KIND_PROVIDER)
    {
      g_autofree char *data = mtv_json_object_to_string (credentials, FALSE);
      ok = run (store, "INSERT OR REPLACE INTO credentials (provider, data) VALUES (?, ?);",
                g_variant_new ("(ss)", record->name, data), error);
    }
  return in_transaction (store, ok, error);
}

gboolean
mtv_store_delete (MtvStore *store, MtvKind kind, const char *name, GError **error)
{
  if (!exec (store, "BEGIN IMMEDIATE;", error))
    return FALSE;
  gboolean ok = run (store, "DELETE FROM objects WHERE kind = ? AND name = ?;",
                     g_variant_new ("(ss)", mtv_kind_collection (kind), name), error);
  if (ok && kind == MTV_KIND_PROVIDER)
    ok = run (store, "DELETE FROM credentials WHERE provider = ?;", g_variant_new ("(s)", name),
              error)
         && run (store, "DELETE FROM inventory WHERE provider = ?;", g_variant_new ("(s)", name), error);
  return in_transaction (store, ok, error);
}

GPtrArray *
mtv_store_load_all (MtvStore *store, GError **error)
{
  static const char sql[] =
    "SELECT kind, name, uid, created, generation, spec, status FROM objects ORDER BY kind, name;";
  g_autoptr (GPtrArray) records = g_ptr_array_new_with_free_func ((GDestroyNotify) mtv_record_free);
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (store->db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      sql_failed (store, rc, sql, error);
      return NULL;
    }
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      MtvKind kind;
      const char *kind_text = (const char *) sqlite3_column_text (stmt, 0);
      const char *name = (const char *) sqlite3_column_text (stmt, 1);
      if (!mtv_kind_from_string (kind_text, &kind))
        {
          g_warning ("state database: skipping %s/%s: unknown kind", kind_text, name);
          continue;
        }
      g_autoptr (MtvRecord) record = mtv_record_new (kind, name);
      record->uid = g_strdup ((const char *) sqlite3_column_text (stmt, 2));
      record->created = g_strdup ((const char *) sqlite3_column_text (stmt, 3));
      record->generation = (guint64) sqlite3_column_int64 (stmt, 4);
      g_autoptr (GError) local_error = NULL;
      g_autoptr (JsonObject) spec =
        mtv_json_object_from_string ((const char *) sqlite3_column_text (stmt, 5), "spec", &local_error);
      g_autoptr (JsonObject) status = spec ? mtv_json_object_from_string (
                                               (const char *) sqlite3_column_text (stmt, 6), "status",
                                               &local_error)
                                           : NULL;
      if (status == NULL)
        {
          g_warning ("state database: skipping %s/%s: %s", kind_text, name, local_error->message);
          continue;
        }
      json_object_unref (record->spec);
      record->spec = g_steal_pointer (&spec);
      json_object_unref (record->status);
      record->status = g_steal_pointer (&status);
      g_ptr_array_add (records, g_steal_pointer (&record));
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      sql_failed (store, rc, sql, error);
      return NULL;
    }
  return g_steal_pointer (&records);
}

JsonObject *
mtv_store_get_credentials (MtvStore *store, const char *provider, GError **error)
{
  return get_object (store, "SELECT data FROM credentials WHERE provider = ?;", provider, "credentials", error);
}

gboolean
mtv_store_put_run (MtvStore *store, const char *id, const char *plan, JsonObject *state, GError **error)
{
  g_autofree char *text = mtv_json_object_to_string (state, FALSE);
  return run (store, "INSERT INTO runs (id, plan, state) VALUES (?, ?, ?)"
                     " ON CONFLICT (id) DO UPDATE SET state = excluded.state;",
              g_variant_new ("(sss)", id, plan, text), error);
}

gboolean
mtv_store_put_run_vm (MtvStore *store, const char *id, guint index, JsonObject *state, GError **error)
{
  g_autofree char *text = mtv_json_object_to_string (state, FALSE);
  return run (store, "INSERT INTO run_vms (run, idx, state) VALUES (?, ?, ?)"
                     " ON CONFLICT (run, idx) DO UPDATE SET state = excluded.state;",
              g_variant_new ("(sts)", id, (guint64) index, text), error);
}

gboolean
mtv_store_delete_run (MtvStore *store, const char *id, GError **error)
{
  return exec (store, "BEGIN;", error)
      && in_transaction (store, run (store, "DELETE FROM run_vms WHERE run = ?;", g_variant_new ("(s)", id), error)
                                  && run (store, "DELETE FROM runs WHERE id = ?;", g_variant_new ("(s)", id), error),
                         error);
}

/* The VMs' states of run @id, by index, as "vmStates". */
static gboolean
load_run_vms (MtvStore *store, const char *id, JsonObject *state, GError **error)
{
  static const char sql[] = "SELECT idx, state FROM run_vms WHERE run = ? ORDER BY idx;";
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (store->db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    return sql_failed (store, rc, sql, error);
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_TRANSIENT);
  JsonArray *vms = json_array_new ();
  json_object_set_array_member (state, "vmStates", vms);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      guint index = (guint) sqlite3_column_int64 (stmt, 0);
      g_autoptr (GError) local_error = NULL;
      JsonObject *vm = mtv_json_object_from_string ((const char *) sqlite3_column_text (stmt, 1), "run VM", &local_error);
      if (vm == NULL)
        {
          g_warning ("state database: migration %s: skipping VM %u: %s", id, index, local_error->message);
          continue;
        }
      json_object_set_int_member (vm, "index", index);
      json_array_add_object_element (vms, vm);
    }
  sqlite3_finalize (stmt);
  return rc == SQLITE_DONE || sql_failed (store, rc, sql, error);
}

GPtrArray *
mtv_store_load_runs (MtvStore *store, GError **error)
{
  static const char sql[] = "SELECT id, state FROM runs ORDER BY seq;";
  g_autoptr (GPtrArray) runs = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (store->db, sql, -1, &stmt, NULL);
  if (rc != SQLITE_OK)
    {
      sql_failed (store, rc, sql, error);
      return NULL;
    }
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      const char *id = (const char *) sqlite3_column_text (stmt, 0);
      g_autoptr (GError) local_error = NULL;
      JsonObject *state = mtv_json_object_from_string ((const char *) sqlite3_column_text (stmt, 1), "run", &local_error);
      if (state == NULL)
        {
          g_warning ("state database: skipping migration %s: %s", id, local_error->message);
          continue;
        }
      json_object_set_string_member (state, "id", id);
      g_ptr_array_add (runs, state);
      if (!load_run_vms (store, id, state, error))
        {
          sqlite3_finalize (stmt);
          return NULL;
        }
    }
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      sql_failed (store, rc, sql, error);
      return NULL;
    }
  return g_steal_pointer (&runs);
}

JsonObject *
mtv_store_get_settings (MtvStore *store, GError **error)
{
  return get_object (store, "SELECT data FROM settings WHERE id = 1;", NULL, "settings", error);
}

gboolean
mtv_store_put_settings (MtvStore *store, JsonObject *settings, GError **error)
{
  g_autofree char *text = mtv_json_object_to_string (settings, FALSE);
  return run (store, "INSERT OR REPLACE INTO settings (id, data) VALUES (1, ?);", g_variant_new ("(s)", text), error);
}

JsonObject *
mtv_store_get_inventory (MtvStore *store, const char *provider, GError **error)
{
  return get_object (store, "SELECT data FROM inventory WHERE provider = ?;", provider, "inventory", error);
}

gboolean
mtv_store_put_inventory (MtvStore *store, const char *provider, guint64 revision, JsonObject *inventory,
                         JsonObject *raw, GError **error)
{
  g_autoptr (JsonObject) data = json_object_new ();
  json_object_set_int_member (data, "revision", (gint64) revision);
  if (inventory && raw)
    {
      json_object_set_object_member (data, "inventory", json_object_ref (inventory));
      json_object_set_object_member (data, "raw", json_object_ref (raw));
    }
  else
    json_object_set_null_member (data, "inventory");
  g_autofree char *text = mtv_json_object_to_string (data, FALSE);
  return run (store, "INSERT OR REPLACE INTO inventory (provider, data) VALUES (?, ?);",
              g_variant_new ("(ss)", provider, text), error);
}

#include "config.h"
#include "mtv-daemon.h"
#include "mtv-query.h"
#include "mtv-auth.h"
#include "mtv-bus-guard.h"
#include "mtv-files.h"
#include "mtv-text.h"
#include "mtv-error.h"
#include "mtv-inventory.h"
#include "mtv-item.h"
#include "mtv-json.h"
#include "mtv-store.h"
#include "mtv-provider-runtime.h"
#include "migration/run.h"
#include "mtv-rules.h"

#include <errno.h>
#include <glib/gstdio.h>

#include <string.h>

struct _MtvDaemon {
  GDBusConnection *connection;
  MtvRules *rules;
  char *rule_dirs[3];            /* shipped, drop-ins */
  GFileMonitor *rule_monitors[2];
  guint rules_reload_source;
  GDBusObjectManagerServer *object_manager;
  MtvManager *manager;
  MtvStore *store;
  MtvAuth *auth;
  GHashTable *items[MTV_N_KINDS]; /* name -> MtvItem */
  guint not_found_subtrees[MTV_N_KINDS];
  GPtrArray *runs;                /* MtvRun, oldest first */
  MtvRunHost run_host;
  MtvProviderRuntimeHost runtime_host;
  char *runtime_dir;
  char *checkpoint_dir;
  char *transfer_path;
  guint max_in_flight;             /* --max-vms-in-flight: the default */
  JsonObject *settings;
  guint schedule_source;
  char *runs_seen;                 /* the runs' ids and phases when statuses were last refreshed */
  guint bus_guard;                 /* the connection's filter that keeps messages under the bus's limit */
  GHashTable *unstored_inventories; /* provider names whose inventory changed since it was last stored */
  guint inventory_store_source;
  gint64 inventories_stored_at;     /* monotonic time of the last store */
};

/* ---- what the bus carries ---------------------------------------------------------- */

/* One GetManagedObjects reply carries every property of every object, and
 * the bus refuses a message over its max_message_size (32 MiB unless the bus
 * is configured otherwise). New objects stop well before that. */
#define BUS_BUDGET (24 << 20)
/* A Migration or MigrationVm object, about (a VM's error is at most 4 KiB). */
#define RUN_OBJECT_SIZE 1024
/* An item's Resource interface and conditions, about, before it has them. */
#define ITEM_BASE_SIZE 2048

static gsize
bus_size (MtvDaemon *daemon)
{
  gsize size = 0;
  for (MtvKind k = 0; k < MTV_N_KINDS; k++)
    {
      GHashTableIter iter;
      gpointer value;
      g_hash_table_iter_init (&iter, daemon->items[k]);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        size += ((MtvItem *) value)->bus_size;
    }
  for (guint i = 0; i < daemon->runs->len; i++)
    size += RUN_OBJECT_SIZE * (1 + mtv_run_n_vms (daemon->runs->pdata[i]));
  return size;
}

/* Whether the objects may take @after bytes where they took @before. */
static gboolean
check_bus_budget (MtvDaemon *daemon, gsize before, gsize after, GError **error)
{
  gsize total = bus_size (daemon) - MIN (before, bus_size (daemon)) + after;
  if (after <= before || total <= BUS_BUDGET)
    return TRUE;
  g_autofree char *shown = mtv_text_size (total);
  g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "mtvd's objects would take %s on the bus, more than the 24 MiB "
               "that one reply listing them all (GetManagedObjects) may carry: delete plans, maps or hooks that are "
               "no longer needed first", shown);
  return FALSE;
}

/* ---- lookups used by the kinds ------------------------------------------------ */

static MtvItem *
lookup_item (MtvDaemon *daemon, MtvKind kind, const char *name)
{
  return name ? g_hash_table_lookup (daemon->items[kind], name) : NULL;
}

const MtvRecord *
mtv_daemon_lookup_record (MtvDaemon *daemon, MtvKind kind, const char *name)
{
  MtvItem *item = lookup_item (daemon, kind, name);
  return item ? item->record : NULL;
}

gboolean
mtv_daemon_provider_has_credentials (MtvDaemon *daemon, const char *name)
{
  MtvItem *item = lookup_item (daemon, MTV_KIND_PROVIDER, name);
  return item && item->secret_keys[0] != NULL;
}

/* Read from the store at start and kept with the item as it changes:
 * every adapter call of a migration wants them. */
JsonObject *
mtv_daemon_provider_credentials (MtvDaemon *daemon, const char *name)
{
  MtvItem *item = lookup_item (daemon, MTV_KIND_PROVIDER, name);
  return item && item->credentials ? mtv_json_object_copy (item->credentials) : json_object_new ();
}

MtvProviderRuntime *
mtv_daemon_provider_runtime (MtvDaemon *daemon, const char *name)
{
  MtvItem *item = lookup_item (daemon, MTV_KIND_PROVIDER, name);
  return item ? item->runtime : NULL;
}

/* ---- what runs and running providers get of the daemon ---------------------------- */

static JsonObject *
host_credentials (gpointer data, const char *name)
{
  return mtv_daemon_provider_credentials (data, name);
}

static const MtvSourceAdapter *
host_source_adapter (gpointer data, const char *type)
{
  const MtvProviderType *t = mtv_provider_type_lookup (type);
  return t ? t->source : NULL;
}

static const MtvTargetAdapter *
host_target_adapter (gpointer data, const char *type)
{
  const MtvProviderType *t = mtv_provider_type_lookup (type);
  return t ? t->target : NULL;
}

MtvRun *
mtv_daemon_plan_run (MtvDaemon *daemon, const char *plan)
{
  for (guint i = daemon->runs->len; i > 0; i--)
    if (g_strcmp0 (mtv_run_plan (daemon->runs->pdata[i - 1]), plan) == 0)
      return daemon->runs->pdata[i - 1];
  return NULL;
}

static void provider_reported (MtvDaemon *daemon, const char *name, gboolean inventory_changed);
static gboolean drop_plan_runs (MtvDaemon *daemon, const char *plan, GError **error);

static void
runtime_reported (gpointer data, const char *name, gboolean inventory_changed)
{
  provider_reported (data, name, inventory_changed);
}

/* ---- status ----------------------------------------------------------------- */

/* Recomputes an item's status; stores and shows it when it changed.
 * Level-triggered: doing it twice changes nothing. */
static void
refresh_item (MtvDaemon *daemon, MtvItem *item)
{
  const MtvKindInfo *info = mtv_kind_info (item->record->kind);
  MtvStatusBuilder builder;
  mtv_status_builder_init (&builder);
  if (info->compute_status)
    info->compute_status (daemon, item->record, &builder);
  if (builder.keep)
    {
      mtv_status_builder_clear (&builder);
      return;
    }
  g_autoptr (JsonObject) status = mtv_status_finish (&builder, item->record->status, item->record->generation,
                                                     info->ready_message);
  mtv_status_builder_clear (&builder);
  if (mtv_json_object_equal (status, item->record->status))
    return;
  g_clear_pointer (&item->record->status, json_object_unref);
  item->record->status = g_steal_pointer (&status);
  g_autoptr (GError) error = NULL;
  if (!mtv_store_put (daemon->store, item->record, NULL, &error))
    g_warning ("cannot store the status of %s %s: %s", mtv_kind_to_string (item->record->kind), item->record->name,
               error->message);
  mtv_item_sync_properties (item);
}

/* Recomputes the status of every item, in dependency order (after a change
 * of the validation rules, at start). */
static void
refresh_statuses (MtvDaemon *daemon)
{
  for (MtvKind kind = 0; kind < MTV_N_KINDS; kind++)
    {
      g_autoptr (GList) items = g_hash_table_get_values (daemon->items[kind]);
      for (GList *l = items; l; l = l->next)
        refresh_item (daemon, l->data);
    }
}

/* Recomputes the status of what a change of item @kind/@name can change:
 * the item, and whatever refers to it, directly or not (a provider's maps
 * and the plans that use them), so that a change to a provider shows at
 * once in its maps and plans. References only point to kinds before the
 * referring one, so one pass in kind order finds them all; everything else
 * keeps its status, so creating the thousandth object costs what the first
 * did. */
static void
refresh_related (MtvDaemon *daemon, MtvKind kind, const char *name)
{
  g_autoptr (GHashTable) changed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  MtvItem *first = lookup_item (daemon, kind, name);
  g_hash_table_add (changed, g_strdup_printf ("%d/%s", kind, name));
  if (first)
    refresh_item (daemon, first);
  for (MtvKind k = kind + 1; k < MTV_N_KINDS; k++)
    {
      g_autoptr (GList) items = g_hash_table_get_values (daemon->items[k]);
      for (GList *l = items; l; l = l->next)
        {
          MtvItem *item = l->data;
          g_autoptr (GPtrArray) refs = mtv_kind_references (k, item->record->spec);
          for (guint i = 0; i < refs->len; i++)
            {
              MtvReference *ref = refs->pdata[i];
              g_autofree char *key = g_strdup_printf ("%d/%s", ref->kind, ref->name);
              if (g_hash_table_contains (changed, key))
                {
                  g_hash_table_add (changed, g_strdup_printf ("%d/%s", k, item->record->name));
                  refresh_item (daemon, item);
                  break;
                }
            }
        }
    }
}

/* ---- the operations, after authorization ------------------------------------ */

static gboolean
check_references (MtvDaemon *daemon, MtvKind kind, JsonObject *spec, GError **error)
{
  g_autoptr (GPtrArray) refs = mtv_kind_references (kind, spec);
  for (guint i = 0; i < refs->len; i++)
    {
      MtvReference *ref = refs->pdata[i];
      if (lookup_item (daemon, ref->kind, ref->name) == NULL)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: %s \"%s\" does not exist",
                       ref->field, mtv_kind_to_string (ref->kind), ref->name);
          return FALSE;
        }
    }
  return TRUE;
}

/* Splits the write-only secret out of @spec. Returns the rest of the spec;
 * *out_secret gets the secret's entries (or NULL when none were given). */
static GVariant *
take_secret (const MtvKindInfo *info, GVariant *spec, JsonObject **out_secret, GError **error)
{
  *out_secret = NULL;
  GVariantDict dict;
  g_variant_dict_init (&dict, spec);
  g_autoptr (GVariant) secret = info->secret_key ? g_variant_dict_lookup_value (&dict, info->secret_key, NULL) : NULL;
  if (secret == NULL)
    return g_variant_ref_sink (g_variant_dict_end (&dict));
  g_variant_dict_remove (&dict, info->secret_key);
  g_autoptr (GVariant) rest = g_variant_ref_sink (g_variant_dict_end (&dict));

  if (!g_variant_is_of_type (secret, G_VARIANT_TYPE ("a{ss}")))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: expected a value of D-Bus type a{ss}, got %s",
                   info->secret_key, g_variant_get_type_string (secret));
      return NULL;
    }
  g_autoptr (JsonObject) entries = json_object_new ();
  GVariantIter iter;
  const char *key, *value;
  g_variant_iter_init (&iter, secret);
  while (g_variant_iter_next (&iter, "{&s&s}", &key, &value))
    {
      if (!info->check_secret (key, value, error))
        return NULL;
      /* A CA bundle is the largest credential; a whole system's is ~200 KiB. */
      if (strlen (value) > MTV_SECRET_MAX_VALUE)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s.%s: %zu bytes; at most 1 MiB", info->secret_key, key,
                       strlen (value));
          return NULL;
        }
      json_object_set_string_member (entries, key, value);
    }
  *out_secret = g_steal_pointer (&entries);
  return g_steal_pointer (&rest);
}

/* Stored credentials with @changes applied: an empty value removes a field. */
static JsonObject *
merge_secret (JsonObject *stored, JsonObject *changes)
{
  JsonObject *merged = stored ? mtv_json_object_copy (stored) : json_object_new ();
  g_autoptr (GList) keys = json_object_get_members (changes);
  for (GList *l = keys; l; l = l->next)
    {
      const char *value = json_object_get_string_member (changes, l->data);
      if (*value == '\0')
        json_object_remove_member (merged, l->data);
      else
        json_object_set_string_member (merged, l->data, value);
    }
  return merged;
}

/* The item's credentials as stored, and the names it shows of them. */
static void
set_credentials (MtvItem *item, JsonObject *credentials)
{
  g_autoptr (GList) keys = json_object_get_members (credentials);
  keys = g_list_sort (keys, (GCompareFunc) g_strcmp0);
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  for (GList *l = keys; l; l = l->next)
    g_strv_builder_add (b, l->data);
  g_strfreev (item->secret_keys);
  item->secret_keys = g_strv_builder_end (b);
  g_clear_pointer (&item->credentials, json_object_unref);
  item->credentials = json_object_ref (credentials);
}

static void export_item (MtvDaemon *daemon, MtvItem *item);

/* (Re)starts what the item runs: a provider's backend. After a restart of
 * mtvd the stored inventory is served until the backend reports; after a
 * change of the spec only the revision numbers go on. */
static void
start_runtime (MtvDaemon *daemon, MtvItem *item)
{
  if (item->record->kind != MTV_KIND_PROVIDER)
    return;
  gboolean restart = item->runtime != NULL;
  if (item->runtime)
    item->runtime_free (item->runtime);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) stored = mtv_store_get_inventory (daemon->store, item->record->name, &error);
  if (stored == NULL)
    g_warning ("provider %s: stored inventory unreadable, collecting anew: %s", item->record->name, error->message);
  g_autoptr (JsonObject) credentials = mtv_daemon_provider_credentials (daemon, item->record->name);
  item->runtime = mtv_provider_runtime_start (&daemon->runtime_host, item->record, credentials, stored, !restart);
  item->runtime_free = (GDestroyNotify) mtv_provider_runtime_free;
  MtvProviderRuntime *rt = item->runtime;
  mtv_provider_set_inventory_revision (MTV_PROVIDER (item->kind_iface), rt && rt->inventory ? rt->revision : 0);
}

static MtvRules *
runtime_rules (gpointer data)
{
  return ((MtvDaemon *) data)->rules;
}

static void
load_rules (MtvDaemon *daemon)
{
  g_clear_pointer (&daemon->rules, mtv_rules_free);
  daemon->rules = mtv_rules_load ((const char *const *) daemon->rule_dirs);
  const GPtrArray *faults = mtv_rules_faults (daemon->rules);
  g_autoptr (GPtrArray) shown = g_ptr_array_new ();
  for (guint i = 0; i < faults->len; i++)
    g_ptr_array_add (shown, faults->pdata[i]);
  g_ptr_array_add (shown, NULL);
  mtv_manager_set_rule_faults (daemon->manager, (const char *const *) shown->pdata);
}

/* Rule files changed: reload them and recompute every provider's concerns. */
static gboolean
reload_rules (gpointer data)
{
  MtvDaemon *daemon = data;
  daemon->rules_reload_source = 0;
  load_rules (daemon);
  g_message ("validation rules reloaded: %u file faults", mtv_rules_faults (daemon->rules)->len);
  GHashTableIter iter;
  MtvItem *item;
  g_hash_table_iter_init (&iter, daemon->items[MTV_KIND_PROVIDER]);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &item))
    if (item->runtime && mtv_provider_runtime_reapply (item->runtime))
      provider_reported (daemon, item->record->name, TRUE);
  return G_SOURCE_REMOVE;
}

static void
on_rules_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event, gpointer data)
{
  MtvDaemon *daemon = data;
  /* An editor's save is several events: reload once they settle. */
  if (daemon->rules_reload_source)
    g_source_remove (daemon->rules_reload_source);
  daemon->rules_reload_source = g_timeout_add (300, reload_rules, daemon);
}

static void
watch_rules (MtvDaemon *daemon)
{
  for (guint i = 0; i < 2 && daemon->rule_dirs[i]; i++)
    {
      g_autoptr (GFile) dir = g_file_new_for_path (daemon->rule_dirs[i]);
      g_autoptr (GError) error = NULL;
      daemon->rule_monitors[i] = g_file_monitor_directory (dir, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
      if (daemon->rule_monitors[i] == NULL)
        g_message ("not watching %s for rule changes: %s", daemon->rule_dirs[i], error->message);
      else
        g_signal_connect (daemon->rule_monitors[i], "changed", G_CALLBACK (on_rules_changed), daemon);
    }
}

/* Inventories are stored at most this often (seconds). */
#define INVENTORY_STORE_SECONDS 5

/* The inventories that changed, stored (a cache for a restart: what was
 * served stands until the backend reports again). */
static gboolean
store_inventories (gpointer data)
{
  MtvDaemon *daemon = data;
  daemon->inventory_store_source = 0;
  daemon->inventories_stored_at = g_get_monotonic_time ();
  GHashTableIter it;
  gpointer name;
  g_hash_table_iter_init (&it, daemon->unstored_inventories);
  while (g_hash_table_iter_next (&it, &name, NULL))
    {
      MtvItem *item = lookup_item (daemon, MTV_KIND_PROVIDER, name);
      MtvProviderRuntime *rt = item ? item->runtime : NULL;   /* deleted meanwhile: nothing to keep */
      g_autoptr (GError) error = NULL;
      if (rt && !mtv_store_put_inventory (daemon->store, name, rt->revision, rt->inventory, rt->raw, &error))
        g_warning ("provider %s: inventory revision %" G_GUINT64_FORMAT " not stored: %s", (const char *) name,
                   rt->revision, error->message);
      g_hash_table_iter_remove (&it);
    }
  return G_SOURCE_REMOVE;
}

static void
provider_reported (MtvDaemon *daemon, const char *name, gboolean inventory_changed)
{
  MtvItem *item = lookup_item (daemon, MTV_KIND_PROVIDER, name);
  MtvProviderRuntime *rt = item ? item->runtime : NULL;
  if (rt == NULL)
    return;
  if (inventory_changed)
    {
      /* Stored once the change is signalled and pending calls answered,
       * and a burst of changes once (10,000 VMs are tens of MB of JSON, too
       * much to write at every change): at most every few seconds. The
       * stored inventory serves after a restart until the backend reports. */
      g_hash_table_add (daemon->unstored_inventories, g_strdup (name));
      if (daemon->inventory_store_source == 0)
        {
          gint64 due = daemon->inventories_stored_at + INVENTORY_STORE_SECONDS * G_USEC_PER_SEC;
          gint64 wait_ms = MAX (0, due - g_get_monotonic_time ()) / 1000;
          daemon->inventory_store_source = daemon->inventories_stored_at == 0 || wait_ms == 0
                                             ? g_idle_add_full (G_PRIORITY_LOW, store_inventories, daemon, NULL)
                                             : g_timeout_add_full (G_PRIORITY_LOW, (guint) wait_ms, store_inventories,
                                                                   daemon, NULL);
        }
      MtvProvider *provider = MTV_PROVIDER (item->kind_iface);
      mtv_provider_set_inventory_revision (provider, rt->revision);
      mtv_provider_emit_inventory_changed (provider, rt->revision);
      g_message ("provider %s: inventory revision %" G_GUINT64_FORMAT, name, rt->revision);
    }
  refresh_related (daemon, MTV_KIND_PROVIDER, name);
}

static char *
create_item (MtvDaemon *daemon, MtvKind kind, const char *name, GVariant *spec_in, GError **error)
{
  const MtvKindInfo *info = mtv_kind_info (kind);
  g_autoptr (JsonObject) secret = NULL;

  if (!mtv_name_validate (name, "name", error))
    return NULL;
  if (lookup_item (daemon, kind, name))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_ALREADY_EXISTS, "%s \"%s\" already exists",
                   mtv_kind_to_string (kind), name);
      return NULL;
    }
  g_autoptr (GVariant) changes = take_secret (info, spec_in, &secret, error);
  if (changes == NULL)
    return NULL;
  g_autoptr (JsonObject) spec = mtv_spec_merge (info->fields, info->n_fields,
                                                mtv_kind_to_string (kind), NULL, changes, NULL, error);
  if (spec == NULL || !check_references (daemon, kind, spec, error)
      || (info->validate && !info->validate (daemon, name, spec, error))
      || !check_bus_budget (daemon, 0, ITEM_BASE_SIZE + mtv_spec_properties_size (info->fields, info->n_fields, spec),
                            error))
    return NULL;

  g_autoptr (MtvRecord) record = mtv_record_new (kind, name);
  record->uid = g_uuid_string_random ();
  record->created = mtv_now_rfc3339 ();
  record->generation = 1;
  json_object_unref (record->spec);
  record->spec = g_steal_pointer (&spec);
  g_autoptr (JsonObject) stored_secret = secret ? merge_secret (NULL, secret) : NULL;
  if (!mtv_store_put (daemon->store, record, stored_secret, error))
    return NULL;

  MtvItem *item = mtv_item_new (g_steal_pointer (&record));
  if (stored_secret)
    set_credentials (item, stored_secret);
  export_item (daemon, item);
  refresh_related (daemon, kind, name);
  g_message ("created %s %s", mtv_kind_to_string (kind), name);
  return g_strdup (item->object_path);
}

static gboolean
update_item (MtvDaemon *daemon, MtvItem *item, GVariant *spec_in, const char *const *unset,
             GError **error)
{
  MtvRecord *record = item->record;
  const MtvKindInfo *info = mtv_kind_info (record->kind);
  g_autoptr (JsonObject) secret = NULL;
  g_autoptr (JsonObject) stored_secret = NULL;

  g_autoptr (GVariant) changes = take_secret (info, spec_in, &secret, error);
  if (changes == NULL)
    return FALSE;
  g_autoptr (JsonObject) spec = mtv_spec_merge (info->fields, info->n_fields,
                                                mtv_kind_to_string (record->kind), record->spec,
                                                changes, unset, error);
  gsize old_size = mtv_spec_properties_size (info->fields, info->n_fields, record->spec);
  if (spec == NULL || !check_references (daemon, record->kind, spec, error)
      || (info->validate && !info->validate (daemon, record->name, spec, error))
      || !check_bus_budget (daemon, item->bus_size,
                            item->bus_size - MIN (old_size, item->bus_size)
                              + mtv_spec_properties_size (info->fields, info->n_fields, spec), error))
    return FALSE;
  if (secret)
    {
      stored_secret = merge_secret (item->credentials, secret);
    }

  gboolean changed = !mtv_json_object_equal (spec, record->spec);
  MtvRecord updated = *record;
  updated.spec = spec;
  updated.generation = record->generation + (changed ? 1 : 0);
  if (!mtv_store_put (daemon->store, &updated, stored_secret, error))
    return FALSE;

  json_object_unref (record->spec);
  record->spec = g_steal_pointer (&spec);
  record->generation = updated.generation;
  if (stored_secret)
    set_credentials (item, stored_secret);
  mtv_item_sync_properties (item);
  if (changed)
    start_runtime (daemon, item);
  refresh_related (daemon, record->kind, record->name);
  g_message ("updated %s %s (generation %" G_GUINT64_FORMAT ")", mtv_kind_to_string (record->kind),
             record->name, record->generation);
  return TRUE;
}

/* "NetworkMap \"m\" (sourceProvider), Plan \"p\" (vms[0].hooks[1])", or NULL. */
static char *
describe_referrers (MtvDaemon *daemon, MtvKind kind, const char *name)
{
  g_autoptr (GString) users = g_string_new (NULL);
  for (MtvKind k = 0; k < MTV_N_KINDS; k++)
    {
      GHashTableIter iter;
      MtvItem *other;
      g_hash_table_iter_init (&iter, daemon->items[k]);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &other))
        {
          g_autoptr (GPtrArray) refs = mtv_kind_references (k, other->record->spec);
          for (guint i = 0; i < refs->len; i++)
            {
              MtvReference *ref = refs->pdata[i];
              if (ref->kind == kind && g_strcmp0 (ref->name, name) == 0)
                g_string_append_printf (users, "%s%s \"%s\" (%s)", users->len ? ", " : "",
                                        mtv_kind_to_string (k), other->record->name, ref->field);
            }
        }
    }
  return users->len ? g_string_free (g_steal_pointer (&users), FALSE) : NULL;
}

static gboolean
delete_item (MtvDaemon *daemon, MtvItem *item, GError **error)
{
  MtvKind kind = item->record->kind;
  g_autofree char *name = g_strdup (item->record->name);
  g_autofree char *users = describe_referrers (daemon, kind, name);
  MtvRun *run = kind == MTV_KIND_PLAN ? mtv_daemon_plan_run (daemon, name) : NULL;
  if (run && !mtv_run_finished (run))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_BUSY, "plan \"%s\" is running (migration %s); cancel it first",
                   name, mtv_run_id (run));
      return FALSE;
    }
  if (users)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_BUSY, "%s \"%s\" is in use by %s; delete or change "
                   "those first", mtv_kind_to_string (kind), name, users);
      return FALSE;
    }
  if (!mtv_store_delete (daemon->store, kind, name, error))
    return FALSE;
  if (kind == MTV_KIND_PLAN)
    {
      g_autoptr (GError) runs_error = NULL;
      if (!drop_plan_runs (daemon, name, &runs_error))
        g_warning ("plan %s: its migrations could not all be removed: %s", name, runs_error->message);
    }
  g_dbus_object_manager_server_unexport (daemon->object_manager, item->object_path);
  g_hash_table_remove (daemon->items[kind], name);
  refresh_related (daemon, kind, name);
  g_message ("deleted %s %s", mtv_kind_to_string (kind), name);
  return TRUE;
}

static char *
export_manifest (MtvDaemon *daemon, MtvItem *item)
{
  const MtvKindInfo *info = mtv_kind_info (item->record->kind);
  g_autoptr (JsonObject) spec = mtv_json_object_copy (item->record->spec);
  if (info->export_spec)
    info->export_spec (daemon, item->record, spec);
  g_autoptr (JsonObject) manifest = mtv_item_to_manifest (item, spec);
  if (info->export_status)
    info->export_status (daemon, item->record, json_object_get_object_member (manifest, "status"));
  if (info->export_manifest)
    info->export_manifest (daemon, item->record, manifest);
  return mtv_json_object_to_string (manifest, TRUE);
}

/* ---- D-Bus method handlers --------------------------------------------------- */

/* Which item a call is about; looked up again after the (asynchronous)
 * authorization, since the item may be gone by then. */
typedef struct {
  MtvDaemon *daemon;
  MtvKind kind;
  char *name;
} Target;

static Target *
target_new (MtvDaemon *daemon, MtvKind kind, const char *name)
{
  Target *t = g_new0 (Target, 1);
  t->daemon = daemon;
  t->kind = kind;
  t->name = g_strdup (name);
  return t;
}

static void
target_free (Target *t)
{
  g_free (t->name);
  g_free (t);
}

static MtvItem *
target_item (Target *t, GDBusMethodInvocation *invocation)
{
  MtvItem *item = lookup_item (t->daemon, t->kind, t->name);
  if (item == NULL)
    g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_NOT_FOUND,
                                           "%s \"%s\" does not exist", mtv_kind_to_string (t->kind),
                                           t->name);
  return item;
}

static void
do_create (GDBusMethodInvocation *invocation, gpointer data)
{
  Target *t = data;
  g_autoptr (GVariant) spec = NULL;
  g_autoptr (GError) error = NULL;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s@a{sv}@a{sv})", NULL,
                 &spec, NULL);
  g_autofree char *path = create_item (t->daemon, t->kind, t->name, spec, &error);
  if (path == NULL)
    mtv_reply (invocation, FALSE, error);
  else
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(o)", path));
}

static gboolean
handle_create (MtvManager *manager, GDBusMethodInvocation *invocation, const char *name,
               GVariant *spec, GVariant *options, gpointer user_data)
{
  MtvDaemon *daemon = g_object_get_data (G_OBJECT (manager), "mtv-daemon");
  MtvKind kind = GPOINTER_TO_INT (user_data);
  mtv_auth_check (daemon->auth, invocation, mtv_kind_info (kind)->manage_action, options, name,
                  do_create, target_new (daemon, kind, name), (GDestroyNotify) target_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
do_update (GDBusMethodInvocation *invocation, gpointer data)
{
  MtvItem *item = target_item (data, invocation);
  if (item == NULL)
    return;
  g_autoptr (GVariant) spec = NULL;
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree const char **unset = NULL;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv}@a{sv})", &spec,
                 &options);
  g_autoptr (GVariant) unset_v = g_variant_lookup_value (options, "unset", NULL);
  if (unset_v && !g_variant_is_of_type (unset_v, G_VARIANT_TYPE_STRING_ARRAY))
    {
      g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_INVALID,
                                             "option unset: expected a list of strings (as)");
      return;
    }
  if (unset_v)
    unset = g_variant_get_strv (unset_v, NULL);
  gboolean ok = update_item (((Target *) data)->daemon, item, spec, unset, &error);
  mtv_reply (invocation, ok, error);
}

static void
do_delete (GDBusMethodInvocation *invocation, gpointer data)
{
  MtvItem *item = target_item (data, invocation);
  g_autoptr (GError) error = NULL;
  if (item == NULL)
    return;
  gboolean ok = delete_item (((Target *) data)->daemon, item, &error);
  mtv_reply (invocation, ok, error);
}

static void
do_export (GDBusMethodInvocation *invocation, gpointer data)
{
  MtvItem *item = target_item (data, invocation);
  if (item == NULL)
    return;
  g_autofree char *manifest = export_manifest (((Target *) data)->daemon, item);
  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(s)", manifest));
}

/* One handler for Update, Delete and Export: they differ only in the action
 * and the work done once allowed. */
static gboolean
handle_resource_method (MtvResource *resource, GDBusMethodInvocation *invocation,
                        GVariant *options, MtvAuthorizedFunc work, const char *action)
{
  MtvDaemon *daemon = g_object_get_data (G_OBJECT (resource), "mtv-daemon");
  MtvKind kind;
  mtv_kind_from_string (mtv_resource_get_kind (resource), &kind);
  const char *name = mtv_resource_get_name (resource);
  mtv_auth_check (daemon->auth, invocation, action ? action : mtv_kind_info (kind)->manage_action,
                  options, name, work, target_new (daemon, kind, name), (GDestroyNotify) target_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_update (MtvResource *resource, GDBusMethodInvocation *invocation, GVariant *spec,
               GVariant *options)
{
  return handle_resource_method (resource, invocation, options, do_update, NULL);
}

static gboolean
handle_delete (MtvResource *resource, GDBusMethodInvocation *invocation, GVariant *options)
{
  return handle_resource_method (resource, invocation, options, do_delete, NULL);
}

static gboolean
handle_export (MtvResource *resource, GDBusMethodInvocation *invocation, GVariant *options)
{
  return handle_resource_method (resource, invocation, options, do_export, MTV_ACTION_READ);
}

/* The name of the item a kind interface (Provider, Plan, ...) belongs to. */
static const char *
item_name (GDBusInterface *iface)
{
  return mtv_resource_get_name (mtv_object_peek_resource (MTV_OBJECT (g_dbus_interface_get_object (iface))));
}

/* The provider's inventory of @kind for a GetInventory or QueryInventory
 * call, or NULL after answering the call with why there is none. */
static JsonArray *
inventory_for_call (Target *t, GDBusMethodInvocation *invocation, const char *kind, guint64 *revision)
{
  MtvItem *item = target_item (t, invocation);
  if (item == NULL)
    return NULL;
  MtvProviderRuntime *rt = item->runtime;
  if (rt == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_FAILED,
                                             "provider \"%s\" has no inventory: its type has no backend in this mtvd",
                                             t->name);
      return NULL;
    }
  if (!g_strv_contains (rt->backend->inventory_kinds, kind))
    {
      g_autofree char *kinds = g_strjoinv (", ", (char **) rt->backend->inventory_kinds);
      g_autofree char *shown = g_strescape (kind, NULL);
      g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_INVALID,
                                             "kind: a %s provider has no \"%s\" inventory (it has: %s)",
                                             rt->backend->type, shown, *kinds ? kinds : "none");
      return NULL;
    }
  if (!rt->reported)
    {
      g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_BUSY,
                                             "provider \"%s\" is still collecting its first inventory; try again shortly",
                                             t->name);
      return NULL;
    }
  if (rt->inventory == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_FAILED,
                                             "provider \"%s\" has no inventory: %s", t->name,
                                             rt->failure ? rt->failure : "unknown failure");
      return NULL;
    }
  *revision = rt->revision;
  return json_object_get_array_member (rt->inventory, kind);
}

/* @rows, or the page of them the call's options "offset" and "limit" (u)
 * ask for: 10,000 vSphere VMs with their concerns are more than a D-Bus
 * message may carry, so clients read them in pages. */
static void
return_rows (GDBusMethodInvocation *invocation, JsonArray *rows, guint64 revision)
{
  GVariant *params = g_dbus_method_invocation_get_parameters (invocation);
  g_autoptr (GVariant) options = g_variant_get_child_value (params, g_variant_n_children (params) - 1);
  guint32 offset = 0, limit = G_MAXUINT32;
  g_variant_lookup (options, "offset", "u", &offset);
  g_variant_lookup (options, "limit", "u", &limit);
  guint length = json_array_get_length (rows);
  g_autoptr (JsonArray) page = offset == 0 && limit >= length ? json_array_ref (rows) : json_array_new ();
  for (guint i = offset; page != rows && i < length && i - offset < limit; i++)
    json_array_add_element (page, json_node_copy (json_array_get_element (rows, i)));
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_ARRAY);
  json_node_set_array (node, page);
  g_autofree char *text = json_to_string (node, FALSE);
  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(st)", text, revision));
}

static void
do_get_inventory (GDBusMethodInvocation *invocation, gpointer data)
{
  const char *kind;
  guint64 revision;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s@a{sv})", &kind, NULL);
  JsonArray *items = inventory_for_call (data, invocation, kind, &revision);
  if (items)
    return_rows (invocation, items, revision);
}

static void
do_query_inventory (GDBusMethodInvocation *invocation, gpointer data)
{
  const char *kind, *text;
  guint64 revision;
  g_autoptr (GError) error = NULL;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(&s&s@a{sv})", &kind, &text, NULL);
  if (strlen (text) > MTV_QUERY_MAX_BYTES)
    {
      g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_INVALID,
                                             "query: %zu bytes; at most 64 KiB", strlen (text));
      return;
    }
  g_autoptr (MtvQuery) query = mtv_query_parse (text, &error);
  if (query == NULL)
    {
      g_prefix_error (&error, "query: ");
      mtv_reply (invocation, FALSE, error);
      return;
    }
  JsonArray *items = inventory_for_call (data, invocation, kind, &revision);
  if (items == NULL)
    return;
  g_autoptr (JsonArray) rows = mtv_query_run (query, items, &error);
  if (rows == NULL)
    {
      g_prefix_error (&error, "query: ");
      mtv_reply (invocation, FALSE, error);
      return;
    }
  return_rows (invocation, rows, revision);
}

static gboolean
handle_query_inventory (MtvProvider *provider, GDBusMethodInvocation *invocation, const char *kind,
                        const char *query, GVariant *options)
{
  MtvDaemon *daemon = g_object_get_data (G_OBJECT (provider), "mtv-daemon");
  const char *name = item_name (G_DBUS_INTERFACE (provider));
  mtv_auth_check (daemon->auth, invocation, MTV_ACTION_READ, options, name, do_query_inventory,
                  target_new (daemon, MTV_KIND_PROVIDER, name), (GDestroyNotify) target_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
handle_get_inventory (MtvProvider *provider, GDBusMethodInvocation *invocation, const char *kind,
                      GVariant *options)
{
  MtvDaemon *daemon = g_object_get_data (G_OBJECT (provider), "mtv-daemon");
  const char *name = item_name (G_DBUS_INTERFACE (provider));
  mtv_auth_check (daemon->auth, invocation, MTV_ACTION_READ, options, name, do_get_inventory,
                  target_new (daemon, MTV_KIND_PROVIDER, name), (GDestroyNotify) target_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- settings ---------------------------------------------------------------- */

/* The service's settings, with the names of Forklift's ForkliftController. */
typedef struct {
  const char *key;
  guint min, max;
  const char *unit;
  /* A time: a number of minutes (Forklift's unit) or text with a unit
   * ("5s", "30m", "2h"); kept in seconds, shown with the largest unit that
   * divides it. @min and @max are seconds. */
  gboolean duration;
} Setting;

static const Setting settings[] = {
  { "controller_max_vm_inflight", 1, 1000, "VMs", FALSE },
  /* Between warm precopies (Forklift's name and default, an hour). */
  { "controller_precopy_interval", 1, 7 * 24 * 3600, "minutes (or a time with a unit: 5s, 30m, 2h)", TRUE },
  /* How long removing a snapshot (consolidating the VM's disks) may take. */
  { "controller_snapshot_removal_timeout_minutes", 60, 7 * 24 * 3600, "minutes (or a time with a unit: 90m, 4h)",
    TRUE },
  /* mtv's own: a disk copy none of whose reads or writes finishes for this
   * long is given up (a hung server or storage), not waited on for ever. */
  { "controller_transfer_stall_timeout", 10, 86400, "seconds", FALSE },
};

#define SETTING_MAX_IN_FLIGHT "controller_max_vm_inflight"
#define SETTING_PRECOPY_INTERVAL "controller_precopy_interval"
#define SETTING_SNAPSHOT_REMOVAL "controller_snapshot_removal_timeout_minutes"
#define SNAPSHOT_REMOVAL_SECONDS (120 * 60)
#define SETTING_INCREMENTAL_BACKUP "controller_vsphere_incremental_backup"
#define SETTING_STALL_TIMEOUT "controller_transfer_stall_timeout"
#define STALL_SECONDS 300
#define PRECOPY_SECONDS 3600

/* "90" (minutes), "5s", "30m", "2h" as seconds; FALSE for anything else. */
static gboolean
parse_duration (const char *text, guint64 *seconds)
{
  gsize len = strlen (text);
  guint64 scale = 60;
  g_autofree char *digits = g_strdup (text);
  if (len > 1 && strchr ("smh", text[len - 1]))
    {
      scale = text[len - 1] == 's' ? 1 : text[len - 1] == 'm' ? 60 : 3600;
      digits[len - 1] = '\0';
    }
  guint64 n;
  if (!g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT32, &n, NULL))
    return FALSE;
  *seconds = n * scale;
  return TRUE;
}

static char *
format_duration (guint seconds)
{
  if (seconds % 3600 == 0)
    return g_strdup_printf ("%uh", seconds / 3600);
  if (seconds % 60 == 0)
    return g_strdup_printf ("%um", seconds / 60);
  return g_strdup_printf ("%us", seconds);
}

static guint
setting (MtvDaemon *daemon, const char *key, guint fallback)
{
  gint64 v = json_object_get_int_member_with_default (daemon->settings, key, 0);
  return v > 0 ? (guint) v : fallback;
}

static guint
max_in_flight (MtvDaemon *daemon)
{
  return setting (daemon, SETTING_MAX_IN_FLIGHT, daemon->max_in_flight);
}

static guint
precopy_interval (gpointer data)
{
  return setting (data, SETTING_PRECOPY_INTERVAL, PRECOPY_SECONDS);
}

static guint
snapshot_removal_timeout (gpointer data)
{
  return setting (data, SETTING_SNAPSHOT_REMOVAL, SNAPSHOT_REMOVAL_SECONDS);
}

static guint
stall_timeout (gpointer data)
{
  return setting (data, SETTING_STALL_TIMEOUT, STALL_SECONDS);
}

static void
show_settings (MtvDaemon *daemon)
{
  GVariantDict d;
  g_variant_dict_init (&d, NULL);
  g_variant_dict_insert (&d, SETTING_MAX_IN_FLIGHT, "u", max_in_flight (daemon));
  g_variant_dict_insert (&d, SETTING_STALL_TIMEOUT, "u", stall_timeout (daemon));
  g_autofree char *precopy = format_duration (precopy_interval (daemon));
  g_variant_dict_insert (&d, SETTING_PRECOPY_INTERVAL, "s", precopy);
  g_autofree char *removal = format_duration (snapshot_removal_timeout (daemon));
  g_variant_dict_insert (&d, SETTING_SNAPSHOT_REMOVAL, "s", removal);
  g_variant_dict_insert (&d, SETTING_INCREMENTAL_BACKUP, "b", TRUE);
  mtv_manager_set_settings (daemon->manager, g_variant_dict_end (&d));
}

static void schedule (MtvDaemon *daemon);

static const Setting *
find_setting (const char *key)
{
  /* Forklift's own spelling of it (ForkliftController, kubectl-mtv). */
  if (g_str_equal (key, "controller_snapshot_removal_timeout_minuts"))
    key = SETTING_SNAPSHOT_REMOVAL;
  for (gsize i = 0; i < G_N_ELEMENTS (settings); i++)
    if (g_str_equal (settings[i].key, key))
      return &settings[i];
  return NULL;
}

/* Forklift's controller_vsphere_incremental_backup chooses between its
 * change-id precopies (the default) and its older snapshot-chain ones. mtvd
 * has only the first, in the order Forklift's PR #1184 fixed (the previous
 * snapshot's change ids kept, it removed, then the next one made): true is
 * accepted, false refused saying why. */

static gboolean
incremental_backup_value (GVariant *value, GError **error)
{
  gboolean on = FALSE;
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
    on = g_variant_get_boolean (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) && g_str_equal (g_variant_get_string (value, NULL), "true"))
    on = TRUE;
  else if (!(g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) && g_str_equal (g_variant_get_string (value, NULL),
                                                                                   "false")))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: expected true or false (D-Bus type b)",
                   SETTING_INCREMENTAL_BACKUP);
      return FALSE;
    }
  if (!on)
    g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "%s: false (Forklift's older snapshot-chain precopies) is not "
                 "offered: mtvd's warm migrations always use change ids, removing the previous snapshot before making "
                 "the next (the order Forklift's PR #1184 fixed to avoid corrupted disks)", SETTING_INCREMENTAL_BACKUP);
  return on;
}

static void
do_set_settings (GDBusMethodInvocation *invocation, gpointer data)
{
  MtvDaemon *daemon = data;
  g_autoptr (GVariant) changes = NULL;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv}@a{sv})", &changes, NULL);
  g_autoptr (JsonObject) next = mtv_json_object_copy (daemon->settings);
  GVariantIter iter;
  const char *key;
  GVariant *raw;
  g_variant_iter_init (&iter, changes);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &raw))
    {
      g_autoptr (GVariant) value = raw;
      g_autoptr (GError) invalid = NULL;
      if (g_str_equal (key, SETTING_INCREMENTAL_BACKUP))
        {
          if (!(g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) && *g_variant_get_string (value, NULL) == '\0')
              && !incremental_backup_value (value, &invalid))
            {
              g_dbus_method_invocation_return_gerror (invocation, invalid);
              return;
            }
          continue;   /* always on: nothing to store */
        }
      const Setting *known = find_setting (key);
      key = known ? known->key : key;
      if (known == NULL)
        {
          g_autoptr (GString) names = g_string_new (NULL);
          for (gsize i = 0; i < G_N_ELEMENTS (settings); i++)
            g_string_append_printf (names, "%s%s", i ? ", " : "", settings[i].key);
          g_string_append (names, ", " SETTING_INCREMENTAL_BACKUP);
          g_autofree char *shown = g_strescape (key, NULL);
          g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_INVALID,
                                                 "\"%s\" is not a setting (known: %s)", shown, names->str);
          return;
        }
      guint64 n = 0;
      gboolean given = g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32);
      if (given)
        n = (guint64) g_variant_get_uint32 (value) * (known->duration ? 60 : 1);
      else if (known->duration && g_variant_is_of_type (value, G_VARIANT_TYPE_STRING))
        given = parse_duration (g_variant_get_string (value, NULL), &n);
      if (g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) && *g_variant_get_string (value, NULL) == '\0')
        json_object_remove_member (next, key);
      else if (given && n >= known->min && n <= known->max)
        json_object_set_int_member (next, key, (gint64) n);
      else if (known->duration)
        {
          g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_INVALID,
                                                 "%s: expected a number of %s, from %us to %us", key, known->unit,
                                                 known->min, known->max);
          return;
        }
      else
        {
          g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_INVALID,
                                                 "%s: expected a number of %s from %u to %u (D-Bus type u)", key,
                                                 known->unit, known->min, known->max);
          return;
        }
    }
  g_autoptr (GError) error = NULL;
  if (!mtv_store_put_settings (daemon->store, next, &error))
    {
      mtv_reply (invocation, FALSE, error);
      return;
    }
  json_object_unref (daemon->settings);
  daemon->settings = g_steal_pointer (&next);
  show_settings (daemon);
  schedule (daemon);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static gboolean
handle_set_settings (MtvManager *manager, GDBusMethodInvocation *invocation, GVariant *settings, GVariant *options,
                     gpointer user_data)
{
  MtvDaemon *daemon = user_data;
  mtv_auth_check (daemon->auth, invocation, MTV_ACTION_MANAGE_SETTINGS, options, NULL, do_set_settings, daemon, NULL);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- migrations ------------------------------------------------------------- */

/* Finished migrations kept per plan (on the bus and in the store). */
#define KEPT_MIGRATIONS 10

static void prune_runs (MtvDaemon *daemon, const char *plan);
static void show_plan_runs (MtvDaemon *daemon, const char *plan);

/* Every run's id and phase: what the plans' statuses and histories follow. */
static char *
runs_signature (MtvDaemon *daemon)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < daemon->runs->len; i++)
    g_string_append_printf (s, "%s:%s ", mtv_run_id (daemon->runs->pdata[i]), mtv_run_phase (daemon->runs->pdata[i]));
  return g_string_free (s, FALSE);
}

static gboolean
schedule_now (gpointer data)
{
  MtvDaemon *daemon = data;
  daemon->schedule_source = 0;
  guint active = 0;
  for (guint i = 0; i < daemon->runs->len; i++)
    active += mtv_run_active (daemon->runs->pdata[i]);
  guint limit = max_in_flight (daemon);
  for (guint i = 0; i < daemon->runs->len && active < limit; i++)
    active += mtv_run_start_pending (daemon->runs->pdata[i], limit - active);
  /* A VM that ended changes a plan's status only when its run ends with it
   * (most VMs do not end a run): statuses are computed again then. */
  g_autofree char *seen = runs_signature (daemon);
  if (g_strcmp0 (seen, daemon->runs_seen) == 0)
    return G_SOURCE_REMOVE;
  g_free (daemon->runs_seen);
  daemon->runs_seen = g_steal_pointer (&seen);
  /* Runs that ended may push old ones out of their plans' history. */
  g_autoptr (GHashTable) plans = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < daemon->runs->len; i++)
    g_hash_table_add (plans, g_strdup (mtv_run_plan (daemon->runs->pdata[i])));
  GHashTableIter iter;
  const char *plan;
  g_hash_table_iter_init (&iter, plans);
  while (g_hash_table_iter_next (&iter, (gpointer *) &plan, NULL))
    {
      prune_runs (daemon, plan);
      show_plan_runs (daemon, plan);
      refresh_related (daemon, MTV_KIND_PLAN, plan);
    }
  return G_SOURCE_REMOVE;
}

/* Runs from the main loop, never from inside a run's own callbacks. */
static void
schedule (MtvDaemon *daemon)
{
  if (daemon->schedule_source == 0)
    daemon->schedule_source = g_idle_add (schedule_now, daemon);
}

static void
on_run_changed (gpointer data, MtvRun *run)
{
  schedule (data);
}

static gboolean
save_run (gpointer data, const char *id, const char *plan, JsonObject *state, GError **error)
{
  return mtv_store_put_run (((MtvDaemon *) data)->store, id, plan, state, error);
}

static gboolean
save_run_vm (gpointer data, const char *id, guint index, JsonObject *state, GError **error)
{
  return mtv_store_put_run_vm (((MtvDaemon *) data)->store, id, index, state, error);
}

/* The plan's Migration (latest) and Migrations (all kept) properties. */
static void
show_plan_runs (MtvDaemon *daemon, const char *plan)
{
  MtvItem *item = lookup_item (daemon, MTV_KIND_PLAN, plan);
  if (item == NULL)
    return;
  g_autoptr (GPtrArray) paths = g_ptr_array_new ();
  for (guint i = 0; i < daemon->runs->len; i++)
    if (g_strcmp0 (mtv_run_plan (daemon->runs->pdata[i]), plan) == 0)
      g_ptr_array_add (paths, (gpointer) mtv_run_object_path (daemon->runs->pdata[i]));
  g_ptr_array_add (paths, NULL);
  MtvRun *latest = mtv_daemon_plan_run (daemon, plan);
  mtv_plan_set_migration (MTV_PLAN (item->kind_iface), latest ? mtv_run_object_path (latest) : "/");
  mtv_plan_set_migrations (MTV_PLAN (item->kind_iface), (const char *const *) paths->pdata);
}

/* Removes run @index from the bus and the store. */
static gboolean
drop_run (MtvDaemon *daemon, guint index, GError **error)
{
  MtvRun *run = daemon->runs->pdata[index];
  if (!mtv_store_delete_run (daemon->store, mtv_run_id (run), error))
    return FALSE;
  g_message ("migration %s of plan %s removed", mtv_run_id (run), mtv_run_plan (run));
  g_ptr_array_remove_index (daemon->runs, index);
  return TRUE;
}

/* Keeps the plan's last KEPT_MIGRATIONS finished migrations. */
static void
prune_runs (MtvDaemon *daemon, const char *plan)
{
  guint count = 0;
  for (guint i = daemon->runs->len; i > 0; i--)
    {
      MtvRun *run = daemon->runs->pdata[i - 1];
      if (g_strcmp0 (mtv_run_plan (run), plan) != 0 || !mtv_run_finished (run) || ++count <= KEPT_MIGRATIONS)
        continue;
      g_autoptr (GError) error = NULL;
      if (!drop_run (daemon, i - 1, &error))
        g_warning ("plan %s: an old migration could not be removed: %s", plan, error->message);
    }
}

/* A plan's migrations go with it (it is deleted only when none runs). */
static gboolean
drop_plan_runs (MtvDaemon *daemon, const char *plan, GError **error)
{
  for (guint i = daemon->runs->len; i > 0; i--)
    if (g_strcmp0 (mtv_run_plan (daemon->runs->pdata[i - 1]), plan) == 0 && !drop_run (daemon, i - 1, error))
      return FALSE;
  return TRUE;
}

static void
add_run (MtvDaemon *daemon, MtvRun *run)
{
  g_ptr_array_add (daemon->runs, run);
  prune_runs (daemon, mtv_run_plan (run));
  show_plan_runs (daemon, mtv_run_plan (run));
}

/* What a run keeps of the plan and what it refers to, as they are now. */
static JsonObject *
run_snapshot (MtvDaemon *daemon, const MtvRecord *plan, GError **error)
{
  JsonObject *spec = plan->spec;
#define REF(path) mtv_reference_name (mtv_json_lookup_path (spec, path))
  const MtvRecord *source = mtv_daemon_lookup_record (daemon, MTV_KIND_PROVIDER, REF ("provider.source"));
  const MtvRecord *target = mtv_daemon_lookup_record (daemon, MTV_KIND_PROVIDER, REF ("provider.destination"));
  const MtvRecord *net = mtv_daemon_lookup_record (daemon, MTV_KIND_NETWORK_MAP, REF ("map.network"));
  const MtvRecord *storage = mtv_daemon_lookup_record (daemon, MTV_KIND_STORAGE_MAP, REF ("map.storage"));
#undef REF
  MtvProviderRuntime *rt = source ? mtv_daemon_provider_runtime (daemon, source->name) : NULL;
  if (!source || !target || !net || !storage || rt == NULL || rt->inventory == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "the plan's providers, maps or inventory are not available");
      return NULL;
    }
  g_autoptr (JsonObject) snapshot = json_object_new ();
  json_object_set_object_member (snapshot, "planSpec", mtv_json_object_copy (spec));
  json_object_set_string_member (snapshot, "planUid", plan->uid);
  const MtvRecord *providers[] = { source, target };
  const char *const sides[] = { "sourceProvider", "targetProvider" };
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *p = json_object_new ();
      json_object_set_string_member (p, "name", providers[i]->name);
      json_object_set_object_member (p, "spec", mtv_json_object_copy (providers[i]->spec));
      json_object_set_object_member (snapshot, sides[i], p);
    }
  json_object_set_object_member (snapshot, "networkMap", mtv_json_object_copy (net->spec));
  json_object_set_object_member (snapshot, "storageMap", mtv_json_object_copy (storage->spec));
  const MtvProviderType *type = mtv_provider_type_lookup (json_object_get_string_member (source->spec, "type"));
  json_object_set_boolean_member (snapshot, "requiresConversion",
                                  type && type->needs_conversion
                                    && !json_object_get_boolean_member_with_default (spec, "skipGuestConversion", FALSE));
  JsonObject *hooks = json_object_new ();
  json_object_set_object_member (snapshot, "hooks", hooks);
  JsonArray *vms = json_array_new ();
  json_object_set_array_member (snapshot, "vms", vms);
  JsonArray *plan_vms = json_object_get_array_member (spec, "vms");
  g_auto (GStrv) target_names = mtv_inventory_target_names (rt->inventory, plan_vms);
  for (guint i = 0; i < json_array_get_length (plan_vms); i++)
    {
      JsonObject *plan_vm = json_array_get_object_element (plan_vms, i);
      JsonObject *vm = mtv_inventory_find_vm (rt->inventory, plan_vm);
      if (vm == NULL)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "vms[%u]: the VM is not in the source inventory", i);
          return NULL;
        }
      JsonObject *entry = json_object_new ();
      json_object_set_object_member (entry, "planVm", mtv_json_object_copy (plan_vm));
      json_object_set_object_member (entry, "vm", mtv_json_object_copy (vm));
      json_object_set_string_member (entry, "targetName", target_names[i]);
      json_array_add_object_element (vms, entry);
      JsonNode *vm_hooks = json_object_get_member (plan_vm, "hooks");
      for (guint h = 0; vm_hooks && JSON_NODE_HOLDS_ARRAY (vm_hooks) && h < json_array_get_length (json_node_get_array (vm_hooks)); h++)
        {
          const char *name = mtv_reference_name (json_object_get_member (
            json_array_get_object_element (json_node_get_array (vm_hooks), h), "hook"));
          const MtvRecord *hook = mtv_daemon_lookup_record (daemon, MTV_KIND_HOOK, name);
          if (hook == NULL)
            {
              g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "vms[%u].hooks[%u]: hook \"%s\" does not exist", i, h,
                           name ? name : "");
              return NULL;
            }
          JsonObject *entry_hook = json_object_new ();
          json_object_set_string_member (entry_hook, "uid", hook->uid);
          json_object_set_object_member (entry_hook, "spec", mtv_json_object_copy (hook->spec));
          json_object_set_object_member (hooks, name, entry_hook);
        }
    }
  return g_steal_pointer (&snapshot);
}

/* A plan starts only when nothing Critical stands against it; the reason
 * (empty string when it may start) for the error. */
static char *
start_blockers (MtvItem *item)
{
  GString *blockers = g_string_new (NULL);
  if (json_object_get_boolean_member_with_default (item->record->spec, "archived", FALSE))
    g_string_append (blockers, "it is archived (unarchive it first)");
  JsonArray *conditions = json_object_get_array_member (item->record->status, "conditions");
  for (guint i = 0; conditions && i < json_array_get_length (conditions); i++)
    {
      JsonObject *c = json_array_get_object_element (conditions, i);
      if (g_strcmp0 (json_object_get_string_member_with_default (c, "category", ""), "Critical") == 0)
        g_string_append_printf (blockers, "%s%s: %s", blockers->len ? "; " : "", json_object_get_string_member (c, "type"),
                                json_object_get_string_member_with_default (c, "message", ""));
    }
  return g_string_free (blockers, FALSE);
}

static void
do_start (GDBusMethodInvocation *invocation, gpointer data)
{
  Target *t = data;
  MtvDaemon *daemon = t->daemon;
  MtvItem *item = target_item (t, invocation);
  if (item == NULL)
    return;
  MtvRun *current = mtv_daemon_plan_run (daemon, t->name);
  if (current && !mtv_run_finished (current))
    {
      g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_BUSY,
                                             "plan \"%s\" is already running (migration %s)", t->name,
                                             mtv_run_id (current));
      return;
    }
  g_autofree char *blockers = start_blockers (item);
  if (*blockers)
    {
      g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_INVALID,
                                             "plan \"%s\" is not ready: %s", t->name, blockers);
      return;
    }
  g_autoptr (GVariant) options = NULL;
  g_variant_get (g_dbus_method_invocation_get_parameters (invocation), "(@a{sv})", &options);
  g_autoptr (GVariant) cutover = g_variant_lookup_value (options, "cutover", NULL);
  if (cutover && !g_variant_is_of_type (cutover, G_VARIANT_TYPE_STRING))
    {
      g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_INVALID,
                                             "option cutover: expected an RFC 3339 time (D-Bus type s)");
      return;
    }
  g_autoptr (GError) error = NULL;
  JsonArray *plan_vms = json_object_get_array_member (item->record->spec, "vms");
  if (!check_bus_budget (daemon, 0, RUN_OBJECT_SIZE * (1 + json_array_get_length (plan_vms)), &error))
    {
      mtv_reply (invocation, FALSE, error);
      return;
    }
  g_autoptr (JsonObject) snapshot = run_snapshot (daemon, item->record, &error);
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *id = g_strndup (uuid, 8);
  MtvRun *run = snapshot ? mtv_run_new (&daemon->run_host, id, t->name, snapshot,
                                        cutover ? g_variant_get_string (cutover, NULL) : NULL, &error)
                         : NULL;
  if (run == NULL)
    {
      mtv_reply (invocation, FALSE, error);
      return;
    }
  add_run (daemon, run);
  g_message ("plan %s: migration %s started", t->name, mtv_run_id (run));
  refresh_related (daemon, MTV_KIND_PLAN, t->name);
  schedule (daemon);
  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(o)", mtv_run_object_path (run)));
}

static gboolean
handle_start (MtvPlan *plan, GDBusMethodInvocation *invocation, GVariant *options, gpointer user_data)
{
  MtvDaemon *daemon = user_data;
  const char *name = item_name (G_DBUS_INTERFACE (plan));
  mtv_auth_check (daemon->auth, invocation, MTV_ACTION_RUN_MIGRATIONS, options, name, do_start,
                  target_new (daemon, MTV_KIND_PLAN, name), (GDestroyNotify) target_free);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
export_item (MtvDaemon *daemon, MtvItem *item)
{
  g_object_set_data (G_OBJECT (item->resource), "mtv-daemon", daemon);
  g_signal_connect (item->resource, "handle-update", G_CALLBACK (handle_update), NULL);
  g_signal_connect (item->resource, "handle-delete", G_CALLBACK (handle_delete), NULL);
  g_signal_connect (item->resource, "handle-export", G_CALLBACK (handle_export), NULL);
  mtv_item_sync_properties (item);
  g_hash_table_insert (daemon->items[item->record->kind], item->record->name, item);
  if (item->record->kind == MTV_KIND_PLAN)
    {
      show_plan_runs (daemon, item->record->name);
      g_signal_connect (item->kind_iface, "handle-start", G_CALLBACK (handle_start), daemon);
    }
  if (item->record->kind == MTV_KIND_PROVIDER)
    {
      g_object_set_data (G_OBJECT (item->kind_iface), "mtv-daemon", daemon);
      g_signal_connect (item->kind_iface, "handle-get-inventory", G_CALLBACK (handle_get_inventory), NULL);
      g_signal_connect (item->kind_iface, "handle-query-inventory", G_CALLBACK (handle_query_inventory), NULL);
      start_runtime (daemon, item);
    }
  g_dbus_object_manager_server_export (daemon->object_manager, G_DBUS_OBJECT_SKELETON (item->object));
}

/* ---- calls to items that do not exist ---------------------------------------- */

/* A subtree on each collection answers calls to names that are not (or no
 * longer) there with org.mtvd.Mtv1.Error.NotFound instead of the bus's generic
 * UnknownObject; existing items are exported objects and take precedence. */
typedef struct {
  MtvDaemon *daemon;
  MtvKind kind;
} Collection;

/* Items are exported objects, which introspection lists by itself; the
 * subtree adds no nodes of its own. */
static char **
collection_enumerate (GDBusConnection *connection, const char *sender, const char *path,
                      gpointer user_data)
{
  return g_new0 (char *, 1);
}

static GDBusInterfaceInfo **
collection_introspect (GDBusConnection *connection, const char *sender, const char *path,
                       const char *node, gpointer user_data)
{
  if (node == NULL)
    return NULL;
  GDBusInterfaceInfo **infos = g_new0 (GDBusInterfaceInfo *, 2);
  infos[0] = g_dbus_interface_info_ref (mtv_resource_interface_info ());
  return infos;
}

static void
not_found_method_call (GDBusConnection *connection, const char *sender, const char *path,
                       const char *interface, const char *method, GVariant *parameters,
                       GDBusMethodInvocation *invocation, gpointer user_data)
{
  Collection *c = user_data;
  const char *node = strrchr (path, '/') + 1;
  g_autofree char *name = (char *) g_dbus_unescape_object_path (node);
  g_autofree char *shown = g_strescape (name ? name : node, NULL);
  g_dbus_method_invocation_return_error (invocation, MTV_ERROR, MTV_ERROR_NOT_FOUND,
                                         "%s \"%s\" does not exist", mtv_kind_to_string (c->kind), shown);
}

static const GDBusInterfaceVTable not_found_vtable = { .method_call = not_found_method_call };

static const GDBusInterfaceVTable *
collection_dispatch (GDBusConnection *connection, const char *sender, const char *path,
                     const char *interface, const char *node, gpointer *out_user_data,
                     gpointer user_data)
{
  *out_user_data = user_data;
  return node ? &not_found_vtable : NULL;
}

static const GDBusSubtreeVTable collection_vtable = {
  .enumerate = collection_enumerate,
  .introspect = collection_introspect,
  .dispatch = collection_dispatch,
};

static gboolean
register_collections (MtvDaemon *daemon, GError **error)
{
  for (MtvKind k = 0; k < MTV_N_KINDS; k++)
    {
      Collection *c = g_new0 (Collection, 1);
      c->daemon = daemon;
      c->kind = k;
      g_autofree char *path = g_strdup_printf ("%s/%s", MTV_ROOT_PATH, mtv_kind_collection (k));
      daemon->not_found_subtrees[k] = g_dbus_connection_register_subtree (
        daemon->connection, path, &collection_vtable, G_DBUS_SUBTREE_FLAGS_DISPATCH_TO_UNENUMERATED_NODES,
        c, g_free, error);
      if (daemon->not_found_subtrees[k] == 0)
        return FALSE;
    }
  return TRUE;
}

/* ---- life cycle ----------------------------------------------------------------- */

static gboolean
load_items (MtvDaemon *daemon, GError **error)
{
  g_autoptr (GPtrArray) records = mtv_store_load_all (daemon->store, error);
  if (records == NULL)
    return FALSE;
  for (guint i = 0; i < records->len; i++)
    {
      MtvRecord *record = g_steal_pointer (&records->pdata[i]);
      MtvItem *item = mtv_item_new (record);
      if (record->kind == MTV_KIND_PROVIDER)
        {
          g_autoptr (JsonObject) secret = mtv_store_get_credentials (daemon->store, record->name, error);
          if (secret == NULL)
            {
              mtv_item_free (item);
              return FALSE;
            }
          set_credentials (item, secret);
        }
      export_item (daemon, item);
    }
  g_autoptr (GPtrArray) runs = mtv_store_load_runs (daemon->store, error);
  if (runs == NULL)
    return FALSE;
  for (guint i = 0; i < runs->len; i++)
    {
      JsonObject *state = runs->pdata[i];
      const char *id = json_object_get_string_member (state, "id");
      if (lookup_item (daemon, MTV_KIND_PLAN, json_object_get_string_member_with_default (state, "plan", "")) == NULL)
        {
          /* Its plan was deleted (by an mtvd that kept migrations). */
          g_autoptr (GError) drop_error = NULL;
          if (!mtv_store_delete_run (daemon->store, id, &drop_error))
            g_warning ("migration %s: cannot remove it: %s", id, drop_error->message);
          continue;
        }
      add_run (daemon, mtv_run_restore (&daemon->run_host, id, state));
    }
  refresh_statuses (daemon);
  schedule (daemon);
  return TRUE;
}

/* mtv-transfer: MTV_TRANSFER (tests), else installed beside mtvd, else the build tree's. */
static char *
find_transfer (void)
{
  if (g_getenv ("MTV_TRANSFER"))
    return g_strdup (g_getenv ("MTV_TRANSFER"));
  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = exe ? g_path_get_dirname (exe) : g_strdup (".");
  char *beside = g_build_filename (dir, "mtv-transfer", NULL);
  if (g_file_test (beside, G_FILE_TEST_IS_EXECUTABLE))
    return beside;
  g_free (beside);
  return g_build_filename (dir, "transfer", "mtv-transfer", NULL);
}

MtvDaemon *
mtv_daemon_new (GDBusConnection *connection, const char *state_dir, const char *runtime_dir, const char *rules_dir,
                const char *rules_dropin_dir, gboolean session_bus, guint max_in_flight, GError **error)
{
  g_autoptr (MtvDaemon) daemon = g_new0 (MtvDaemon, 1);
  daemon->runs = g_ptr_array_new_with_free_func ((GDestroyNotify) mtv_run_free);
  daemon->unstored_inventories = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  daemon->max_in_flight = MAX (1, max_in_flight);
  daemon->transfer_path = find_transfer ();
  /* Disk servers' sockets, header scripts, hooks' files: private to mtvd,
   * and emptied now, so nothing a killed mtvd left there lingers. */
  daemon->runtime_dir = runtime_dir ? g_strdup (runtime_dir) : g_build_filename (state_dir, "run", NULL);
  if (g_mkdir_with_parents (daemon->runtime_dir, 0700) < 0 || g_chmod (daemon->runtime_dir, 0700) < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "cannot create %s: %s", daemon->runtime_dir, g_strerror (errno));
      return NULL;
    }
  mtv_empty_dir (daemon->runtime_dir);
  /* Copy checkpoints must outlive mtvd: they live in the state directory. */
  daemon->checkpoint_dir = g_build_filename (state_dir, "checkpoints", NULL);
  if (g_mkdir_with_parents (daemon->checkpoint_dir, 0700) < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "cannot create %s: %s", daemon->checkpoint_dir,
                   g_strerror (errno));
      return NULL;
    }
  static const char *const create_signals[MTV_N_KINDS] = {
    [MTV_KIND_PROVIDER] = "handle-create-provider",
    [MTV_KIND_NETWORK_MAP] = "handle-create-network-map",
    [MTV_KIND_STORAGE_MAP] = "handle-create-storage-map",
    [MTV_KIND_HOOK] = "handle-create-hook",
    [MTV_KIND_PLAN] = "handle-create-plan",
  };

  daemon->connection = g_object_ref (connection);
  for (MtvKind k = 0; k < MTV_N_KINDS; k++)
    daemon->items[k] = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                              (GDestroyNotify) mtv_item_free);
  daemon->object_manager = g_dbus_object_manager_server_new (MTV_ROOT_PATH);
  daemon->store = mtv_store_open (state_dir, error);
  if (daemon->store == NULL)
    return NULL;
  daemon->auth = mtv_auth_new (session_bus, error);
  if (daemon->auth == NULL)
    return NULL;
  daemon->run_host = (MtvRunHost) {
    .objects = daemon->object_manager,
    .auth = daemon->auth,
    .runtime_dir = daemon->runtime_dir,
    .checkpoint_dir = daemon->checkpoint_dir,
    .transfer_path = daemon->transfer_path,
    .data = daemon,
    .changed = on_run_changed,
    .save = save_run,
    .save_vm = save_run_vm,
    .credentials = host_credentials,
    .precopy_interval = precopy_interval,
    .stall_timeout = stall_timeout,
    .snapshot_removal_timeout = snapshot_removal_timeout,
    .source_adapter = host_source_adapter,
    .target_adapter = host_target_adapter,
  };
  daemon->runtime_host = (MtvProviderRuntimeHost) {
    .data = daemon,
    .rules = runtime_rules,
    .reported = runtime_reported,
  };
  daemon->settings = mtv_store_get_settings (daemon->store, error);
  if (daemon->settings == NULL)
    return NULL;

  daemon->manager = mtv_manager_skeleton_new ();
  mtv_manager_set_version (daemon->manager, MTV_VERSION);
  show_settings (daemon);
  g_signal_connect (daemon->manager, "handle-set-settings", G_CALLBACK (handle_set_settings), daemon);
  g_object_set_data (G_OBJECT (daemon->manager), "mtv-daemon", daemon);
  for (MtvKind k = 0; k < MTV_N_KINDS; k++)
    g_signal_connect (daemon->manager, create_signals[k], G_CALLBACK (handle_create),
                      GINT_TO_POINTER (k));

  daemon->rule_dirs[0] = g_strdup (rules_dir);
  daemon->rule_dirs[1] = g_strdup (rules_dropin_dir);
  load_rules (daemon);
  watch_rules (daemon);
  if (!load_items (daemon, error))
    return NULL;
  daemon->bus_guard = mtv_bus_guard_install (connection);
  g_dbus_object_manager_server_set_connection (daemon->object_manager, connection);
  /* The root object carries both the ObjectManager and the Manager; an object
   * manager cannot export an object at its own path, so the Manager is
   * exported on the connection directly. */
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (daemon->manager), connection,
                                         MTV_ROOT_PATH, error)
      || !register_collections (daemon, error))
    return NULL;
  return g_steal_pointer (&daemon);
}

void
mtv_daemon_free (MtvDaemon *daemon)
{
  if (daemon == NULL)
    return;
  if (daemon->manager && g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (daemon->manager)))
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (daemon->manager));
  if (daemon->schedule_source)
    g_source_remove (daemon->schedule_source);
  if (daemon->inventory_store_source)
    {
      g_source_remove (daemon->inventory_store_source);
      store_inventories (daemon);
    }
  g_clear_pointer (&daemon->unstored_inventories, g_hash_table_unref);
  if (daemon->rules_reload_source)
    g_source_remove (daemon->rules_reload_source);
  for (guint i = 0; i < 2; i++)
    {
      g_clear_object (&daemon->rule_monitors[i]);
      g_free (daemon->rule_dirs[i]);
    }
  for (guint i = 0; daemon->runs && i < daemon->runs->len; i++)
    mtv_run_shutdown (daemon->runs->pdata[i]);
  g_clear_pointer (&daemon->runs, g_ptr_array_unref);
  if (daemon->runtime_dir)
    mtv_empty_dir (daemon->runtime_dir);
  g_free (daemon->runtime_dir);
  g_free (daemon->runs_seen);
  g_free (daemon->checkpoint_dir);
  g_free (daemon->transfer_path);
  g_clear_pointer (&daemon->settings, json_object_unref);
  for (MtvKind k = 0; k < MTV_N_KINDS; k++)
    if (daemon->not_found_subtrees[k])
      g_dbus_connection_unregister_subtree (daemon->connection, daemon->not_found_subtrees[k]);
  if (daemon->object_manager)
    g_dbus_object_manager_server_set_connection (daemon->object_manager, NULL);
  if (daemon->bus_guard)
    g_dbus_connection_remove_filter (daemon->connection, daemon->bus_guard);
  for (MtvKind k = 0; k < MTV_N_KINDS; k++)
    g_clear_pointer (&daemon->items[k], g_hash_table_unref);
  g_clear_object (&daemon->manager);
  g_clear_object (&daemon->object_manager);
  g_clear_pointer (&daemon->auth, mtv_auth_free);
  g_clear_pointer (&daemon->store, mtv_store_close);
  g_clear_pointer (&daemon->rules, mtv_rules_free);
  g_clear_object (&daemon->connection);
  g_free (daemon);
}

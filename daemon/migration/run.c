/* A run of a plan: its VMs, what it stores, how it comes back after a
 * restart of mtvd, and what can be asked of it (start, cancel, cutover). */
#include "engine.h"
#include "itinerary.h"
#include "run.h"
#include "mtv-error.h"
#include "mtv-json.h"
#include "mtv-names.h"
#include "mtv-record.h"

#include <string.h>

JsonObject *
mtv_run_snap (MtvRun *run, const char *key)
{
  return mtv_json_object (run->snapshot, key);
}

const char *
mtv_run_target_namespace (MtvRun *run)
{
  return json_object_get_string_member_with_default (mtv_run_snap (run, "planSpec"), "targetNamespace", "default");
}

static const char *
provider_type (MtvRun *run, const char *side)
{
  return mtv_json_string (mtv_json_object (mtv_run_snap (run, side), "spec"), "type");
}

/* ---- state, stored -------------------------------------------------------------------- */

static void
set_string (JsonObject *o, const char *key, const char *value)
{
  json_object_set_string_member (o, key, value ? value : "");
}

/* What changes as the VM runs; who it is (its plan entry, its inventory)
 * is in the run's snapshot. */
static JsonObject *
vm_state (MtvVm *v)
{
  JsonObject *o = json_object_new ();
  set_string (o, "status", v->status);
  set_string (o, "phase", v->phase);
  set_string (o, "error", v->error);
  set_string (o, "started", v->started);
  set_string (o, "completed", v->completed);
  json_object_set_int_member (o, "bytesTotal", (gint64) v->bytes_total);
  json_object_set_int_member (o, "bytesDone", (gint64) (v->bytes_base + v->bytes_now));
  JsonArray *done = json_array_new ();
  for (guint i = 0; i < v->disks_done->len; i++)
    json_array_add_int_element (done, g_array_index (v->disks_done, guint, i));
  json_object_set_array_member (o, "disksDone", done);
  set_string (o, "copyRound", v->copy_round);
  json_object_set_int_member (o, "bytesBase", (gint64) v->bytes_base);
  json_object_set_array_member (o, "copies", json_array_ref (v->copies));
  json_object_set_object_member (o, "session", json_object_ref (v->session));
  json_object_set_object_member (o, "target", json_object_ref (v->target));
  if (v->power)
    json_object_set_string_member (o, "power", v->power);
  json_object_set_boolean_member (o, "poweredOff", v->powered_off);
  json_object_set_boolean_member (o, "allocated", v->allocated);
  json_object_set_boolean_member (o, "phaseDone", v->phase_done);
  json_object_set_boolean_member (o, "created", v->created);
  json_object_set_boolean_member (o, "releasePending", v->release_pending);
  json_object_set_boolean_member (o, "cleanupPending", v->cleanup_pending);
  if (v->release_error)
    json_object_set_string_member (o, "releaseError", v->release_error);
  if (v->snapshot)
    json_object_set_string_member (o, "snapshot", v->snapshot);
  JsonArray *snapshots = json_array_new ();
  for (guint i = 0; i < v->snapshots->len; i++)
    json_array_add_string_element (snapshots, v->snapshots->pdata[i]);
  json_object_set_array_member (o, "snapshots", snapshots);
  if (v->checkpoint)
    json_object_set_object_member (o, "checkpoint", json_object_ref (v->checkpoint));
  if (v->next_checkpoint)
    json_object_set_object_member (o, "nextCheckpoint", json_object_ref (v->next_checkpoint));
  json_object_set_int_member (o, "precopies", v->precopies);
  json_object_set_int_member (o, "nextPrecopy", v->next_precopy);
  json_object_set_array_member (o, "precopyLog", json_array_ref (v->precopy_log));
  json_object_set_int_member (o, "downtimeStart", v->downtime_start);
  json_object_set_int_member (o, "downtime", v->downtime);
  return o;
}

void
mtv_run_save (MtvRun *run)
{
  g_autoptr (JsonObject) state = json_object_new ();
  json_object_set_string_member (state, "plan", run->plan);
  json_object_set_string_member (state, "phase", run->phase);
  set_string (state, "started", run->started);
  set_string (state, "completed", run->completed);
  set_string (state, "cutover", run->cutover);
  json_object_set_object_member (state, "snapshot", json_object_ref (run->snapshot));
  g_autoptr (GError) error = NULL;
  if (!run->host->save (run->host->data, run->id, run->plan, state, &error))
    g_warning ("migration %s: cannot store its state: %s", run->id, error->message);
}

void
mtv_vm_save (MtvVm *v)
{
  g_autoptr (JsonObject) state = vm_state (v);
  g_autoptr (GError) error = NULL;
  if (!v->run->host->save_vm (v->run->host->data, v->run->id, v->index, state, &error))
    g_warning ("migration %s: VM %s: cannot store its state: %s", v->run->id, v->name, error->message);
}

static const char *
member (JsonObject *o, const char *key)
{
  return json_object_get_string_member_with_default (o, key, "");
}

static char *
member_or_null (JsonObject *o, const char *key)
{
  return *member (o, key) ? g_strdup (member (o, key)) : NULL;
}

static JsonObject *
object_or_new (JsonObject *o, const char *key)
{
  JsonObject *found = mtv_json_object (o, key);
  return found ? json_object_ref (found) : json_object_new ();
}

static void
vm_load (MtvVm *v, JsonObject *o)
{
  g_free (v->status), v->status = g_strdup (member (o, "status"));
  g_free (v->phase), v->phase = g_strdup (member (o, "phase"));
  v->error = member_or_null (o, "error");
  v->started = member_or_null (o, "started");
  v->completed = member_or_null (o, "completed");
  JsonArray *done = mtv_json_array (o, "disksDone");
  for (guint i = 0; i < mtv_json_array_length (done); i++)
    {
      JsonNode *n = json_array_get_element (done, i);
      if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64 && json_node_get_int (n) >= 0
          && json_node_get_int (n) <= G_MAXUINT)
        {
          guint index = (guint) json_node_get_int (n);
          g_array_append_val (v->disks_done, index);
        }
    }
  /* Stored by an mtvd that copied disks one after the other: those before
   * "disk" were done. */
  for (guint i = 0; done == NULL && i < (guint) MIN (mtv_json_int (o, "disk", 0), G_MAXUINT16); i++)
    g_array_append_val (v->disks_done, i);
  v->copy_round = member_or_null (o, "copyRound");
  v->bytes_base = (guint64) json_object_get_int_member_with_default (o, "bytesBase", 0);
  JsonNode *copies = json_object_get_member (o, "copies");
  if (copies && JSON_NODE_HOLDS_ARRAY (copies))
    {
      json_array_unref (v->copies);
      v->copies = json_array_ref (json_node_get_array (copies));
    }
  json_object_unref (v->session), v->session = object_or_new (o, "session");
  json_object_unref (v->target), v->target = object_or_new (o, "target");
  v->power = member_or_null (o, "power");
  v->powered_off = json_object_get_boolean_member_with_default (o, "poweredOff", FALSE);
  v->allocated = json_object_get_boolean_member_with_default (o, "allocated", FALSE);
  v->phase_done = json_object_get_boolean_member_with_default (o, "phaseDone", FALSE);
  v->created = json_object_get_boolean_member_with_default (o, "created", FALSE);
  v->release_pending = json_object_get_boolean_member_with_default (o, "releasePending", FALSE);
  v->cleanup_pending = json_object_get_boolean_member_with_default (o, "cleanupPending", FALSE);
  v->release_error = member_or_null (o, "releaseError");
  v->snapshot = member_or_null (o, "snapshot");
  JsonNode *snapshots = json_object_get_member (o, "snapshots");
  for (guint i = 0; snapshots && JSON_NODE_HOLDS_ARRAY (snapshots) && i < json_array_get_length (json_node_get_array (snapshots)); i++)
    g_ptr_array_add (v->snapshots, g_strdup (json_array_get_string_element (json_node_get_array (snapshots), i)));
  if (mtv_json_object (o, "checkpoint"))
    v->checkpoint = json_object_ref (mtv_json_object (o, "checkpoint"));
  if (mtv_json_object (o, "nextCheckpoint"))
    v->next_checkpoint = json_object_ref (mtv_json_object (o, "nextCheckpoint"));
  v->precopies = (guint) json_object_get_int_member_with_default (o, "precopies", 0);
  v->next_precopy = json_object_get_int_member_with_default (o, "nextPrecopy", 0);
  JsonArray *log = mtv_json_array (o, "precopyLog");
  for (guint i = 0; i < mtv_json_array_length (log); i++)
    if (mtv_json_array_object (log, i))
      json_array_add_object_element (v->precopy_log, json_object_ref (mtv_json_array_object (log, i)));
  v->downtime_start = MAX (0, mtv_json_int (o, "downtimeStart", 0));
  v->downtime = MAX (0, mtv_json_int (o, "downtime", 0));
}

/* ---- the run's phase ------------------------------------------------------------------ */

void
mtv_run_update_phase (MtvRun *run)
{
  guint succeeded = 0, failed = 0, canceled = 0, open = 0;
  for (guint i = 0; i < run->vms->len; i++)
    {
      MtvVm *v = run->vms->pdata[i];
      if (v->undoing)
        open++;   /* ended, its source or target still being put back */
      else if (g_str_equal (v->status, "Succeeded"))
        succeeded++;
      else if (g_str_equal (v->status, "Failed"))
        failed++;
      else if (g_str_equal (v->status, "Canceled"))
        canceled++;
      else
        open++;
    }
  const char *phase = open ? "Running" : failed ? "Failed" : canceled && !succeeded ? "Canceled" : "Succeeded";
  if (!g_str_equal (phase, run->phase))
    {
      g_free (run->phase);
      run->phase = g_strdup (phase);
      if (!open && run->completed == NULL)
        run->completed = mtv_now_rfc3339 ();
      mtv_run_save (run);
    }
  mtv_run_show (run);
}

/* ---- construction ----------------------------------------------------------------------- */

static MtvRun *
run_alloc (const MtvRunHost *host, const char *id, const char *plan, JsonObject *snapshot)
{
  MtvRun *run = g_new0 (MtvRun, 1);
  run->host = host;
  run->id = g_strdup (id);
  run->plan = g_strdup (plan);
  run->path = g_strdup_printf ("%s/migrations/%s", MTV_ROOT_PATH, id);
  run->phase = g_strdup ("Running");
  run->snapshot = json_object_ref (snapshot);
  run->vms = g_ptr_array_new_with_free_func ((GDestroyNotify) mtv_vm_free);
  run->alive = g_cancellable_new ();
  run->itinerary = mtv_itinerary_for (json_object_get_string_member_with_default (mtv_run_snap (run, "planSpec"),
                                                                                    "type", "cold"));
  run->source = host->source_adapter (host->data, provider_type (run, "sourceProvider"));
  run->target = host->target_adapter (host->data, provider_type (run, "targetProvider"));
  mtv_run_object_init (run);
  return run;
}

/* The target's per-run instance (a Kubernetes client); FALSE when it
 * cannot be made (a broken kubeconfig, say). */
static gboolean
attach (MtvRun *run, GError **error)
{
  JsonObject *provider = mtv_run_snap (run, "targetProvider");
  const char *name = mtv_json_string (provider, "name");
  gpointer instance = NULL;
  if (run->target->attach)
    {
      g_autoptr (JsonObject) credentials = run->host->credentials (run->host->data, name ? name : "");
      instance = run->target->attach (mtv_json_object (provider, "spec"), credentials, run->host->runtime_dir, run->id,
                                      error);
      if (instance == NULL)
        return FALSE;
    }
  run->link = g_atomic_rc_box_new0 (MtvTargetLink);
  run->link->adapter = run->target;
  run->link->instance = instance;
  return TRUE;
}

/* What the itinerary needs of the adapters it will call. */
static gboolean
check_adapters (MtvRun *run, GError **error)
{
  const char *type = run->itinerary ? run->itinerary->type : "?";
  if (run->itinerary == NULL || run->source == NULL || run->target == NULL || run->source->disk_server == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "a %s provider cannot be the source of a %s migration into a %s "
                   "provider", provider_type (run, "sourceProvider"), type, provider_type (run, "targetProvider"));
      return FALSE;
    }
  const MtvSourceAdapter *s = run->source;
  if (g_str_equal (type, "warm") && !(s->snapshot_create && s->snapshot_remove && s->checkpoint && s->changed_extents))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "a %s provider cannot do warm migration (no snapshots or "
                   "changed block tracking)", provider_type (run, "sourceProvider"));
      return FALSE;
    }
  if (g_str_equal (type, "live") && run->target->live_step == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "a %s provider cannot receive a live migration",
                   provider_type (run, "targetProvider"));
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_time (const char *when, char **normalized, GError **error)
{
  g_autoptr (GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr (GDateTime) t = when ? g_date_time_new_from_iso8601 (when, NULL) : NULL;
  if (t == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "cutover: \"%s\" is not an RFC 3339 time with a time zone "
                   "(such as 2026-12-24T22:00:00Z)", when ? when : "");
      return FALSE;
    }
  g_autoptr (GDateTime) in_utc = g_date_time_to_timezone (t, utc);
  *normalized = g_date_time_format (in_utc, "%Y-%m-%dT%H:%M:%SZ");
  return TRUE;
}

gboolean
mtv_run_is_warm (MtvRun *run)
{
  return mtv_itinerary_phase (run->itinerary, "CopyingPaused") != NULL;
}

MtvRun *
mtv_run_new (const MtvRunHost *host, const char *id, const char *plan, JsonObject *snapshot, const char *cutover,
             GError **error)
{
  MtvRun *run = run_alloc (host, id, plan, snapshot);
  run->started = mtv_now_rfc3339 ();
  if (!check_adapters (run, error))
    {
      mtv_run_free (run);
      return NULL;
    }
  if (cutover && !mtv_run_is_warm (run))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "cutover: plan \"%s\" is a %s migration; only warm migrations "
                   "have a cutover", plan, run->itinerary->type);
      mtv_run_free (run);
      return NULL;
    }
  if (cutover && !parse_time (cutover, &run->cutover, error))
    {
      mtv_run_free (run);
      return NULL;
    }
  JsonObject *target = mtv_run_snap (run, "targetProvider");
  if (!attach (run, error))
    {
      g_prefix_error (error, "target %s: ", mtv_json_string (target, "name"));
      mtv_run_free (run);
      return NULL;
    }
  JsonNode *vms = json_object_get_member (snapshot, "vms");
  for (guint i = 0; vms && JSON_NODE_HOLDS_ARRAY (vms) && i < json_array_get_length (json_node_get_array (vms)); i++)
    {
      JsonObject *o = json_array_get_object_element (json_node_get_array (vms), i);
      g_ptr_array_add (run->vms, mtv_vm_new (run, i, mtv_json_object (o, "planVm"), mtv_json_object (o, "vm"),
                                             mtv_json_string (o, "targetName")));
    }
  mtv_run_save (run);
  for (guint i = 0; i < run->vms->len; i++)
    mtv_vm_save (run->vms->pdata[i]);
  mtv_run_object_export (run);
  return run;
}

/* VM @index's stored state: in "vmStates", or (as an older mtvd stored
 * runs) in "vms" with the run. */
static JsonObject *
stored_vm (JsonObject *state, guint index)
{
  JsonNode *list = json_object_get_member (state, "vmStates");
  for (guint i = 0; list && JSON_NODE_HOLDS_ARRAY (list) && i < json_array_get_length (json_node_get_array (list)); i++)
    {
      JsonObject *o = json_array_get_object_element (json_node_get_array (list), i);
      if (json_object_get_int_member_with_default (o, "index", -1) == (gint64) index)
        return o;
    }
  JsonNode *old = json_object_get_member (state, "vms");
  if (old && JSON_NODE_HOLDS_ARRAY (old) && index < json_array_get_length (json_node_get_array (old)))
    return json_array_get_object_element (json_node_get_array (old), index);
  return NULL;
}

MtvRun *
mtv_run_restore (const MtvRunHost *host, const char *id, JsonObject *state)
{
  g_autoptr (JsonObject) empty = json_object_new ();
  JsonObject *snapshot = mtv_json_object (state, "snapshot");
  MtvRun *run = run_alloc (host, id, member (state, "plan"), snapshot ? snapshot : empty);
  run->started = g_strdup (member (state, "started"));
  run->completed = member_or_null (state, "completed");
  run->cutover = member_or_null (state, "cutover");
  g_free (run->phase);
  run->phase = g_strdup (member (state, "phase"));
  /* Who the VMs are is in the snapshot (in the VMs' entries for an older mtvd's runs). */
  JsonNode *vms = json_object_get_member (run->snapshot, "vms");
  if (vms == NULL)
    vms = json_object_get_member (state, "vms");
  for (guint i = 0; vms && JSON_NODE_HOLDS_ARRAY (vms) && i < json_array_get_length (json_node_get_array (vms)); i++)
    {
      JsonObject *o = json_array_get_object_element (json_node_get_array (vms), i);
      MtvVm *v = mtv_vm_new (run, i, mtv_json_object (o, "planVm"), mtv_json_object (o, "vm"), member (o, "targetName"));
      JsonObject *saved = stored_vm (state, i);
      if (saved)
        vm_load (v, saved);
      g_ptr_array_add (run->vms, v);
    }
  mtv_run_object_export (run);
  g_autoptr (GError) error = NULL;
  gboolean usable = check_adapters (run, &error) && attach (run, &error);
  if (!usable)
    g_warning ("migration %s: cannot go on: %s", id, error->message);
  /* Only once every VM is loaded: what is stored next holds them all. */
  for (guint i = 0; i < run->vms->len; i++)
    {
      MtvVm *v = run->vms->pdata[i];
      const MtvPhase *phase = run->itinerary ? mtv_itinerary_phase (run->itinerary, v->phase) : NULL;
      /* A phase that does not resume may have done its work: then the VM
       * goes on with the next one. */
      if (g_str_equal (v->status, "Running") && usable && phase && (phase->resumable || v->phase_done))
        {
          v->resume = TRUE;
          g_free (v->status), v->status = g_strdup ("Pending");
        }
      else if (g_str_equal (v->status, "Running") && usable)
        mtv_vm_interrupted (v);
      else if (g_str_equal (v->status, "Running") || (g_str_equal (v->status, "Pending") && !usable))
        mtv_vm_finish (v, "Failed", error ? error->message : "the migration cannot go on");
      else if (usable)
        {
          /* It ended, but mtvd stopped before it had undone everything. */
          if (v->cleanup_pending)
            mtv_vm_cleanup_target (v);
          if (v->release_pending)
            mtv_vm_release_source (v);
        }
    }
  mtv_run_update_phase (run);
  return run;
}

void
mtv_run_free (MtvRun *run)
{
  if (run == NULL)
    return;
  g_cancellable_cancel (run->alive);
  g_ptr_array_unref (run->vms);
  g_object_unref (run->alive);
  if (run->link)
    mtv_target_link_release (run->link);
  mtv_run_object_unexport (run);
  json_object_unref (run->snapshot);
  g_free (run->id), g_free (run->plan), g_free (run->path), g_free (run->phase);
  g_free (run->started), g_free (run->completed), g_free (run->cutover);
  g_free (run);
}

const char *mtv_run_id (MtvRun *run) { return run->id; }
const char *mtv_run_plan (MtvRun *run) { return run->plan; }
guint mtv_run_n_vms (MtvRun *run) { return run->vms->len; }
const char *mtv_run_object_path (MtvRun *run) { return run->path; }
const char *mtv_run_phase (MtvRun *run) { return run->phase; }

gboolean
mtv_run_finished (MtvRun *run)
{
  return !g_str_equal (run->phase, "Running");
}

guint
mtv_run_active (MtvRun *run)
{
  guint n = 0;
  for (guint i = 0; i < run->vms->len; i++)
    n += g_str_equal (((MtvVm *) run->vms->pdata[i])->status, "Running");
  return n;
}

guint
mtv_run_start_pending (MtvRun *run, guint budget)
{
  guint started = 0;
  for (guint i = 0; i < run->vms->len && started < budget; i++)
    {
      MtvVm *v = run->vms->pdata[i];
      if (g_str_equal (v->status, "Pending"))
        {
          started++;
          mtv_vm_begin (v);
        }
    }
  return started;
}

gboolean
mtv_run_cancel (MtvRun *run, const char *const *vms, GError **error)
{
  for (guint n = 0; vms && vms[n]; n++)
    {
      gboolean found = FALSE;
      for (guint i = 0; i < run->vms->len; i++)
        {
          MtvVm *v = run->vms->pdata[i];
          found |= g_str_equal (v->name, vms[n]) || g_str_equal (v->id, vms[n]);
        }
      if (!found)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_NOT_FOUND, "VM \"%s\" is not in migration %s", vms[n], run->id);
          return FALSE;
        }
    }
  for (guint i = 0; i < run->vms->len; i++)
    {
      MtvVm *v = run->vms->pdata[i];
      gboolean named = vms == NULL || vms[0] == NULL || g_strv_contains (vms, v->name) || g_strv_contains (vms, v->id);
      if (!named || v->cancel_requested)
        continue;
      if (g_str_equal (v->status, "Pending"))
        {
          v->cancel_requested = TRUE;
          mtv_vm_finish (v, "Canceled", NULL);
        }
      else if (g_str_equal (v->status, "Running"))
        {
          /* What is in flight ends (a copy, a hook) and reports; a phase
           * that only waits ends now. */
          v->cancel_requested = TRUE;
          g_cancellable_cancel (v->stop);
          if (!mtv_copy_cancel (v) && v->busy == 0)
            mtv_vm_finish (v, "Canceled", NULL);
        }
    }
  return TRUE;
}

gboolean
mtv_run_set_cutover (MtvRun *run, const char *when, GError **error)
{
  if (!mtv_run_is_warm (run))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "plan \"%s\" is a %s migration; only warm migrations have a "
                   "cutover", run->plan, run->itinerary ? run->itinerary->type : "?");
      return FALSE;
    }
  if (mtv_run_finished (run))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "migration %s has ended (%s)", run->id, run->phase);
      return FALSE;
    }
  /* Movable until a VM has begun its cutover (or ended). */
  const MtvPhase *first = mtv_itinerary_phase (run->itinerary, "StorePowerState");
  for (guint i = 0; i < run->vms->len; i++)
    {
      MtvVm *v = run->vms->pdata[i];
      const MtvPhase *at = mtv_itinerary_phase (run->itinerary, v->phase);
      if ((at && first && at >= first) || g_str_equal (v->status, "Succeeded"))
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_BUSY, "the cutover of migration %s has begun (VM %s is in phase %s); "
                       "it can no longer be moved", run->id, v->name, v->phase);
          return FALSE;
        }
    }
  g_autofree char *normalized = NULL;
  if (!parse_time (when, &normalized, error))
    return FALSE;
  g_free (run->cutover);
  run->cutover = g_steal_pointer (&normalized);
  g_message ("migration %s: cutover at %s", run->id, run->cutover);
  mtv_run_save (run);
  mtv_run_show (run);
  for (guint i = 0; i < run->vms->len; i++)
    mtv_phase_cutover_changed (run->vms->pdata[i]);
  run->host->changed (run->host->data, run);
  return TRUE;
}

void
mtv_run_shutdown (MtvRun *run)
{
  for (guint i = 0; i < run->vms->len; i++)
    mtv_copy_free (run->vms->pdata[i]);
}

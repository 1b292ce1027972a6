/* The migration engine (daemon/migration/) driven through each itinerary by
 * fake source and target adapters (test code: a fake world of power state,
 * snapshots and target files), with real disk copies: nbdkit serves the
 * source file, mtv-transfer writes the target file. Checked: the order of
 * phases and what the predicates skip; failures and what they undo; warm
 * precopies copying only what changed; the cutover set, moved and refused;
 * and a crash of mtvd at the moment every phase is stored, then a restore:
 * a resumable phase goes on to success, any other fails saying so, with the
 * source powered back on and the target cleaned up. */
#include "migration/run.h"
#include "migration/source-adapter.h"
#include "migration/target-adapter.h"
#include "mtv-dbus-generated.h"
#include "mtv-error.h"
#include "mtv-json.h"

#include <glib/gstdio.h>
#include <string.h>

#define DISK_SIZE (4 << 20)
#define REGION (256 << 10)

/* ---- the fake world ------------------------------------------------------------------ */

typedef struct {
  GMutex lock;
  char *dir;
  char *source_file, *target_file;
  char *power;                /* "Always" or "Halted" */
  GPtrArray *snapshots;       /* ids that exist */
  guint generation;           /* snapshots made: each changes a region of the disk */
  GPtrArray *calls;           /* "power_off", "hook PreHook", ... */
  gboolean created, allocated;
  guint cleanups;
  char *fail;                 /* the call that fails, e.g. "create_vm" */
  gboolean dead;              /* mtvd "crashed": nothing acts, nothing is stored */
  char *live;                 /* the runtime directory of the mtvd that lives */
  gint in_flight;
} World;

static World *world;          /* the adapters' tables are static: they find it here */

static void
world_init (const char *transfer)
{
  world = g_new0 (World, 1);
  g_mutex_init (&world->lock);
  world->dir = g_dir_make_tmp ("mtv-engine-XXXXXX", NULL);
  world->source_file = g_build_filename (world->dir, "source.img", NULL);
  world->target_file = g_build_filename (world->dir, "target.img", NULL);
  g_autofree guint8 *data = g_malloc0 (DISK_SIZE);
  for (guint i = 0; i < DISK_SIZE / 2; i++)
    data[i] = (guint8) g_random_int ();
  g_assert_true (g_file_set_contents (world->source_file, (const char *) data, DISK_SIZE, NULL));
  world->power = g_strdup ("Always");
  world->snapshots = g_ptr_array_new_with_free_func (g_free);
  world->calls = g_ptr_array_new_with_free_func (g_free);
}

/* An adapter call begins: FALSE (with an error) when the mtvd that makes
 * it (known by its runtime directory) is "dead". */
static gboolean
call_begin (const char *workdir, const char *name, GError **error)
{
  g_mutex_lock (&world->lock);
  if (world->dead || g_strcmp0 (workdir, world->live) != 0)
    {
      g_mutex_unlock (&world->lock);
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "mtvd is gone");
      return FALSE;
    }
  g_atomic_int_inc (&world->in_flight);
  g_ptr_array_add (world->calls, g_strdup (name));
  if (world->fail && g_str_equal (world->fail, name))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s failed (as the test asked)", name);
      g_atomic_int_dec_and_test (&world->in_flight);
      g_mutex_unlock (&world->lock);
      return FALSE;
    }
  return TRUE;
}

static gboolean
call_end (gboolean ok)
{
  g_atomic_int_dec_and_test (&world->in_flight);
  g_mutex_unlock (&world->lock);
  return ok;
}

/* Snapshot k changes region k of the source: what its checkpoint covers. */
static void
change_region (guint k)
{
  g_autofree char *data = NULL;
  gsize len;
  g_assert_true (g_file_get_contents (world->source_file, &data, &len, NULL));
  for (guint i = 0; i < REGION; i++)
    data[(gsize) k * REGION + i] = (char) g_random_int ();
  g_assert_true (g_file_set_contents (world->source_file, data, (gssize) len, NULL));
}

/* ---- the fake source ------------------------------------------------------------------- */

static gboolean
src_open (const MtvSourceContext *ctx, GError **error)
{
  if (!call_begin (ctx->workdir, "open", error))
    return FALSE;
  json_object_set_string_member (ctx->session, "opened", "yes");
  return call_end (TRUE);
}

static gboolean
src_close (const MtvSourceContext *ctx, GError **error)
{
  if (!call_begin (ctx->workdir, "close", error))
    return FALSE;
  return call_end (TRUE);
}

static char *
src_power_state (const MtvSourceContext *ctx, GError **error)
{
  if (!call_begin (ctx->workdir, "power_state", error))
    return NULL;
  char *state = g_strdup (world->power);
  call_end (TRUE);
  return state;
}

static gboolean
src_power_off (const MtvSourceContext *ctx, GError **error)
{
  if (!call_begin (ctx->workdir, "power_off", error))
    return FALSE;
  g_free (world->power);
  world->power = g_strdup ("Halted");
  return call_end (TRUE);
}

static gboolean
src_powered_off (const MtvSourceContext *ctx, gboolean *off, GError **error)
{
  if (!call_begin (ctx->workdir, "powered_off", error))
    return FALSE;
  *off = g_str_equal (world->power, "Halted");
  return call_end (TRUE);
}

static gboolean
src_power_restore (const MtvSourceContext *ctx, const char *state, GError **error)
{
  if (!call_begin (ctx->workdir, "power_restore", error))
    return FALSE;
  g_free (world->power);
  world->power = g_strdup (state);
  return call_end (TRUE);
}

static char *
src_snapshot_create (const MtvSourceContext *ctx, GError **error)
{
  if (!call_begin (ctx->workdir, "snapshot_create", error))
    return NULL;
  guint k = world->generation++;
  if (k > 0)
    change_region (k);
  char *id = g_strdup_printf ("snapshot-%u", k);
  g_ptr_array_add (world->snapshots, g_strdup (id));
  call_end (TRUE);
  return id;
}

static gboolean
src_snapshot_ready (const MtvSourceContext *ctx, const char *id, gboolean *ready, GError **error)
{
  if (!call_begin (ctx->workdir, "snapshot_ready", error))
    return FALSE;
  *ready = TRUE;
  return call_end (TRUE);
}

static gboolean
src_snapshot_remove (const MtvSourceContext *ctx, const char *id, GError **error)
{
  if (!call_begin (ctx->workdir, "snapshot_remove", error))
    return FALSE;
  for (guint i = 0; i < world->snapshots->len; i++)
    if (g_str_equal (world->snapshots->pdata[i], id))
      g_ptr_array_remove_index (world->snapshots, i--);
  return call_end (TRUE);
}

static JsonObject *
src_checkpoint (const MtvSourceContext *ctx, const char *snapshot, GError **error)
{
  if (!call_begin (ctx->workdir, "checkpoint", error))
    return NULL;
  JsonObject *o = json_object_new ();
  json_object_set_int_member (o, "generation", g_ascii_strtoll (strchr (snapshot, '-') + 1, NULL, 10));
  call_end (TRUE);
  return o;
}

static GArray *
src_changed_extents (const MtvSourceContext *ctx, guint index, JsonObject *from, JsonObject *to, GError **error)
{
  if (!call_begin (ctx->workdir, "changed_extents", error))
    return NULL;
  GArray *extents = g_array_new (FALSE, FALSE, sizeof (MtvExtent));
  for (gint64 k = json_object_get_int_member (from, "generation") + 1; k <= json_object_get_int_member (to, "generation");
       k++)
    {
      MtvExtent e = { (guint64) k * REGION, REGION };
      g_array_append_val (extents, e);
    }
  call_end (TRUE);
  return extents;
}

static char **
src_disk_server (JsonObject *disk, const char *socket, GError **error)
{
  g_autofree char *file = g_strdup_printf ("file=%s", json_object_get_string_member (disk, "file"));
  const char *const argv[] = { "nbdkit", "-f", "-r", "-U", socket, "file", file, NULL };
  return g_strdupv ((char **) argv);
}

static const MtvSourceAdapter full_source = {
  .open = src_open,
  .close = src_close,
  .power_state = src_power_state,
  .power_off = src_power_off,
  .powered_off = src_powered_off,
  .power_restore = src_power_restore,
  .snapshot_create = src_snapshot_create,
  .snapshot_ready = src_snapshot_ready,
  .snapshot_remove = src_snapshot_remove,
  .checkpoint = src_checkpoint,
  .changed_extents = src_changed_extents,
  .disk_server = src_disk_server,
};

/* An OVA-like source: nothing but its disks. */
static const MtvSourceAdapter bare_source = {
  .disk_server = src_disk_server,
};

/* ---- the fake target --------------------------------------------------------------------- */

static gboolean
tgt_allocate (const MtvTargetContext *ctx, GError **error)
{
  if (!call_begin (ctx->workdir, "allocate", error))
    return FALSE;
  world->allocated = TRUE;
  json_object_set_boolean_member (ctx->state, "allocated", TRUE);
  return call_end (TRUE);
}

static gboolean
tgt_disk_sink (const MtvTargetContext *ctx, guint index, gboolean delta, MtvDiskSink *sink, GError **error)
{
  if (!call_begin (ctx->workdir, delta ? "disk_sink delta" : "disk_sink", error))
    return FALSE;
  sink->destination = g_strdup (world->target_file);
  sink->resumable = TRUE;
  return call_end (TRUE);
}

static gboolean
tgt_finish_disk (const MtvTargetContext *ctx, guint index, GError **error)
{
  return call_begin (ctx->workdir, "finish_disk", error) && call_end (TRUE);
}

static gboolean
tgt_create_vm (const MtvTargetContext *ctx, GError **error)
{
  if (!call_begin (ctx->workdir, "create_vm", error))
    return FALSE;
  world->created = TRUE;
  json_object_set_string_member (ctx->state, "destination", "fake:vm1");
  return call_end (TRUE);
}

static gboolean
tgt_live_step (const MtvTargetContext *ctx, const char *phase, GError **error)
{
  g_autofree char *name = g_strdup_printf ("live %s", phase);
  if (!call_begin (ctx->workdir, name, error))
    return FALSE;
  if (g_str_equal (phase, "CreateTarget"))
    world->created = TRUE;   /* what cleanup has to remove if it fails later */
  return call_end (TRUE);
}

static gboolean
tgt_run_hook (const MtvTargetContext *ctx, const MtvHookRun *hook, GCancellable *stop, GError **error)
{
  g_autofree char *name = g_strdup_printf ("hook %s", hook->step);
  if (!call_begin (ctx->workdir, name, error))
    return FALSE;
  g_assert_cmpuint (hook->deadline, >, 0);
  g_assert_cmpstr (json_object_get_string_member (hook->workload, "name"), ==, "vm1");
  return call_end (TRUE);
}

static gboolean
tgt_cleanup (const MtvTargetContext *ctx, GError **error)
{
  if (!call_begin (ctx->workdir, "cleanup", error))
    return FALSE;
  world->cleanups++;
  world->created = world->allocated = FALSE;
  g_unlink (world->target_file);
  return call_end (TRUE);
}

static const MtvTargetAdapter fake_target = {
  .allocate = tgt_allocate,
  .disk_sink = tgt_disk_sink,
  .finish_disk = tgt_finish_disk,
  .create_vm = tgt_create_vm,
  .live_step = tgt_live_step,
  .run_hook = tgt_run_hook,
  .cleanup = tgt_cleanup,
};

/* ---- the host ---------------------------------------------------------------------------- */

typedef struct {
  MtvRunHost host;
  GDBusObjectManagerServer *objects;
  char *runtime_dir, *checkpoint_dir;
  GPtrArray *phases;          /* the phases the VM entered, in order (from mtvd's log) */
  JsonObject *state;          /* the run's last state stored */
  JsonObject *vm;             /* the VM's */
  const char *crash_at;       /* "crash" as this phase is stored */
  JsonObject *crash_state;    /* what was stored then */
} Fixture;

static gboolean
host_save (gpointer data, const char *id, const char *plan, JsonObject *state, GError **error)
{
  Fixture *f = data;
  if (world->dead)
    return TRUE;   /* the process is gone: nothing more is stored */
  g_clear_pointer (&f->state, json_object_unref);
  f->state = mtv_json_object_copy (state);
  return TRUE;
}

static gboolean
host_save_vm (gpointer data, const char *id, guint index, JsonObject *vm, GError **error)
{
  Fixture *f = data;
  if (world->dead)
    return TRUE;
  g_clear_pointer (&f->vm, json_object_unref);
  f->vm = mtv_json_object_copy (vm);
  const char *phase = json_object_get_string_member (vm, "phase");
  if (f->crash_at && g_str_equal (phase, f->crash_at) && f->crash_state == NULL
      && g_str_equal (json_object_get_string_member (vm, "status"), "Running"))
    {
      /* What a restarted mtvd reads: the run and its VM as stored. */
      f->crash_state = mtv_json_object_copy (f->state);
      JsonArray *vms = json_array_new ();
      JsonObject *saved = mtv_json_object_copy (vm);
      json_object_set_int_member (saved, "index", index);
      json_array_add_object_element (vms, saved);
      json_object_set_array_member (f->crash_state, "vmStates", vms);
      world->dead = TRUE;
    }
  return TRUE;
}

static void host_changed (gpointer data, MtvRun *run) {}

static JsonObject *
host_credentials (gpointer data, const char *provider)
{
  return json_object_new ();
}

static guint
host_precopy_interval (gpointer data)
{
  return 1;
}

static const MtvSourceAdapter *
host_source (gpointer data, const char *type)
{
  return g_str_equal (type, "full") ? &full_source : g_str_equal (type, "bare") ? &bare_source : NULL;
}

static const MtvTargetAdapter *
host_target (gpointer data, const char *type)
{
  return g_str_equal (type, "fake") ? &fake_target : NULL;
}

static const char *transfer_path;
static Fixture *current;      /* for the log writer */

/* mtvd logs each phase a VM enters ("migration ID: VM NAME: PHASE"). */
static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
  for (gsize i = 0; current && i < n; i++)
    if (g_str_equal (fields[i].key, "MESSAGE"))
      {
        const char *m = fields[i].value;
        const char *at = strstr (m, ": VM vm1: ");
        if (g_str_has_prefix (m, "migration run1") && at && !strchr (at + strlen (": VM vm1: "), ' ')
            && !world->dead)
          g_ptr_array_add (current->phases, g_strdup (at + strlen (": VM vm1: ")));
      }
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    return g_log_writer_default (level, fields, n, data);
  return G_LOG_WRITER_HANDLED;
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  world_init (transfer_path);
  f->objects = g_dbus_object_manager_server_new ("/org/mtvd/Mtv1");
  f->runtime_dir = g_build_filename (world->dir, "run", NULL);
  f->checkpoint_dir = g_build_filename (world->dir, "checkpoints", NULL);
  g_mkdir (f->runtime_dir, 0700);
  g_mkdir (f->checkpoint_dir, 0700);
  f->phases = g_ptr_array_new_with_free_func (g_free);
  current = f;
  world->live = g_strdup (f->runtime_dir);
  f->host = (MtvRunHost) {
    .objects = f->objects,
    .runtime_dir = f->runtime_dir,
    .checkpoint_dir = f->checkpoint_dir,
    .transfer_path = transfer_path,
    .data = f,
    .changed = host_changed,
    .save = host_save,
    .save_vm = host_save_vm,
    .credentials = host_credentials,
    .precopy_interval = host_precopy_interval,
    .source_adapter = host_source,
    .target_adapter = host_target,
  };
}

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  current = NULL;
  remove_tree (world->dir);
  g_object_unref (f->objects);
  g_ptr_array_unref (f->phases);
  g_clear_pointer (&f->state, json_object_unref);
  g_clear_pointer (&f->vm, json_object_unref);
  g_clear_pointer (&f->crash_state, json_object_unref);
  g_free (f->runtime_dir), g_free (f->checkpoint_dir);
  g_ptr_array_unref (world->snapshots);
  g_ptr_array_unref (world->calls);
  g_free (world->source_file), g_free (world->target_file), g_free (world->dir), g_free (world->power);
  g_free (world->fail), g_free (world->live);
  g_mutex_clear (&world->lock);
  g_clear_pointer (&world, g_free);
}

/* What a plan of one VM keeps when it starts (as mtvd's daemon makes it). */
static JsonObject *
snapshot_for (const char *type, const char *source, gboolean hooks)
{
  g_autofree char *text = g_strdup_printf (
    "{\"planSpec\": {\"type\": \"%s\", \"targetNamespace\": \"prod\"}, \"planUid\": \"uid-1\","
    " \"sourceProvider\": {\"name\": \"src\", \"spec\": {\"type\": \"%s\"}},"
    " \"targetProvider\": {\"name\": \"dst\", \"spec\": {\"type\": \"fake\"}},"
    " \"networkMap\": {}, \"storageMap\": {},"
    " \"hooks\": {\"pre\": {\"uid\": \"h1\", \"spec\": {\"command\": \"true\"}},"
    "             \"post\": {\"uid\": \"h2\", \"spec\": {\"command\": \"true\", \"deadline\": 5}}},"
    " \"vms\": [{\"targetName\": \"vm1\", \"planVm\": {\"name\": \"vm1\"%s},"
    "           \"vm\": {\"id\": \"vm-1\", \"name\": \"vm1\","
    "                    \"disks\": [{\"name\": \"d0\", \"capacity\": %d, \"file\": \"%s\"}]}}]}",
    type, source,
    hooks ? ", \"hooks\": [{\"hook\": {\"name\": \"pre\"}, \"step\": \"PreHook\"},"
            " {\"hook\": {\"name\": \"post\"}, \"step\": \"PostHook\"}]" : "",
    DISK_SIZE, world->source_file);
  return mtv_json_object_from_string (text, "snapshot", NULL);
}

static gboolean
timed_out (gpointer data)
{
  g_error ("the run did not end within 120 seconds");
  return G_SOURCE_REMOVE;
}

/* Iterates until @run has ended, or @f->crash_at was stored (then the
 * run is "killed" as mtvd would be and NULL returned). */
static MtvRun *
drive (Fixture *f, MtvRun *run)
{
  guint timeout = g_timeout_add_seconds (120, timed_out, NULL);
  mtv_run_start_pending (run, 10);
  while (!mtv_run_finished (run) && !world->dead)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout);
  if (!world->dead)
    return run;
  mtv_run_shutdown (run);
  mtv_run_free (run);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  /* The next mtvd has a runtime directory of its own: what the killed
   * one's workers still try finds it gone. */
  g_autofree char *next = g_strdup_printf ("%s.next", f->runtime_dir);
  g_mkdir (next, 0700);
  g_free (f->runtime_dir);
  f->runtime_dir = g_steal_pointer (&next);
  f->host.runtime_dir = f->runtime_dir;
  g_mutex_lock (&world->lock);
  g_free (world->live);
  world->live = g_strdup (f->runtime_dir);
  world->dead = FALSE;
  g_mutex_unlock (&world->lock);
  return NULL;
}

static MtvRun *
start (Fixture *f, const char *type, const char *source, gboolean hooks)
{
  g_autoptr (JsonObject) snapshot = snapshot_for (type, source, hooks);
  g_autoptr (GError) error = NULL;
  MtvRun *run = mtv_run_new (&f->host, "run1", "plan1", snapshot, NULL, &error);
  g_assert_no_error (error);
  return run;
}

static JsonObject *
vm_state (Fixture *f)
{
  return f->vm;
}

static void
assert_phases (Fixture *f, const char *const *want)
{
  g_autoptr (GString) got = g_string_new (NULL), expected = g_string_new (NULL);
  for (guint i = 0; i < f->phases->len; i++)
    g_string_append_printf (got, "%s ", (char *) f->phases->pdata[i]);
  for (guint i = 0; want[i]; i++)
    g_string_append_printf (expected, "%s ", want[i]);
  g_assert_cmpstr (got->str, ==, expected->str);
}

static void
assert_target_is_source (void)
{
  g_autofree char *a = NULL, *b = NULL;
  gsize la, lb;
  g_assert_true (g_file_get_contents (world->source_file, &a, &la, NULL));
  g_assert_true (g_file_get_contents (world->target_file, &b, &lb, NULL));
  g_assert_cmpuint (la, ==, lb);
  g_assert_true (memcmp (a, b, la) == 0);
}

static gboolean
called (const char *name)
{
  for (guint i = 0; i < world->calls->len; i++)
    if (g_str_equal (world->calls->pdata[i], name))
      return TRUE;
  return FALSE;
}

/* ---- the itineraries -------------------------------------------------------------------- */

static void
test_cold_bare (Fixture *f, gconstpointer data)
{
  MtvRun *run = drive (f, start (f, "cold", "bare", FALSE));
  g_assert_cmpstr (mtv_run_phase (run), ==, "Succeeded");
  /* No power, no hooks: those phases do not apply. */
  static const char *const want[] = { "Started", "CreateDataVolumes", "CopyDisks", "CreateVM", "Completed", NULL };
  assert_phases (f, want);
  assert_target_is_source ();
  g_autoptr (JsonObject) status = mtv_run_status (run);
  JsonArray *pipeline = json_object_get_array_member (
    json_array_get_object_element (json_object_get_array_member (status, "vms"), 0), "pipeline");
  g_assert_cmpuint (json_array_get_length (pipeline), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (pipeline, 1), "name"), ==, "DiskTransfer");
  mtv_run_free (run);
}

static void
test_cold_full (Fixture *f, gconstpointer data)
{
  MtvRun *run = drive (f, start (f, "cold", "full", TRUE));
  g_assert_cmpstr (mtv_run_phase (run), ==, "Succeeded");
  static const char *const want[] = { "Started", "PreHook", "StorePowerState", "PowerOffSource", "WaitForPowerOff",
                                      "CreateDataVolumes", "CopyDisks", "CreateVM", "PostHook", "Completed", NULL };
  assert_phases (f, want);
  assert_target_is_source ();
  g_assert_cmpstr (world->power, ==, "Halted");   /* a migrated VM stays off at the source */
  g_assert_true (called ("close"));               /* its session is closed */
  g_assert_cmpstr (json_object_get_string_member (vm_state (f), "power"), ==, "Always");
  g_assert_true (json_object_get_boolean_member (vm_state (f), "created"));
  mtv_run_free (run);
}

static void
test_live (Fixture *f, gconstpointer data)
{
  MtvRun *run = drive (f, start (f, "live", "full", FALSE));
  g_assert_cmpstr (mtv_run_phase (run), ==, "Succeeded");
  static const char *const want[] = { "Started", "EnsureDataVolumes", "CreateTarget", "WaitForTargetVMI",
                                      "CreateVirtualMachineInstanceMigrations", "WaitForStateTransfer", "Completed",
                                      NULL };
  assert_phases (f, want);
  g_assert_cmpstr (world->power, ==, "Always");   /* a live migration never powers off */
  mtv_run_free (run);
}

static void
test_conversion (Fixture *f, gconstpointer data)
{
  MtvRun *run = drive (f, start (f, "conversion", "full", TRUE));
  g_assert_cmpstr (mtv_run_phase (run), ==, "Succeeded");
  /* Raw copy mode: ConvertGuest does not apply. */
  static const char *const want[] = { "Started", "PreHook", "StorePowerState", "PowerOffSource", "WaitForPowerOff",
                                      "CreateVM", "PostHook", "Completed", NULL };
  assert_phases (f, want);
  mtv_run_free (run);
}

/* Precopies until a cutover is set: each after the first copies only the
 * regions that changed, and the target ends equal to the source. */
static void
test_warm_and_cutover (Fixture *f, gconstpointer data)
{
  MtvRun *run = start (f, "warm", "full", FALSE);
  guint timeout = g_timeout_add_seconds (120, timed_out, NULL);
  mtv_run_start_pending (run, 10);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusObject) object = g_dbus_object_manager_get_object (G_DBUS_OBJECT_MANAGER (f->objects),
                                                                     mtv_run_object_path (run));
  MtvMigration *migration = mtv_object_peek_migration (MTV_OBJECT (object));
  /* Not an RFC 3339 time: refused, nothing changes. */
  g_assert_false (mtv_run_set_cutover (run, "tomorrow", &error));
  g_assert_error (error, MTV_ERROR, MTV_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_cmpstr (mtv_migration_get_cutover (migration), ==, "");
  /* Far away first: the precopies go on. */
  g_assert_true (mtv_run_set_cutover (run, "2999-01-01T00:00:00+02:00", &error));
  g_assert_cmpstr (mtv_migration_get_cutover (migration), ==, "2998-12-31T22:00:00Z");
  g_assert_cmpstr (json_object_get_string_member (f->state, "cutover"), ==, "2998-12-31T22:00:00Z");
  while (f->vm == NULL || json_object_get_int_member (vm_state (f), "precopies") < 3)
    g_main_context_iteration (NULL, TRUE);
  /* Moved to now: the cutover begins at the next look. */
  g_assert_true (mtv_run_set_cutover (run, "2000-01-01T00:00:00Z", &error));
  while (!mtv_run_finished (run))
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (timeout);
  g_assert_cmpstr (mtv_run_phase (run), ==, "Succeeded");
  assert_target_is_source ();
  g_assert_cmpuint (world->snapshots->len, ==, 0);      /* every snapshot removed */
  g_assert_cmpstr (world->power, ==, "Halted");
  g_assert_true (called ("disk_sink delta"));
  /* The loop, then the cutover, in Forklift's order. */
  static const char *const head[] = { "Started", "CreateInitialSnapshot", "WaitForInitialSnapshot",
                                      "StoreInitialSnapshotDeltas", "CreateDataVolumes", "CopyDisks", "CopyingPaused",
                                      "RemovePreviousSnapshot", "CreateSnapshot", "WaitForSnapshot",
                                      "StoreSnapshotDeltas", "AddCheckpoint", "CopyDisks", "CopyingPaused", NULL };
  for (guint i = 0; head[i]; i++)
    g_assert_cmpstr (f->phases->pdata[i], ==, head[i]);
  static const char *const tail[] = { "StorePowerState", "PowerOffSource", "WaitForPowerOff",
                                      "RemovePenultimateSnapshot", "CreateFinalSnapshot", "WaitForFinalSnapshot",
                                      "AddFinalCheckpoint", "Finalize", "RemoveFinalSnapshot", "CreateVM", "Completed",
                                      NULL };
  guint n = g_strv_length ((char **) tail);
  for (guint i = 0; i < n; i++)
    g_assert_cmpstr (f->phases->pdata[f->phases->len - n + i], ==, tail[i]);
  /* Once it has happened it cannot move. */
  g_assert_false (mtv_run_set_cutover (run, "2999-01-01T00:00:00Z", &error));
  g_assert_error (error, MTV_ERROR, MTV_ERROR_INVALID);
  mtv_run_free (run);
}

static void
test_cutover_refused_when_cold (Fixture *f, gconstpointer data)
{
  MtvRun *run = start (f, "cold", "bare", FALSE);
  g_autoptr (GError) error = NULL;
  g_assert_false (mtv_run_set_cutover (run, "2030-01-01T00:00:00Z", &error));
  g_assert_error (error, MTV_ERROR, MTV_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "only warm migrations have a cutover"));
  g_clear_error (&error);
  g_autoptr (JsonObject) snapshot = snapshot_for ("cold", "bare", FALSE);
  g_assert_null (mtv_run_new (&f->host, "run2", "plan1", snapshot, "2030-01-01T00:00:00Z", &error));
  g_assert_error (error, MTV_ERROR, MTV_ERROR_INVALID);
  g_clear_error (&error);
  /* A source without snapshots cannot do warm at all. */
  g_autoptr (JsonObject) warm = snapshot_for ("warm", "bare", FALSE);
  g_assert_null (mtv_run_new (&f->host, "run3", "plan1", warm, NULL, &error));
  g_assert_error (error, MTV_ERROR, MTV_ERROR_INVALID);
  mtv_run_free (run);
}

/* ---- failures ------------------------------------------------------------------------------- */

static void
test_failed_prehook_touches_nothing (Fixture *f, gconstpointer data)
{
  world->fail = g_strdup ("hook PreHook");
  MtvRun *run = drive (f, start (f, "cold", "full", TRUE));
  g_assert_cmpstr (mtv_run_phase (run), ==, "Failed");
  g_assert_cmpstr (json_object_get_string_member (vm_state (f), "phase"), ==, "PreHook");
  g_assert_nonnull (strstr (json_object_get_string_member (vm_state (f), "error"), "PreHook pre failed"));
  g_assert_false (called ("power_off"));
  g_assert_false (called ("allocate"));
  g_assert_cmpstr (world->power, ==, "Always");
  while (g_main_context_iteration (NULL, FALSE))
    ;
  mtv_run_free (run);
}

static void
test_failure_restores_the_source (Fixture *f, gconstpointer data)
{
  world->fail = g_strdup ("create_vm");
  MtvRun *run = drive (f, start (f, "cold", "full", TRUE));
  g_assert_cmpstr (mtv_run_phase (run), ==, "Failed");
  /* The cleanup and the release run in the background. */
  while (!(world->cleanups > 0 && called ("power_restore")))
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpstr (world->power, ==, "Always");
  g_assert_false (g_file_test (world->target_file, G_FILE_TEST_EXISTS));
  g_assert_false (called ("hook PostHook"));
  mtv_run_free (run);
}

static void
test_failed_posthook_keeps_the_vm (Fixture *f, gconstpointer data)
{
  world->fail = g_strdup ("hook PostHook");
  MtvRun *run = drive (f, start (f, "cold", "full", TRUE));
  g_assert_cmpstr (mtv_run_phase (run), ==, "Failed");
  while (!called ("power_restore"))
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (world->cleanups, ==, 0);
  g_assert_true (world->created);
  assert_target_is_source ();
  mtv_run_free (run);
}

/* ---- a crash at every phase ---------------------------------------------------------------- */

typedef struct {
  const char *type, *source;
  gboolean hooks;
} Case;

/* mtvd "killed" just as @phase was stored, then started again. */
static void
crash_and_restore (Fixture *f, const Case *c, const char *phase, gboolean resumable)
{
  static const char *const cutover_phases[] = { "StorePowerState", "PowerOffSource", "WaitForPowerOff",
                                                 "RemovePenultimateSnapshot", "CreateFinalSnapshot",
                                                 "WaitForFinalSnapshot", "AddFinalCheckpoint", "Finalize",
                                                 "RemoveFinalSnapshot", "CreateVM", "Completed", NULL };
  gboolean warm = g_str_equal (c->type, "warm");
  /* A warm VM reaches the cutover's phases only once it is due; the
   * precopy loop's phases need it to wait for it (then it is set after the
   * restart). */
  gboolean cutover_first = warm && g_strv_contains (cutover_phases, phase);
  g_autoptr (GError) error = NULL;
  f->crash_at = phase;
  MtvRun *first = start (f, c->type, c->source, c->hooks);
  if (cutover_first)
    g_assert_true (mtv_run_set_cutover (first, "2000-01-01T00:00:00Z", &error));
  g_assert_null (drive (f, first));
  g_assert_nonnull (f->crash_state);
  g_ptr_array_set_size (f->phases, 0);
  MtvRun *run = mtv_run_restore (&f->host, "run1", f->crash_state);
  if (warm && !cutover_first && !mtv_run_finished (run))
    g_assert_true (mtv_run_set_cutover (run, "2000-01-01T00:00:00Z", &error));
  run = drive (f, run);
  /* What finishing leaves to the background (cleanup, release). */
  for (int i = 0; i < 50; i++)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (10000);
    }
  const char *status = json_object_get_string_member (vm_state (f), "status");
  const char *reason = json_object_get_string_member (vm_state (f), "error");
  if (resumable)
    {
      g_assert_cmpstr (status, ==, "Succeeded");
      if (!g_str_equal (c->type, "live") && !g_str_equal (c->type, "conversion"))
        assert_target_is_source ();
      if (g_str_equal (c->source, "full") && !g_str_equal (c->type, "live"))
        g_assert_cmpstr (world->power, ==, "Halted");
    }
  else
    {
      g_assert_cmpstr (status, ==, "Failed");
      g_autofree char *want = g_strdup_printf ("mtvd stopped while the VM was in phase %s", phase);
      g_assert_nonnull (strstr (reason, want));
      /* The source as it was; the target as it was unless the VM was made. */
      g_assert_cmpstr (world->power, ==, "Always");
      if (!json_object_get_boolean_member (vm_state (f), "created"))
        g_assert_false (world->created || g_file_test (world->target_file, G_FILE_TEST_EXISTS));
    }
  g_assert_cmpuint (world->snapshots->len, ==, 0);
  g_assert_false (json_object_get_boolean_member (vm_state (f), "releasePending"));
  mtv_run_free (run);
}

typedef struct {
  Case c;
  const char *phase;
  gboolean resumable;
} CrashCase;

static void
test_crash (Fixture *f, gconstpointer data)
{
  const CrashCase *cc = data;
  crash_and_restore (f, &cc->c, cc->phase, cc->resumable);
}

static void
add_crash_cases (const char *type, const char *source, gboolean hooks, const char *const *phases,
                 const char *const *resumable)
{
  for (guint i = 0; phases[i]; i++)
    {
      CrashCase *cc = g_new0 (CrashCase, 1);
      cc->c = (Case) { type, source, hooks };
      cc->phase = phases[i];
      cc->resumable = g_strv_contains (resumable, phases[i]);
      g_autofree char *path = g_strdup_printf ("/engine/restart/%s/%s", type, phases[i]);
      g_test_add (path, Fixture, cc, fixture_setup, test_crash, fixture_teardown);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_writer_func (log_writer, NULL, NULL);
  transfer_path = g_getenv ("MTV_TRANSFER");
  g_assert_nonnull (transfer_path);
  g_test_add ("/engine/cold/bare-source", Fixture, NULL, fixture_setup, test_cold_bare, fixture_teardown);
  g_test_add ("/engine/cold/power-and-hooks", Fixture, NULL, fixture_setup, test_cold_full, fixture_teardown);
  g_test_add ("/engine/live", Fixture, NULL, fixture_setup, test_live, fixture_teardown);
  g_test_add ("/engine/conversion", Fixture, NULL, fixture_setup, test_conversion, fixture_teardown);
  g_test_add ("/engine/warm/precopies-and-cutover", Fixture, NULL, fixture_setup, test_warm_and_cutover,
              fixture_teardown);
  g_test_add ("/engine/cutover/refused", Fixture, NULL, fixture_setup, test_cutover_refused_when_cold,
              fixture_teardown);
  g_test_add ("/engine/fail/prehook", Fixture, NULL, fixture_setup, test_failed_prehook_touches_nothing,
              fixture_teardown);
  g_test_add ("/engine/fail/restores-source", Fixture, NULL, fixture_setup, test_failure_restores_the_source,
              fixture_teardown);
  g_test_add ("/engine/fail/posthook-keeps-vm", Fixture, NULL, fixture_setup, test_failed_posthook_keeps_the_vm,
              fixture_teardown);

  /* Completed is stored with the VM's end, never while it runs. */
  static const char *const cold[] = { "Started", "PreHook", "StorePowerState", "PowerOffSource", "WaitForPowerOff",
                                      "CreateDataVolumes", "CopyDisks", "CreateVM", "PostHook", NULL };
  static const char *const cold_resumable[] = { "Started", "StorePowerState", "PowerOffSource", "WaitForPowerOff",
                                                "CreateDataVolumes", "CopyDisks", "CreateVM", NULL };
  add_crash_cases ("cold", "full", TRUE, cold, cold_resumable);
  static const char *const warm[] = { "Started", "CreateInitialSnapshot", "WaitForInitialSnapshot",
                                      "StoreInitialSnapshotDeltas", "CreateDataVolumes", "CopyDisks", "CopyingPaused",
                                      "RemovePreviousSnapshot", "CreateSnapshot", "WaitForSnapshot",
                                      "StoreSnapshotDeltas", "AddCheckpoint", "StorePowerState", "PowerOffSource", "WaitForPowerOff",
                                      "RemovePenultimateSnapshot", "CreateFinalSnapshot", "WaitForFinalSnapshot",
                                      "AddFinalCheckpoint", "Finalize", "RemoveFinalSnapshot", "CreateVM", NULL };
  static const char *const warm_resumable[] = { "Started", "WaitForInitialSnapshot", "StoreInitialSnapshotDeltas",
                                                "CreateDataVolumes", "CopyDisks", "CopyingPaused", "RemovePreviousSnapshot",
                                                "WaitForSnapshot", "StoreSnapshotDeltas", "AddCheckpoint",
                                                "StorePowerState", "PowerOffSource",
                                                "WaitForPowerOff", "RemovePenultimateSnapshot", "WaitForFinalSnapshot",
                                                "AddFinalCheckpoint", "Finalize", "RemoveFinalSnapshot", "CreateVM",
                                                NULL };
  add_crash_cases ("warm", "full", FALSE, warm, warm_resumable);
  static const char *const live[] = { "Started", "EnsureDataVolumes", "CreateTarget", "WaitForTargetVMI",
                                      "CreateVirtualMachineInstanceMigrations", "WaitForStateTransfer", NULL };
  static const char *const live_resumable[] = { "Started", "WaitForTargetVMI", "WaitForStateTransfer", NULL };
  add_crash_cases ("live", "full", FALSE, live, live_resumable);
  static const char *const conversion[] = { "Started", "PreHook", "StorePowerState", "PowerOffSource",
                                            "WaitForPowerOff", "CreateVM", "PostHook", NULL };
  static const char *const conversion_resumable[] = { "Started", "StorePowerState", "PowerOffSource",
                                                      "WaitForPowerOff", "CreateVM", NULL };
  add_crash_cases ("conversion", "full", TRUE, conversion, conversion_resumable);
  return g_test_run ();
}

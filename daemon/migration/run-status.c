/* A run as Forklift's plan status.migration: per VM its phase, error and
 * pipeline, the pipeline's steps being those of the VM's itinerary. */
#include "engine.h"
#include "itinerary.h"
#include "run.h"
#include "mtv-json.h"

/* Forklift's DiskTransfer tasks: one per disk, in MB, with where it is read
 * from and what mtv-transfer reported for a disk it copied (bytes read,
 * written and zeroed, whether it was verified). @step_phase is the
 * DiskTransfer step's phase. */
static JsonArray *
disk_tasks (MtvVm *v, const char *step_phase)
{
  JsonArray *tasks = json_array_new ();
  JsonArray *disks = mtv_vm_disks (v);
  for (guint i = 0; disks && i < json_array_get_length (disks); i++)
    {
      JsonObject *disk = json_array_get_object_element (disks, i);
      guint64 capacity = (guint64) json_object_get_int_member_with_default (disk, "capacity", 0);
      guint64 bytes = 0;
      gboolean done = g_str_equal (step_phase, "Completed") || mtv_vm_disk_copied (v, i);
      gboolean current = !done && mtv_vm_disk_copying (v, i, &bytes) && !g_str_equal (step_phase, "Pending");
      JsonObject *task = json_object_new ();
      g_autofree char *fallback = g_strdup_printf ("disk-%u", i);
      json_object_set_string_member (task, "name", json_object_get_string_member_with_default (disk, "name", fallback));
      json_object_set_string_member (task, "phase", done ? "Completed" : current ? step_phase : "Pending");
      JsonObject *progress = json_object_new ();
      json_object_set_int_member (progress, "completed", (gint64) ((done ? capacity : current ? bytes : 0) >> 20));
      json_object_set_int_member (progress, "total", (gint64) (capacity >> 20));
      json_object_set_object_member (task, "progress", progress);
      JsonObject *annotations = json_object_new ();
      json_object_set_string_member (annotations, "unit", "MB");
      /* Where the disk is read from: what makes the copy one state of it. */
      if (v->run->source && v->run->source->reads_from)
        json_object_set_string_member (annotations, "readFrom", v->run->source->reads_from);
      for (guint c = 0; c < json_array_get_length (v->copies); c++)
        {
          JsonObject *copy = json_array_get_object_element (v->copies, c);
          if (json_object_get_int_member_with_default (copy, "disk", -1) != (gint64) i)
            continue;
          /* A copy resumed after a restart reports what it did since. */
          static const char *const counts[] = { "bytes_read", "bytes_written", "bytes_zeroed", NULL };
          static const char *const names[] = { "bytesRead", "bytesWritten", "bytesZeroed" };
          for (guint k = 0; counts[k]; k++)
            {
              g_autofree char *value = g_strdup_printf ("%" G_GINT64_FORMAT,
                                                        json_object_get_int_member_with_default (copy, counts[k], 0));
              json_object_set_string_member (annotations, names[k], value);
            }
          json_object_set_string_member (annotations, "verified",
                                         json_object_get_boolean_member_with_default (copy, "verified", FALSE) ? "true"
                                                                                                               : "false");
        }
      json_object_set_object_member (task, "annotations", annotations);
      json_array_add_object_element (tasks, task);
    }
  return tasks;
}

/* Where in the itinerary the VM is: its phase's index, -1 before it started. */
static gint
position (MtvVm *v)
{
  const MtvPhase *p = mtv_itinerary_phase (v->run->itinerary, v->phase);
  return p ? (gint) (p - v->run->itinerary->phases) : -1;
}

/* A step's phase: Completed once the VM is past all its phases, the VM's
 * own status while it is in one of them, Pending before. */
static const char *
step_phase (MtvVm *v, const char *step)
{
  const MtvItinerary *it = v->run->itinerary;
  if (g_str_equal (v->status, "Succeeded"))
    return "Completed";
  gint at = position (v), first = -1, last = -1;
  for (guint i = 0; i < it->n_phases; i++)
    if (g_strcmp0 (it->phases[i].step, step) == 0 && (it->phases[i].applies == NULL || it->phases[i].applies (v)))
      {
        if (first < 0)
          first = (gint) i;
        last = (gint) i;
      }
  if (at < 0 || g_str_equal (v->status, "Pending") || at < first)
    return "Pending";
  if (at > last)
    return "Completed";
  if (g_strcmp0 (it->phases[at].step, step) == 0)
    return v->status;
  /* A step split by another (Initialize around PreHook): under way. */
  return g_str_equal (v->status, "Running") ? "Running" : "Pending";
}

static JsonArray *
pipeline (MtvVm *v)
{
  JsonArray *steps = json_array_new ();
  g_autoptr (GPtrArray) names = mtv_itinerary_steps (v->run->itinerary, v);
  for (guint s = 0; names->pdata[s]; s++)
    {
      const char *name = names->pdata[s];
      gboolean disks = g_str_equal (name, "DiskTransfer");
      const char *phase = step_phase (v, name);
      JsonObject *step = json_object_new ();
      json_object_set_string_member (step, "name", name);
      json_object_set_string_member (step, "phase", phase);
      JsonObject *progress = json_object_new ();
      guint64 total = disks ? v->bytes_total >> 20 : 1;
      guint64 done = g_str_equal (phase, "Completed") ? total : disks ? (v->bytes_base + v->bytes_now) >> 20 : 0;
      json_object_set_int_member (progress, "completed", (gint64) done);
      json_object_set_int_member (progress, "total", (gint64) total);
      json_object_set_object_member (step, "progress", progress);
      if (disks)
        {
          JsonObject *annotations = json_object_new ();
          json_object_set_string_member (annotations, "unit", "MB");
          mtv_precopy_annotate (v, annotations);
          json_object_set_object_member (step, "annotations", annotations);
          /* Disks are copied one by one unless they move with the VM's state. */
          if (mtv_itinerary_phase (v->run->itinerary, "CopyDisks"))
            json_object_set_array_member (step, "tasks", disk_tasks (v, phase));
        }
      json_array_add_object_element (steps, step);
    }
  return steps;
}

JsonObject *
mtv_run_status (MtvRun *run)
{
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "id", run->id);
  json_object_set_string_member (o, "phase", run->phase);
  json_object_set_string_member (o, "started", run->started ? run->started : "");
  if (run->completed)
    json_object_set_string_member (o, "completed", run->completed);
  if (run->cutover)
    json_object_set_string_member (o, "cutover", run->cutover);
  JsonArray *vms = json_array_new ();
  for (guint i = 0; i < run->vms->len; i++)
    {
      MtvVm *v = run->vms->pdata[i];
      JsonObject *vm = json_object_new ();
      json_object_set_string_member (vm, "id", v->id);
      json_object_set_string_member (vm, "name", v->name);
      json_object_set_string_member (vm, "targetName", v->target_name);
      json_object_set_string_member (vm, "phase", v->phase);
      json_object_set_string_member (vm, "status", v->status);
      if (v->started)
        json_object_set_string_member (vm, "started", v->started);
      if (v->completed)
        json_object_set_string_member (vm, "completed", v->completed);
      static const char *const shown[] = { "destination", "libvirtDomain" };
      for (guint k = 0; k < G_N_ELEMENTS (shown); k++)
        if (mtv_json_string (v->target, shown[k]))
          json_object_set_string_member (vm, shown[k], mtv_json_string (v->target, shown[k]));
      if (v->error)
        {
          JsonObject *err = json_object_new ();
          json_object_set_string_member (err, "phase", v->phase);
          JsonArray *reasons = json_array_new ();
          json_array_add_string_element (reasons, v->error);
          json_object_set_array_member (err, "reasons", reasons);
          json_object_set_object_member (vm, "error", err);
        }
      if (run->itinerary)
        json_object_set_array_member (vm, "pipeline", pipeline (v));
      if (v->release_error)
        {
          /* The VM may have succeeded; its source is not yet as it should be. */
          JsonObject *c = json_object_new ();
          json_object_set_string_member (c, "type", "SourceNotRestored");
          json_object_set_string_member (c, "status", "True");
          json_object_set_string_member (c, "category", "Warn");
          json_object_set_string_member (c, "reason", "ReleaseFailed");
          g_autofree char *message = g_strdup_printf ("What mtvd did to the source VM is not all undone (%s); mtvd "
                                                      "tries again when it next starts", v->release_error);
          json_object_set_string_member (c, "message", message);
          JsonArray *conditions = json_array_new ();
          json_array_add_object_element (conditions, c);
          json_object_set_array_member (vm, "conditions", conditions);
        }
      JsonObject *warm = run->itinerary ? mtv_precopy_status (v) : NULL;
      if (warm)
        json_object_set_object_member (vm, "warm", warm);
      json_array_add_object_element (vms, vm);
    }
  json_object_set_array_member (o, "vms", vms);
  return o;
}

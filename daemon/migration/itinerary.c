/* The itineraries as data, with Forklift's phase names and order (its
 * pkg/controller/plan/migrator/base/migrator.go and migrator/ocp/live.go). */
#include "engine.h"
#include "itinerary.h"

/* ---- predicates: what the VM and its adapters say --------------------------------- */

static gboolean
has_pre_hook (MtvVm *v)
{
  return mtv_vm_hook (v, "PreHook") != NULL;
}

static gboolean
has_post_hook (MtvVm *v)
{
  return mtv_vm_hook (v, "PostHook") != NULL;
}

/* A source that can be turned off (an OVA has no power). */
static gboolean
has_power (MtvVm *v)
{
  return v->run->source->power_off != NULL;
}

/* Snapshots that are made in the background, to be waited for. */
static gboolean
snapshots_take_time (MtvVm *v)
{
  return v->run->source->snapshot_ready != NULL;
}

/* Decided when the plan started: the source's guests need virt-v2v and the
 * plan is not in raw copy mode. */
static gboolean
requires_conversion (MtvVm *v)
{
  return json_object_get_boolean_member_with_default (v->run->snapshot, "requiresConversion", FALSE);
}

/* ---- the tables ------------------------------------------------------------------------ */

#define PHASE(name, step, applies, resumable, run) { name, step, applies, resumable, run }
/* The phases every itinerary has, the same everywhere. */
#define STARTED PHASE ("Started", "Initialize", NULL, TRUE, mtv_phase_started)
#define PRE_HOOK PHASE ("PreHook", "PreHook", has_pre_hook, FALSE, mtv_phase_hook)
#define POST_HOOK PHASE ("PostHook", "PostHook", has_post_hook, FALSE, mtv_phase_hook)
/* The target's allocate and create_vm are idempotent (target-adapter.h): a
 * restart does them again rather than fail a VM whose disks are copied. */
#define CREATE_DATA_VOLUMES PHASE ("CreateDataVolumes", "Initialize", NULL, TRUE, mtv_phase_create_data_volumes)
#define COPY_DISKS PHASE ("CopyDisks", "DiskTransfer", NULL, TRUE, mtv_phase_copy_disks)
#define CONVERT_GUEST PHASE ("ConvertGuest", "ImageConversion", requires_conversion, FALSE, mtv_phase_convert_guest)
#define CREATE_VM PHASE ("CreateVM", "VirtualMachineCreation", NULL, TRUE, mtv_phase_create_vm)
#define COMPLETED PHASE ("Completed", NULL, NULL, TRUE, mtv_phase_completed)
/* Turning the source off, in the step @step. */
#define POWER_OFF(step) \
  PHASE ("StorePowerState", step, has_power, TRUE, mtv_phase_store_power_state), \
  PHASE ("PowerOffSource", step, has_power, TRUE, mtv_phase_power_off), \
  PHASE ("WaitForPowerOff", step, has_power, TRUE, mtv_phase_wait_for_power_off)

static const MtvPhase cold[] = {
  STARTED,
  PRE_HOOK,
  POWER_OFF ("Initialize"),
  CREATE_DATA_VOLUMES,
  COPY_DISKS,
  CONVERT_GUEST,
  CREATE_VM,
  POST_HOOK,
  COMPLETED,
};

/* Precopies loop from AddCheckpoint back to CopyDisks until CopyingPaused
 * finds the cutover time reached and goes on at StorePowerState. */
static const MtvPhase warm[] = {
  STARTED,
  PRE_HOOK,
  PHASE ("CreateInitialSnapshot", "Initialize", NULL, FALSE, mtv_phase_create_snapshot),
  PHASE ("WaitForInitialSnapshot", "Initialize", snapshots_take_time, TRUE, mtv_phase_wait_for_snapshot),
  PHASE ("StoreInitialSnapshotDeltas", "Initialize", NULL, TRUE, mtv_phase_store_snapshot_deltas),
  CREATE_DATA_VOLUMES,
  COPY_DISKS,
  PHASE ("CopyingPaused", "DiskTransfer", NULL, TRUE, mtv_phase_copying_paused),
  PHASE ("RemovePreviousSnapshot", "DiskTransfer", NULL, TRUE, mtv_phase_remove_snapshot),
  PHASE ("CreateSnapshot", "DiskTransfer", NULL, FALSE, mtv_phase_create_snapshot),
  PHASE ("WaitForSnapshot", "DiskTransfer", snapshots_take_time, TRUE, mtv_phase_wait_for_snapshot),
  PHASE ("StoreSnapshotDeltas", "DiskTransfer", NULL, TRUE, mtv_phase_store_snapshot_deltas),
  PHASE ("AddCheckpoint", "DiskTransfer", NULL, TRUE, mtv_phase_add_checkpoint),
  POWER_OFF ("Cutover"),
  PHASE ("RemovePenultimateSnapshot", "Cutover", NULL, TRUE, mtv_phase_remove_snapshot),
  PHASE ("CreateFinalSnapshot", "Cutover", NULL, FALSE, mtv_phase_create_snapshot),
  PHASE ("WaitForFinalSnapshot", "Cutover", snapshots_take_time, TRUE, mtv_phase_wait_for_snapshot),
  PHASE ("AddFinalCheckpoint", "Cutover", NULL, TRUE, mtv_phase_add_checkpoint),
  PHASE ("Finalize", "Cutover", NULL, TRUE, mtv_phase_copy_disks),
  PHASE ("RemoveFinalSnapshot", "Cutover", NULL, TRUE, mtv_phase_remove_snapshot),
  CONVERT_GUEST,
  CREATE_VM,
  POST_HOOK,
  COMPLETED,
};

/* KubeVirt's decentralized live migration (Forklift's "ocp-live"); each
 * step is the target adapter's live_step. The waits resume: what they wait
 * for is in the VM's target state. */
static const MtvPhase live[] = {
  STARTED,
  PRE_HOOK,
  PHASE ("EnsureDataVolumes", "Initialize", NULL, FALSE, mtv_phase_live_step),
  PHASE ("CreateTarget", "Initialize", NULL, FALSE, mtv_phase_live_step),
  PHASE ("WaitForTargetVMI", "Initialize", NULL, TRUE, mtv_phase_live_step),
  PHASE ("CreateVirtualMachineInstanceMigrations", "Initialize", NULL, FALSE, mtv_phase_live_step),
  PHASE ("WaitForStateTransfer", "DiskTransfer", NULL, TRUE, mtv_phase_live_step),
  POST_HOOK,
  COMPLETED,
};

/* The disks are already on the target; only the guest is converted. */
static const MtvPhase conversion[] = {
  STARTED,
  PRE_HOOK,
  POWER_OFF ("Initialize"),
  CONVERT_GUEST,
  CREATE_VM,
  POST_HOOK,
  COMPLETED,
};

static const MtvItinerary itineraries[] = {
  { "cold", cold, G_N_ELEMENTS (cold) },
  { "warm", warm, G_N_ELEMENTS (warm) },
  { "live", live, G_N_ELEMENTS (live) },
  { "conversion", conversion, G_N_ELEMENTS (conversion) },
};

const MtvItinerary *
mtv_itinerary_for (const char *type)
{
  for (gsize i = 0; i < G_N_ELEMENTS (itineraries); i++)
    if (g_strcmp0 (itineraries[i].type, type) == 0)
      return &itineraries[i];
  return NULL;
}

static gint
index_of (const MtvItinerary *it, const char *name)
{
  for (guint i = 0; name && i < it->n_phases; i++)
    if (g_str_equal (it->phases[i].name, name))
      return (gint) i;
  return -1;
}

const MtvPhase *
mtv_itinerary_phase (const MtvItinerary *it, const char *name)
{
  gint i = index_of (it, name);
  return i < 0 ? NULL : &it->phases[i];
}

const MtvPhase *
mtv_itinerary_next (const MtvItinerary *it, const char *name, MtvVm *vm)
{
  for (guint i = (guint) (index_of (it, name) + 1); i < it->n_phases; i++)
    if (it->phases[i].applies == NULL || it->phases[i].applies (vm))
      return &it->phases[i];
  return NULL;
}

GPtrArray *
mtv_itinerary_steps (const MtvItinerary *it, MtvVm *vm)
{
  GPtrArray *steps = g_ptr_array_new ();
  for (guint i = 0; i < it->n_phases; i++)
    {
      const MtvPhase *p = &it->phases[i];
      if (p->step && (p->applies == NULL || p->applies (vm))
          && !g_ptr_array_find_with_equal_func (steps, p->step, g_str_equal, NULL))
        g_ptr_array_add (steps, (gpointer) p->step);
    }
  g_ptr_array_add (steps, NULL);
  return steps;
}

const char *
mtv_itinerary_step_of (const MtvItinerary *it, const char *name)
{
  const MtvPhase *p = mtv_itinerary_phase (it, name);
  return p && p->step ? p->step : "Initialize";
}

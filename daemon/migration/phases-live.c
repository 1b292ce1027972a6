/* The live itinerary's phases: each is the target adapter's live_step of
 * the same name. The target VM runs (and exists) once the state moved. */
#include "engine.h"
#include "itinerary.h"
#include "run.h"

static gboolean
live_step (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->target_adapter->live_step (&job->target, job->text, error);
}

static void
stepped (MtvVm *v, MtvVmJob *job)
{
  /* The VM runs on the target now: a failing PostHook keeps it. */
  if (g_str_equal (v->phase, "WaitForStateTransfer"))
    {
      v->created = TRUE;
      mtv_vm_commit (v);
    }
  mtv_vm_next (v);
}

void
mtv_phase_live_step (MtvVm *v)
{
  if (v->run->target->live_step == NULL)
    {
      mtv_vm_fail (v, "the target cannot receive a live migration");
      return;
    }
  /* Objects are made on the target from here on. */
  v->allocated = TRUE;
  mtv_vm_commit (v);
  MtvVmJob *job = mtv_vm_job_new (v, live_step, stepped);
  job->text = g_strdup (v->phase);
  mtv_vm_job_run (v, job);
}

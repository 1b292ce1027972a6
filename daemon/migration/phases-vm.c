/* CreateVM, Completed, and ConvertGuest (which comes with guest conversion). */
#include "engine.h"
#include "itinerary.h"
#include "run.h"

static gboolean
create_vm (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->target_adapter->create_vm (&job->target, error);
}

static void
vm_created (MtvVm *v, MtvVmJob *job)
{
  /* From here on a failure keeps the target VM (a failed PostHook says so). */
  v->created = TRUE;
  mtv_precopy_downtime_ends (v);
  mtv_vm_commit (v);
  mtv_vm_next (v);
}

void
mtv_phase_create_vm (MtvVm *v)
{
  mtv_vm_job_run (v, mtv_vm_job_new (v, create_vm, vm_created));
}

void
mtv_phase_completed (MtvVm *v)
{
  mtv_vm_finish (v, "Succeeded", NULL);
}

/* Plans that need conversion are refused while it is not built
 * (GuestConversionNotAvailable): this only guards the itinerary. */
void
mtv_phase_convert_guest (MtvVm *v)
{
  mtv_vm_fail (v, "guest conversion (virt-v2v) is not built into this mtvd yet");
}

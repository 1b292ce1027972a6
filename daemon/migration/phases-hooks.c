/* PreHook and PostHook: the VM's hook of that step, run where the target
 * runs hooks (a Job in the cluster, a command or ansible-playbook here). */
#include "engine.h"
#include "itinerary.h"
#include "run.h"
#include "mtv-json.h"

/* A hook without a deadline gets this one: every wait ends. */
#define DEFAULT_DEADLINE 3600

static gboolean
run_hook (MtvVmJob *job, GCancellable *stop, GError **error)
{
  if (job->target_adapter->run_hook == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "this target cannot run hooks");
      return FALSE;
    }
  if (!job->target_adapter->run_hook (&job->target, &job->hook, stop, error))
    {
      g_prefix_error (error, "%s %s failed: ", job->hook.step, job->hook.name);
      return FALSE;
    }
  return TRUE;
}

static void
hook_done (MtvVm *v, MtvVmJob *job)
{
  g_message ("migration %s: VM %s: %s %s succeeded", v->run->id, v->name, job->hook.step, job->hook.name);
  /* Stored as done: a restart from here goes on, it neither fails the VM
   * nor runs the hook twice. */
  mtv_vm_phase_done (v);
  mtv_vm_next (v);
}

void
mtv_phase_hook (MtvVm *v)
{
  const char *step = v->phase;
  const char *name = mtv_vm_hook (v, step);
  JsonObject *hook = mtv_json_object (mtv_run_snap (v->run, "hooks"), name ? name : "");
  if (hook == NULL)
    {
      mtv_vm_fail (v, "%s: hook \"%s\" was not found when the plan started", step, name ? name : "");
      return;
    }
  JsonObject *spec = mtv_json_object (hook, "spec");
  gint64 deadline = spec ? json_object_get_int_member_with_default (spec, "deadline", 0) : 0;
  MtvVmJob *job = mtv_vm_job_new (v, run_hook, hook_done);
  job->hook = (MtvHookRun) {
    .name = mtv_vm_job_keep (job, name),
    .uid = mtv_vm_job_keep (job, mtv_json_string (hook, "uid")),
    .spec = spec ? json_object_ref (spec) : json_object_new (),
    .step = mtv_vm_job_keep (job, step),
    .deadline = deadline > 0 ? (guint) MIN (deadline, G_MAXUINT) : DEFAULT_DEADLINE,
    .plan = json_object_ref (mtv_run_snap (v->run, "planSpec")),
    .workload = json_object_ref (v->vm),
  };
  /* The hook may leave things on the target (a Job): a failure cleans up. */
  v->allocated = TRUE;
  mtv_vm_commit (v);
  mtv_vm_job_run (v, job);
}

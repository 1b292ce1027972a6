/* The phases that act on the source VM: Started (its session), and
 * StorePowerState, PowerOffSource, WaitForPowerOff. */
#include "engine.h"
#include "itinerary.h"
#include "run.h"

/* How long a source may take to power off, and how often it is asked. */
#define POWER_OFF_SECONDS 300
#define POWER_POLL_MS 1000

static gboolean
open_session (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->source_adapter->open (&job->source, error);
}

void
mtv_phase_started (MtvVm *v)
{
  if (v->run->source->open == NULL)
    {
      mtv_vm_next (v);
      return;
    }
  mtv_vm_job_run (v, mtv_vm_job_new (v, open_session, NULL));
}

static gboolean
read_power (MtvVmJob *job, GCancellable *stop, GError **error)
{
  job->text = job->source_adapter->power_state (&job->source, error);
  return job->text != NULL;
}

static void
power_read (MtvVm *v, MtvVmJob *job)
{
  /* A restart in a later phase must not take the state we left it in. */
  if (!v->powered_off)
    {
      g_free (v->power);
      v->power = g_strdup (job->text);
      mtv_vm_commit (v);
    }
  mtv_vm_next (v);
}

void
mtv_phase_store_power_state (MtvVm *v)
{
  if (v->run->source->power_state == NULL)
    {
      mtv_vm_next (v);
      return;
    }
  mtv_vm_job_run (v, mtv_vm_job_new (v, read_power, power_read));
}

static gboolean
power_off (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->source_adapter->power_off (&job->source, error);
}

void
mtv_phase_power_off (MtvVm *v)
{
  /* Stored before it acts: a VM that fails from here on gets its power back. */
  v->powered_off = TRUE;
  mtv_precopy_downtime_begins (v);
  mtv_vm_commit (v);
  mtv_vm_job_run (v, mtv_vm_job_new (v, power_off, NULL));
}

static void poll_power (MtvVm *v);

static gboolean
ask_power (MtvVmJob *job, GCancellable *stop, GError **error)
{
  return job->source_adapter->powered_off (&job->source, &job->flag, error);
}

static void
power_answered (MtvVm *v, MtvVmJob *job)
{
  if (job->flag)
    mtv_vm_next (v);
  else if (++v->wait_ticks * POWER_POLL_MS >= POWER_OFF_SECONDS * 1000)
    mtv_vm_fail (v, "the source VM did not power off within %d seconds", POWER_OFF_SECONDS);
  else
    mtv_vm_after (v, POWER_POLL_MS, poll_power);
}

static void
poll_power (MtvVm *v)
{
  mtv_vm_job_run (v, mtv_vm_job_new (v, ask_power, power_answered));
}

void
mtv_phase_wait_for_power_off (MtvVm *v)
{
  v->wait_ticks = 0;
  if (v->run->source->powered_off == NULL)
    mtv_vm_next (v);
  else
    poll_power (v);
}

#pragma once
#include "migration/target-adapter.h"

/* A hook on a local target runs on this host: the hook's command (shell
 * words, no shell) with the plan and the VM as JSON on its standard input
 * and MTV_PLAN, MTV_VM, MTV_STEP in its environment; else its playbook with
 * ansible-playbook, beside plan.yml and workload.yml as Forklift's hook
 * runner has them (and as extra vars plan and workload). Each line of its
 * output goes to the journal with the migration's, plan's and VM's fields. */
gboolean mtv_local_run_hook (const MtvTargetContext *ctx, const MtvHookRun *hook, GCancellable *stop, GError **error);
/* Whether the hook (its spec) can run here: a command, or a playbook with
 * ansible-playbook installed. */
gboolean mtv_local_check_hook (JsonObject *spec, GError **error);

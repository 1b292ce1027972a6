#pragma once
#include "kube-client.h"
#include "migration/target-adapter.h"

/* A hook into a KubeVirt cluster, as Forklift runs hooks: a ConfigMap with
 * playbook.yml (the hook's playbook), plan.yml (the plan's spec) and
 * workload.yml (the VM), and a Job in the target namespace running the
 * hook's image with the ConfigMap at /tmp/hook (the playbook through
 * ansible-runner when there is one, else the image's own entrypoint), the
 * hook's service account, activeDeadlineSeconds from its deadline. Both
 * carry the VM's labels (app, plan, migration, vmID) and step, hook,
 * resource=hook-config. The Job's Complete or Failed condition decides.
 * Blocking; @stop ends the wait (the Job is left to the VM's cleanup). */
gboolean mtv_cluster_run_hook (MtvKube *kube, const MtvTargetContext *ctx, const MtvHookRun *hook, GCancellable *stop,
                               GError **error);
/* Whether the hook (its spec) can run in a cluster: it has an image. */
gboolean mtv_cluster_check_hook (JsonObject *spec, GError **error);

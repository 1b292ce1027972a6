#pragma once
#include "mtv-kinds.h"

/* Adds HookNotValid when a hook of the plan's VMs cannot run where the
 * plan's target runs hooks (a cluster needs an image, a local target a
 * command or a playbook and ansible-playbook). */
void mtv_plan_check_hooks (MtvDaemon *daemon, JsonObject *spec, MtvStatusBuilder *status);

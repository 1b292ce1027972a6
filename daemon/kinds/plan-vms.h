#pragma once
#include "mtv-kinds.h"

/* Adds the conditions about a plan's VMs against its source's inventory. */
void mtv_plan_check_vms (MtvDaemon *daemon, JsonObject *spec, MtvStatusBuilder *status);

#pragma once
#include "mtv-kinds.h"

/* Adds the conditions about a plan's target cluster: the target namespace,
 * the storage classes and NetworkAttachmentDefinitions its maps name. */
void mtv_plan_check_target (MtvDaemon *daemon, JsonObject *spec, MtvStatusBuilder *status);

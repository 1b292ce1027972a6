#pragma once
#include <json-glib/json-glib.h>

/* What the openshift backend lists from a cluster's API (any member NULL:
 * an empty list). The API's JSON may hold anything: what is not of the type
 * Kubernetes, KubeVirt and CDI document is taken as absent. */
typedef struct {
  const char *kubernetes_version;   /* /version's gitVersion, or NULL */
  JsonArray *kubevirts, *cdis;       /* the operators' custom resources */
  JsonArray *namespaces, *storage_classes, *nads;
  JsonArray *vms, *dvs, *pvcs, *vmis;
} MtvOpenshiftLists;

/* The provider's inventory, with Forklift's openshift names: about,
 * featureGates, namespaces, storages, networks, vms (disks, networks, NICs,
 * CPU, memory, firmware), pvcs, datavolumes. Pure: fuzzed as it is
 * (tests/fuzz/fuzz-inventory.c). */
JsonObject *mtv_openshift_inventory (const MtvOpenshiftLists *lists);

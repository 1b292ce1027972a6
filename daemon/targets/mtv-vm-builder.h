#pragma once
#include <json-glib/json-glib.h>

/* Builds what a migrated VM becomes on KubeVirt: a VirtualMachine
 * (kubevirt.io/v1) and one DataVolume (cdi.kubevirt.io/v1beta1) per disk,
 * from the source inventory VM and the plan's maps; and the same VM as a
 * libvirt domain for the local target. Every target type uses this one
 * builder, so a VM looks the same wherever it lands. */

typedef struct {
  const char *name;            /* the target VM's name */
  const char *namespace;
  const char *plan_name;
  const char *plan_uid;
  const char *migration_id;
  JsonObject *plan_spec;       /* skipGuestConversion, useCompatibilityMode, targetPowerState, ... */
  JsonObject *plan_vm;         /* the plan's entry for this VM (targetPowerState, ...) */
  JsonObject *vm;              /* the source inventory VM */
  JsonObject *network_map;     /* NetworkMap spec */
  JsonObject *storage_map;     /* StorageMap spec */
  const char *const *disk_files;   /* per disk: where the local target wrote it (domain XML) */
  const char *const *disk_formats; /* per disk: raw or qcow2 */
} MtvVmBuildInput;

/* The input for a VM a target adapter is migrating. */
typedef struct _MtvTargetContext MtvTargetContext;
MtvVmBuildInput mtv_vm_build_input (const MtvTargetContext *ctx);

/* [DataVolume..., VirtualMachine]. Fails when a disk or network is not mapped. */
JsonArray *mtv_vm_build_manifests (const MtvVmBuildInput *in, GError **error);

/* The namespace of the domain XML's <metadata> element that names the plan,
 * migration and VM (how mtvd recognises a domain it defined). */
#define MTV_VM_XMLNS "https://mtvd.org/xmlns/migration/1"

/* The libvirt domain XML. */
char *mtv_vm_build_domain_xml (const MtvVmBuildInput *in, GError **error);

/* The labels everything made for the VM carries: app, plan, migration, vmID
 * (how a failed or cancelled VM's objects are found again). */
JsonObject *mtv_vm_build_labels (const MtvVmBuildInput *in);

/* The DataVolume name of disk @index of VM @vm_name. */
char *mtv_vm_disk_volume_name (const char *vm_name, guint index);

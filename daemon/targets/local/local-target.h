#pragma once
#include <json-glib/json-glib.h>

/* The local target: a migrated VM lands in ROOT/<namespace>/<name>/ with one
 * raw sparse image per disk, <name>.yaml (the KubeVirt manifests, ready for
 * kubectl apply) and <name>.xml (a libvirt domain). */

/* ROOT/<namespace>/<name>, from the provider's spec. */
char *mtv_local_vm_dir (JsonObject *provider_spec, const char *namespace, const char *name);
/* Creates the VM's directory, marked as being filled by migration
 * @migration_id; refuses one that exists (the VM is there). */
gboolean mtv_local_prepare (const char *dir, const char *migration_id, GError **error);
/* The VM is complete: its directory is no longer marked. */
void mtv_local_release (const char *dir);
/* Where disk @index is copied to (raw). */
char *mtv_local_disk_path (const char *dir, guint index);
/* The image format a storage pair's destination asks for: a storage class
 * named "qcow2" gives qcow2, anything else raw. */
const char *mtv_local_disk_format (JsonObject *destination);
/* Where disk @index is in its final @format. */
char *mtv_local_image_path (const char *dir, guint index, const char *format);
/* Writes the manifests (as YAML documents) and the domain XML, durably. */
gboolean mtv_local_finish (const char *dir, const char *name, JsonArray *manifests, const char *domain_xml,
                           GError **error);
/* Defines the domain in the libvirt connection @uri (the provider setting
 * libvirtURI); returns the domain's UUID. Blocking: call it from a worker. */
char *mtv_local_define (const char *uri, const char *domain_xml, GError **error);

/* Removes what a failed or cancelled VM left in its directory, if the
 * directory is still marked as migration @migration_id's (never a VM that
 * was there before, or that another migration completed). */
void mtv_local_abort (const char *dir, const char *migration_id);

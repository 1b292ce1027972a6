#pragma once
#include <json-glib/json-glib.h>

/* The local target: a migrated VM lands in ROOT/<namespace>/<name>/ with one
 * raw sparse image per disk, <name>.yaml (the KubeVirt manifests, ready for
 * kubectl apply) and <name>.xml (a libvirt domain). */

/* ROOT/<namespace>/<name>, from the provider's spec. */
char *mtv_local_vm_dir (JsonObject *provider_spec, const char *namespace, const char *name);
/* Creates the VM's directory, marked as being filled by migration
 * @migration_id. Again for the same migration (after a restart) it takes
 * the directory as it is, and an empty one as new; it refuses any other
 * that exists (a VM is there, or another migration's leftovers). */
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
/* Defines the domain @name in the libvirt connection @uri (the provider
 * setting libvirtURI); returns the domain's UUID. A domain of that name that
 * migration @migration_id defined already (after a restart) is defined
 * again with its UUID; any other is refused. Blocking: call it from a
 * worker. */
char *mtv_local_define (const char *uri, const char *name, const char *migration_id, const char *domain_xml,
                        GError **error);

/* Removes what a failed or cancelled VM left in its directory, if the
 * directory is still marked as migration @migration_id's, or has lost its
 * marker and @made says this migration recorded making it (never a VM that
 * was there before, or that another migration completed); an empty
 * directory it may have made before recording it goes too. */
void mtv_local_abort (const char *dir, const char *migration_id, gboolean made);

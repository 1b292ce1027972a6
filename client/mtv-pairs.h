#pragma once
#include <gio/gio.h>

/* The pair syntax of kubectl-mtv's --network-pairs and --storage-pairs,
 * turned into the aa{sv} "pairs" of a NetworkMap or StorageMap. */

/* "src:default,src2:ns/name,src3:ignored" ("default" and "pod" mean the pod
 * network; a bare name is a Multus network in the VM's namespace). */
GVariant *mtv_pairs_parse_network (const char *text, GError **error);

/* "src:class;volumeMode=Block;accessMode=ReadWriteOnce,src2:class2";
 * RWO/RWX/ROX are accepted for the access modes. @default_volume_mode and
 * @default_access_mode (may be NULL) fill pairs that do not say. */
GVariant *mtv_pairs_parse_storage (const char *text, const char *default_volume_mode,
                                   const char *default_access_mode, GError **error);

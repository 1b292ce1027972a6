#pragma once
#include <json-glib/json-glib.h>

/* Builds an OVA provider's inventory from a directory (searched recursively
 * for .ova archives and unpacked .ovf descriptors) or from a single .ova:
 *
 *   {"vms": [...], "networks": [...], "storages": [...], "disks": [...]}
 *
 * with Forklift's field names. Files that cannot be used add a line to
 * @faults naming the file and the fault; VMs with a problem carry Critical
 * concerns. @digests caches manifest checks ("path|size|mtime|member" ->
 * "" when the digest matched, or the fault) so that each file version is
 * read in full once. Runs in a worker thread: it touches nothing else. */
JsonObject *ova_scan (const char *root, GHashTable *digests, GPtrArray *faults, GError **error);

/* A stable id in UUID form from any text (SHA-1 based). */
char *ova_stable_id (const char *text);

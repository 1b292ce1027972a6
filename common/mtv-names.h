#pragma once
#include <glib.h>

/* Names, kinds and object paths shared by mtvd and mtvctl. */

#define MTV_BUS_NAME "org.mtvd.Mtv1"
#define MTV_ROOT_PATH "/org/mtvd/Mtv1"

/* The kinds of stored items, in the order dependencies run: a map refers to
 * providers, a plan to providers, maps and hooks. */
typedef enum {
  MTV_KIND_PROVIDER,
  MTV_KIND_NETWORK_MAP,
  MTV_KIND_STORAGE_MAP,
  MTV_KIND_HOOK,
  MTV_KIND_PLAN,
  MTV_N_KINDS
} MtvKind;

/* "Provider", "NetworkMap", ... as in Forklift's resource kinds. */
const char *mtv_kind_to_string (MtvKind kind);
gboolean mtv_kind_from_string (const char *s, MtvKind *out_kind);
/* "providers", "networkmaps", ...: the path element and database key. */
const char *mtv_kind_collection (MtvKind kind);

/* A Kubernetes DNS-1123 label: 1-63 of [a-z0-9-], alphanumeric at both ends.
 * On failure sets @error (MTV_ERROR_INVALID) with a message naming @what. */
gboolean mtv_name_validate (const char *name, const char *what, GError **error);

/* The target name a VM gets when the plan gives none: its source name made a
 * DNS-1123 label (lower case, other characters as '-', at most 63), as
 * Forklift does; "vm" when nothing usable is left. */
char *mtv_name_from_vm (const char *vm_name);

/* /org/mtvd/Mtv1/<collection>/<escaped name> */
char *mtv_object_path_for (MtvKind kind, const char *name);

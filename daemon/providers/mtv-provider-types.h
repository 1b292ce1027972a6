#pragma once
#include <glib.h>

/* The provider types mtvd knows, what each can be used for, and which
 * tables implement it: an inventory backend (a folder under
 * daemon/providers/ filling an MtvProviderBackend), a source adapter (the
 * same folder) and a target adapter (a folder under daemon/targets/). Adding
 * a type is adding its folder and its line here. A type whose backend is not
 * built yet can still be created and stored, and says so in its status. */

typedef enum {
  MTV_ROLE_SOURCE = 1 << 0,
  MTV_ROLE_TARGET = 1 << 1,
} MtvProviderRole;

/* Declared by the backends as they arrive; the spine only needs the pointer. */
typedef struct _MtvProviderBackend MtvProviderBackend;
typedef struct _MtvSourceAdapter MtvSourceAdapter;
typedef struct _MtvTargetAdapter MtvTargetAdapter;

typedef struct {
  const char *type;
  MtvProviderRole roles;
  gboolean url_required;
  const char *const *url_schemes;      /* accepted URL schemes, NULL-terminated */
  const char *url_example;             /* shown in errors */
  const MtvProviderBackend *backend;   /* inventory; NULL: not built into this mtvd yet */
  const MtvSourceAdapter *source;      /* what migrations from it need (migration/source-adapter.h) */
  const MtvTargetAdapter *target;      /* what migrations into it need (migration/target-adapter.h) */
  const char *const *plan_types;       /* the migration types it supports as a source */
  gboolean needs_conversion;           /* guests need virt-v2v unless in raw copy mode */
} MtvProviderType;

/* Looks up a type by name, resolving aliases ("kubevirt" is "openshift"). */
const MtvProviderType *mtv_provider_type_lookup (const char *name);
/* "vsphere, ovirt, ..." for error messages. */
char *mtv_provider_type_list (void);
/* Checks @url against the type's rules; the error names the field "url". */
gboolean mtv_provider_type_check_url (const MtvProviderType *type, const char *url, GError **error);

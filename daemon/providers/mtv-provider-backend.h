#pragma once
#include <json-glib/json-glib.h>

/* What a provider backend (one folder under daemon/providers/) offers mtvd.
 * mtvd starts one instance per provider of the backend's type and restarts
 * it when the provider's spec changes. The backend reports, from the main
 * thread, through the sink it was given. */

typedef struct {
  /* The inventory ({"vms": [...], "networks": [...], ...}; taken), or NULL
   * with @failure when the provider cannot be reached at all. @faults are
   * problems with parts of it (one line each, naming the part). */
  void (*publish) (gpointer host, JsonObject *inventory, const char *failure, GPtrArray *faults);
} MtvInventorySink;

struct _MtvProviderBackend {
  const char *type;
  /* The inventory kinds this backend serves (NULL-terminated). */
  const char *const *inventory_kinds;
  /* @credentials: the provider's write-only secrets (a JSON object of strings). */
  gpointer (*start) (const char *name, JsonObject *spec, JsonObject *credentials, const MtvInventorySink *sink,
                     gpointer host);
  void (*stop) (gpointer instance);
  /* The command that serves an inventory disk read-only as NBD on the unix
   * socket @socket (qemu-nbd or nbdkit); NULL for a target-only type. */
  char **(*disk_server_argv) (JsonObject *disk, const char *socket, GError **error);
  /* For sources whose disks can only be read once the VM is prepared (stopped
   * and exported): blocking, run in a worker thread. Returns the VM's disks
   * to hand to disk_server_argv instead of the inventory's, and in @state
   * what release_vm needs (no secrets: it is stored). NULL when not needed. */
  JsonArray *(*prepare_vm) (JsonObject *spec, JsonObject *credentials, JsonObject *vm, const char *workdir,
                            JsonObject **state, GError **error);
  /* Undoes prepare_vm; starts the VM again when @restore_power. Blocking. */
  gboolean (*release_vm) (JsonObject *spec, JsonObject *credentials, JsonObject *state, gboolean restore_power,
                          GError **error);
};

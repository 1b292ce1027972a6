#pragma once
/* Reading a vSphere disk through VMware's VDDK: nbdkit's vddk plugin with
 * the library from settings.vddkLibDir. VDDK is not redistributable and
 * cannot be installed here, so what is tested is the command line (unit
 * test), never a copy through it. */
#include <json-glib/json-glib.h>

/* Whether nbdkit has its vddk plugin (asked once per call: a blocking
 * subprocess, call it from a worker). */
gboolean mtv_vddk_available (void);
/* What disk_server needs: {"libdir", "server", "user", "passwordFile",
 * "thumbprint", "vm", "file", "snapshot"?}. */
JsonObject *mtv_vddk_disk (JsonObject *spec, JsonObject *credentials, JsonObject *vm, JsonObject *disk,
                           const char *libdir, const char *password_file, const char *thumbprint,
                           const char *snapshot);
/* nbdkit -r -U @socket vddk ...: the password by file, never in argv. */
char **mtv_vddk_command (JsonObject *vddk, const char *socket, GError **error);

#pragma once
#include <json-glib/json-glib.h>

/* The openshift provider's source side; see mtv-provider-backend.h. */
JsonArray *mtv_openshift_prepare_vm (JsonObject *spec, JsonObject *credentials, JsonObject *vm, const char *workdir,
                                     JsonObject **state, GError **error);
gboolean mtv_openshift_release_vm (JsonObject *spec, JsonObject *credentials, JsonObject *state, gboolean restore_power,
                                   GError **error);
char **mtv_openshift_disk_server_argv (JsonObject *disk, const char *socket, GError **error);

/* VDDK through nbdkit's vddk plugin: see vsphere-vddk.h. */
#include "vsphere-vddk.h"
#include "mtv-error.h"
#include "mtv-json.h"

#include <string.h>

gboolean
mtv_vddk_available (void)
{
  const char *argv[] = { "nbdkit", "vddk", "--dump-plugin", NULL };
  int status = -1;
  return g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL
                       | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, NULL)
         && g_spawn_check_wait_status (status, NULL);
}

JsonObject *
mtv_vddk_disk (JsonObject *spec, JsonObject *credentials, JsonObject *vm, JsonObject *disk, const char *libdir,
               const char *password_file, const char *thumbprint, const char *snapshot)
{
  JsonObject *v = json_object_new ();
  g_autoptr (GUri) uri = g_uri_parse (mtv_json_string (spec, "url") ? mtv_json_string (spec, "url") : "",
                                      G_URI_FLAGS_NONE, NULL);
  json_object_set_string_member (v, "libdir", libdir);
  json_object_set_string_member (v, "server", uri && g_uri_get_host (uri) ? g_uri_get_host (uri) : "");
  json_object_set_string_member (v, "user", json_object_get_string_member_with_default (credentials, "user", ""));
  json_object_set_string_member (v, "passwordFile", password_file);
  const char *pinned = mtv_json_string (credentials, "thumbprint");
  json_object_set_string_member (v, "thumbprint", pinned && *pinned ? pinned : thumbprint ? thumbprint : "");
  json_object_set_string_member (v, "vm", json_object_get_string_member_with_default (vm, "id", ""));
  json_object_set_string_member (v, "file", json_object_get_string_member_with_default (disk, "file", ""));
  if (snapshot)
    json_object_set_string_member (v, "snapshot", snapshot);
  return v;
}

char **
mtv_vddk_command (JsonObject *vddk, const char *socket, GError **error)
{
  static const char *const required[] = { "libdir", "server", "user", "passwordFile", "thumbprint", "vm", "file" };
  for (gsize i = 0; i < G_N_ELEMENTS (required); i++)
    {
      const char *value = mtv_json_string (vddk, required[i]);
      if (value == NULL || *value == '\0')
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "cannot read the disk through VDDK: no %s", required[i]);
          return NULL;
        }
    }
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_strv_builder_add_many (b, "nbdkit", "-f", "-r", "-U", socket, "vddk", NULL);
  /* nbdkit's parameter names, and how each is written ("+FILE": nbdkit
   * reads the password from the file). */
  static const char *const args[][2] = {
    { "libdir=", "libdir" }, { "server=", "server" }, { "user=", "user" }, { "password=+", "passwordFile" },
    { "thumbprint=", "thumbprint" }, { "vm=moref=", "vm" }, { "file=", "file" }, { "snapshot=", "snapshot" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (args); i++)
    if (mtv_json_string (vddk, args[i][1]))
      {
        g_autofree char *arg = g_strconcat (args[i][0], mtv_json_string (vddk, args[i][1]), NULL);
        g_strv_builder_add (b, arg);
      }
  g_strv_builder_add (b, "transports=file:nbdssl:nbd");
  return g_strv_builder_end (b);
}

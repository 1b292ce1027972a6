/* An OVA provider as a migration source: nothing to power off or prepare;
 * each disk is served from inside its archive. */
#include "migration/source-adapter.h"
#include "mtv-error.h"

/* qemu-nbd reads the streamOptimized VMDK in place: the raw driver cuts the
 * member out of the archive, the vmdk driver decodes it. Read-only. */
static char **
disk_server (JsonObject *disk, const char *socket, GError **error)
{
  const char *path = json_object_get_string_member_with_default (disk, "filePath", "");
  const char *member = json_object_get_string_member_with_default (disk, "member", "");
  if (*path == '\0')
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "disk %s has no file",
                   json_object_get_string_member_with_default (disk, "name", "?"));
      return NULL;
    }
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_strv_builder_add_many (b, "qemu-nbd", "--read-only", "--persistent", "--shared=4", "--socket", socket, NULL);
  if (*member)
    {
      /* Commas in a file name are doubled in qemu's option syntax. */
      g_auto (GStrv) parts = g_strsplit (path, ",", -1);
      g_autofree char *escaped = g_strjoinv (",,", parts);
      g_autofree char *opts = g_strdup_printf (
        "driver=vmdk,file.driver=raw,file.offset=%" G_GINT64_FORMAT ",file.size=%" G_GINT64_FORMAT
        ",file.file.driver=file,file.file.filename=%s",
        json_object_get_int_member_with_default (disk, "memberOffset", 0),
        json_object_get_int_member_with_default (disk, "memberSize", 0), escaped);
      g_strv_builder_add_many (b, "--image-opts", opts, NULL);
    }
  else
    g_strv_builder_add_many (b, "--format=vmdk", path, NULL);
  return g_strv_builder_end (b);
}

const MtvSourceAdapter mtv_ova_source = {
  .disk_server = disk_server,
};

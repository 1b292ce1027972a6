/* An OVA provider as a migration source: nothing to power off; each disk
 * is served from inside its archive. The files must stay the version the
 * inventory read (their stamps) from the start to the end of each copy. */
#include "migration/source-adapter.h"
#include "mtv-error.h"
#include "ova-stamp.h"

/* @disk's file, as the inventory read it, is still there. */
static gboolean
check_file (JsonObject *disk, const char *when, GError **error)
{
  const char *path = json_object_get_string_member_with_default (disk, "filePath", "");
  const char *scanned = json_object_get_string_member_with_default (disk, "fileStamp", NULL);
  const char *name = json_object_get_string_member_with_default (disk, "name", "?");
  g_autoptr (GError) local = NULL;
  g_autofree char *now = ova_file_stamp (path, &local);
  if (now == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: the file of disk %s is gone (%s)", when, name,
                   local->message);
      return FALSE;
    }
  if (scanned && g_strcmp0 (now, scanned) != 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s, the file of disk %s, changed since the inventory read "
                   "it (written to or replaced): what was read may be no one version of the disk, so it is not used; "
                   "start the plan again once the provider has read it anew", when, path, name);
      return FALSE;
    }
  return TRUE;
}

/* Before anything is read: the inventory's offsets fit the files. */
static gboolean
source_open (const MtvSourceContext *ctx, GError **error)
{
  JsonArray *disks = json_object_get_array_member (ctx->vm, "disks");
  for (guint i = 0; disks && i < json_array_get_length (disks); i++)
    if (!check_file (json_array_get_object_element (disks, i), "before the copy", error))
      return FALSE;
  return TRUE;
}

/* After a disk's copy: the same version of the file was there throughout. */
static gboolean
verify_read (const MtvSourceContext *ctx, JsonObject *disk, GError **error)
{
  return check_file (disk, "after the copy", error);
}

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
  .open = source_open,
  .disk_server = disk_server,
  .verify_read = verify_read,
  .reads_from = "the OVA file, unchanged from before to after the copy",
};

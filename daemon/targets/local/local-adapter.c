/* The local target as a migration target: a VM lands in a directory of
 * this host (local-target.h), hooks run here (local-hook.h). The VM's target
 * state holds the directory once this migration made it. */
#include "local-target.h"
#include "local-hook.h"
#include "mtv-command.h"
#include "mtv-error.h"
#include "mtv-inventory.h"
#include "mtv-json.h"
#include "targets/mtv-vm-builder.h"

#include <glib/gstdio.h>

/* qemu-img on the largest disk gets this long. */
#define QEMU_IMG_SECONDS (24 * 3600)

static char *
vm_dir (const MtvTargetContext *ctx)
{
  return mtv_local_vm_dir (ctx->provider_spec, ctx->namespace, ctx->name);
}

static gboolean
allocate (const MtvTargetContext *ctx, GError **error)
{
  g_autofree char *dir = vm_dir (ctx);
  if (!mtv_local_prepare (dir, ctx->migration_id, error))
    return FALSE;
  json_object_set_string_member (ctx->state, "dir", dir);
  return TRUE;
}

static const char *
format_of (const MtvTargetContext *ctx, guint index)
{
  JsonObject *disk = json_array_get_object_element (json_object_get_array_member (ctx->vm, "disks"), index);
  JsonObject *pair = mtv_inventory_disk_pair (ctx->storage_map, ctx->vm, disk);
  return mtv_local_disk_format (pair ? json_object_get_object_member (pair, "destination") : NULL);
}

static gboolean
disk_sink (const MtvTargetContext *ctx, guint index, gboolean delta, MtvDiskSink *sink, GError **error)
{
  g_autofree char *dir = vm_dir (ctx);
  sink->destination = mtv_local_disk_path (dir, index);
  sink->resumable = TRUE;
  return TRUE;
}

static gboolean
qemu_img (const char *const *argv, GError **error)
{
  MtvCommand run = { .argv = argv, .timeout_seconds = QEMU_IMG_SECONDS };
  return mtv_command_run (&run, error);
}

/* A disk the storage pair wants as qcow2 is converted from the copied raw
 * image and compared with it before the raw image goes. */
static gboolean
finish_disk (const MtvTargetContext *ctx, guint index, GError **error)
{
  if (!g_str_equal (format_of (ctx, index), "qcow2"))
    return TRUE;
  g_autofree char *dir = vm_dir (ctx);
  g_autofree char *raw = mtv_local_disk_path (dir, index);
  g_autofree char *qcow2 = mtv_local_image_path (dir, index, "qcow2");
  const char *const convert[] = { "qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", raw, qcow2, NULL };
  const char *const compare[] = { "qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", raw, qcow2, NULL };
  if (!qemu_img (convert, error) || !qemu_img (compare, error))
    {
      g_prefix_error (error, "converting disk %u to qcow2: ", index);
      return FALSE;
    }
  g_unlink (raw);
  return TRUE;
}

static gboolean
create_vm (const MtvTargetContext *ctx, GError **error)
{
  g_autofree char *dir = vm_dir (ctx);
  guint n = json_array_get_length (json_object_get_array_member (ctx->vm, "disks"));
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) formats = g_ptr_array_new ();
  for (guint i = 0; i < n; i++)
    {
      g_ptr_array_add (files, mtv_local_image_path (dir, i, format_of (ctx, i)));
      g_ptr_array_add (formats, (gpointer) format_of (ctx, i));
    }
  g_ptr_array_add (files, NULL);
  g_ptr_array_add (formats, NULL);
  MtvVmBuildInput in = mtv_vm_build_input (ctx);
  in.disk_files = (const char *const *) files->pdata;
  in.disk_formats = (const char *const *) formats->pdata;
  g_autoptr (JsonArray) manifests = mtv_vm_build_manifests (&in, error);
  g_autofree char *xml = manifests ? mtv_vm_build_domain_xml (&in, error) : NULL;
  if (xml == NULL || !mtv_local_finish (dir, ctx->name, manifests, xml, error))
    return FALSE;
  const char *uri = mtv_json_string (mtv_json_object (ctx->provider_spec, "settings"), "libvirtURI");
  if (uri)
    {
      g_autofree char *uuid = mtv_local_define (uri, ctx->name, ctx->migration_id, xml, error);
      if (uuid == NULL)
        return FALSE;
      g_autofree char *domain = g_strdup_printf ("%s %s", uri, uuid);
      json_object_set_string_member (ctx->state, "libvirtDomain", domain);
    }
  json_object_set_string_member (ctx->state, "destination", dir);
  mtv_local_release (dir);
  return TRUE;
}

static gboolean
cleanup (const MtvTargetContext *ctx, GError **error)
{
  /* Without "dir" in its state, mtvd may have stopped between making the
   * directory and recording it: the marker or emptiness decides. */
  const char *made = mtv_json_string (ctx->state, "dir");
  g_autofree char *dir = made ? g_strdup (made) : vm_dir (ctx);
  mtv_local_abort (dir, ctx->migration_id, made != NULL);
  return TRUE;
}

const MtvTargetAdapter mtv_local_target = {
  .allocate = allocate,
  .disk_sink = disk_sink,
  .finish_disk = finish_disk,
  .create_vm = create_vm,
  .check_hook = mtv_local_check_hook,
  .run_hook = mtv_local_run_hook,
  .cleanup = cleanup,
};

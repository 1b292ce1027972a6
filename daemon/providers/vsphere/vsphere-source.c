/* A vsphere provider as a migration source (cold). The VM is found by its
 * moref (never by its BIOS UUID alone: two VMs can share one), shut down
 * through its guest when VMware Tools run there and powered off hard when
 * they do not or the guest does not stop in time, and powered on again when
 * the VM fails before its target exists. Its disks are read while it is
 * off: with settings.vddkLibDir and nbdkit's vddk plugin, through VDDK;
 * otherwise the datastore's files over HTTPS (/folder, the -flat.vmdk of a
 * flat disk) by nbdkit's curl plugin, with a session of its own whose
 * cookie reaches nbdkit through a script only root can read. The other
 * calls (power, checks once a second while it powers off) share a control
 * session, its cookie in a root-only file too, instead of logging in each
 * time. The VM's session holds its moref and the paths of those files;
 * close logs both sessions out and removes them. */
#include "migration/source-adapter.h"
#include "mtv-error.h"
#include "mtv-files.h"
#include "mtv-json.h"
#include "mtv-provider-settings.h"
#include "vsphere-connection.h"
#include "vsphere-vddk.h"
#include "vsphere-warm.h"

#include <glib/gstdio.h>
#include <string.h>

/* How long a guest may take to shut down before it is powered off
 * (settings.guestShutdownTimeout, 0 to 3600). */
#define GUEST_SHUTDOWN_SECONDS 120
/* How long a vSphere task (power on, power off) may run. */
#define TASK_SECONDS 600
/* How long creating a snapshot may take (removing one is the Manager's
 * controller_snapshot_removal_timeout_minutes: it consolidates the disks). */
#define SNAPSHOT_SECONDS 3600

static const char *
vm_id (const MtvSourceContext *ctx)
{
  return mtv_json_string (ctx->vm, "id");
}

static const char *
vm_name (const MtvSourceContext *ctx)
{
  return json_object_get_string_member_with_default (ctx->vm, "name", "?");
}

/* Where the VM's files go in mtvd's private runtime directory: named by a
 * hash of the moref, which may hold '/' (vcsim's do). */
static char *
file_base (const MtvSourceContext *ctx)
{
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, vm_id (ctx), -1);
  return g_strdup_printf ("%s/vsphere-%.16s", ctx->workdir, hash);
}

/* The control session: taken over from its cookie file, else a new one
 * (then stored). Freeing it keeps the session; a renewed one is stored. */
typedef struct {
  const MtvSourceContext *ctx;
  MtvVsphere *vs;
  guint logins;
} Control;

static void
control_free (Control *c)
{
  if (c->vs && mtv_vsphere_logins (c->vs) != c->logins)
    {
      g_autofree char *cookie = mtv_vsphere_cookie (c->vs);
      g_autofree char *base = file_base (c->ctx);
      g_autofree char *path = g_strdup_printf ("%s-control-cookie", base);
      g_autoptr (GError) error = NULL;
      if (cookie && mtv_write_private (path, cookie, 0600, &error))
        json_object_set_string_member (c->ctx->session, "controlCookieFile", path);
      if (cookie)
        memset (cookie, 0, strlen (cookie));
    }
  if (c->vs)
    {
      mtv_vsphere_keep_session (c->vs);
      mtv_vsphere_free (c->vs);
    }
  g_free (c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Control, control_free)

static Control *
control (const MtvSourceContext *ctx, GError **error)
{
  Control *c = g_new0 (Control, 1);
  c->ctx = ctx;
  const char *file = mtv_json_string (ctx->session, "controlCookieFile");
  g_autofree char *cookie = NULL;
  if (file && g_file_get_contents (file, &cookie, NULL, NULL))
    {
      c->vs = mtv_vsphere_connection_resume (ctx->spec, ctx->credentials, cookie, NULL);
      memset (cookie, 0, strlen (cookie));
    }
  if (c->vs == NULL)
    c->vs = mtv_vsphere_connection (ctx->spec, ctx->credentials, error);
  else
    c->logins = mtv_vsphere_logins (c->vs);
  if (c->vs == NULL)
    {
      control_free (c);
      return NULL;
    }
  return c;
}

/* Properties of the VM now, or an error saying it is gone. */
static JsonObject *
vm_now (MtvVsphere *vs, const MtvSourceContext *ctx, const char *const *paths, GError **error)
{
  GError *local = NULL;
  g_autoptr (JsonObject) o = mtv_vsphere_get (vs, "VirtualMachine", vm_id (ctx), paths, &local);
  if (o == NULL)
    {
      if (mtv_soap_is_fault (local, "ManagedObjectNotFound"))
        g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "VM %s (%s) is no longer in vSphere", vm_name (ctx),
                     vm_id (ctx));
      else
        g_propagate_prefixed_error (error, g_steal_pointer (&local), "reading VM %s: ", vm_name (ctx));
      g_clear_error (&local);
      return NULL;
    }
  return json_object_ref (mtv_json_object (o, "props"));
}

static char *
power_of (MtvVsphere *vs, const MtvSourceContext *ctx, GError **error)
{
  static const char *const paths[] = { "runtime.powerState", NULL };
  g_autoptr (JsonObject) p = vm_now (vs, ctx, paths, error);
  return p ? g_strdup (json_object_get_string_member_with_default (p, "runtime.powerState", "")) : NULL;
}

static gboolean
source_open (const MtvSourceContext *ctx, GError **error)
{
  g_autoptr (Control) c = control (ctx, error);
  MtvVsphere *vs = c ? c->vs : NULL;
  static const char *const paths[] = { "name", "config.uuid", NULL };
  g_autoptr (JsonObject) p = vs ? vm_now (vs, ctx, paths, error) : NULL;
  if (p == NULL)
    return FALSE;
  json_object_set_string_member (ctx->session, "vm", vm_id (ctx));
  return TRUE;
}

/* Runs the task a method returned (its moref in returnval) to its end. */
static gboolean
run_task (MtvVsphere *vs, const MtvSourceContext *ctx, const char *method, GError **error)
{
  g_autofree char *id = mtv_soap_escape (vm_id (ctx));
  g_autofree char *body = g_strdup_printf ("<vim25:%s><vim25:_this type=\"VirtualMachine\">%s</vim25:_this></vim25:%s>",
                                           method, id, method);
  g_autofree char *task = mtv_vsphere_start_task (vs, body, error);
  if (task == NULL)
    {
      g_prefix_error (error, "%s of VM %s: ", method, vm_name (ctx));
      return FALSE;
    }
  if (!mtv_vsphere_wait_task (vs, task, TASK_SECONDS, NULL, error))
    {
      g_prefix_error (error, "%s of VM %s failed: ", method, vm_name (ctx));
      return FALSE;
    }
  return TRUE;
}

static char *
power_state (const MtvSourceContext *ctx, GError **error)
{
  g_autoptr (Control) c = control (ctx, error);
  MtvVsphere *vs = c ? c->vs : NULL;
  return vs ? power_of (vs, ctx, error) : NULL;
}

/* The guest asked to shut down, and given its time: why it was not enough
 * (NULL: it is off). */
static char *
shut_down_guest (MtvVsphere *vs, const MtvSourceContext *ctx)
{
  guint seconds = mtv_provider_setting_seconds (ctx->spec, "guestShutdownTimeout", 0, 3600, GUEST_SHUTDOWN_SECONDS);
  if (seconds == 0)
    return g_strdup ("settings.guestShutdownTimeout is 0");
  static const char *const paths[] = { "guest.toolsRunningStatus", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) p = vm_now (vs, ctx, paths, &error);
  const char *tools = p ? mtv_json_string (p, "guest.toolsRunningStatus") : NULL;
  if (g_strcmp0 (tools, "guestToolsRunning") != 0)
    return g_strdup ("VMware Tools are not running in the guest");
  g_autofree char *id = mtv_soap_escape (vm_id (ctx));
  g_autofree char *body = g_strdup_printf ("<vim25:ShutdownGuest><vim25:_this type=\"VirtualMachine\">%s</vim25:_this>"
                                           "</vim25:ShutdownGuest>", id);
  xmlDoc *doc = mtv_vsphere_call (vs, body, &error);
  if (doc == NULL)
    return g_strdup_printf ("the guest refused to shut down (%s)", error->message);
  xmlFreeDoc (doc);
  for (guint i = 0; i < seconds * 4; i++)
    {
      g_usleep (G_USEC_PER_SEC / 4);
      g_autofree char *state = power_of (vs, ctx, NULL);
      if (g_strcmp0 (state, "poweredOff") == 0)
        return NULL;
    }
  return g_strdup_printf ("the guest did not shut down within %u seconds", seconds);
}

static gboolean
power_off (const MtvSourceContext *ctx, GError **error)
{
  g_autoptr (Control) c = control (ctx, error);
  MtvVsphere *vs = c ? c->vs : NULL;
  g_autofree char *state = vs ? power_of (vs, ctx, error) : NULL;
  if (state == NULL)
    return FALSE;
  if (g_str_equal (state, "poweredOff"))
    return TRUE;
  g_autofree char *why = g_str_equal (state, "poweredOn") ? shut_down_guest (vs, ctx) : g_strdup ("it is suspended");
  if (why == NULL)
    {
      json_object_set_string_member (ctx->session, "powerOff", "guest shutdown");
      return TRUE;
    }
  /* Said where the user looks: the VM's session and the journal. */
  g_autofree char *how = g_strdup_printf ("powered off hard: %s", why);
  json_object_set_string_member (ctx->session, "powerOff", how);
  g_message ("VM %s (%s) is %s", vm_name (ctx), vm_id (ctx), how);
  return run_task (vs, ctx, "PowerOffVM_Task", error);
}

static gboolean
powered_off (const MtvSourceContext *ctx, gboolean *off, GError **error)
{
  g_autoptr (Control) c = control (ctx, error);
  MtvVsphere *vs = c ? c->vs : NULL;
  g_autofree char *state = vs ? power_of (vs, ctx, error) : NULL;
  if (state == NULL)
    return FALSE;
  *off = g_str_equal (state, "poweredOff");
  return TRUE;
}

static gboolean
power_restore (const MtvSourceContext *ctx, const char *state, GError **error)
{
  if (g_strcmp0 (state, "poweredOn") != 0)
    return TRUE;
  g_autoptr (Control) c = control (ctx, error);
  MtvVsphere *vs = c ? c->vs : NULL;
  g_autofree char *now = vs ? power_of (vs, ctx, error) : NULL;
  if (now == NULL)
    return FALSE;
  return g_str_equal (now, "poweredOn") || run_task (vs, ctx, "PowerOnVM_Task", error);
}

/* After a disk's copy: the VM stayed off, so its disks did not change. */
static gboolean
verify_read (const MtvSourceContext *ctx, JsonObject *disk, GError **error)
{
  if (ctx->snapshot)
    {
      /* Read at a snapshot: its files do not change while it exists. */
      g_autoptr (Control) c = control (ctx, error);
      g_autoptr (JsonObject) at = c ? mtv_vsphere_snapshot_disks (c->vs, ctx->snapshot, error) : NULL;
      if (at == NULL)
        g_prefix_error (error, "after the copy of disk %s, snapshot %s of VM %s: ",
                        json_object_get_string_member_with_default (disk, "name", "?"), ctx->snapshot, vm_name (ctx));
      return at != NULL;
    }
  gboolean off = FALSE;
  if (!powered_off (ctx, &off, error))
    return FALSE;
  if (!off)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "VM %s was powered on while disk %s was copied: what was read "
                   "may be no one state of the disk, so it is not used", vm_name (ctx),
                   json_object_get_string_member_with_default (disk, "name", "?"));
      return FALSE;
    }
  return TRUE;
}

/* "[LocalDS_0] VM0/disk1.vmdk" -> "LocalDS_0", "VM0/disk1-flat.vmdk". */
static gboolean
split_file (const char *file, char **datastore, char **flat)
{
  const char *close_bracket = file[0] == '[' ? strchr (file, ']') : NULL;
  if (close_bracket == NULL || !g_str_has_suffix (file, ".vmdk"))
    return FALSE;
  *datastore = g_strndup (file + 1, close_bracket - file - 1);
  g_autofree char *path = g_strstrip (g_strdup (close_bracket + 1));
  path[strlen (path) - strlen (".vmdk")] = '\0';
  *flat = g_strdup_printf ("%s-flat.vmdk", path);
  return TRUE;
}

static char *
folder_url (const MtvSourceContext *ctx, JsonObject *disk, GError **error)
{
  const char *file = mtv_json_string (disk, "file");
  g_autofree char *datastore = NULL, *flat = NULL;
  g_autofree char *origin = mtv_vsphere_connection_origin (ctx->spec);
  const char *dc = mtv_json_string (ctx->vm, "datacenterPath");
  if (file == NULL || !split_file (file, &datastore, &flat) || origin == NULL || dc == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "disk %s of VM %s: no datastore file to read (%s)",
                   json_object_get_string_member_with_default (disk, "name", "?"), vm_name (ctx),
                   file ? file : "no backing file");
      return NULL;
    }
  g_autofree char *p = g_uri_escape_string (flat, "/", FALSE);
  g_autofree char *d = g_uri_escape_string (dc, NULL, FALSE);
  g_autofree char *s = g_uri_escape_string (datastore, NULL, FALSE);
  return g_strdup_printf ("%s/folder/%s?dcPath=%s&dsName=%s", origin, p, d, s);
}

/* The session whose cookie file the VM's session names under @key is given
 * back (a vCenter's are limited): freeing the handle that took it over logs
 * it out. */
static void
end_session (const MtvSourceContext *ctx, const char *key)
{
  const char *cookie_file = mtv_json_string (ctx->session, key);
  g_autofree char *cookie = NULL;
  if (cookie_file && g_file_get_contents (cookie_file, &cookie, NULL, NULL))
    {
      g_autoptr (GError) ignored = NULL;
      mtv_vsphere_free (mtv_vsphere_connection_resume (ctx->spec, ctx->credentials, cookie, &ignored));
      memset (cookie, 0, strlen (cookie));
    }
}

/* A disk's device key as a snapshot's disks (mtv_vsphere_snapshot_disks)
 * and the checkpoints name it. */
static char *
disk_key (JsonObject *disk)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT, mtv_json_int (disk, "key", -1));
}

/* Where @disk is read at ctx->snapshot (warm), @at being the snapshot's
 * disks: the snapshot's own backing file. A first snapshot's is the base
 * disk, which the VM no longer writes; a later one's is a delta over its
 * parent, a chain that /folder gives as separate files: refused here (VDDK
 * reads it). */
static gboolean
file_at_snapshot (const MtvSourceContext *ctx, JsonObject *at, JsonObject *disk, GError **error)
{
  g_autofree char *key = disk_key (disk);
  JsonObject *then = mtv_json_object (at, key);
  const char *name = json_object_get_string_member_with_default (disk, "name", "?");
  if (then == NULL || mtv_json_string (then, "file") == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "disk %s of VM %s is not in snapshot %s", name, vm_name (ctx),
                   ctx->snapshot);
      return FALSE;
    }
  if (json_object_get_boolean_member_with_default (then, "delta", FALSE))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "disk %s of VM %s is, at snapshot %s, a delta file over "
                   "its parent (%s): mtvd reads such chains only through VDDK (settings.vddkLibDir)", name,
                   vm_name (ctx), ctx->snapshot, mtv_json_string (then, "file"));
      return FALSE;
    }
  json_object_set_string_member (disk, "file", mtv_json_string (then, "file"));
  return TRUE;
}

/* The VM is off, or (warm) the disks are read at ctx->snapshot: each disk
 * with where it is read from. */
static JsonArray *
open_disks (const MtvSourceContext *ctx, GError **error)
{
  const char *libdir = mtv_json_string (mtv_json_object (ctx->spec, "settings"), "vddkLibDir");
  gboolean vddk = libdir && *libdir && mtv_vddk_available ();
  if (!vddk && mtv_json_object (ctx->vm, "snapshot"))
    {
      /* The disks are then chains of delta files over the base: /folder
       * gives the files, not the disk they make together. */
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "VM %s has snapshots: its disks are chains of delta files, "
                   "which mtvd reads only through VDDK (settings.vddkLibDir); delete the snapshots (or consolidate "
                   "them) and start the plan again", vm_name (ctx));
      return NULL;
    }
  g_autoptr (MtvVsphere) vs = mtv_vsphere_connection (ctx->spec, ctx->credentials, error);
  if (vs == NULL)
    return NULL;
  g_autofree char *base = file_base (ctx);
  g_autofree char *ca_file = NULL;
  const char *ca = mtv_json_string (ctx->credentials, "cacert");
  if (ca && *ca && !mtv_provider_credentials_insecure (ctx->credentials))
    {
      ca_file = g_strdup_printf ("%s-ca.pem", base);
      json_object_set_string_member (ctx->session, "caFile", ca_file);
      if (!mtv_write_private (ca_file, ca, 0600, error))
        return NULL;
    }
  g_autofree char *secret = NULL, *script = NULL;
  if (vddk)
    {
      /* VDDK logs in itself: the password by file (nbdkit's password=+FILE). */
      secret = g_strdup_printf ("%s-password", base);
      json_object_set_string_member (ctx->session, "passwordFile", secret);
      if (!mtv_write_private (secret, mtv_json_string (ctx->credentials, "password"), 0600, error))
        return NULL;
    }
  else
    {
      /* A session of the disks' own, left open for nbdkit until close; a
       * new precopy round's replaces the last round's. */
      end_session (ctx, "cookieFile");
      g_autofree char *cookie = mtv_vsphere_cookie (vs);
      if (cookie == NULL)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "the server gave no session cookie to read disks with");
          return NULL;
        }
      secret = g_strdup_printf ("%s-cookie", base);
      script = g_strdup_printf ("%s-cookie.sh", base);
      json_object_set_string_member (ctx->session, "cookieFile", secret);
      json_object_set_string_member (ctx->session, "cookieScript", script);
      gboolean ok = mtv_write_private (secret, cookie, 0600, error);
      memset (cookie, 0, strlen (cookie));
      g_autofree char *quoted = g_shell_quote (secret);
      g_autofree char *text = g_strdup_printf ("#!/bin/sh\nexec cat %s\n", quoted);
      if (!ok || !mtv_write_private (script, text, 0700, error))
        return NULL;
      mtv_vsphere_keep_session (vs);
    }
  g_autoptr (JsonObject) at = NULL;
  if (ctx->snapshot && !vddk && (at = mtv_vsphere_snapshot_disks (vs, ctx->snapshot, error)) == NULL)
    {
      g_prefix_error (error, "reading snapshot %s of VM %s: ", ctx->snapshot, vm_name (ctx));
      return NULL;
    }
  g_autoptr (JsonArray) disks = json_array_new ();
  JsonNode *inv = json_object_get_member (ctx->vm, "disks");
  for (guint i = 0; inv && JSON_NODE_HOLDS_ARRAY (inv) && i < json_array_get_length (json_node_get_array (inv)); i++)
    {
      g_autoptr (JsonObject) disk = mtv_json_object_copy (json_array_get_object_element (json_node_get_array (inv), i));
      if (ca_file)
        json_object_set_string_member (disk, "caFile", ca_file);
      if (mtv_provider_credentials_insecure (ctx->credentials))
        json_object_set_boolean_member (disk, "insecure", TRUE);
      if (vddk)
        {
          JsonObject *v = mtv_vddk_disk (ctx->spec, ctx->credentials, ctx->vm, disk, libdir, secret,
                                         mtv_soap_thumbprint (mtv_vsphere_soap (vs)), ctx->snapshot);
          json_object_set_object_member (disk, "vddk", v);
        }
      else
        {
          if (at && !file_at_snapshot (ctx, at, disk, error))
            return NULL;
          g_autofree char *url = folder_url (ctx, disk, error);
          if (url == NULL)
            return NULL;
          json_object_set_string_member (disk, "url", url);
          json_object_set_string_member (disk, "cookieScript", script);
        }
      json_array_add_object_element (disks, g_steal_pointer (&disk));
    }
  return g_steal_pointer (&disks);
}

static gboolean
source_close (const MtvSourceContext *ctx, GError **error)
{
  static const char *const sessions[] = { "cookieFile", "controlCookieFile" };
  for (gsize i = 0; i < G_N_ELEMENTS (sessions); i++)
    end_session (ctx, sessions[i]);
  static const char *const files[] = { "cookieFile", "cookieScript", "passwordFile", "caFile", "controlCookieFile" };
  for (gsize i = 0; i < G_N_ELEMENTS (files); i++)
    if (mtv_json_string (ctx->session, files[i]))
      g_unlink (mtv_json_string (ctx->session, files[i]));
  return TRUE;
}

static char **
disk_server (JsonObject *disk, const char *socket, GError **error)
{
  JsonObject *vddk = mtv_json_object (disk, "vddk");
  if (vddk)
    return mtv_vddk_command (vddk, socket, error);
  const char *url = mtv_json_string (disk, "url"), *script = mtv_json_string (disk, "cookieScript");
  if (url == NULL || script == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "disk %s was not opened for reading",
                   json_object_get_string_member_with_default (disk, "name", "?"));
      return NULL;
    }
  return mtv_nbdkit_curl_argv (socket, url, "cookie-script", script,
                               json_object_get_boolean_member_with_default (disk, "insecure", FALSE),
                               mtv_json_string (disk, "caFile"));
}

/* ---- warm: snapshots and changed blocks ------------------------------------------------- */

static char *
snapshot_create (const MtvSourceContext *ctx, GError **error)
{
  g_autoptr (Control) c = control (ctx, error);
  char *id = c ? mtv_vsphere_snapshot_create (c->vs, vm_id (ctx), "mtv-precopy", "made by mtvd for a warm migration, "
                                              "and removed by it", SNAPSHOT_SECONDS, error) : NULL;
  if (id == NULL)
    g_prefix_error (error, "creating a snapshot of VM %s: ", vm_name (ctx));
  else
    g_message ("VM %s (%s): snapshot %s created for a warm precopy", vm_name (ctx), vm_id (ctx), id);
  return id;
}

static gboolean
snapshot_remove (const MtvSourceContext *ctx, const char *id, GError **error)
{
  g_autoptr (Control) c = control (ctx, error);
  if (c == NULL || !mtv_vsphere_snapshot_remove (c->vs, id, ctx->snapshot_removal_seconds, error))
    {
      g_prefix_error (error, "removing snapshot %s of VM %s: ", id, vm_name (ctx));
      return FALSE;
    }
  g_message ("VM %s (%s): snapshot %s removed", vm_name (ctx), vm_id (ctx), id);
  return TRUE;
}

/* The disks' state at @snapshot: {"snapshot", "changeIds": {KEY: changeId}}. */
static JsonObject *
checkpoint (const MtvSourceContext *ctx, const char *snapshot, GError **error)
{
  g_autoptr (Control) c = control (ctx, error);
  g_autoptr (JsonObject) at = c ? mtv_vsphere_snapshot_disks (c->vs, snapshot, error) : NULL;
  if (at == NULL)
    {
      g_prefix_error (error, "reading snapshot %s of VM %s: ", snapshot, vm_name (ctx));
      return NULL;
    }
  g_autoptr (JsonObject) ids = json_object_new ();
  g_autoptr (JsonArray) deltas = json_array_new ();   /* Forklift's warm status: the disks' delta ids */
  JsonArray *disks = mtv_json_array (ctx->vm, "disks");
  for (guint i = 0; i < mtv_json_array_length (disks); i++)
    {
      JsonObject *disk = mtv_json_array_object (disks, i);
      g_autofree char *key = disk_key (disk);
      const char *id = mtv_json_string (mtv_json_object (at, key), "changeId");
      if (id == NULL)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "disk %s of VM %s has no change id at snapshot %s: "
                       "changed block tracking is off for it", json_object_get_string_member_with_default (disk, "name",
                                                                                                           "?"),
                       vm_name (ctx), snapshot);
          return NULL;
        }
      json_object_set_string_member (ids, key, id);
      JsonObject *delta = json_object_new ();
      json_object_set_string_member (delta, "disk", json_object_get_string_member_with_default (disk, "file", key));
      json_object_set_string_member (delta, "deltaId", id);
      json_array_add_object_element (deltas, delta);
    }
  JsonObject *out = json_object_new ();
  json_object_set_string_member (out, "snapshot", snapshot);
  json_object_set_object_member (out, "changeIds", g_steal_pointer (&ids));
  json_object_set_array_member (out, "deltas", g_steal_pointer (&deltas));
  return out;
}

/* What changed on disk @index from checkpoint @from to checkpoint @to. */
static GArray *
changed_extents (const MtvSourceContext *ctx, guint index, JsonObject *from, JsonObject *to, GError **error)
{
  JsonObject *disk = mtv_json_array_object (mtv_json_array (ctx->vm, "disks"), index);
  g_autofree char *key = disk_key (disk);
  const char *change_id = mtv_json_string (mtv_json_object (from, "changeIds"), key);
  const char *snapshot = mtv_json_string (to, "snapshot");
  if (disk == NULL || change_id == NULL || snapshot == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "disk %u of VM %s has no change id to count changes from",
                   index, vm_name (ctx));
      return NULL;
    }
  g_autoptr (Control) c = control (ctx, error);
  GArray *areas = c ? mtv_vsphere_changed_areas (c->vs, vm_id (ctx), snapshot, mtv_json_int (disk, "key", -1),
                                                 (guint64) mtv_json_int (disk, "capacity", 0), change_id, error)
                    : NULL;
  if (areas == NULL)
    g_prefix_error (error, "the changed areas of disk %s of VM %s: ",
                    json_object_get_string_member_with_default (disk, "name", "?"), vm_name (ctx));
  return areas;
}

/* How many VMs have the BIOS UUID @uuid (SearchIndex.FindAllByUuid), or -1. */
static gint
vms_with_uuid (MtvVsphere *vs, const char *uuid, GError **error)
{
  const char *index = mtv_vsphere_service (vs)->search_index;
  if (index == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "the server has no SearchIndex");
      return -1;
    }
  g_autofree char *i = mtv_soap_escape (index), *u = mtv_soap_escape (uuid);
  g_autofree char *body = g_strdup_printf ("<vim25:FindAllByUuid><vim25:_this type=\"SearchIndex\">%s</vim25:_this>"
                                           "<vim25:uuid>%s</vim25:uuid><vim25:vmSearch>true</vim25:vmSearch>"
                                           "<vim25:instanceUuid>false</vim25:instanceUuid></vim25:FindAllByUuid>", i, u);
  xmlDoc *doc = mtv_vsphere_call (vs, body, error);
  if (doc == NULL)
    return -1;
  gint n = 0;
  for (xmlNode *r = mtv_soap_reply (doc) ? mtv_soap_reply (doc)->children : NULL; r; r = r->next)
    n += r->type == XML_ELEMENT_NODE && g_strcmp0 ((const char *) r->name, "returnval") == 0;
  xmlFreeDoc (doc);
  return n;
}

/* With settings.vddkInitImage, a cluster's CDI importer reads the disk
 * through VDDK itself (Forklift's DataVolume vddk source). CDI finds the VM
 * by its BIOS UUID, not its moref: when another VM has the same one (clones
 * do), the disk is served by mtvd instead, which reads it by moref. */
static JsonObject *
import_source (const MtvSourceContext *ctx, JsonObject *disk, JsonObject **secret, GError **error)
{
  const char *image = mtv_json_string (mtv_json_object (ctx->spec, "settings"), "vddkInitImage");
  const char *uuid = mtv_json_string (ctx->vm, "uuid"), *file = mtv_json_string (disk, "file");
  if (image == NULL || *image == '\0')
    return NULL;
  if (uuid == NULL || *uuid == '\0' || file == NULL)
    {
      g_message ("VM %s (%s): disk %s is served by mtvd, not read by CDI through VDDK: the inventory has no %s",
                 vm_name (ctx), vm_id (ctx), json_object_get_string_member_with_default (disk, "name", "?"),
                 uuid == NULL || *uuid == '\0' ? "BIOS UUID for the VM" : "file for the disk");
      return NULL;
    }
  g_autoptr (Control) c = control (ctx, error);
  if (c == NULL)
    return NULL;
  gint sharing = vms_with_uuid (c->vs, uuid, error);
  if (sharing < 0)
    {
      g_prefix_error (error, "looking up the VMs with VM %s's BIOS UUID: ", vm_name (ctx));
      return NULL;
    }
  if (sharing != 1)
    {
      g_message ("VM %s (%s): its disks are served by mtvd, not read by CDI through VDDK: %d VMs have its BIOS UUID "
                 "%s, and CDI finds VMs by that UUID", vm_name (ctx), vm_id (ctx), sharing, uuid);
      return NULL;
    }
  JsonObject *vddk = json_object_new ();
  json_object_set_string_member (vddk, "url", mtv_json_string (ctx->spec, "url"));
  json_object_set_string_member (vddk, "uuid", uuid);
  json_object_set_string_member (vddk, "backingFile", file);
  json_object_set_string_member (vddk, "thumbprint", mtv_soap_thumbprint (mtv_vsphere_soap (c->vs)));
  json_object_set_string_member (vddk, "initImageURL", image);
  JsonObject *source = json_object_new ();
  json_object_set_object_member (source, "vddk", vddk);
  /* CDI's names for the user and password in the Secret. */
  *secret = json_object_new ();
  json_object_set_string_member (*secret, "accessKeyId", mtv_json_string (ctx->credentials, "user"));
  json_object_set_string_member (*secret, "secretKey", mtv_json_string (ctx->credentials, "password"));
  return source;
}

const MtvSourceAdapter mtv_vsphere_source = {
  .open = source_open,
  .close = source_close,
  .power_state = power_state,
  .power_off = power_off,
  .powered_off = powered_off,
  .power_restore = power_restore,
  .verify_read = verify_read,
  .reads_from = "the powered-off VM's datastore files, checked still off after the copy",
  .open_disks = open_disks,
  .disk_server = disk_server,
  .import_source = import_source,
  .snapshot_create = snapshot_create,
  .snapshot_remove = snapshot_remove,
  .checkpoint = checkpoint,
  .changed_extents = changed_extents,
};

/* An openshift provider as a migration source (cold): the VM is stopped
 * (its runStrategy set to Halted, and back on failure), a
 * VirtualMachineExport makes its volumes readable over HTTPS, and each disk
 * is served as NBD by nbdkit's curl plugin, the export token given to it by
 * a header script in mtvd's private runtime directory. The session holds
 * the VM's namespace and name, the export's name and the script's path. */
#include "migration/source-adapter.h"
#include "mtv-error.h"
#include "openshift-connection.h"
#include "mtv-json.h"
#include "mtv-files.h"
#include "mtv-provider-settings.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define POLL_SECONDS 300

static const MtvKubeResource VM_EXPORTS = { "export.kubevirt.io", "v1", "virtualmachineexports", TRUE };
static const MtvKubeResource SECRETS = { "", "v1", "secrets", TRUE };

static MtvKube *
kube_connect (const MtvSourceContext *ctx, GError **error)
{
  MtvKubeConfig *config = mtv_openshift_connection (ctx->spec, ctx->credentials, error);
  return config ? mtv_kube_new (config) : NULL;
}

static const char *
vm_namespace (const MtvSourceContext *ctx)
{
  return mtv_json_string (ctx->vm, "namespace");
}

static const char *
vm_name (const MtvSourceContext *ctx)
{
  return mtv_json_string (ctx->vm, "name");
}

static gboolean
source_open (const MtvSourceContext *ctx, GError **error)
{
  g_autoptr (MtvKube) kube = kube_connect (ctx, error);
  g_autoptr (JsonObject) vm = kube ? mtv_kube_get (kube, &MTV_KUBE_VIRTUAL_MACHINES, vm_namespace (ctx), vm_name (ctx),
                                                   error)
                                   : NULL;
  if (vm == NULL)
    return FALSE;
  json_object_set_string_member (ctx->session, "namespace", vm_namespace (ctx));
  json_object_set_string_member (ctx->session, "vm", vm_name (ctx));
  return TRUE;
}

/* The run strategy: what power_restore sets again. */
static char *
power_state (const MtvSourceContext *ctx, GError **error)
{
  g_autoptr (MtvKube) kube = kube_connect (ctx, error);
  g_autoptr (JsonObject) vm = kube ? mtv_kube_get (kube, &MTV_KUBE_VIRTUAL_MACHINES, vm_namespace (ctx), vm_name (ctx),
                                                   error)
                                   : NULL;
  if (vm == NULL)
    return NULL;
  const char *strategy = mtv_json_string (mtv_json_object (vm, "spec"), "runStrategy");
  return g_strdup (strategy ? strategy : "Halted");
}

static gboolean
power_off (const MtvSourceContext *ctx, GError **error)
{
  g_autoptr (MtvKube) kube = kube_connect (ctx, error);
  return kube && mtv_kube_set_run_strategy (kube, vm_namespace (ctx), vm_name (ctx), "Halted", error);
}

/* Off once its instance is gone. */
static gboolean
powered_off (const MtvSourceContext *ctx, gboolean *off, GError **error)
{
  g_autoptr (MtvKube) kube = kube_connect (ctx, error);
  if (kube == NULL)
    return FALSE;
  GError *local = NULL;
  g_autoptr (JsonObject) vmi = mtv_kube_get (kube, &MTV_KUBE_VIRTUAL_MACHINE_INSTANCES, vm_namespace (ctx), vm_name (ctx),
                                             &local);
  if (vmi == NULL && !g_error_matches (local, MTV_KUBE_ERROR, 404))
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  g_clear_error (&local);
  *off = vmi == NULL;
  return TRUE;
}

/* After a disk's copy: the VM stayed off, so its volumes did not change. */
static gboolean
verify_read (const MtvSourceContext *ctx, JsonObject *disk, GError **error)
{
  gboolean off = FALSE;
  if (!powered_off (ctx, &off, error))
    return FALSE;
  if (!off)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "VM %s/%s was started while disk %s was copied (it has a "
                   "VirtualMachineInstance): what was read may be no one state of the disk, so it is not used",
                   vm_namespace (ctx), vm_name (ctx), json_object_get_string_member_with_default (disk, "name", "?"));
      return FALSE;
    }
  return TRUE;
}

static gboolean
power_restore (const MtvSourceContext *ctx, const char *state, GError **error)
{
  if (g_strcmp0 (state, "Halted") == 0)
    return TRUE;
  g_autoptr (MtvKube) kube = kube_connect (ctx, error);
  return kube && mtv_kube_set_run_strategy (kube, vm_namespace (ctx), vm_name (ctx), state, error);
}

static char *
export_token (MtvKube *kube, const char *ns, JsonObject *export, GError **error)
{
  const char *secret_name = mtv_json_string (mtv_json_object (export, "status"), "tokenSecretRef");
  g_autoptr (JsonObject) secret = secret_name ? mtv_kube_get (kube, &SECRETS, ns, secret_name, error) : NULL;
  const char *data = mtv_json_string (mtv_json_object (secret, "data"), "token");
  if (data == NULL)
    {
      if (error && *error == NULL)
        g_set_error (error, MTV_KUBE_ERROR, 0, "the export of %s has no token Secret", ns);
      return NULL;
    }
  gsize len;
  g_autofree guchar *raw = g_base64_decode (data, &len);
  return g_strndup ((const char *) raw, len);
}

/* The raw-format URL of volume @claim in the export's external links. */
static const char *
volume_url (JsonObject *export, const char *claim)
{
  JsonObject *links = mtv_json_object (mtv_json_object (export, "status"), "links");
  JsonObject *external = mtv_json_object (links, "external") ? mtv_json_object (links, "external")
                                                             : mtv_json_object (links, "internal");
  JsonNode *volumes = external ? json_object_get_member (external, "volumes") : NULL;
  for (guint i = 0; volumes && JSON_NODE_HOLDS_ARRAY (volumes) && i < json_array_get_length (json_node_get_array (volumes)); i++)
    {
      JsonObject *vol = json_array_get_object_element (json_node_get_array (volumes), i);
      if (g_strcmp0 (mtv_json_string (vol, "name"), claim) != 0)
        continue;
      JsonNode *formats = json_object_get_member (vol, "formats");
      for (guint k = 0; formats && JSON_NODE_HOLDS_ARRAY (formats) && k < json_array_get_length (json_node_get_array (formats)); k++)
        {
          JsonObject *f = json_array_get_object_element (json_node_get_array (formats), k);
          if (g_strcmp0 (mtv_json_string (f, "format"), "raw") == 0)
            return mtv_json_string (f, "url");
        }
    }
  return NULL;
}

/* The token reaches nbdkit through a script only root can read. */
static char *
write_header_script (const char *workdir, const char *ns, const char *name, char *token, GError **error)
{
  g_autofree char *script = g_strdup_printf ("%s/%s-%s-export-headers.sh", workdir, ns, name);
  g_autofree char *text = g_strdup_printf ("#!/bin/sh\nprintf '%%s\\n' 'x-kubevirt-export-token: %s'\n", token);
  memset (token, 0, strlen (token));
  gboolean ok = mtv_write_private (script, text, 0700, error);
  memset (text, 0, strlen (text));
  return ok ? g_steal_pointer (&script) : NULL;
}

/* The VM is off: its export, and each disk with the export's raw link. */
static JsonArray *
open_disks (const MtvSourceContext *ctx, GError **error)
{
  g_autoptr (MtvKube) kube = kube_connect (ctx, error);
  if (kube == NULL)
    return NULL;
  const char *ns = vm_namespace (ctx), *name = vm_name (ctx);
  g_autofree char *export_name = g_strdup_printf ("mtv-%s", name);
  /* Stored before it exists: closing the session removes it whatever happens. */
  json_object_set_string_member (ctx->session, "export", export_name);
  g_autoptr (JsonObject) intent = mtv_kube_object_new ("export.kubevirt.io/v1", "VirtualMachineExport", ns, export_name,
                                                       NULL, NULL);
  JsonObject *espec = json_object_new (), *source = json_object_new ();
  json_object_set_string_member (source, "apiGroup", "kubevirt.io");
  json_object_set_string_member (source, "kind", "VirtualMachine");
  json_object_set_string_member (source, "name", name);
  json_object_set_object_member (espec, "source", source);
  json_object_set_object_member (intent, "spec", espec);
  g_autoptr (JsonObject) applied = mtv_kube_apply (kube, &VM_EXPORTS, ns, intent, TRUE, error);
  /* Skipped: the VM has no volume to export. */
  static const char *const ready[] = { "Ready", NULL };
  g_autoptr (JsonObject) export = applied ? mtv_kube_wait_status (kube, &VM_EXPORTS, ns, export_name, "phase", ready,
                                                                  "Skipped", POLL_SECONDS, error)
                                          : NULL;
  g_autofree char *token = export ? export_token (kube, ns, export, error) : NULL;
  if (token == NULL)
    {
      g_prefix_error (error, "exporting VM %s/%s: ", ns, name);
      return NULL;
    }
  g_autofree char *script = write_header_script (ctx->workdir, ns, name, token, error);
  if (script == NULL)
    return NULL;
  json_object_set_string_member (ctx->session, "headerScript", script);
  g_autoptr (JsonArray) disks = json_array_new ();
  JsonNode *inv = json_object_get_member (ctx->vm, "disks");
  for (guint i = 0; inv && JSON_NODE_HOLDS_ARRAY (inv) && i < json_array_get_length (json_node_get_array (inv)); i++)
    {
      g_autoptr (JsonObject) disk = mtv_json_object_copy (json_array_get_object_element (json_node_get_array (inv), i));
      const char *url = volume_url (export, mtv_json_string (disk, "name"));
      if (url == NULL)
        {
          g_set_error (error, MTV_KUBE_ERROR, 0, "the export of VM %s/%s has no raw link for volume %s", ns, name,
                       mtv_json_string (disk, "name"));
          return NULL;
        }
      json_object_set_string_member (disk, "exportUrl", url);
      json_object_set_string_member (disk, "headerScript", script);
      if (mtv_provider_credentials_insecure (ctx->credentials))
        json_object_set_boolean_member (disk, "insecure", TRUE);
      json_array_add_object_element (disks, g_steal_pointer (&disk));
    }
  return g_steal_pointer (&disks);
}

static gboolean
source_close (const MtvSourceContext *ctx, GError **error)
{
  const char *script = mtv_json_string (ctx->session, "headerScript");
  if (script)
    g_unlink (script);
  const char *export = mtv_json_string (ctx->session, "export");
  if (export == NULL)
    return TRUE;
  g_autoptr (MtvKube) kube = kube_connect (ctx, error);
  return kube && mtv_kube_delete (kube, &VM_EXPORTS, vm_namespace (ctx), export, error);
}

static char **
disk_server (JsonObject *disk, const char *socket, GError **error)
{
  const char *url = mtv_json_string (disk, "exportUrl"), *script = mtv_json_string (disk, "headerScript");
  if (url == NULL || script == NULL)
    {
      g_set_error (error, MTV_KUBE_ERROR, 0, "disk %s was not exported", mtv_json_string (disk, "name"));
      return NULL;
    }
  JsonNode *insecure = json_object_get_member (disk, "insecure");
  return mtv_nbdkit_curl_argv (socket, url, "header-script", script,
                               insecure && JSON_NODE_HOLDS_VALUE (insecure) && json_node_get_boolean (insecure), NULL);
}

const MtvSourceAdapter mtv_openshift_source = {
  .open = source_open,
  .close = source_close,
  .power_state = power_state,
  .power_off = power_off,
  .powered_off = powered_off,
  .power_restore = power_restore,
  .verify_read = verify_read,
  .reads_from = "the stopped VM, checked still stopped after the copy",
  .open_disks = open_disks,
  .disk_server = disk_server,
};

/* An openshift provider as a migration source (cold): the VM is stopped, a
 * VirtualMachineExport makes its volumes readable over HTTPS, and each disk
 * is served to mtv-transfer as NBD by nbdkit's curl plugin, the export token
 * given to it by a header script in mtvd's private runtime directory. */
#include "openshift-source.h"
#include "openshift-connection.h"
#include "mtv-json.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <string.h>

#define POLL_SECONDS 300

static const MtvKubeResource VM_EXPORTS = { "export.kubevirt.io", "v1", "virtualmachineexports", TRUE };
static const MtvKubeResource SECRETS = { "", "v1", "secrets", TRUE };

static MtvKube *
kube_connect (JsonObject *spec, JsonObject *credentials, GError **error)
{
  MtvKubeConfig *config = mtv_openshift_connection (spec, credentials, error);
  return config ? mtv_kube_new (config) : NULL;
}

/* Polls until the VM's instance is gone (the VM is off). */
static gboolean
wait_stopped (MtvKube *kube, const char *ns, const char *name, GError **error)
{
  for (int i = 0; i < POLL_SECONDS * 2; i++)
    {
      GError *local = NULL;
      g_autoptr (JsonObject) vmi = mtv_kube_get (kube, &MTV_KUBE_VIRTUAL_MACHINE_INSTANCES, ns, name, &local);
      if (vmi == NULL && g_error_matches (local, MTV_KUBE_ERROR, 404))
        {
          g_error_free (local);
          return TRUE;
        }
      if (vmi == NULL)
        {
          g_propagate_error (error, local);
          return FALSE;
        }
      g_usleep (G_USEC_PER_SEC / 2);
    }
  g_set_error (error, MTV_KUBE_ERROR, 408, "VM %s/%s did not stop within %d s", ns, name, POLL_SECONDS);
  return FALSE;
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

JsonArray *
mtv_openshift_prepare_vm (JsonObject *spec, JsonObject *credentials, JsonObject *vm, const char *workdir,
                          JsonObject **state, GError **error)
{
  g_autoptr (MtvKube) kube = kube_connect (spec, credentials, error);
  if (kube == NULL)
    return NULL;
  const char *ns = mtv_json_string (vm, "namespace"), *name = mtv_json_string (vm, "name");
  g_autoptr (JsonObject) current = mtv_kube_get (kube, &MTV_KUBE_VIRTUAL_MACHINES, ns, name, error);
  if (current == NULL)
    return NULL;
  const char *strategy = mtv_json_string (mtv_json_object (current, "spec"), "runStrategy");
  g_autofree char *export_name = g_strdup_printf ("mtv-%s", name);
  *state = json_object_new ();
  json_object_set_string_member (*state, "namespace", ns);
  json_object_set_string_member (*state, "vm", name);
  json_object_set_string_member (*state, "export", export_name);
  json_object_set_string_member (*state, "runStrategy", strategy ? strategy : "Halted");
  if ((g_strcmp0 (strategy, "Halted") != 0 && !mtv_kube_set_run_strategy (kube, ns, name, "Halted", error))
      || !wait_stopped (kube, ns, name, error))
    return NULL;
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
  /* The token reaches nbdkit through a script only root can read. */
  g_autofree char *script = g_strdup_printf ("%s/%s-%s-export-headers.sh", workdir, ns, name);
  g_autofree char *text = g_strdup_printf ("#!/bin/sh\nprintf '%%s\\n' 'x-kubevirt-export-token: %s'\n", token);
  memset (token, 0, strlen (token));
  int fd = g_open (script, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0700);
  if (fd < 0 || write (fd, text, strlen (text)) != (ssize_t) strlen (text) || close (fd) < 0)
    {
      g_set_error (error, MTV_KUBE_ERROR, 0, "cannot write %s: %s", script, g_strerror (errno));
      return NULL;
    }
  memset (text, 0, strlen (text));
  json_object_set_string_member (*state, "headerScript", script);
  JsonArray *disks = json_array_new ();
  JsonNode *inv = json_object_get_member (vm, "disks");
  for (guint i = 0; inv && JSON_NODE_HOLDS_ARRAY (inv) && i < json_array_get_length (json_node_get_array (inv)); i++)
    {
      JsonObject *disk = mtv_json_object_copy (json_array_get_object_element (json_node_get_array (inv), i));
      const char *url = volume_url (export, mtv_json_string (disk, "name"));
      if (url == NULL)
        {
          json_object_unref (disk);
          json_array_unref (disks);
          g_set_error (error, MTV_KUBE_ERROR, 0, "the export of VM %s/%s has no raw link for volume %s", ns, name,
                       mtv_json_string (disk, "name"));
          return NULL;
        }
      json_object_set_string_member (disk, "exportUrl", url);
      json_object_set_string_member (disk, "headerScript", script);
      if (g_strcmp0 (mtv_json_string (credentials, "insecureSkipVerify"), "true") == 0)
        json_object_set_boolean_member (disk, "insecure", TRUE);
      json_array_add_object_element (disks, disk);
    }
  return disks;
}

gboolean
mtv_openshift_release_vm (JsonObject *spec, JsonObject *credentials, JsonObject *state, gboolean restore_power,
                          GError **error)
{
  const char *script = mtv_json_string (state, "headerScript");
  if (script)
    g_unlink (script);
  g_autoptr (MtvKube) kube = kube_connect (spec, credentials, error);
  if (kube == NULL)
    return FALSE;
  const char *ns = mtv_json_string (state, "namespace"), *vm = mtv_json_string (state, "vm");
  if (!mtv_kube_delete (kube, &VM_EXPORTS, ns, mtv_json_string (state, "export"), error))
    return FALSE;
  const char *strategy = mtv_json_string (state, "runStrategy");
  if (restore_power && strategy && g_strcmp0 (strategy, "Halted") != 0)
    return mtv_kube_set_run_strategy (kube, ns, vm, strategy, error);
  return TRUE;
}

char **
mtv_openshift_disk_server_argv (JsonObject *disk, const char *socket, GError **error)
{
  const char *url = mtv_json_string (disk, "exportUrl"), *script = mtv_json_string (disk, "headerScript");
  if (url == NULL || script == NULL)
    {
      g_set_error (error, MTV_KUBE_ERROR, 0, "disk %s was not exported", mtv_json_string (disk, "name"));
      return NULL;
    }
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_autofree char *url_arg = g_strdup_printf ("url=%s", url);
  g_autofree char *script_arg = g_strdup_printf ("header-script=%s", script);
  g_strv_builder_add_many (b, "nbdkit", "-f", "-r", "-U", socket, "curl", url_arg, script_arg, NULL);
  JsonNode *insecure = json_object_get_member (disk, "insecure");
  if (insecure && JSON_NODE_HOLDS_VALUE (insecure) && json_node_get_boolean (insecure))
    g_strv_builder_add (b, "sslverify=false");
  return g_strv_builder_end (b);
}

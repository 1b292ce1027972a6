/* The cluster target: DataVolumes, upload tokens, the VirtualMachine. */
#include "cluster-target.h"
#include "mtv-json.h"

#include <string.h>

static const char *
meta_string (JsonObject *o, const char *key)
{
  JsonObject *meta = json_object_get_object_member (o, "metadata");
  return meta ? json_object_get_string_member_with_default (meta, key, NULL) : NULL;
}

static char *
upload_proxy (MtvKube *kube, const char *override, GError **error)
{
  if (override && *override)
    return g_strdup (override);
  g_autoptr (JsonObject) config = mtv_kube_get (kube, &MTV_KUBE_CDI_CONFIGS, NULL, "config", error);
  if (config == NULL)
    {
      g_prefix_error (error, "finding CDI's upload proxy: ");
      return NULL;
    }
  JsonObject *status = json_object_get_object_member (config, "status");
  const char *url = status ? json_object_get_string_member_with_default (status, "uploadProxyURL", NULL) : NULL;
  if (url == NULL || *url == '\0')
    {
      g_set_error (error, MTV_KUBE_ERROR, 0,
                   "CDI has no upload proxy URL (CDIConfig status.uploadProxyURL); set the provider setting "
                   "uploadProxyURL");
      return NULL;
    }
  /* The status may name a host without a scheme. */
  return strstr (url, "://") ? g_strdup (url) : g_strdup_printf ("https://%s", url);
}

gboolean
mtv_cluster_prepare_disk (MtvKube *kube, JsonObject *dv, const char *proxy_url, char **upload_url, char **token,
                          GError **error)
{
  const char *ns = meta_string (dv, "namespace"), *name = meta_string (dv, "name");
  g_autoptr (JsonObject) applied = mtv_kube_apply (kube, &MTV_KUBE_DATAVOLUMES, ns, dv, TRUE, error);
  if (applied == NULL)
    {
      g_prefix_error (error, "creating DataVolume %s/%s: ", ns, name);
      return FALSE;
    }
  g_autofree char *proxy = upload_proxy (kube, proxy_url, error);
  if (proxy == NULL)
    return FALSE;
  g_autoptr (JsonObject) request = mtv_kube_object_new ("upload.cdi.kubevirt.io/v1beta1", "UploadTokenRequest", ns, NULL,
                                                        name, NULL);
  JsonObject *spec = json_object_new ();
  json_object_set_string_member (spec, "pvcName", name);
  json_object_set_object_member (request, "spec", spec);
  /* The API's schema requires status (virtctl sends it empty too). */
  json_object_set_object_member (request, "status", json_object_new ());
  g_autoptr (JsonObject) answer = mtv_kube_create (kube, &MTV_KUBE_UPLOAD_TOKEN_REQUESTS, ns, request, error);
  JsonObject *status = answer ? json_object_get_object_member (answer, "status") : NULL;
  const char *t = status ? json_object_get_string_member_with_default (status, "token", NULL) : NULL;
  if (t == NULL)
    {
      if (error && *error == NULL)
        g_set_error (error, MTV_KUBE_ERROR, 0, "CDI gave no upload token for %s/%s", ns, name);
      g_prefix_error (error, "asking for an upload token: ");
      return FALSE;
    }
  while (g_str_has_suffix (proxy, "/"))
    proxy[strlen (proxy) - 1] = '\0';
  *upload_url = g_strdup_printf ("%s/v1beta1/upload", proxy);
  *token = g_strdup (t);
  return TRUE;
}

typedef struct {
  const char *name;
  char *phase;
  char *why;              /* a condition's message when it failed */
  MtvClusterProgress progress;
  gpointer data;
} DiskWait;

/* What CDI says went wrong: the message of a condition that is not True
 * (Running's, as its importer reported). */
static char *
failure_message (JsonObject *status)
{
  JsonArray *conditions = mtv_json_array (status, "conditions");
  for (guint i = 0; i < mtv_json_array_length (conditions); i++)
    {
      JsonObject *c = mtv_json_array_object (conditions, i);
      const char *message = mtv_json_string (c, "message");
      if (message && *message && g_strcmp0 (mtv_json_string (c, "status"), "True") != 0)
        return g_strdup (message);
    }
  return NULL;
}

static gboolean
on_dv (const char *type, JsonObject *object, gpointer data)
{
  DiskWait *w = data;
  if (g_strcmp0 (meta_string (object, "name"), w->name) != 0)
    return TRUE;
  if (g_str_equal (type, "DELETED"))
    {
      g_free (w->phase);
      w->phase = g_strdup ("Deleted");
      return FALSE;
    }
  JsonObject *status = json_object_get_object_member (object, "status");
  const char *phase = status ? json_object_get_string_member_with_default (status, "phase", "") : "";
  const char *progress = status ? json_object_get_string_member_with_default (status, "progress", NULL) : NULL;
  if (w->progress && progress && g_ascii_isdigit (*progress))
    w->progress (g_ascii_strtod (progress, NULL), w->data);
  g_free (w->phase);
  w->phase = g_strdup (phase);
  if (g_str_equal (phase, "Failed"))
    {
      g_free (w->why);
      w->why = failure_message (status);
    }
  return !(g_str_equal (phase, "Succeeded") || g_str_equal (phase, "Failed"));
}

gboolean
mtv_cluster_wait_disk (MtvKube *kube, const char *ns, const char *name, guint timeout_seconds,
                       MtvClusterProgress progress, gpointer data, GError **error)
{
  DiskWait w = { name, NULL, NULL, progress, data };
  gboolean ok = mtv_kube_watch (kube, &MTV_KUBE_DATAVOLUMES, ns, NULL, timeout_seconds, on_dv, &w, error);
  if (ok && g_strcmp0 (w.phase, "Succeeded") != 0)
    {
      g_set_error (error, MTV_KUBE_ERROR, 0, "DataVolume %s/%s %s%s%s", ns, name,
                   g_strcmp0 (w.phase, "Deleted") == 0 ? "was deleted" : "failed", w.why ? ": " : "",
                   w.why ? w.why : "");
      ok = FALSE;
    }
  else if (!ok)
    g_prefix_error (error, "waiting for DataVolume %s/%s: ", ns, name);
  g_free (w.phase);
  g_free (w.why);
  return ok;
}

/* The Secret an import reads: @data's strings, base64 as the API keeps them. */
static JsonObject *
import_secret (JsonObject *dv, const char *name, JsonObject *data)
{
  JsonObject *labels = json_object_get_object_member (json_object_get_object_member (dv, "metadata"), "labels");
  JsonObject *secret = mtv_kube_object_new ("v1", "Secret", meta_string (dv, "namespace"), name, NULL,
                                            labels ? mtv_json_object_copy (labels) : NULL);
  json_object_set_string_member (secret, "type", "Opaque");
  JsonObject *encoded = json_object_new ();
  JsonObjectIter it;
  const char *key;
  JsonNode *value;
  json_object_iter_init (&it, data);
  while (json_object_iter_next (&it, &key, &value))
    if (JSON_NODE_HOLDS_VALUE (value) && json_node_get_value_type (value) == G_TYPE_STRING)
      {
        const char *text = json_node_get_string (value);
        g_autofree char *base64 = g_base64_encode ((const guchar *) text, strlen (text));
        json_object_set_string_member (encoded, key, base64);
      }
  json_object_set_object_member (secret, "data", encoded);
  return secret;
}

gboolean
mtv_cluster_import_disk (MtvKube *kube, JsonObject *dv, JsonObject *source, JsonObject *secret,
                         guint timeout_seconds, MtvClusterProgress progress, gpointer data, GError **error)
{
  const char *ns = meta_string (dv, "namespace"), *name = meta_string (dv, "name");
  g_autoptr (JsonObject) intent = mtv_json_object_copy (dv);
  JsonObject *wanted = mtv_json_object_copy (source);
  json_object_set_object_member (json_object_get_object_member (intent, "spec"), "source", wanted);
  g_autofree char *secret_name = g_strdup_printf ("%s-source", name);
  if (secret)
    {
      /* The source's one member ({"vddk": {...}}) names it. */
      g_autoptr (GList) kinds = json_object_get_members (wanted);
      JsonObject *kind = kinds ? mtv_json_object (wanted, kinds->data) : NULL;
      if (kind)
        json_object_set_string_member (kind, "secretRef", secret_name);
      g_autoptr (JsonObject) s = import_secret (dv, secret_name, secret);
      g_autoptr (JsonObject) made = mtv_kube_apply (kube, &MTV_KUBE_SECRETS, ns, s, TRUE, error);
      if (made == NULL)
        {
          g_prefix_error (error, "creating Secret %s/%s for DataVolume %s: ", ns, secret_name, name);
          return FALSE;
        }
    }
  g_autoptr (JsonObject) applied = mtv_kube_apply (kube, &MTV_KUBE_DATAVOLUMES, ns, intent, TRUE, error);
  gboolean ok = applied != NULL;
  if (!ok)
    g_prefix_error (error, "creating DataVolume %s/%s: ", ns, name);
  else
    ok = mtv_cluster_wait_disk (kube, ns, name, timeout_seconds, progress, data, error);
  /* It holds the source's password: gone as soon as CDI is done with it
   * (the VM's cleanup removes it too, by its labels, if this fails). */
  g_autoptr (GError) ignored = NULL;
  if (secret && !mtv_kube_delete (kube, &MTV_KUBE_SECRETS, ns, secret_name, &ignored))
    g_warning ("Secret %s/%s is left behind: %s", ns, secret_name, ignored->message);
  return ok;
}

gboolean
mtv_cluster_create_vm (MtvKube *kube, JsonObject *vm, GError **error)
{
  g_autoptr (JsonObject) applied = mtv_kube_apply (kube, &MTV_KUBE_VIRTUAL_MACHINES, meta_string (vm, "namespace"), vm,
                                                   TRUE, error);
  if (applied == NULL)
    g_prefix_error (error, "creating VirtualMachine %s/%s: ", meta_string (vm, "namespace"), meta_string (vm, "name"));
  return applied != NULL;
}

gboolean
mtv_cluster_remove_vm (MtvKube *kube, const char *ns, const char *migration_id, const char *vm_name, GError **error)
{
  g_autofree char *selector = g_strdup_printf ("migration=%s,app=%s", migration_id, vm_name);
  const MtvKubeResource *kinds[] = { &MTV_KUBE_VIRTUAL_MACHINES, &MTV_KUBE_DATAVOLUMES, &MTV_KUBE_JOBS,
                                     &MTV_KUBE_CONFIG_MAPS, &MTV_KUBE_SECRETS };
  for (gsize k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      g_autoptr (JsonArray) items = mtv_kube_list (kube, kinds[k], ns, selector, 0, NULL, error);
      if (items == NULL)
        return FALSE;
      for (guint i = 0; i < json_array_get_length (items); i++)
        if (!mtv_kube_delete (kube, kinds[k], ns, meta_string (json_array_get_object_element (items, i), "name"), error))
          return FALSE;
    }
  return TRUE;
}

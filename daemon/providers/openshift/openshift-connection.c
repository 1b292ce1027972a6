/* How mtvd reaches the cluster of an openshift provider. */
#include "openshift-connection.h"
#include "mtv-json.h"
#include "mtv-provider-settings.h"

#include <string.h>

/* The provider's connection: URL + token/CA/insecure, else settings.kubeconfig
 * (and settings.context), else the service account of the pod mtvd runs in. */
MtvKubeConfig *
mtv_openshift_connection (JsonObject *spec, JsonObject *credentials, GError **error)
{
  const char *url = mtv_json_string (spec, "url");
  JsonObject *settings = mtv_json_object (spec, "settings");
  if (url && *url)
    {
      MtvKubeConfig *c = g_new0 (MtvKubeConfig, 1);
      c->server = g_strdup (url);
      /* "https://api:6443/" and "https://api:6443" are the same server. */
      while (g_str_has_suffix (c->server, "/"))
        c->server[strlen (c->server) - 1] = '\0';
      c->token = g_strdup (mtv_json_string (credentials, "token"));
      const char *ca = mtv_json_string (credentials, "cacert");
      if (ca && *ca)
        c->ca_pem = g_bytes_new (ca, strlen (ca));
      c->insecure = mtv_provider_credentials_insecure (credentials);
      if (c->token == NULL || *c->token == '\0')
        {
          mtv_kube_config_free (c);
          g_set_error (error, MTV_KUBE_ERROR, 401, "the provider has no token (credentials: token)");
          return NULL;
        }
      return c;
    }
  const char *path = mtv_json_string (settings, "kubeconfig");
  if (path)
    {
      g_autofree char *text = NULL;
      gsize length;
      if (!g_file_get_contents (path, &text, &length, error))
        return NULL;
      g_autofree char *dir = g_path_get_dirname (path);
      return mtv_kube_config_from_kubeconfig (text, length, dir, mtv_json_string (settings, "context"), error);
    }
  return mtv_kube_config_in_cluster ("/", error);
}


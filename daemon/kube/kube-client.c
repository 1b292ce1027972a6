/* Kubernetes REST calls over libcurl; see kube-client.h. */
#include "kube-client.h"
#include "mtv-json.h"
#include "mtv-yaml.h"
#include "mtv-text.h"

#include <curl/curl.h>
#include <string.h>

G_DEFINE_QUARK (mtv-kube-error-quark, mtv_kube_error)

const MtvKubeResource MTV_KUBE_NAMESPACES = { "", "v1", "namespaces", FALSE };
const MtvKubeResource MTV_KUBE_PVCS = { "", "v1", "persistentvolumeclaims", TRUE };
const MtvKubeResource MTV_KUBE_STORAGE_CLASSES = { "storage.k8s.io", "v1", "storageclasses", FALSE };
const MtvKubeResource MTV_KUBE_NADS = { "k8s.cni.cncf.io", "v1", "network-attachment-definitions", TRUE };
const MtvKubeResource MTV_KUBE_DATAVOLUMES = { "cdi.kubevirt.io", "v1beta1", "datavolumes", TRUE };
const MtvKubeResource MTV_KUBE_UPLOAD_TOKEN_REQUESTS = { "upload.cdi.kubevirt.io", "v1beta1", "uploadtokenrequests", TRUE };
const MtvKubeResource MTV_KUBE_CDI_CONFIGS = { "cdi.kubevirt.io", "v1beta1", "cdiconfigs", FALSE };
const MtvKubeResource MTV_KUBE_CDIS = { "cdi.kubevirt.io", "v1beta1", "cdis", FALSE };
const MtvKubeResource MTV_KUBE_VIRTUAL_MACHINES = { "kubevirt.io", "v1", "virtualmachines", TRUE };
const MtvKubeResource MTV_KUBE_VIRTUAL_MACHINE_INSTANCES = { "kubevirt.io", "v1", "virtualmachineinstances", TRUE };
const MtvKubeResource MTV_KUBE_KUBEVIRTS = { "kubevirt.io", "v1", "kubevirts", TRUE };
const MtvKubeResource MTV_KUBE_JOBS = { "batch", "v1", "jobs", TRUE };
const MtvKubeResource MTV_KUBE_CONFIG_MAPS = { "", "v1", "configmaps", TRUE };
const MtvKubeResource MTV_KUBE_SECRETS = { "", "v1", "secrets", TRUE };

#define FIELD_MANAGER "mtvd"
#define REQUEST_TIMEOUT 60
#define ATTEMPTS 4

struct _MtvKube {
  MtvKubeConfig *config;
  GMutex lock;            /* guards the exec credential cache */
  char *exec_token;
  gint64 exec_expires;    /* monotonic µs; 0: no expiry given */
};

/* ---- configuration ------------------------------------------------------------ */

void
mtv_kube_config_free (MtvKubeConfig *c)
{
  if (c == NULL)
    return;
  g_free (c->server);
  if (c->token)
    memset (c->token, 0, strlen (c->token));
  g_free (c->token);
  g_free (c->token_file);
  g_clear_pointer (&c->ca_pem, g_bytes_unref);
  g_clear_pointer (&c->client_cert_pem, g_bytes_unref);
  g_clear_pointer (&c->client_key_pem, g_bytes_unref);
  g_free (c->namespace);
  g_strfreev (c->exec_argv);
  g_strfreev (c->exec_env);
  g_free (c);
}

/* The entry of a named list (clusters, users, contexts) called @name. */
static JsonObject *
named (JsonObject *root, const char *list, const char *name, const char *inner, GError **error)
{
  JsonNode *n = json_object_get_member (root, list);
  if (n && JSON_NODE_HOLDS_ARRAY (n))
    {
      JsonArray *a = json_node_get_array (n);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonNode *e = json_array_get_element (a, i);
          if (JSON_NODE_HOLDS_OBJECT (e) && g_strcmp0 (mtv_json_string (json_node_get_object (e), "name"), name) == 0)
            {
              JsonObject *o = mtv_json_object (json_node_get_object (e), inner);
              if (o)
                return o;
            }
        }
    }
  g_set_error (error, MTV_KUBE_ERROR, 0, "kubeconfig: no %s named \"%s\" (with a \"%s\" entry)", list, name, inner);
  return NULL;
}

/* PEM from "X-data" (base64) or "X" (a path relative to the kubeconfig). */
static gboolean
pem_field (JsonObject *o, const char *field, const char *base_dir, GBytes **out, GError **error)
{
  g_autofree char *data_key = g_strdup_printf ("%s-data", field);
  const char *data = mtv_json_string (o, data_key), *path = mtv_json_string (o, field);
  if (data)
    {
      gsize len;
      guchar *raw = g_base64_decode (data, &len);
      if (len == 0)
        {
          g_free (raw);
          g_set_error (error, MTV_KUBE_ERROR, 0, "kubeconfig: %s is not base64 PEM", data_key);
          return FALSE;
        }
      *out = g_bytes_new_take (raw, len);
      return TRUE;
    }
  if (path)
    {
      g_autofree char *full = g_path_is_absolute (path) ? g_strdup (path) : g_build_filename (base_dir, path, NULL);
      char *contents;
      gsize len;
      if (!g_file_get_contents (full, &contents, &len, error))
        {
          g_prefix_error (error, "kubeconfig: %s: ", field);
          return FALSE;
        }
      *out = g_bytes_new_take (contents, len);
    }
  return TRUE;
}

static GStrv
string_list (JsonObject *o, const char *name)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  JsonNode *n = json_object_get_member (o, name);
  if (n && JSON_NODE_HOLDS_ARRAY (n))
    for (guint i = 0; i < json_array_get_length (json_node_get_array (n)); i++)
      {
        JsonNode *e = json_array_get_element (json_node_get_array (n), i);
        if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING)
          g_strv_builder_add (b, json_node_get_string (e));
      }
  return g_strv_builder_end (b);
}

static gboolean
parse_exec (MtvKubeConfig *c, JsonObject *exec, GError **error)
{
  const char *command = mtv_json_string (exec, "command");
  if (command == NULL)
    {
      g_set_error (error, MTV_KUBE_ERROR, 0, "kubeconfig: exec without a command");
      return FALSE;
    }
  g_auto (GStrv) args = string_list (exec, "args");
  g_autoptr (GStrvBuilder) argv = g_strv_builder_new ();
  g_strv_builder_add (argv, command);
  g_strv_builder_addv (argv, (const char **) args);
  c->exec_argv = g_strv_builder_end (argv);
  g_autoptr (GStrvBuilder) env = g_strv_builder_new ();
  JsonNode *n = json_object_get_member (exec, "env");
  if (n && JSON_NODE_HOLDS_ARRAY (n))
    for (guint i = 0; i < json_array_get_length (json_node_get_array (n)); i++)
      {
        JsonObject *e = json_array_get_object_element (json_node_get_array (n), i);
        if (e && mtv_json_string (e, "name"))
          {
            g_autofree char *kv = g_strdup_printf ("%s=%s", mtv_json_string (e, "name"),
                                                   mtv_json_string (e, "value") ? mtv_json_string (e, "value") : "");
            g_strv_builder_add (env, kv);
          }
      }
  c->exec_env = g_strv_builder_end (env);
  return TRUE;
}

MtvKubeConfig *
mtv_kube_config_from_kubeconfig (const char *text, gsize length, const char *base_dir, const char *context,
                                 GError **error)
{
  g_autoptr (JsonNode) doc = mtv_yaml_parse (text, length, "kubeconfig", error);
  if (doc == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (doc))
    {
      g_set_error (error, MTV_KUBE_ERROR, 0, "kubeconfig: not a Config document");
      return NULL;
    }
  JsonObject *root = json_node_get_object (doc);
  const char *ctx_name = context ? context : mtv_json_string (root, "current-context");
  if (ctx_name == NULL || *ctx_name == '\0')
    {
      g_set_error (error, MTV_KUBE_ERROR, 0, "kubeconfig: no current-context and none was named");
      return NULL;
    }
  JsonObject *ctx = named (root, "contexts", ctx_name, "context", error);
  if (ctx == NULL)
    return NULL;
  const char *cluster_name = mtv_json_string (ctx, "cluster"), *user_name = mtv_json_string (ctx, "user");
  JsonObject *cluster = named (root, "clusters", cluster_name ? cluster_name : "", "cluster", error);
  if (cluster == NULL)
    return NULL;
  g_autoptr (MtvKubeConfig) c = g_new0 (MtvKubeConfig, 1);
  c->server = g_strdup (mtv_json_string (cluster, "server"));
  if (c->server == NULL || !(g_str_has_prefix (c->server, "https://") || g_str_has_prefix (c->server, "http://")))
    {
      g_set_error (error, MTV_KUBE_ERROR, 0, "kubeconfig: cluster \"%s\" has no http(s) server", cluster_name);
      return NULL;
    }
  JsonNode *insecure = json_object_get_member (cluster, "insecure-skip-tls-verify");
  c->insecure = insecure && JSON_NODE_HOLDS_VALUE (insecure) && json_node_get_value_type (insecure) == G_TYPE_BOOLEAN
                && json_node_get_boolean (insecure);
  if (!pem_field (cluster, "certificate-authority", base_dir, &c->ca_pem, error))
    return NULL;
  c->namespace = g_strdup (mtv_json_string (ctx, "namespace"));
  if (user_name)
    {
      JsonObject *user = named (root, "users", user_name, "user", error);
      if (user == NULL)
        return NULL;
      if (json_object_has_member (user, "auth-provider"))
        {
          g_set_error (error, MTV_KUBE_ERROR, 0,
                       "kubeconfig: user \"%s\" uses auth-provider, which Kubernetes removed; use an exec plugin",
                       user_name);
          return NULL;
        }
      if (json_object_has_member (user, "username") || json_object_has_member (user, "password"))
        {
          g_set_error (error, MTV_KUBE_ERROR, 0, "kubeconfig: user \"%s\": basic authentication is not supported",
                       user_name);
          return NULL;
        }
      c->token = g_strdup (mtv_json_string (user, "token"));
      const char *token_file = mtv_json_string (user, "tokenFile");
      if (token_file)
        c->token_file = g_path_is_absolute (token_file) ? g_strdup (token_file)
                                                        : g_build_filename (base_dir, token_file, NULL);
      if (!pem_field (user, "client-certificate", base_dir, &c->client_cert_pem, error)
          || !pem_field (user, "client-key", base_dir, &c->client_key_pem, error))
        return NULL;
      if ((c->client_cert_pem == NULL) != (c->client_key_pem == NULL))
        {
          g_set_error (error, MTV_KUBE_ERROR, 0, "kubeconfig: user \"%s\" has a client certificate or key, not both",
                       user_name);
          return NULL;
        }
      JsonObject *exec = mtv_json_object (user, "exec");
      if (exec && !parse_exec (c, exec, error))
        return NULL;
    }
  return g_steal_pointer (&c);
}

MtvKubeConfig *
mtv_kube_config_in_cluster (const char *root, GError **error)
{
  const char *host = g_getenv ("KUBERNETES_SERVICE_HOST"), *port = g_getenv ("KUBERNETES_SERVICE_PORT");
  if (host == NULL || port == NULL)
    {
      g_set_error (error, MTV_KUBE_ERROR, 0, "not in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
      return NULL;
    }
  g_autofree char *dir = g_build_filename (root, "var/run/secrets/kubernetes.io/serviceaccount", NULL);
  g_autoptr (MtvKubeConfig) c = g_new0 (MtvKubeConfig, 1);
  c->server = strchr (host, ':') ? g_strdup_printf ("https://[%s]:%s", host, port)
                                 : g_strdup_printf ("https://%s:%s", host, port);
  c->token_file = g_build_filename (dir, "token", NULL);
  g_autofree char *ca_path = g_build_filename (dir, "ca.crt", NULL);
  char *ca;
  gsize len;
  if (!g_file_get_contents (ca_path, &ca, &len, error))
    return NULL;
  c->ca_pem = g_bytes_new_take (ca, len);
  g_autofree char *ns_path = g_build_filename (dir, "namespace", NULL);
  char *ns = NULL;
  if (g_file_get_contents (ns_path, &ns, NULL, NULL))
    c->namespace = g_strstrip (ns);
  return g_steal_pointer (&c);
}

MtvKube *
mtv_kube_new (MtvKubeConfig *config)
{
  static gsize curl_ready;
  if (g_once_init_enter (&curl_ready))
    {
      curl_global_init (CURL_GLOBAL_DEFAULT);
      g_once_init_leave (&curl_ready, 1);
    }
  MtvKube *kube = g_new0 (MtvKube, 1);
  kube->config = config;
  g_mutex_init (&kube->lock);
  return kube;
}

void
mtv_kube_free (MtvKube *kube)
{
  if (kube == NULL)
    return;
  mtv_kube_config_free (kube->config);
  g_free (kube->exec_token);
  g_mutex_clear (&kube->lock);
  g_free (kube);
}

const MtvKubeConfig *
mtv_kube_config (MtvKube *kube)
{
  return kube->config;
}

/* ---- credentials --------------------------------------------------------------- */

/* Runs the exec plugin; its ExecCredential's status.token. */
static char *
run_exec_plugin (MtvKube *kube, gint64 *expires, GError **error)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                                       | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "KUBERNETES_EXEC_INFO",
                                "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                                "\"spec\":{\"interactive\":false}}", TRUE);
  for (guint i = 0; kube->config->exec_env && kube->config->exec_env[i]; i++)
    {
      g_auto (GStrv) kv = g_strsplit (kube->config->exec_env[i], "=", 2);
      g_subprocess_launcher_setenv (launcher, kv[0], kv[1] ? kv[1] : "", TRUE);
    }
  g_autoptr (GSubprocess) proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) kube->config->exec_argv,
                                                               error);
  g_autofree char *out = NULL, *err = NULL;
  if (proc == NULL || !g_subprocess_communicate_utf8 (proc, NULL, NULL, &out, &err, error))
    {
      g_prefix_error (error, "exec credential plugin %s: ", kube->config->exec_argv[0]);
      return NULL;
    }
  if (!g_subprocess_get_successful (proc))
    {
      g_set_error (error, MTV_KUBE_ERROR, 401, "exec credential plugin %s failed: %s", kube->config->exec_argv[0],
                   err ? g_strstrip (err) : "");
      return NULL;
    }
  g_autoptr (JsonNode) doc = json_from_string (out, NULL);
  JsonObject *status = doc && JSON_NODE_HOLDS_OBJECT (doc) ? mtv_json_object (json_node_get_object (doc), "status") : NULL;
  const char *token = mtv_json_string (status, "token");
  if (token == NULL)
    {
      g_set_error (error, MTV_KUBE_ERROR, 401, "exec credential plugin %s printed no ExecCredential with a token",
                   kube->config->exec_argv[0]);
      return NULL;
    }
  *expires = 0;
  const char *when = mtv_json_string (status, "expirationTimestamp");
  g_autoptr (GDateTime) dt = when ? g_date_time_new_from_iso8601 (when, NULL) : NULL;
  if (dt)
    *expires = g_get_monotonic_time () + (g_date_time_to_unix (dt) - g_get_real_time () / G_USEC_PER_SEC) * G_USEC_PER_SEC;
  return g_strdup (token);
}

/* The bearer token for the next request, or NULL for none. @refresh forces
 * the exec plugin to run again (after a 401). */
static char *
bearer_token (MtvKube *kube, gboolean refresh, GError **error)
{
  const MtvKubeConfig *c = kube->config;
  if (c->exec_argv)
    {
      g_mutex_lock (&kube->lock);
      if (refresh || kube->exec_token == NULL
          || (kube->exec_expires && g_get_monotonic_time () > kube->exec_expires - 10 * G_USEC_PER_SEC))
        {
          gint64 expires = 0;
          char *token = run_exec_plugin (kube, &expires, error);
          if (token)
            {
              g_free (kube->exec_token);
              kube->exec_token = token;
              kube->exec_expires = expires;
            }
        }
      char *token = g_strdup (kube->exec_token);
      g_mutex_unlock (&kube->lock);
      return token;
    }
  if (c->token_file)
    {
      /* Projected service-account tokens rotate: read the file every time. */
      char *token;
      if (!g_file_get_contents (c->token_file, &token, NULL, error))
        return NULL;
      return g_strstrip (token);
    }
  return g_strdup (c->token);
}

/* ---- requests ---------------------------------------------------------------------- */

typedef struct {
  GByteArray *body;
  /* Streaming (watch): lines handed to @line as they complete. */
  gboolean (*line) (const char *text, gpointer data);
  gpointer line_data;
  gboolean stopped;
} Sink;

static size_t
on_data (char *ptr, size_t size, size_t n, void *data)
{
  Sink *sink = data;
  g_byte_array_append (sink->body, (const guint8 *) ptr, (guint) (size * n));
  if (sink->line == NULL)
    return size * n;
  /* An event may arrive over several reads, or several in one. */
  for (;;)
    {
      guint8 *nl = memchr (sink->body->data, '\n', sink->body->len);
      if (nl == NULL)
        break;
      gsize len = (gsize) (nl - sink->body->data);
      g_autofree char *text = g_strndup ((const char *) sink->body->data, len);
      g_byte_array_remove_range (sink->body, 0, (guint) len + 1);
      if (*g_strstrip (text) && !sink->line (text, sink->line_data))
        {
          sink->stopped = TRUE;
          return 0;   /* ends the transfer */
        }
    }
  return size * n;
}

static const char *
reason_for (long code)
{
  switch (code)
    {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "Failure";
    }
}

/* A Status body (or any error answer) as a GError naming code, reason,
 * message and the fields an Invalid answer lists. */
static void
set_status_error (GError **error, long code, const char *method, const char *path, JsonNode *body, const char *raw)
{
  JsonObject *status = body && JSON_NODE_HOLDS_OBJECT (body) ? json_node_get_object (body) : NULL;
  const char *reason = mtv_json_string (status, "reason");
  const char *message = mtv_json_string (status, "message");
  g_autoptr (GString) causes = g_string_new (NULL);
  JsonObject *details = mtv_json_object (status, "details");
  JsonNode *list = details ? json_object_get_member (details, "causes") : NULL;
  if (list && JSON_NODE_HOLDS_ARRAY (list))
    for (guint i = 0; i < json_array_get_length (json_node_get_array (list)); i++)
      {
        JsonObject *c = json_array_get_object_element (json_node_get_array (list), i);
        if (c && mtv_json_string (c, "field"))
          g_string_append_printf (causes, "%s%s: %s", causes->len ? "; " : " (", mtv_json_string (c, "field"),
                                  mtv_json_string (c, "message") ? mtv_json_string (c, "message") : "");
      }
  if (causes->len)
    g_string_append_c (causes, ')');
  g_autofree char *shown = raw && !message ? mtv_text_shorten (raw, -1, 200) : NULL;
  g_set_error (error, MTV_KUBE_ERROR, (gint) code, "%s %s: %ld %s: %s%s", method, path, code,
               reason ? reason : reason_for (code), message ? message : (shown && *shown ? shown : "no message"),
               causes->str);
}

static gboolean
transient (long code)
{
  return code == 429 || code == 503 || code == 504;
}

/* One HTTP exchange: the status code, or 0 with @error on a transport failure. */
static long
perform (MtvKube *kube, const char *method, const char *path, const char *content_type, const char *body,
         Sink *sink, long timeout, gboolean refresh_token, long *retry_after, GError **error)
{
  const MtvKubeConfig *c = kube->config;
  g_autofree char *token = bearer_token (kube, refresh_token, error);
  if (token == NULL && (c->token || c->token_file || c->exec_argv))
    return 0;
  CURL *curl = curl_easy_init ();
  struct curl_slist *headers = NULL;
  g_autofree char *url = g_strconcat (c->server, path, NULL);
  g_autofree char *auth = token ? g_strdup_printf ("Authorization: Bearer %s", token) : NULL;
  g_autofree char *type = content_type ? g_strdup_printf ("Content-Type: %s", content_type) : NULL;
  char curl_error[CURL_ERROR_SIZE] = "";
  headers = curl_slist_append (headers, "Accept: application/json");
  if (auth)
    headers = curl_slist_append (headers, auth);
  if (type)
    headers = curl_slist_append (headers, type);
  curl_easy_setopt (curl, CURLOPT_URL, url);
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT, timeout);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_error);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, sink);
  curl_easy_setopt (curl, CURLOPT_USERAGENT, "mtvd");
  if (body)
    {
      curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
      curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) strlen (body));
    }
  if (c->insecure)
    {
      curl_easy_setopt (curl, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt (curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  struct curl_blob ca, cert, key;
  if (c->ca_pem)
    {
      ca = (struct curl_blob) { (void *) g_bytes_get_data (c->ca_pem, NULL), g_bytes_get_size (c->ca_pem),
                                CURL_BLOB_NOCOPY };
      curl_easy_setopt (curl, CURLOPT_CAINFO_BLOB, &ca);
    }
  if (c->client_cert_pem && c->client_key_pem)
    {
      cert = (struct curl_blob) { (void *) g_bytes_get_data (c->client_cert_pem, NULL),
                                  g_bytes_get_size (c->client_cert_pem), CURL_BLOB_NOCOPY };
      key = (struct curl_blob) { (void *) g_bytes_get_data (c->client_key_pem, NULL),
                                 g_bytes_get_size (c->client_key_pem), CURL_BLOB_NOCOPY };
      curl_easy_setopt (curl, CURLOPT_SSLCERTTYPE, "PEM");
      curl_easy_setopt (curl, CURLOPT_SSLCERT_BLOB, &cert);
      curl_easy_setopt (curl, CURLOPT_SSLKEYTYPE, "PEM");
      curl_easy_setopt (curl, CURLOPT_SSLKEY_BLOB, &key);
    }
  CURLcode rc = curl_easy_perform (curl);
  long code = 0;
  if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && sink->stopped))
    {
      curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &code);
      curl_off_t after = 0;
      if (retry_after && curl_easy_getinfo (curl, CURLINFO_RETRY_AFTER, &after) == CURLE_OK)
        *retry_after = (long) after;
    }
  else
    g_set_error (error, MTV_KUBE_ERROR, 0, "%s %s%s: %s", method, c->server, path,
                 *curl_error ? curl_error : curl_easy_strerror (rc));
  curl_slist_free_all (headers);
  curl_easy_cleanup (curl);
  if (token)
    memset (token, 0, strlen (token));
  return code;
}

JsonNode *
mtv_kube_request (MtvKube *kube, const char *method, const char *path, const char *content_type, JsonNode *body,
                  GError **error)
{
  g_autofree char *text = body ? json_to_string (body, FALSE) : NULL;
  gboolean refreshed = FALSE;
  for (int attempt = 1;; attempt++)
    {
      Sink sink = { g_byte_array_new (), NULL, NULL, FALSE };
      GError *local = NULL;
      long retry_after = 0;
      long code = perform (kube, method, path, content_type, text, &sink, REQUEST_TIMEOUT, refreshed, &retry_after,
                           &local);
      g_autoptr (GByteArray) answer = sink.body;
      g_byte_array_append (answer, (const guint8 *) "", 1);
      const char *raw = (const char *) answer->data;
      g_autoptr (JsonNode) parsed = *raw ? json_from_string (raw, NULL) : NULL;
      if (code >= 200 && code < 300)
        return g_steal_pointer (&parsed);
      /* An exec credential may have expired early: run the plugin once more. */
      if (code == 401 && kube->config->exec_argv && !refreshed)
        {
          refreshed = TRUE;
          continue;
        }
      if (attempt < ATTEMPTS && (code == 0 || transient (code)))
        {
          g_clear_error (&local);
          g_usleep ((gulong) MIN (retry_after > 0 ? retry_after * G_USEC_PER_SEC : (250000L << attempt),
                                  5 * G_USEC_PER_SEC));
          continue;
        }
      if (local)
        g_propagate_error (error, local);
      else
        set_status_error (error, code, method, path, parsed, raw);
      return NULL;
    }
}

char *
mtv_kube_path (const MtvKubeResource *r, const char *ns, const char *name, const char *sub)
{
  GString *p = g_string_new (NULL);
  if (*r->group)
    g_string_append_printf (p, "/apis/%s/%s", r->group, r->version);
  else
    g_string_append_printf (p, "/api/%s", r->version);
  if (r->namespaced && ns)
    g_string_append_printf (p, "/namespaces/%s", ns);
  g_string_append_printf (p, "/%s", r->plural);
  if (name)
    g_string_append_printf (p, "/%s", name);
  if (name && sub)
    g_string_append_printf (p, "/%s", sub);
  return g_string_free (p, FALSE);
}

static JsonObject *
object_answer (JsonNode *node, GError **error)
{
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      if (error && *error == NULL)
        g_set_error (error, MTV_KUBE_ERROR, 0, "the API server answered without an object");
      if (node)
        json_node_unref (node);
      return NULL;
    }
  JsonObject *o = json_object_ref (json_node_get_object (node));
  json_node_unref (node);
  return o;
}

static JsonNode *
wrap (JsonObject *o)
{
  return json_node_init_object (json_node_alloc (), o);
}

static const char *
object_name (JsonObject *o)
{
  return mtv_json_string (mtv_json_object (o, "metadata"), "name");
}

JsonObject *
mtv_kube_get (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *name, GError **error)
{
  g_autofree char *path = mtv_kube_path (r, ns, name, NULL);
  JsonNode *answer = mtv_kube_request (kube, "GET", path, NULL, NULL, error);
  return answer ? object_answer (answer, error) : NULL;
}

JsonObject *
mtv_kube_object_new (const char *api_version, const char *kind, const char *ns, const char *name,
                     const char *generate_name, JsonObject *labels)
{
  JsonObject *o = json_object_new ();
  json_object_set_string_member (o, "apiVersion", api_version);
  json_object_set_string_member (o, "kind", kind);
  JsonObject *meta = json_object_new ();
  json_object_set_string_member (meta, name ? "name" : "generateName", name ? name : generate_name);
  json_object_set_string_member (meta, "namespace", ns);
  if (labels)
    json_object_set_object_member (meta, "labels", labels);
  json_object_set_object_member (o, "metadata", meta);
  return o;
}

JsonObject *
mtv_kube_wait_status (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *name, const char *field,
                      const char *const *want, const char *failed, int seconds, GError **error)
{
  for (int i = 0; i < seconds * 4; i++)
    {
      GError *local = NULL;
      JsonObject *o = mtv_kube_get (kube, r, ns, name, &local);
      if (o == NULL && !g_error_matches (local, MTV_KUBE_ERROR, 404))
        {
          g_propagate_error (error, local);
          return NULL;
        }
      g_clear_error (&local);
      const char *value = o ? mtv_json_string (mtv_json_object (o, "status"), field) : NULL;
      if (value && g_strv_contains (want, value))
        return o;
      if (value && failed && g_str_equal (value, failed))
        {
          json_object_unref (o);
          g_set_error (error, MTV_KUBE_ERROR, 0, "%s %s/%s: %s is %s", r->plural, ns, name, field, failed);
          return NULL;
        }
      g_clear_pointer (&o, json_object_unref);
      g_usleep (G_USEC_PER_SEC / 4);
    }
  g_set_error (error, MTV_KUBE_ERROR, 408, "%s %s/%s: %s not %s within %d s", r->plural, ns, name, field, want[0],
               seconds);
  return NULL;
}

JsonObject *
mtv_kube_create (MtvKube *kube, const MtvKubeResource *r, const char *ns, JsonObject *object, GError **error)
{
  g_autofree char *path = mtv_kube_path (r, ns, NULL, NULL);
  g_autoptr (JsonNode) body = wrap (object);
  JsonNode *answer = mtv_kube_request (kube, "POST", path, "application/json", body, error);
  return answer ? object_answer (answer, error) : NULL;
}

JsonObject *
mtv_kube_replace (MtvKube *kube, const MtvKubeResource *r, const char *ns, JsonObject *object, const char *sub,
                  GError **error)
{
  g_autofree char *path = mtv_kube_path (r, ns, object_name (object), sub);
  g_autoptr (JsonNode) body = wrap (object);
  JsonNode *answer = mtv_kube_request (kube, "PUT", path, "application/json", body, error);
  return answer ? object_answer (answer, error) : NULL;
}

JsonObject *
mtv_kube_merge_patch (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *name, JsonObject *patch,
                      const char *sub, GError **error)
{
  g_autofree char *path = mtv_kube_path (r, ns, name, sub);
  g_autoptr (JsonNode) body = wrap (patch);
  JsonNode *answer = mtv_kube_request (kube, "PATCH", path, "application/merge-patch+json", body, error);
  return answer ? object_answer (answer, error) : NULL;
}

JsonObject *
mtv_kube_apply (MtvKube *kube, const MtvKubeResource *r, const char *ns, JsonObject *intent, gboolean force,
                GError **error)
{
  g_autofree char *base = mtv_kube_path (r, ns, object_name (intent), NULL);
  g_autofree char *path = g_strdup_printf ("%s?fieldManager=" FIELD_MANAGER "%s", base, force ? "&force=true" : "");
  g_autoptr (JsonNode) body = wrap (intent);
  /* JSON is YAML: the apply content type takes either. */
  JsonNode *answer = mtv_kube_request (kube, "PATCH", path, "application/apply-patch+yaml", body, error);
  return answer ? object_answer (answer, error) : NULL;
}

gboolean
mtv_kube_delete (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *name, GError **error)
{
  g_autofree char *path = mtv_kube_path (r, ns, name, NULL);
  g_autoptr (JsonObject) options = json_object_new ();
  json_object_set_string_member (options, "kind", "DeleteOptions");
  json_object_set_string_member (options, "apiVersion", "v1");
  json_object_set_string_member (options, "propagationPolicy", "Background");
  g_autoptr (JsonNode) body = wrap (options);
  GError *local = NULL;
  JsonNode *answer = mtv_kube_request (kube, "DELETE", path, "application/json", body, &local);
  if (answer)
    json_node_unref (answer);
  if (local && g_error_matches (local, MTV_KUBE_ERROR, 404))
    {
      g_error_free (local);
      return TRUE;
    }
  if (local)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  return TRUE;
}

gboolean
mtv_kube_set_run_strategy (MtvKube *kube, const char *ns, const char *name, const char *strategy, GError **error)
{
  g_autoptr (JsonObject) patch = json_object_new ();
  JsonObject *spec = json_object_new ();
  json_object_set_string_member (spec, "runStrategy", strategy);
  json_object_set_object_member (patch, "spec", spec);
  g_autoptr (JsonObject) done = mtv_kube_merge_patch (kube, &MTV_KUBE_VIRTUAL_MACHINES, ns, name, patch, NULL, error);
  return done != NULL;
}

JsonObject *
mtv_kube_update (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *name, MtvKubeMutate mutate,
                 gpointer user_data, GError **error)
{
  for (int attempt = 1;; attempt++)
    {
      g_autoptr (JsonObject) current = mtv_kube_get (kube, r, ns, name, error);
      if (current == NULL || !mutate (current, user_data, error))
        return NULL;
      GError *local = NULL;
      JsonObject *updated = mtv_kube_replace (kube, r, ns, current, NULL, &local);
      if (updated)
        return updated;
      /* Someone else changed it since our get: apply the change to theirs. */
      if (g_error_matches (local, MTV_KUBE_ERROR, 409) && attempt < 5)
        {
          g_error_free (local);
          continue;
        }
      g_propagate_error (error, local);
      return NULL;
    }
}

/* ---- list and watch ------------------------------------------------------------------ */

static char *
escape (const char *s)
{
  return g_uri_escape_string (s, NULL, FALSE);
}

JsonArray *
mtv_kube_list (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *label_selector, guint page_size,
               char **resource_version, GError **error)
{
  g_autofree char *base = mtv_kube_path (r, ns, NULL, NULL);
  g_autofree char *selector = label_selector ? escape (label_selector) : NULL;
  gboolean restarted = FALSE;
restart:;
  g_autoptr (JsonArray) items = json_array_new ();
  g_autofree char *cont = NULL;
  for (;;)
    {
      g_autofree char *escaped = cont ? escape (cont) : NULL;
      g_autofree char *path = g_strdup_printf ("%s?limit=%u%s%s%s%s", base, page_size ? page_size : 500,
                                               selector ? "&labelSelector=" : "", selector ? selector : "",
                                               escaped ? "&continue=" : "", escaped ? escaped : "");
      GError *local = NULL;
      g_autoptr (JsonNode) answer = mtv_kube_request (kube, "GET", path, NULL, NULL, &local);
      if (answer == NULL)
        {
          /* An expired continue token: the list must start over. */
          if (cont && !restarted && g_error_matches (local, MTV_KUBE_ERROR, 410))
            {
              g_error_free (local);
              restarted = TRUE;
              g_clear_pointer (&items, json_array_unref);
              goto restart;
            }
          g_propagate_error (error, local);
          return NULL;
        }
      JsonObject *list = JSON_NODE_HOLDS_OBJECT (answer) ? json_node_get_object (answer) : NULL;
      JsonNode *page = list ? json_object_get_member (list, "items") : NULL;
      if (page && JSON_NODE_HOLDS_ARRAY (page))
        for (guint i = 0; i < json_array_get_length (json_node_get_array (page)); i++)
          json_array_add_element (items, json_node_copy (json_array_get_element (json_node_get_array (page), i)));
      JsonObject *meta = mtv_json_object (list, "metadata");
      g_free (cont);
      cont = g_strdup (mtv_json_string (meta, "continue"));
      if (cont == NULL || *cont == '\0')
        {
          if (resource_version)
            *resource_version = g_strdup (mtv_json_string (meta, "resourceVersion"));
          return g_steal_pointer (&items);
        }
    }
}

typedef struct {
  MtvKubeWatchFunc func;
  gpointer user_data;
  GHashTable *known;     /* "ns/name" -> JsonObject */
  char *resource_version;
  gboolean gone;
  gboolean stopped;
  GError *error;
} Watch;

static char *
key_of (JsonObject *o)
{
  JsonObject *meta = mtv_json_object (o, "metadata");
  return g_strdup_printf ("%s/%s", mtv_json_string (meta, "namespace") ? mtv_json_string (meta, "namespace") : "",
                          mtv_json_string (meta, "name") ? mtv_json_string (meta, "name") : "");
}

static gboolean
deliver (Watch *w, const char *type, JsonObject *o)
{
  char *key = key_of (o);
  if (g_str_equal (type, "DELETED"))
    {
      g_hash_table_remove (w->known, key);
      g_free (key);
    }
  else
    g_hash_table_replace (w->known, key, json_object_ref (o));
  if (!w->func (type, o, w->user_data))
    w->stopped = TRUE;
  return !w->stopped;
}

static gboolean
on_event (const char *line, gpointer data)
{
  Watch *w = data;
  g_autoptr (JsonNode) node = json_from_string (line, NULL);
  JsonObject *event = node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  const char *type = mtv_json_string (event, "type");
  JsonObject *object = mtv_json_object (event, "object");
  if (type == NULL || object == NULL)
    return TRUE;   /* not an event: skip it */
  const char *rv = mtv_json_string (mtv_json_object (object, "metadata"), "resourceVersion");
  if (g_str_equal (type, "ERROR"))
    {
      JsonNode *code = json_object_get_member (object, "code");
      if (code && JSON_NODE_HOLDS_VALUE (code) && json_node_get_int (code) == 410)
        w->gone = TRUE;
      else
        g_set_error (&w->error, MTV_KUBE_ERROR, code ? (gint) json_node_get_int (code) : 0, "watch: %s",
                     mtv_json_string (object, "message") ? mtv_json_string (object, "message") : "error event");
      return FALSE;
    }
  if (rv)
    {
      g_free (w->resource_version);
      w->resource_version = g_strdup (rv);
    }
  if (g_str_equal (type, "BOOKMARK"))
    return TRUE;
  return deliver (w, type, object);
}

/* Lists and reports the differences from what was known. */
static gboolean
relist (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *selector, Watch *w, GError **error)
{
  g_autofree char *rv = NULL;
  g_autoptr (JsonArray) items = mtv_kube_list (kube, r, ns, selector, 0, &rv, error);
  if (items == NULL)
    return FALSE;
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; i < json_array_get_length (items) && !w->stopped; i++)
    {
      JsonObject *o = json_array_get_object_element (items, i);
      char *key = key_of (o);
      JsonObject *before = g_hash_table_lookup (w->known, key);
      const char *old_rv = before ? mtv_json_string (mtv_json_object (before, "metadata"), "resourceVersion") : NULL;
      const char *new_rv = mtv_json_string (mtv_json_object (o, "metadata"), "resourceVersion");
      g_hash_table_add (seen, key);
      if (before == NULL)
        deliver (w, "ADDED", o);
      else if (g_strcmp0 (old_rv, new_rv) != 0)
        deliver (w, "MODIFIED", o);
    }
  /* What the list no longer has was deleted while we were not watching. */
  g_autoptr (GPtrArray) vanished = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  GHashTableIter iter;
  gpointer key, value;
  g_hash_table_iter_init (&iter, w->known);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_hash_table_contains (seen, key))
      g_ptr_array_add (vanished, json_object_ref (value));
  for (guint i = 0; i < vanished->len && !w->stopped; i++)
    deliver (w, "DELETED", vanished->pdata[i]);
  g_free (w->resource_version);
  w->resource_version = g_steal_pointer (&rv);
  return TRUE;
}

gboolean
mtv_kube_watch (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *label_selector,
                guint timeout_seconds, MtvKubeWatchFunc func, gpointer user_data, GError **error)
{
  Watch w = { func, user_data, g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_object_unref),
              NULL, FALSE, FALSE, NULL };
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_seconds * G_USEC_PER_SEC;
  g_autofree char *base = mtv_kube_path (r, ns, NULL, NULL);
  g_autofree char *selector = label_selector ? escape (label_selector) : NULL;
  gboolean ok = relist (kube, r, ns, label_selector, &w, error);
  int failures = 0;
  while (ok && !w.stopped)
    {
      gint64 left = (deadline - g_get_monotonic_time ()) / G_USEC_PER_SEC;
      if (left <= 0)
        {
          g_set_error (error, MTV_KUBE_ERROR, 408, "watching %s: timed out after %u s", r->plural, timeout_seconds);
          ok = FALSE;
          break;
        }
      g_autofree char *rv = escape (w.resource_version ? w.resource_version : "");
      g_autofree char *path = g_strdup_printf ("%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%"
                                               G_GINT64_FORMAT "%s%s", base, rv, MIN (left, (gint64) 300),
                                               selector ? "&labelSelector=" : "", selector ? selector : "");
      Sink sink = { g_byte_array_new (), on_event, &w, FALSE };
      GError *local = NULL;
      long code = perform (kube, "GET", path, NULL, NULL, &sink, (long) MIN (left, (gint64) 300) + 15, FALSE, NULL,
                           &local);
      g_autoptr (GByteArray) rest = sink.body;
      if (w.stopped)
        break;
      if (w.error)
        {
          g_propagate_error (error, g_steal_pointer (&w.error));
          g_clear_error (&local);
          ok = FALSE;
          break;
        }
      if (w.gone || code == 410)
        {
          /* Our version is too old: list again and go on from there. */
          w.gone = FALSE;
          g_clear_error (&local);
          ok = relist (kube, r, ns, label_selector, &w, error);
          continue;
        }
      if (code == 0 || transient (code))
        {
          /* A dropped connection: resume from the last version seen. */
          if (++failures > 30)
            {
              if (local)
                g_propagate_error (error, local);
              else
                g_set_error (error, MTV_KUBE_ERROR, (gint) code, "watching %s: the API server keeps failing",
                             r->plural);
              ok = FALSE;
              break;
            }
          g_clear_error (&local);
          g_usleep (G_USEC_PER_SEC / 2);
          continue;
        }
      failures = 0;
      if (code >= 300)
        {
          g_byte_array_append (rest, (const guint8 *) "", 1);
          g_autoptr (JsonNode) body = json_from_string ((const char *) rest->data, NULL);
          set_status_error (error, code, "GET", path, body, (const char *) rest->data);
          ok = FALSE;
          break;
        }
      /* The server closed the stream at its timeout: watch on. */
    }
  g_hash_table_unref (w.known);
  g_free (w.resource_version);
  return ok && w.stopped;
}

/* How mtvd reaches a vsphere provider: see vsphere-connection.h. */
#include "vsphere-connection.h"
#include "mtv-json.h"
#include "mtv-provider-settings.h"

#include <string.h>

static GBytes *
ca_of (JsonObject *credentials)
{
  const char *ca = mtv_json_string (credentials, "cacert");
  return ca && *ca ? g_bytes_new (ca, strlen (ca)) : NULL;
}

static const char *
endpoint (JsonObject *spec)
{
  const char *e = mtv_json_string (mtv_json_object (spec, "settings"), "sdkEndpoint");
  return e && *e ? e : "vcenter";
}

/* The server is what the provider says it is, with the pinned certificate. */
static gboolean
check_server (MtvVsphere *vs, JsonObject *spec, JsonObject *credentials, GError **error)
{
  const char *want = endpoint (spec);
  const char *api_type = mtv_vsphere_service (vs)->api_type;
  gboolean esxi = g_strcmp0 (api_type, "HostAgent") == 0;
  if (g_str_equal (want, "esxi") != esxi)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "settings.sdkEndpoint is %s but %s is %s (apiType %s): "
                   "set sdkEndpoint to %s", want, mtv_json_string (spec, "url"), esxi ? "an ESXi host" : "a vCenter",
                   api_type ? api_type : "?", esxi ? "esxi" : "vcenter");
      return FALSE;
    }
  const char *pinned = mtv_json_string (credentials, "thumbprint");
  const char *seen = mtv_soap_thumbprint (mtv_vsphere_soap (vs));
  if (pinned && *pinned && g_ascii_strcasecmp (pinned, seen ? seen : "") != 0)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_TRANSPORT, "the server's certificate has thumbprint %s, not "
                   "the %s the provider's credentials pin: it may not be the server you meant; check it and update "
                   "credentials.thumbprint", seen ? seen : "(none)", pinned);
      return FALSE;
    }
  return TRUE;
}

MtvVsphere *
mtv_vsphere_connection (JsonObject *spec, JsonObject *credentials, GError **error)
{
  const char *url = mtv_json_string (spec, "url");
  const char *user = mtv_json_string (credentials, "user");
  const char *password = mtv_json_string (credentials, "password");
  if (user == NULL || *user == '\0' || password == NULL)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_FAULT, "InvalidLogin: the provider has no %s (credentials: user "
                   "and password)", user == NULL || *user == '\0' ? "user" : "password");
      return NULL;
    }
  const char *e = endpoint (spec);
  if (!g_str_equal (e, "vcenter") && !g_str_equal (e, "esxi"))
    {
      g_autofree char *shown = g_strescape (e, NULL);
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "settings.sdkEndpoint: \"%s\" is not vcenter or esxi",
                   shown);
      return NULL;
    }
  g_autoptr (GBytes) ca = ca_of (credentials);
  g_autoptr (MtvVsphere) vs = mtv_vsphere_open (url ? url : "", ca, mtv_provider_credentials_insecure (credentials),
                                                error);
  /* The server is checked (the pinned certificate, the kind of endpoint)
   * before the password goes to it. */
  if (vs == NULL || !check_server (vs, spec, credentials, error) || !mtv_vsphere_login (vs, user, password, error))
    return NULL;
  return g_steal_pointer (&vs);
}

MtvVsphere *
mtv_vsphere_connection_resume (JsonObject *spec, JsonObject *credentials, const char *cookie, GError **error)
{
  g_autoptr (GBytes) ca = ca_of (credentials);
  g_autoptr (MtvVsphere) vs = mtv_vsphere_resume (mtv_json_string (spec, "url"), ca,
                                                  mtv_provider_credentials_insecure (credentials), cookie, error);
  if (vs == NULL || !check_server (vs, spec, credentials, error))
    return NULL;
  /* It logs in again, as the provider's user, if the session expired. */
  mtv_vsphere_set_login (vs, mtv_json_string (credentials, "user"), mtv_json_string (credentials, "password"));
  return g_steal_pointer (&vs);
}

char *
mtv_vsphere_connection_origin (JsonObject *spec)
{
  g_autoptr (GUri) uri = g_uri_parse (mtv_json_string (spec, "url") ? mtv_json_string (spec, "url") : "",
                                      G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL)
    return NULL;
  gint port = g_uri_get_port (uri);
  const char *host = g_uri_get_host (uri);
  gboolean v6 = strchr (host, ':') != NULL;
  return port > 0 ? g_strdup_printf ("%s://%s%s%s:%d", g_uri_get_scheme (uri), v6 ? "[" : "", host, v6 ? "]" : "", port)
                  : g_strdup_printf ("%s://%s%s%s", g_uri_get_scheme (uri), v6 ? "[" : "", host, v6 ? "]" : "");
}

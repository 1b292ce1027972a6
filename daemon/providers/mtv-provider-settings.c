/* Provider settings and the shared nbdkit curl command: see mtv-provider-settings.h. */
#include "mtv-provider-settings.h"
#include "mtv-json.h"

gboolean
mtv_provider_credentials_insecure (JsonObject *credentials)
{
  return g_strcmp0 (mtv_json_string (credentials, "insecureSkipVerify"), "true") == 0;
}

guint
mtv_provider_setting_seconds (JsonObject *spec, const char *key, guint min, guint max, guint fallback)
{
  const char *text = mtv_json_string (mtv_json_object (spec, "settings"), key);
  guint64 value;
  if (text && g_ascii_string_to_unsigned (text, 10, min, max, &value, NULL))
    return (guint) value;
  return fallback;
}

char **
mtv_nbdkit_curl_argv (const char *socket, const char *url, const char *script_param, const char *script,
                      gboolean insecure, const char *ca_file)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_autofree char *url_arg = g_strdup_printf ("url=%s", url);
  g_autofree char *script_arg = g_strdup_printf ("%s=%s", script_param, script);
  /* The curl plugin serves one request at a time per connection: saying the
   * export may be read over several (it is read-only, over a source that does
   * not change while it is read) lets mtv-transfer keep requests in flight on
   * each, which is what a remote disk's latency needs (bench/README.md). */
  g_strv_builder_add_many (b, "nbdkit", "-f", "-r", "-U", socket, "--filter=multi-conn", "curl", url_arg, script_arg,
                           "multi-conn-mode=unsafe", NULL);
  if (insecure)
    g_strv_builder_add (b, "sslverify=false");
  else if (ca_file)
    {
      g_autofree char *ca = g_strdup_printf ("cainfo=%s", ca_file);
      g_strv_builder_add (b, ca);
    }
  return g_strv_builder_end (b);
}

#pragma once
/* What providers of every type read from their spec's settings (a map of
 * strings), and the nbdkit command that serves a disk over HTTPS, which
 * several source types share. */
#include <json-glib/json-glib.h>

/* Whether the credentials say not to verify the server's certificate
 * (insecureSkipVerify, as Forklift's provider secrets have it). */
gboolean mtv_provider_credentials_insecure (JsonObject *credentials);

/* settings.@key as a whole number of seconds in [@min, @max], else @fallback. */
guint mtv_provider_setting_seconds (JsonObject *spec, const char *key, guint min, guint max, guint fallback);

/* nbdkit serving @url read-only on the unix socket @socket with its curl
 * plugin; @script_param ("header-script", "cookie-script") names the script
 * that gives the credential (never in argv); the server's certificate is
 * not checked when @insecure, else checked against @ca_file (NULL: the
 * system's CAs). */
char **mtv_nbdkit_curl_argv (const char *socket, const char *url, const char *script_param, const char *script,
                             gboolean insecure, const char *ca_file);

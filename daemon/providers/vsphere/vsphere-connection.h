#pragma once
/* How mtvd reaches the vCenter or ESXi of a vsphere provider: the URL, the
 * credentials (user, password, cacert, insecureSkipVerify, thumbprint) and
 * settings.sdkEndpoint ("vcenter", the default, or "esxi": a host's own
 * SDK, Forklift's direct ESXi). */
#include "vsphere-client.h"
#include <json-glib/json-glib.h>

/* Connects and logs in. Refused, before the password is sent, when the
 * server is not what sdkEndpoint says, or when the credentials pin a
 * thumbprint the server's certificate does not have. */
MtvVsphere *mtv_vsphere_connection (JsonObject *spec, JsonObject *credentials, GError **error);
/* The same server (checked as mtv_vsphere_connection does) in a session
 * taken over from @cookie, which logs in again if it has expired. */
MtvVsphere *mtv_vsphere_connection_resume (JsonObject *spec, JsonObject *credentials, const char *cookie,
                                           GError **error);
/* The URL's scheme and host ("https://vc.example.com:443"): where /folder is. */
char *mtv_vsphere_connection_origin (JsonObject *spec);

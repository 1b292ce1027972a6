#pragma once
#include "kube-client.h"

/* The connection of an openshift provider: its URL with the credentials
 * token, cacert and insecureSkipVerify; else the kubeconfig its setting
 * "kubeconfig" names (and "context"); else the pod's service account. */
MtvKubeConfig *mtv_openshift_connection (JsonObject *spec, JsonObject *credentials, GError **error);

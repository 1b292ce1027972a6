#pragma once
/* A session with a vCenter or ESXi (vsphere-soap.h underneath): the
 * ServiceContent's managed objects and About, login with user and password,
 * logout. Calls block: run them in a worker thread. */
#include "vsphere-soap.h"

typedef struct {
  char *api_version, *api_type, *full_name, *instance_uuid;   /* About */
  char *root_folder, *property_collector, *view_manager, *session_manager;   /* morefs */
} MtvVsphereService;

typedef struct _MtvVsphere MtvVsphere;

/* Reads the ServiceContent of @url and logs in. A refused login is
 * MTV_SOAP_ERROR_FAULT "InvalidLogin: ..."; the password is in no message. */
MtvVsphere *mtv_vsphere_connect (const char *url, GBytes *ca_pem, gboolean insecure, const char *user,
                                 const char *password, GError **error);
const MtvVsphereService *mtv_vsphere_service (MtvVsphere *vs);
MtvSoap *mtv_vsphere_soap (MtvVsphere *vs);
/* Logs out (best effort) and frees. */
void mtv_vsphere_free (MtvVsphere *vs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvVsphere, mtv_vsphere_free)

/* Parsed from a RetrieveServiceContent reply (pure, fuzzed). */
gboolean mtv_vsphere_service_parse (xmlNode *reply, MtvVsphereService *service, GError **error);
void mtv_vsphere_service_clear (MtvVsphereService *service);

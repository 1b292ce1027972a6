#pragma once
/* A session with a vCenter or ESXi (vsphere-soap.h underneath): the
 * ServiceContent's managed objects and About, login with user and password,
 * logout. Calls block: run them in a worker thread. */
#include "vsphere-soap.h"

typedef struct {
  char *api_version, *api_type, *full_name, *instance_uuid;   /* About */
  char *root_folder, *property_collector, *view_manager, *session_manager, *search_index;   /* morefs */
} MtvVsphereService;

typedef struct _MtvVsphere MtvVsphere;

/* Reads the ServiceContent of @url and logs in. A refused login is
 * MTV_SOAP_ERROR_FAULT "InvalidLogin: ..."; the password is in no message. */
MtvVsphere *mtv_vsphere_connect (const char *url, GBytes *ca_pem, gboolean insecure, const char *user,
                                 const char *password, GError **error);
/* The same in two steps, to look at the server (its certificate's
 * thumbprint, its About) before the password goes to it. */
MtvVsphere *mtv_vsphere_open (const char *url, GBytes *ca_pem, gboolean insecure, GError **error);
gboolean mtv_vsphere_login (MtvVsphere *vs, const char *user, const char *password, GError **error);
/* What a session taken over from a cookie logs in with when it has expired. */
void mtv_vsphere_set_login (MtvVsphere *vs, const char *user, const char *password);
/* A session taken over from @cookie (mtv_vsphere_cookie of another): it is
 * not renewed when it expires. */
MtvVsphere *mtv_vsphere_resume (const char *url, GBytes *ca_pem, gboolean insecure, const char *cookie,
                                GError **error);
/* The session cookie, for what reads datastore files over HTTPS; with
 * mtv_vsphere_keep_session the session outlives this handle. */
char *mtv_vsphere_cookie (MtvVsphere *vs);
void mtv_vsphere_keep_session (MtvVsphere *vs);
const MtvVsphereService *mtv_vsphere_service (MtvVsphere *vs);
/* How many times the handle logged in: what the server kept for the
 * session (views, collectors, filters) is gone once this grows. */
guint mtv_vsphere_logins (MtvVsphere *vs);
/* One SOAP call (mtv_soap_call) in the session, logging in again once when
 * the server says NotAuthenticated (the session expired). */
xmlDoc *mtv_vsphere_call (MtvVsphere *vs, const char *body, GError **error);
MtvSoap *mtv_vsphere_soap (MtvVsphere *vs);
/* Logs out (best effort) and frees. */
void mtv_vsphere_free (MtvVsphere *vs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvVsphere, mtv_vsphere_free)

/* Parsed from a RetrieveServiceContent reply (pure, fuzzed). */
gboolean mtv_vsphere_service_parse (xmlNode *reply, MtvVsphereService *service, GError **error);
void mtv_vsphere_service_clear (MtvVsphereService *service);

/* ---- reading the inventory ---------------------------------------------------------- */
#include <json-glib/json-glib.h>

/* Every managed object of @type below the root folder with the properties
 * @paths (NULL-terminated), through a ContainerView and RetrievePropertiesEx,
 * following ContinueRetrievePropertiesEx for as long as the server pages
 * (@page objects at a time, 0: the server's choice). Each element is
 * {"id": moref, "type": type, "props": {path: value}}; values as
 * mtv_vsphere_value gives them. */
JsonArray *mtv_vsphere_retrieve (MtvVsphere *vs, const char *type, const char *const *paths, guint page,
                                 GError **error);
/* The same, handing each object to @each as its page arrives and keeping
 * none: 10,000 VMs with their devices are ~40 MB as JSON, which the
 * inventory reduces to its model page by page. @each returns FALSE (with
 * @error set) to stop. */
typedef gboolean (*MtvVsphereEach) (JsonObject *object, gpointer data, GError **error);
gboolean mtv_vsphere_retrieve_each (MtvVsphere *vs, const char *type, const char *const *paths, guint page,
                                    MtvVsphereEach each, gpointer data, GError **error);

/* The properties @paths of one object ({"id", "type", "props"}), or NULL
 * with MTV_SOAP_ERROR_FAULT "ManagedObjectNotFound: ..." when it is gone. */
JsonObject *mtv_vsphere_get (MtvVsphere *vs, const char *type, const char *id, const char *const *paths,
                             GError **error);

/* Calls @body, a method that returns a Task: its moref (an error when the
 * call failed or the reply names no task). */
char *mtv_vsphere_start_task (MtvVsphere *vs, const char *body, GError **error);
/* Waits for @task (a Task's moref) to end, for @seconds at most, looking
 * four times a second; its info.result (a moref's value, or NULL when it has
 * none) in @result. A task that failed is an error with its message. */
gboolean mtv_vsphere_wait_task (MtvVsphere *vs, const char *task, guint seconds, char **result, GError **error);

/* Pieces the requests above and watches (vsphere-watch.h) are made of. A
 * reference's text as a reply holds it, or NULL when it is empty, over 256
 * bytes or not UTF-8 (it goes back into requests). */
char *mtv_vsphere_reference (xmlNode *parent, const char *name);
/* A ContainerView of the objects of @types (NULL-terminated) below the root
 * folder: its moref. */
char *mtv_vsphere_create_view (MtvVsphere *vs, const char *const *types, GError **error);
/* @method (DestroyView, ...) on @ref of @type, best effort: what the server
 * holds for us goes, and a failure to remove it changes nothing. */
void mtv_vsphere_destroy (MtvVsphere *vs, const char *method, const char *type, const char *ref);
/* A propSet of @type with @paths; an objectSet of the objects in @view. */
void mtv_vsphere_append_prop_set (GString *body, const char *type, const char *const *paths);
void mtv_vsphere_append_view_objects (GString *body, const char *view);

/* A property value as JSON: an ArrayOf... type an array, a data object an
 * object (its xsi:type as "_type", a repeated element an array), a
 * reference {"type", "value"}, any other leaf its text. Bounded in depth.
 * Without the schema a list field of one item inside a data object looks
 * like a single field: readers of list fields take both. */
JsonNode *mtv_vsphere_value (xmlNode *node);

/* The objects of a RetrievePropertiesEx or ContinueRetrievePropertiesEx
 * reply, added to @into; @token set to the next page's token or NULL
 * (pure, fuzzed). */
gboolean mtv_vsphere_parse_objects (xmlNode *reply, JsonArray *into, char **token, GError **error);

#pragma once
/* A small Kubernetes REST client (libcurl + json-glib) for the cluster
 * target and source: get, list (label selectors, pagination), create,
 * replace, merge patch, server-side apply (field manager "mtvd"), status
 * subresource, delete, and watch streams (bookmarks, 410 Gone). Calls block:
 * run them in a worker thread. A failed call's GError is in MTV_KUBE_ERROR
 * with the HTTP status as its code (0 for transport errors) and the Status
 * body's reason and message in its text. */
#include <glib.h>
#include <json-glib/json-glib.h>

#define MTV_KUBE_ERROR (mtv_kube_error_quark ())
GQuark mtv_kube_error_quark (void);

/* Where the cluster is and who we are to it. */
typedef struct {
  char *server;          /* https://api.example.com:6443 */
  char *token;           /* bearer token */
  char *token_file;      /* or a file to read it from at every request (rotating tokens) */
  GBytes *ca_pem;        /* trust these CAs (else the system's) */
  GBytes *client_cert_pem, *client_key_pem;
  gboolean insecure;     /* do not verify the server's certificate */
  char *namespace;       /* the context's namespace, if any */
  GStrv exec_argv;       /* exec credential plugin: command and arguments */
  GStrv exec_env;        /* its extra environment, NAME=VALUE */
} MtvKubeConfig;

void mtv_kube_config_free (MtvKubeConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvKubeConfig, mtv_kube_config_free)

/* From a kubeconfig document (YAML or JSON) and the directory relative paths
 * in it are relative to; @context NULL means current-context. */
MtvKubeConfig *mtv_kube_config_from_kubeconfig (const char *text, gsize length, const char *base_dir,
                                                const char *context, GError **error);
/* From the service-account files of a pod (@root: "/" normally). */
MtvKubeConfig *mtv_kube_config_in_cluster (const char *root, GError **error);

typedef struct _MtvKube MtvKube;

/* Takes @config. */
MtvKube *mtv_kube_new (MtvKubeConfig *config);
void mtv_kube_free (MtvKube *kube);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvKube, mtv_kube_free)
const MtvKubeConfig *mtv_kube_config (MtvKube *kube);

/* A kind of resource: "" group for the core API. */
typedef struct {
  const char *group, *version, *plural;
  gboolean namespaced;
} MtvKubeResource;

extern const MtvKubeResource MTV_KUBE_NAMESPACES, MTV_KUBE_PVCS, MTV_KUBE_STORAGE_CLASSES, MTV_KUBE_NADS,
    MTV_KUBE_DATAVOLUMES, MTV_KUBE_UPLOAD_TOKEN_REQUESTS, MTV_KUBE_CDI_CONFIGS, MTV_KUBE_CDIS,
    MTV_KUBE_VIRTUAL_MACHINES, MTV_KUBE_VIRTUAL_MACHINE_INSTANCES, MTV_KUBE_KUBEVIRTS, MTV_KUBE_JOBS,
    MTV_KUBE_CONFIG_MAPS, MTV_KUBE_SECRETS;

/* The path of a collection (@name NULL), an object, or its subresource. */
char *mtv_kube_path (const MtvKubeResource *r, const char *ns, const char *name, const char *sub);

/* A raw request: @body may be NULL. The parsed JSON answer (NULL for an empty body). */
JsonNode *mtv_kube_request (MtvKube *kube, const char *method, const char *path_and_query, const char *content_type,
                            JsonNode *body, GError **error);

/* A new object of @api_version and @kind in namespace @ns, named @name or,
 * when @name is NULL, given metadata.generateName @generate_name; @labels
 * (taken, may be NULL) become its metadata.labels. */
JsonObject *mtv_kube_object_new (const char *api_version, const char *kind, const char *ns, const char *name,
                                 const char *generate_name, JsonObject *labels);
JsonObject *mtv_kube_get (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *name, GError **error);
/* Polls an object until status.@field is one of @want (NULL-terminated) and
 * returns it; fails when it is @failed (may be NULL), on any error but 404
 * (not there yet), and after @seconds. */
JsonObject *mtv_kube_wait_status (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *name,
                                  const char *field, const char *const *want, const char *failed, int seconds,
                                  GError **error);
JsonObject *mtv_kube_create (MtvKube *kube, const MtvKubeResource *r, const char *ns, JsonObject *object,
                             GError **error);
/* PUT of the whole object (it must carry metadata.resourceVersion), or of its status with @sub "status". */
JsonObject *mtv_kube_replace (MtvKube *kube, const MtvKubeResource *r, const char *ns, JsonObject *object,
                              const char *sub, GError **error);
JsonObject *mtv_kube_merge_patch (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *name,
                                  JsonObject *patch, const char *sub, GError **error);
/* Server-side apply of @intent (apiVersion, kind, metadata.name) as field manager "mtvd". */
JsonObject *mtv_kube_apply (MtvKube *kube, const MtvKubeResource *r, const char *ns, JsonObject *intent,
                            gboolean force, GError **error);
/* Deletes; an object already gone is not an error. */
gboolean mtv_kube_delete (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *name, GError **error);

/* Sets a VirtualMachine's spec.runStrategy (Always, Halted, ...) by merge patch. */
gboolean mtv_kube_set_run_strategy (MtvKube *kube, const char *ns, const char *name, const char *strategy,
                                    GError **error);

/* Get, change with @mutate, replace; again from a fresh get when the object
 * changed meanwhile (409 Conflict), a few times. */
typedef gboolean (*MtvKubeMutate) (JsonObject *object, gpointer user_data, GError **error);
JsonObject *mtv_kube_update (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *name,
                             MtvKubeMutate mutate, gpointer user_data, GError **error);

/* Every object (following continue tokens, @page_size at a time; 0: 500),
 * and the list's resourceVersion for a watch to start from. */
JsonArray *mtv_kube_list (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *label_selector,
                          guint page_size, char **resource_version, GError **error);

/* One watch event: "ADDED", "MODIFIED", "DELETED" with the object. Return
 * FALSE to stop watching. */
typedef gboolean (*MtvKubeWatchFunc) (const char *type, JsonObject *object, gpointer user_data);

/* Lists, reports every object as ADDED, then watches from the list's
 * resourceVersion; after a closed stream it resumes from the last version
 * seen (bookmarks included), after 410 Gone it lists again and reports
 * what vanished as DELETED. Returns TRUE when @func stopped it, FALSE with
 * an error otherwise (@timeout_seconds passed: MTV_KUBE_ERROR, code 408). */
gboolean mtv_kube_watch (MtvKube *kube, const MtvKubeResource *r, const char *ns, const char *label_selector,
                         guint timeout_seconds, MtvKubeWatchFunc func, gpointer user_data, GError **error);

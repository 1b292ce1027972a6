#include "cluster-hook.h"
#include "mtv-json.h"
#include "mtv-yaml.h"
#include "targets/mtv-vm-builder.h"

#include <string.h>

/* The Job gets this long beyond its own deadline to say how it ended. */
#define GRACE_SECONDS 60
#define POLL_MS 1000

static JsonObject *
labels (const MtvTargetContext *ctx, const MtvHookRun *hook)
{
  MtvVmBuildInput in = mtv_vm_build_input (ctx);
  JsonObject *l = mtv_vm_build_labels (&in);
  json_object_set_string_member (l, "step", hook->step);
  json_object_set_string_member (l, "hook", hook->uid ? hook->uid : hook->name);
  json_object_set_string_member (l, "resource", "hook-config");
  return l;
}

/* "<plan>-<vm>-<step>-" as Forklift names them, made a DNS label that
 * leaves room for the five characters generateName adds. */
static char *
generate_name (const MtvTargetContext *ctx, const MtvHookRun *hook)
{
  g_autofree char *raw = g_strdup_printf ("%s-%s-%s", ctx->plan_name, ctx->name, hook->step);
  GString *s = g_string_new (NULL);
  for (const char *p = raw; *p && s->len < 52; p++)
    g_string_append_c (s, g_ascii_isalnum (*p) ? g_ascii_tolower (*p) : '-');
  while (s->len && s->str[s->len - 1] == '-')
    g_string_truncate (s, s->len - 1);
  g_string_append_c (s, '-');
  return g_string_free (s, FALSE);
}

static char *
yaml_of (JsonObject *o)
{
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), o);
  return mtv_yaml_emit (node);
}

static JsonObject *
config_map (const MtvTargetContext *ctx, const MtvHookRun *hook)
{
  g_autofree char *name = generate_name (ctx, hook);
  JsonObject *cm = mtv_kube_object_new ("v1", "ConfigMap", ctx->namespace, NULL, name, labels (ctx, hook));
  JsonObject *data = json_object_new ();
  const char *playbook = mtv_json_string (hook->spec, "playbook");
  gsize len = 0;
  g_autofree guchar *decoded = playbook ? g_base64_decode (playbook, &len) : NULL;
  g_autofree char *text = decoded ? g_strndup ((const char *) decoded, len) : g_strdup ("");
  g_autofree char *plan = yaml_of (hook->plan), *workload = yaml_of (hook->workload);
  json_object_set_string_member (data, "playbook.yml", text);
  json_object_set_string_member (data, "plan.yml", plan);
  json_object_set_string_member (data, "workload.yml", workload);
  json_object_set_object_member (cm, "data", data);
  return cm;
}

static JsonObject *
job (const MtvTargetContext *ctx, const MtvHookRun *hook, const char *config_map_name)
{
  g_autofree char *name = generate_name (ctx, hook);
  JsonObject *j = mtv_kube_object_new ("batch/v1", "Job", ctx->namespace, NULL, name, labels (ctx, hook));
  JsonObject *spec = json_object_new (), *tmpl = json_object_new (), *pod = json_object_new ();
  /* One retry, as Forklift; the deadline covers the whole Job. */
  json_object_set_int_member (spec, "backoffLimit", 1);
  json_object_set_int_member (spec, "activeDeadlineSeconds", hook->deadline);
  JsonObject *meta = json_object_new ();
  json_object_set_object_member (meta, "labels", labels (ctx, hook));
  json_object_set_object_member (tmpl, "metadata", meta);
  json_object_set_string_member (pod, "restartPolicy", "Never");
  const char *account = mtv_json_string (hook->spec, "serviceAccount");
  if (account && *account)
    json_object_set_string_member (pod, "serviceAccountName", account);
  JsonObject *container = json_object_new ();
  json_object_set_string_member (container, "name", "hook");
  json_object_set_string_member (container, "image", mtv_json_string (hook->spec, "image"));
  const char *playbook = mtv_json_string (hook->spec, "playbook");
  if (playbook && *playbook)
    {
      static const char *const command[] = { "/bin/entrypoint", "ansible-runner", "run", "/tmp/runner", "-p",
                                              "/tmp/hook/playbook.yml" };
      JsonArray *argv = json_array_new ();
      for (gsize i = 0; i < G_N_ELEMENTS (command); i++)
        json_array_add_string_element (argv, command[i]);
      json_object_set_array_member (container, "command", argv);
    }
  JsonObject *mount = json_object_new ();
  json_object_set_string_member (mount, "name", "hook");
  json_object_set_string_member (mount, "mountPath", "/tmp/hook");
  JsonArray *mounts = json_array_new ();
  json_array_add_object_element (mounts, mount);
  json_object_set_array_member (container, "volumeMounts", mounts);
  JsonArray *containers = json_array_new ();
  json_array_add_object_element (containers, container);
  json_object_set_array_member (pod, "containers", containers);
  JsonObject *volume = json_object_new (), *source = json_object_new ();
  json_object_set_string_member (volume, "name", "hook");
  json_object_set_string_member (source, "name", config_map_name);
  json_object_set_object_member (volume, "configMap", source);
  JsonArray *volumes = json_array_new ();
  json_array_add_object_element (volumes, volume);
  json_object_set_array_member (pod, "volumes", volumes);
  json_object_set_object_member (tmpl, "spec", pod);
  json_object_set_object_member (spec, "template", tmpl);
  json_object_set_object_member (j, "spec", spec);
  return j;
}

/* The Job's condition of @type that is True, or NULL. */
static JsonObject *
condition (JsonObject *job, const char *type)
{
  JsonNode *list = json_object_get_member (mtv_json_object (job, "status") ? mtv_json_object (job, "status")
                                                                            : job, "conditions");
  for (guint i = 0; list && JSON_NODE_HOLDS_ARRAY (list) && i < json_array_get_length (json_node_get_array (list)); i++)
    {
      JsonObject *c = json_array_get_object_element (json_node_get_array (list), i);
      if (g_strcmp0 (mtv_json_string (c, "type"), type) == 0 && g_strcmp0 (mtv_json_string (c, "status"), "True") == 0)
        return c;
    }
  return NULL;
}

gboolean
mtv_cluster_check_hook (JsonObject *spec, GError **error)
{
  const char *image = mtv_json_string (spec, "image");
  if (image == NULL || *image == '\0')
    {
      g_set_error (error, MTV_KUBE_ERROR, 0, "it has no image; a cluster runs hooks as Jobs (a command hook runs only "
                   "on a local target)");
      return FALSE;
    }
  return TRUE;
}

gboolean
mtv_cluster_run_hook (MtvKube *kube, const MtvTargetContext *ctx, const MtvHookRun *hook, GCancellable *stop,
                      GError **error)
{
  if (!mtv_cluster_check_hook (hook->spec, error))
    return FALSE;
  g_autoptr (JsonObject) cm_intent = config_map (ctx, hook);
  g_autoptr (JsonObject) cm = mtv_kube_create (kube, &MTV_KUBE_CONFIG_MAPS, ctx->namespace, cm_intent, error);
  if (cm == NULL)
    {
      g_prefix_error (error, "creating its ConfigMap: ");
      return FALSE;
    }
  const char *cm_name = mtv_json_string (mtv_json_object (cm, "metadata"), "name");
  g_autoptr (JsonObject) job_intent = job (ctx, hook, cm_name);
  g_autoptr (JsonObject) created = mtv_kube_create (kube, &MTV_KUBE_JOBS, ctx->namespace, job_intent, error);
  if (created == NULL)
    {
      g_prefix_error (error, "creating its Job: ");
      return FALSE;
    }
  const char *name = mtv_json_string (mtv_json_object (created, "metadata"), "name");
  gint64 deadline = g_get_monotonic_time () + (gint64) (hook->deadline + GRACE_SECONDS) * G_USEC_PER_SEC;
  while (!g_cancellable_is_cancelled (stop))
    {
      g_autoptr (JsonObject) now = mtv_kube_get (kube, &MTV_KUBE_JOBS, ctx->namespace, name, error);
      if (now == NULL)
        return FALSE;
      if (condition (now, "Complete"))
        return TRUE;
      JsonObject *failed = condition (now, "Failed");
      if (failed)
        {
          g_set_error (error, MTV_KUBE_ERROR, 0, "Job %s/%s failed: %s: %s", ctx->namespace, name,
                       mtv_json_string (failed, "reason") ? mtv_json_string (failed, "reason") : "Failed",
                       mtv_json_string (failed, "message") ? mtv_json_string (failed, "message") : "no message");
          return FALSE;
        }
      if (g_get_monotonic_time () > deadline)
        {
          g_set_error (error, MTV_KUBE_ERROR, 408, "Job %s/%s did not finish within its deadline of %u seconds",
                       ctx->namespace, name, hook->deadline);
          return FALSE;
        }
      g_usleep (POLL_MS * 1000);
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "cancelled while Job %s/%s ran", ctx->namespace, name);
  return FALSE;
}

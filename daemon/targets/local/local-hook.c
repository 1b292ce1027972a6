#include "local-hook.h"
#include "mtv-files.h"
#include "mtv-command.h"
#include "mtv-error.h"
#include "mtv-json.h"
#include "mtv-yaml.h"

#include <glib/gstdio.h>
#include <string.h>

/* A chatty playbook fills the journal no further than this. */
#define MAX_LOGGED_LINES 10000

typedef struct {
  const MtvTargetContext *ctx;
  const MtvHookRun *hook;
  guint lines;
} Output;

static void
log_line (const char *line, gpointer data)
{
  Output *o = data;
  if (++o->lines > MAX_LOGGED_LINES)
    {
      if (o->lines == MAX_LOGGED_LINES + 1)
        line = "(more output not logged)";
      else
        return;
    }
  g_log_structured (G_LOG_DOMAIN, G_LOG_LEVEL_MESSAGE, "MTV_MIGRATION", o->ctx->migration_id, "MTV_PLAN",
                    o->ctx->plan_name, "MTV_VM", mtv_json_string (o->ctx->vm, "name"), "MTV_HOOK", o->hook->name,
                    "MTV_STEP", o->hook->step, "MESSAGE", "migration %s: VM %s: %s %s: %s", o->ctx->migration_id,
                    mtv_json_string (o->ctx->vm, "name"), o->hook->step, o->hook->name, line);
}

static gboolean
write_yaml (const char *dir, const char *name, JsonObject *object, GError **error)
{
  g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), object);
  g_autofree char *text = mtv_yaml_emit (node);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  return g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_NONE, 0600, error);
}


/* What a command hook reads on its standard input. */
static GBytes *
command_input (const MtvTargetContext *ctx, const MtvHookRun *hook)
{
  g_autoptr (JsonObject) o = json_object_new ();
  JsonObject *plan = json_object_new ();
  json_object_set_string_member (plan, "name", ctx->plan_name);
  json_object_set_object_member (plan, "spec", json_object_ref (hook->plan));
  json_object_set_object_member (o, "plan", plan);
  json_object_set_object_member (o, "vm", json_object_ref (hook->workload));
  json_object_set_string_member (o, "step", hook->step);
  json_object_set_string_member (o, "migration", ctx->migration_id);
  json_object_set_string_member (o, "targetName", ctx->name);
  json_object_set_string_member (o, "targetNamespace", ctx->namespace);
  char *text = mtv_json_object_to_string (o, FALSE);
  return g_bytes_new_take (text, strlen (text));
}

gboolean
mtv_local_check_hook (JsonObject *spec, GError **error)
{
  const char *command = mtv_json_string (spec, "command");
  const char *playbook = mtv_json_string (spec, "playbook");
  if (command && *command)
    return TRUE;
  if (playbook == NULL || *playbook == '\0')
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "it has neither a command nor a playbook; a local target runs "
                   "hooks on this host (an image runs only in a cluster)");
      return FALSE;
    }
  g_autofree char *ansible = g_find_program_in_path ("ansible-playbook");
  if (ansible == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "its playbook needs ansible-playbook on this host "
                   "(Debian's package ansible-core)");
      return FALSE;
    }
  return TRUE;
}

gboolean
mtv_local_run_hook (const MtvTargetContext *ctx, const MtvHookRun *hook, GCancellable *stop, GError **error)
{
  const char *command = mtv_json_string (hook->spec, "command");
  const char *playbook = mtv_json_string (hook->spec, "playbook");
  if (!mtv_local_check_hook (hook->spec, error))
    return FALSE;
  /* In mtvd's runtime directory: emptied when mtvd starts, so a hook's
   * files do not outlive a killed mtvd. */
  g_autofree char *dir = g_build_filename (ctx->workdir, "hook-XXXXXX", NULL);
  if (g_mkdtemp_full (dir, 0700) == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "cannot make a directory for the hook in %s: %s", ctx->workdir,
                   g_strerror (errno));
      return FALSE;
    }
  g_auto (GStrv) argv = NULL;
  g_autoptr (GBytes) input = NULL;
  g_autoptr (GStrvBuilder) env = g_strv_builder_new ();
  g_autofree char *e_plan = g_strdup_printf ("MTV_PLAN=%s", ctx->plan_name);
  g_autofree char *e_vm = g_strdup_printf ("MTV_VM=%s", mtv_json_string (ctx->vm, "name"));
  g_autofree char *e_step = g_strdup_printf ("MTV_STEP=%s", hook->step);
  g_autofree char *e_migration = g_strdup_printf ("MTV_MIGRATION=%s", ctx->migration_id);
  g_autofree char *e_target = g_strdup_printf ("MTV_TARGET_NAME=%s", ctx->name);
  g_autofree char *e_namespace = g_strdup_printf ("MTV_TARGET_NAMESPACE=%s", ctx->namespace);
  g_strv_builder_add_many (env, e_plan, e_vm, e_step, e_migration, e_target, e_namespace, NULL);
  g_autofree char *e_home = g_strdup_printf ("HOME=%s", dir);
  g_autofree char *e_tmp = g_strdup_printf ("ANSIBLE_LOCAL_TEMP=%s/.ansible", dir);
  g_autofree char *e_remote = g_strdup_printf ("ANSIBLE_REMOTE_TEMP=%s/.ansible", dir);
  gboolean ok = write_yaml (dir, "plan.yml", hook->plan, error) && write_yaml (dir, "workload.yml", hook->workload, error);
  if (ok && command && *command)
    {
      ok = g_shell_parse_argv (command, NULL, &argv, error);
      input = command_input (ctx, hook);
    }
  else if (ok)
    {
      gsize len = 0;
      g_autofree guchar *text = g_base64_decode (playbook, &len);
      g_autofree char *path = g_build_filename (dir, "playbook.yml", NULL);
      g_autoptr (JsonObject) vars = json_object_new ();
      json_object_set_object_member (vars, "plan", json_object_ref (hook->plan));
      json_object_set_object_member (vars, "workload", json_object_ref (hook->workload));
      g_autofree char *ansible = g_find_program_in_path ("ansible-playbook");
      ok = ok && g_file_set_contents_full (path, (const char *) text, (gssize) len, G_FILE_SET_CONTENTS_NONE, 0600, error)
           && write_yaml (dir, "vars.yml", vars, error);
      if (ok)
        {
          const char *const args[] = { ansible, "-i", "localhost,", "-c", "local", "-e", "@vars.yml", "playbook.yml", NULL };
          argv = g_strdupv ((char **) args);
          g_strv_builder_add_many (env, e_home, e_tmp, e_remote, "ANSIBLE_NOCOLOR=1", "ANSIBLE_RETRY_FILES_ENABLED=0",
                                   "ANSIBLE_HOST_KEY_CHECKING=False", NULL);
        }
    }
  g_auto (GStrv) environment = g_strv_builder_end (env);
  Output output = { ctx, hook, 0 };
  MtvCommand run = {
    .argv = (const char *const *) argv,
    .env = (const char *const *) environment,
    .cwd = dir,
    .input = input,
    .timeout_seconds = hook->deadline,
    .stop = stop,
    .on_line = log_line,
    .data = &output,
  };
  ok = ok && mtv_command_run (&run, error);
  mtv_remove_tree (dir);
  return ok;
}

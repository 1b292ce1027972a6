/* Hook: a step run before or after a VM's migration: an Ansible playbook in
 * a container image (a Job, on a cluster target) or, an mtv extension for
 * local targets, a command run on this host. */
#include "mtv-kinds.h"
#include "mtv-error.h"
#include "mtv-dbus-generated.h"

#include <string.h>

/* Where an exported Hook keeps its command: Forklift's CRD has no field. */
#define COMMAND_ANNOTATION "mtvd.org/command"
#define MAX_COMMAND 4096

static gboolean
check_base64 (const char *value, GError **error)
{
  gsize n = 0;
  for (const char *p = value; *p; p++)
    {
      if (g_ascii_isspace (*p))
        continue;
      if (!(g_ascii_isalnum (*p) || *p == '+' || *p == '/' || *p == '='))
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                       "not base64 (character %zu); encode the playbook with base64",
                       (gsize) (p - value));
          return FALSE;
        }
      n++;
    }
  if (n % 4 != 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "not base64 (length %zu is not a multiple of 4)", n);
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_service_account (const char *value, GError **error)
{
  return mtv_name_validate (value, "service account", error);
}

/* Shell words, as the command line is run without a shell. */
static gboolean
check_command (const char *value, GError **error)
{
  g_auto (GStrv) argv = NULL;
  g_autoptr (GError) parse_error = NULL;
  if (strlen (value) > MAX_COMMAND)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "longer than %d characters", MAX_COMMAND);
      return FALSE;
    }
  if (!g_utf8_validate (value, -1, NULL) || !g_shell_parse_argv (value, NULL, &argv, &parse_error))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "not a command line of shell words (%s)",
                   parse_error ? parse_error->message : "not UTF-8");
      return FALSE;
    }
  return TRUE;
}

static const MtvField fields[] = {
  { .key = "image", .json_path = "image", .type = MTV_FIELD_STRING, .flags = MTV_FIELD_NON_EMPTY },
  /* A playbook (base64) can be large: Export has it, no property. */
  { .key = "playbook", .json_path = "playbook", .type = MTV_FIELD_STRING, .flags = MTV_FIELD_NOT_A_PROPERTY,
    .check_string = check_base64, .max = MTV_HOOK_MAX_PLAYBOOK },
  { .key = "serviceAccount", .json_path = "serviceAccount", .type = MTV_FIELD_STRING,
    .check_string = check_service_account },
  { .key = "deadline", .json_path = "deadline", .type = MTV_FIELD_INT64 },
  { .key = "command", .json_path = "command", .type = MTV_FIELD_STRING, .flags = MTV_FIELD_NON_EMPTY,
    .check_string = check_command },
};

static gboolean
validate (MtvDaemon *daemon, const char *name, JsonObject *spec, GError **error)
{
  if (!json_object_has_member (spec, "image") && !json_object_has_member (spec, "command"))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "image: is required for a Hook (or command, for a hook that "
                   "runs on this host for a local target)");
      return FALSE;
    }
  return TRUE;
}

static void
export_manifest (MtvDaemon *daemon, const MtvRecord *record, JsonObject *manifest)
{
  JsonObject *spec = json_object_get_object_member (manifest, "spec");
  const char *command = json_object_get_string_member_with_default (spec, "command", NULL);
  if (command == NULL)
    return;
  JsonObject *metadata = json_object_get_object_member (manifest, "metadata");
  JsonObject *annotations = json_object_new ();
  json_object_set_string_member (annotations, COMMAND_ANNOTATION, command);
  json_object_set_object_member (metadata, "annotations", annotations);
  json_object_remove_member (spec, "command");
}

const MtvKindInfo mtv_kind_hook = {
  .kind = MTV_KIND_HOOK,
  .fields = fields,
  .n_fields = G_N_ELEMENTS (fields),
  .manage_action = MTV_ACTION_MANAGE_PLANS,
  .skeleton_type = mtv_hook_skeleton_get_type,
  .validate = validate,
  .ready_message = "The hook is ready.",
  .export_manifest = export_manifest,
};

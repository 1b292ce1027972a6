/* Hook: an Ansible playbook in a container image, run before or after a VM. */
#include "mtv-kinds.h"
#include "mtv-error.h"
#include "mtv-dbus-generated.h"

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

static const MtvField fields[] = {
  { .key = "image", .json_path = "image", .type = MTV_FIELD_STRING, .flags = MTV_FIELD_REQUIRED },
  { .key = "playbook", .json_path = "playbook", .type = MTV_FIELD_STRING, .check_string = check_base64 },
  { .key = "serviceAccount", .json_path = "serviceAccount", .type = MTV_FIELD_STRING,
    .check_string = check_service_account },
  { .key = "deadline", .json_path = "deadline", .type = MTV_FIELD_INT64 },
};

const MtvKindInfo mtv_kind_hook = {
  .kind = MTV_KIND_HOOK,
  .fields = fields,
  .n_fields = G_N_ELEMENTS (fields),
  .manage_action = MTV_ACTION_MANAGE_PLANS,
  .skeleton_type = mtv_hook_skeleton_get_type,
  .ready_message = "The hook is ready.",
};

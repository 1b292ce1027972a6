/* mtvctl create hook */
#include "mtv-ctl.h"
#include "mtv-error.h"

#include <string.h>

static const MtvFlag hook_flags[] = {
  { "image", 0, MTV_FLAG_STRING, "image", "Container image that runs the playbook", "IMAGE" },
  { "playbook", 0, MTV_FLAG_RAW, NULL, "Ansible playbook, inline or @file (sent base64-encoded)", "PLAYBOOK" },
  { "service-account", 0, MTV_FLAG_STRING, "serviceAccount", "Service account the hook runs as", "NAME" },
  { "deadline", 0, MTV_FLAG_INT, "deadline", "Seconds the hook may run (0: 3600)", "SECONDS" },
  { "command", 0, MTV_FLAG_STRING, "command",
    "Local targets: a command line (shell words) run on this host, as root, with the plan and VM as JSON on stdin",
    "'ARGV...'" },
};

int
mtv_cmd_create_hook (MtvCtl *ctl, int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL;
  g_autofree char *path = NULL;
  MtvFlagValues values;
  mtv_flag_values_init (&values, hook_flags, G_N_ELEMENTS (hook_flags));

  gboolean ok = FALSE;
  const char *name = NULL;
  MtvClient *client = NULL;
  if (!mtv_ctl_parse ("NAME", "Create a migration hook.", &argc, &argv, &values, &name_flag, NULL, &error)
      || !(name = mtv_ctl_single_name (argc, argv, name_flag, "hook", &error))
      || !(client = mtv_ctl_client (ctl, &error)))
    goto out;
  const char *playbook = g_hash_table_lookup (values.raw, "playbook");
  if (playbook)
    {
      g_autofree char *text = mtv_flags_value_or_file (playbook, "--playbook", &error);
      if (text == NULL)
        goto out;
      g_autofree char *encoded = g_base64_encode ((const guchar *) text, strlen (text));
      g_variant_dict_insert (&values.spec, "playbook", "s", encoded);
    }
  path = mtv_client_create (client, MTV_KIND_HOOK, name, g_variant_dict_end (&values.spec), &error);
  if ((ok = path != NULL))
    g_print ("hook/%s created\n", name);
out:
  mtv_flag_values_clear (&values);
  return mtv_ctl_finish (ok, error);
}

#include "mtv-ctl.h"
#include "mtv-error.h"

MtvClient *
mtv_ctl_client (MtvCtl *ctl, GError **error)
{
  if (ctl->client == NULL)
    ctl->client = mtv_client_new (ctl->session_bus, error);
  return ctl->client;
}

gboolean
mtv_ctl_parse (const char *usage, const char *summary, int *argc, char ***argv,
               MtvFlagValues *flags, char **name, char **output, GError **error)
{
  /* -p (kubectl-mtv's --provider of get inventory) only where no command
   * flag takes the letter, i.e. for commands without a flag table. */
  GOptionEntry common[4] = { G_OPTION_ENTRY_NULL, G_OPTION_ENTRY_NULL, G_OPTION_ENTRY_NULL, G_OPTION_ENTRY_NULL };
  guint n = 0;
  common[n++] = (GOptionEntry) { "name", 'M', 0, G_OPTION_ARG_STRING, name,
                                 "The name (instead of the positional NAME)", "NAME" };
  if (flags == NULL)
    common[n++] = (GOptionEntry) { "provider", 'p', G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, name,
                                   "The provider (get inventory)", "PROVIDER" };
  if (output)
    common[n++] = (GOptionEntry) { "output", 'o', 0, G_OPTION_ARG_STRING, output,
                                   "Output format: table, json or yaml", "FORMAT" };
  g_autoptr (GOptionContext) context = g_option_context_new (usage);
  g_option_context_set_summary (context, summary);
  g_option_context_set_strict_posix (context, FALSE);
  if (flags)
    mtv_flags_add_to_context (context, flags);
  GOptionGroup *extra = g_option_group_new ("common", "Common options", "Show common options", NULL, NULL);
  g_option_group_add_entries (extra, common);
  if (flags)
    g_option_context_add_group (context, extra);
  else
    {
      g_option_context_set_main_group (context, extra);
    }
  if (!g_option_context_parse (context, argc, argv, error))
    return FALSE;
  /* Options may follow positionals; GOption leaves "--" only when given. */
  for (int i = 1; i < *argc; i++)
    if ((*argv)[i][0] == '-' && (*argv)[i][1] != '\0')
      {
        g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "unknown option %s", (*argv)[i]);
        return FALSE;
      }
  return TRUE;
}

const char *
mtv_ctl_single_name (int argc, char **argv, const char *name_flag, const char *what,
                     GError **error)
{
  if (name_flag && argc > 1)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "give the %s name either as NAME or with -M, not both", what);
      return NULL;
    }
  if (name_flag)
    return name_flag;
  if (argc != 2)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   argc < 2 ? "a %s name is required" : "exactly one %s name is expected", what);
      return NULL;
    }
  return argv[1];
}

int
mtv_ctl_finish (gboolean ok, GError *error)
{
  if (ok)
    return 0;
  if (error)
    mtv_client_print_error (error);
  return 1;
}

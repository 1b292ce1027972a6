/* mtvctl: the command-line client of mtvd, with kubectl-mtv's verbs. */
#include "config.h"
#include "mtv-ctl.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

static int describe_provider (MtvCtl *c, int n, char **v) { return mtv_cmd_describe (c, MTV_KIND_PROVIDER, n, v); }
static int describe_plan (MtvCtl *c, int n, char **v) { return mtv_cmd_describe (c, MTV_KIND_PLAN, n, v); }
static int describe_hook (MtvCtl *c, int n, char **v) { return mtv_cmd_describe (c, MTV_KIND_HOOK, n, v); }
static int describe_network_mapping (MtvCtl *c, int n, char **v) { return mtv_cmd_describe (c, MTV_KIND_NETWORK_MAP, n, v); }
static int describe_storage_mapping (MtvCtl *c, int n, char **v) { return mtv_cmd_describe (c, MTV_KIND_STORAGE_MAP, n, v); }
static int delete_provider (MtvCtl *c, int n, char **v) { return mtv_cmd_delete (c, MTV_KIND_PROVIDER, n, v); }
static int delete_plan (MtvCtl *c, int n, char **v) { return mtv_cmd_delete (c, MTV_KIND_PLAN, n, v); }
static int delete_hook (MtvCtl *c, int n, char **v) { return mtv_cmd_delete (c, MTV_KIND_HOOK, n, v); }
static int delete_network_mapping (MtvCtl *c, int n, char **v) { return mtv_cmd_delete (c, MTV_KIND_NETWORK_MAP, n, v); }
static int delete_storage_mapping (MtvCtl *c, int n, char **v) { return mtv_cmd_delete (c, MTV_KIND_STORAGE_MAP, n, v); }

/* Each command is a verb, a noun (with its plural) and, for mappings, a
 * sub-noun. The table is also what `mtvctl help` prints. */
static const struct {
  const char *verb;
  const char *noun;
  const char *plural;
  const char *sub;
  MtvCommandFunc func;
  const char *summary;
} commands[] = {
  { "create", "provider", NULL, NULL, mtv_cmd_create_provider, "Create a provider" },
  { "create", "mapping", NULL, "network", mtv_cmd_create_network_mapping, "Create a network mapping" },
  { "create", "mapping", NULL, "storage", mtv_cmd_create_storage_mapping, "Create a storage mapping" },
  { "create", "plan", NULL, NULL, mtv_cmd_create_plan, "Create a migration plan" },
  { "create", "hook", NULL, NULL, mtv_cmd_create_hook, "Create a migration hook" },
  { "get", "provider", "providers", NULL, mtv_cmd_get_providers, "List providers" },
  { "get", "mapping", "mappings", "[network|storage]", mtv_cmd_get_mappings, "List network and storage mappings" },
  { "get", "plan", "plans", NULL, mtv_cmd_get_plans, "List plans" },
  { "get", "hook", "hooks", NULL, mtv_cmd_get_hooks, "List hooks" },
  { "get", "migration", "migrations", "[PLAN]", mtv_cmd_get_migrations, "List migrations (of a plan)" },
  { "get", "inventory", NULL, "KIND PROVIDER", mtv_cmd_get_inventory, "List or query a provider's inventory (-q QUERY)" },
  { "describe", "provider", NULL, NULL, describe_provider, "Show a provider in detail" },
  { "describe", "plan", NULL, NULL, describe_plan, "Show a plan in detail" },
  { "describe", "hook", NULL, NULL, describe_hook, "Show a hook in detail" },
  { "describe", "mapping", NULL, "network", describe_network_mapping, "Show a network mapping in detail" },
  { "describe", "mapping", NULL, "storage", describe_storage_mapping, "Show a storage mapping in detail" },
  { "patch", "provider", NULL, NULL, mtv_cmd_patch_provider, "Change a provider" },
  { "patch", "plan", NULL, NULL, mtv_cmd_patch_plan, "Change a plan" },
  { "start", "plan", "plans", NULL, mtv_cmd_start_plan, "Start a plan (--wait: follow it)" },
  { "cancel", "plan", NULL, NULL, mtv_cmd_cancel_plan, "Cancel VMs of a running plan" },
  { "cutover", "plan", "plans", NULL, mtv_cmd_cutover_plan, "Set or move the cutover of running warm plans" },
  { "archive", "plan", "plans", NULL, mtv_cmd_archive_plan, "Archive plans" },
  { "unarchive", "plan", "plans", NULL, mtv_cmd_unarchive_plan, "Unarchive plans" },
  { "settings", "get", NULL, NULL, mtv_cmd_settings_get, "Show the service's settings" },
  { "settings", "set", NULL, NULL, mtv_cmd_settings_set, "Change a setting (--setting K --value V)" },
  { "settings", "unset", NULL, NULL, mtv_cmd_settings_unset, "Return a setting to its default" },
  { "delete", "provider", "providers", NULL, delete_provider, "Delete providers" },
  { "delete", "plan", "plans", NULL, delete_plan, "Delete plans" },
  { "delete", "hook", "hooks", NULL, delete_hook, "Delete hooks" },
  { "delete", "mapping", "mappings", "network", delete_network_mapping, "Delete network mappings" },
  { "delete", "mapping", "mappings", "storage", delete_storage_mapping, "Delete storage mappings" },
};

static void
usage (FILE *out)
{
  fprintf (out, "Usage: mtvctl [--session] VERB NOUN [NAME] [OPTIONS]\n\n"
                "Manage virtual machine migrations done by mtvd.\n\nCommands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      gboolean get = g_str_equal (commands[i].verb, "get");
      const char *noun = get && commands[i].plural ? commands[i].plural : commands[i].noun;
      const char *sub = get ? (commands[i].sub ? commands[i].sub : "[NAME]") : commands[i].sub;
      g_autofree char *cmd = g_strdup_printf ("%s %s%s%s", commands[i].verb, noun, sub ? " " : "",
                                              sub ? sub : "");
      fprintf (out, "  %-34s %s\n", cmd, commands[i].summary);
    }
  fprintf (out, "\nGlobal options:\n"
                "  --session                          Talk to mtvd on the session bus (development)\n"
                "  --version                          Print the version\n"
                "  -h, --help                         This help; `mtvctl VERB NOUN --help` for a command's options\n"
                "\nSee mtvctl(1).\n");
}

static gboolean
noun_matches (const char *word, gsize i)
{
  return word && (g_str_equal (word, commands[i].noun)
                  || (commands[i].plural && g_str_equal (word, commands[i].plural))
                  || (g_str_equal (commands[i].verb, "get") == FALSE && g_str_has_suffix (word, "s")
                      && strlen (word) == strlen (commands[i].noun) + 1
                      && g_str_has_prefix (word, commands[i].noun)));
}

int
main (int argc, char **argv)
{
  MtvCtl ctl = { .session_bus = g_strcmp0 (g_getenv ("MTVCTL_BUS"), "session") == 0 };
  int i = 1;

  setlocale (LC_ALL, "");
  for (; i < argc && argv[i][0] == '-'; i++)
    {
      if (g_str_equal (argv[i], "--session"))
        ctl.session_bus = TRUE;
      else if (g_str_equal (argv[i], "--version"))
        {
          printf ("mtvctl %s\n", MTV_VERSION);
          return 0;
        }
      else if (g_str_equal (argv[i], "-h") || g_str_equal (argv[i], "--help"))
        {
          usage (stdout);
          return 0;
        }
      else
        {
          fprintf (stderr, "Error: unknown option %s\n\n", argv[i]);
          usage (stderr);
          return 2;
        }
    }
  if (i < argc && g_str_equal (argv[i], "help"))
    {
      usage (stdout);
      return 0;
    }
  if (i < argc && g_str_equal (argv[i], "version"))
    {
      printf ("mtvctl %s\n", MTV_VERSION);
      return 0;
    }
  /* "mtvctl settings" alone, or followed by options, means "settings get". */
  g_autofree char **with_get = NULL;
  if (i < argc && g_str_equal (argv[i], "settings") && (i + 1 >= argc || argv[i + 1][0] == '-'))
    {
      with_get = g_new0 (char *, argc + 2);
      for (int k = 0, j = 0; k < argc; k++)
        {
          with_get[j++] = argv[k];
          if (k == i)
            with_get[j++] = (char *) "get";
        }
      argv = with_get;
      argc++;
    }
  if (i + 1 >= argc)
    {
      usage (stderr);
      return 2;
    }

  const char *verb = argv[i], *noun = argv[i + 1];
  const char *sub = i + 2 < argc ? argv[i + 2] : NULL;
  gboolean verb_known = FALSE;
  for (gsize c = 0; c < G_N_ELEMENTS (commands); c++)
    {
      if (!g_str_equal (verb, commands[c].verb))
        continue;
      verb_known = TRUE;
      if (!noun_matches (noun, c))
        continue;
      /* "get mappings" takes its network|storage itself. */
      if (commands[c].sub && !g_str_equal (verb, "get"))
        {
          if (g_strcmp0 (sub, commands[c].sub) != 0)
            continue;
          i++;
        }
      g_autofree char *prgname = g_strdup_printf ("mtvctl %s %s%s%s", verb, commands[c].noun,
                                                  commands[c].sub && !g_str_equal (verb, "get") ? " " : "",
                                                  commands[c].sub && !g_str_equal (verb, "get") ? commands[c].sub : "");
      g_set_prgname (prgname);
      /* The command sees argv[0] = its name, then its own arguments. */
      argv[i + 1] = prgname;
      int status = commands[c].func (&ctl, argc - (i + 1), argv + i + 1);
      mtv_client_free (ctl.client);
      return status;
    }
  if (g_str_equal (noun, "mapping") || g_str_equal (noun, "mappings"))
    fprintf (stderr, "Error: say which kind: mtvctl %s mapping network|storage ...\n", verb);
  else if (verb_known)
    fprintf (stderr, "Error: mtvctl %s does not take \"%s\"\n", verb, noun);
  else
    fprintf (stderr, "Error: unknown command \"%s\"\n", verb);
  return 2;
}

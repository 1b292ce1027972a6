#pragma once
#include "mtv-client.h"
#include "mtv-flags.h"
#include "mtv-output.h"

/* What every mtvctl command gets: the bus to use and a client made on first
 * use (so `--help` works without mtvd). */
typedef struct {
  gboolean session_bus;
  MtvClient *client;
} MtvCtl;

/* The client, connecting on first use; NULL with @error when there is no bus. */
MtvClient *mtv_ctl_client (MtvCtl *ctl, GError **error);

/* Parses a command line: @flags (may be NULL) plus -M/--name and, when
 * @output is non-NULL, -o/--output. Leaves positional arguments in argv. */
gboolean mtv_ctl_parse (const char *usage, const char *summary, int *argc, char ***argv,
                        MtvFlagValues *flags, char **name, char **output, GError **error);

/* The one NAME the command acts on, from -M or the single positional. */
const char *mtv_ctl_single_name (int argc, char **argv, const char *name_flag,
                                 const char *what, GError **error);

/* The names asked for: -M and the positionals, each split on commas. */
GStrv mtv_ctl_requested_names (int argc, char **argv, const char *name_flag);

/* Runs @func and prints its error; the exit status. */
int mtv_ctl_finish (gboolean ok, GError *error);

typedef int (*MtvCommandFunc) (MtvCtl *ctl, int argc, char **argv);

int mtv_cmd_create_provider (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_patch_provider (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_create_network_mapping (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_create_storage_mapping (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_create_plan (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_patch_plan (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_create_hook (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_get_providers (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_get_mappings (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_get_plans (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_get_hooks (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_get_inventory (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_describe (MtvCtl *ctl, MtvKind kind, int argc, char **argv);
int mtv_cmd_delete (MtvCtl *ctl, MtvKind kind, int argc, char **argv);
int mtv_cmd_settings_get (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_settings_set (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_settings_unset (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_start_plan (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_cancel_plan (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_cutover_plan (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_get_migrations (MtvCtl *ctl, int argc, char **argv);
/* describe plan: its latest migration's VMs and the migrations kept. */
void mtv_describe_plan_migrations (MtvClient *client, const char *plan_name, JsonObject *manifest);
/* A warm migration's rounds, churn and projected (or measured) downtime,
 * one line per warm VM of @migration (status.migration); NULL when none is warm. */
char *mtv_warm_summary (JsonObject *migration);
int mtv_cmd_archive_plan (MtvCtl *ctl, int argc, char **argv);
int mtv_cmd_unarchive_plan (MtvCtl *ctl, int argc, char **argv);
/* Draws the plan's latest migration until it ends; 0 when it succeeded. */
int mtv_cmd_watch_plan (MtvCtl *ctl, const char *name);

/* mtvd: the migration service on the system bus. */
#include "config.h"
#include "mtv-daemon.h"
#include "mtv-names.h"

#include <glib-unix.h>
#include <libxml/parser.h>
#include <locale.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <sys/stat.h>

typedef struct {
  GMainLoop *loop;
  MtvDaemon *daemon;
  int exit_status;
} Context;

static gboolean
on_signal (gpointer user_data)
{
  Context *ctx = user_data;
  g_message ("stopping on signal");
  g_main_loop_quit (ctx->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_watchdog (gpointer user_data)
{
  sd_notify (0, "WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  g_message ("mtvd %s ready as %s", MTV_VERSION, name);
  sd_notify (0, "READY=1\nSTATUS=Serving " MTV_BUS_NAME);
}

static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer user_data)
{
  Context *ctx = user_data;
  g_warning ("lost or could not acquire the bus name %s (is another mtvd running?)", name);
  ctx->exit_status = 1;
  g_main_loop_quit (ctx->loop);
}

static void
silence_libxml (void *ctx, const char *msg, ...)
{
}

int
main (int argc, char **argv)
{
  gboolean session = FALSE, version = FALSE;
  int max_in_flight = 20;
  g_autofree char *state_dir = NULL, *rules_dir = NULL, *rules_dropin_dir = NULL;
  g_autoptr (GError) error = NULL;
  const GOptionEntry entries[] = {
    { "session", 0, 0, G_OPTION_ARG_NONE, &session, "Serve on the session bus (development)", NULL },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, "Keep state in DIR (default " MTV_STATE_DIR ")", "DIR" },
    { "max-vms-in-flight", 0, 0, G_OPTION_ARG_INT, &max_in_flight, "Migrate at most N VMs at once (default 20)", "N" },
    { "rules-dir", 0, 0, G_OPTION_ARG_FILENAME, &rules_dir,
      "Read the shipped validation rules from DIR (default " MTV_DATA_DIR "/rules)", "DIR" },
    { "rules-dropin-dir", 0, 0, G_OPTION_ARG_FILENAME, &rules_dropin_dir,
      "Read the administrator's validation rules from DIR (default " MTV_SYSCONF_DIR "/rules.d)", "DIR" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    G_OPTION_ENTRY_NULL,
  };

  setlocale (LC_ALL, "");
  /* Before any thread parses XML (the OVA scanner's workers). Parse errors
   * are reported through GError; libxml2 must not print them itself. */
  xmlInitParser ();
  xmlSetGenericErrorFunc (NULL, silence_libxml);
  xmlThrDefSetGenericErrorFunc (NULL, silence_libxml);
  /* Files mtvd creates (the database with credentials) are for root only. */
  umask (0077);
  /* A helper that exits without reading what mtvd writes to it (a hook's
   * standard input) is its failure to report, not a signal that kills mtvd. */
  signal (SIGPIPE, SIG_IGN);
  /* Blocking work runs in GLib's worker threads; keeping idle ones (as many
   * as VMs may run at once) spares creating a thread for every adapter call. */
  g_thread_pool_set_max_unused_threads (32);

  g_autoptr (GOptionContext) options = g_option_context_new ("- virtual machine migration service");
  g_option_context_add_main_entries (options, entries, NULL);
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      g_printerr ("mtvd: %s\n", error->message);
      return 2;
    }
  if (version)
    {
      g_print ("mtvd %s\n", MTV_VERSION);
      return 0;
    }
  /* systemd gives every StateDirectory= of the unit, separated by colons:
   * the state's is the first (mtvd.service: mtvd, then mtv for targets). */
  if (state_dir == NULL && g_getenv ("STATE_DIRECTORY") && *g_getenv ("STATE_DIRECTORY"))
    {
      g_auto (GStrv) dirs = g_strsplit (g_getenv ("STATE_DIRECTORY"), ":", 2);
      state_dir = g_strdup (dirs[0]);
    }
  if (state_dir == NULL)
    state_dir = g_strdup (MTV_STATE_DIR);
  /* The unit's RuntimeDirectory= (/run/mtvd), else STATE_DIR/run. */
  g_autofree char *runtime_dir = NULL;
  if (g_getenv ("RUNTIME_DIRECTORY") && *g_getenv ("RUNTIME_DIRECTORY"))
    {
      g_auto (GStrv) dirs = g_strsplit (g_getenv ("RUNTIME_DIRECTORY"), ":", 2);
      runtime_dir = g_strdup (dirs[0]);
    }

  g_autoptr (GDBusConnection) connection =
    g_bus_get_sync (session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, NULL, &error);
  if (connection == NULL)
    {
      g_printerr ("mtvd: cannot connect to the %s bus: %s\n", session ? "session" : "system",
                  error->message);
      return 1;
    }
  g_dbus_connection_set_exit_on_close (connection, FALSE);

  Context ctx = { .loop = g_main_loop_new (NULL, FALSE) };
  ctx.daemon = mtv_daemon_new (connection, state_dir, runtime_dir, rules_dir ? rules_dir : MTV_DATA_DIR "/rules",
                               rules_dropin_dir ? rules_dropin_dir : MTV_SYSCONF_DIR "/rules.d", session,
                               (guint) MAX (1, max_in_flight), &error);
  if (ctx.daemon == NULL)
    {
      g_printerr ("mtvd: %s\n", error->message);
      g_main_loop_unref (ctx.loop);
      return 1;
    }

  /* Objects are exported before the name is owned, so a client activated by
   * the name sees everything at once. */
  guint owner = g_bus_own_name_on_connection (connection, MTV_BUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE,
                                              on_name_acquired, on_name_lost, &ctx, NULL);
  guint sigterm = g_unix_signal_add (SIGTERM, on_signal, &ctx);
  guint sigint = g_unix_signal_add (SIGINT, on_signal, &ctx);
  guint64 watchdog_usec = 0;
  guint watchdog = 0;
  if (sd_watchdog_enabled (0, &watchdog_usec) > 0 && watchdog_usec > 0)
    watchdog = g_timeout_add ((guint) (watchdog_usec / 2000), on_watchdog, NULL);

  g_main_loop_run (ctx.loop);

  sd_notify (0, "STOPPING=1");
  if (watchdog)
    g_source_remove (watchdog);
  g_source_remove (sigterm);
  g_source_remove (sigint);
  g_bus_unown_name (owner);
  mtv_daemon_free (ctx.daemon);
  g_dbus_connection_flush_sync (connection, NULL, NULL);
  g_dbus_connection_close_sync (connection, NULL, NULL);
  g_main_loop_unref (ctx.loop);
  xmlCleanupParser ();
  return ctx.exit_status;
}

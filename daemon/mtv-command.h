#pragma once
#include <gio/gio.h>

/* Runs a helper command from a worker thread and waits for it, with a
 * deadline and a cancellable: either kills it and its process group. Its
 * standard input gets @input (may be NULL); its output (stdout and stderr
 * together) goes line by line to @on_line (may be NULL), and its last
 * lines are kept for the error message. It dies with mtvd. */
typedef void (*MtvCommandLine) (const char *line, gpointer data);

typedef struct {
  const char *const *argv;
  const char *const *env;     /* extra NAME=VALUE entries, or NULL */
  const char *cwd;            /* or NULL */
  GBytes *input;              /* or NULL: /dev/null */
  guint timeout_seconds;      /* never 0 */
  GCancellable *stop;         /* or NULL */
  MtvCommandLine on_line;
  gpointer data;
} MtvCommand;

/* TRUE when it exited with status 0; else the error says how it ended
 * (status, signal, deadline, cancelled: G_IO_ERROR_CANCELLED) with the last
 * of its output. */
gboolean mtv_command_run (const MtvCommand *command, GError **error);

#include "mtv-command.h"
#include "mtv-error.h"

#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/* The end of the output kept for the error message. */
#define TAIL_BYTES 2000
/* Longer lines are cut (a binary spewing without newlines). */
#define MAX_LINE 4096

typedef struct {
  const MtvCommand *command;
  GSubprocess *proc;
  GMainContext *context;
  GString *tail;
  gboolean output_done, exited, timed_out, cancelled;
  GError *error;
} Run;

static void
child_setup (gpointer data)
{
  /* Its own process group, so that what it starts is killed with it. */
  setpgid (0, 0);
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
keep_tail (Run *r, const char *line)
{
  g_string_append (r->tail, line);
  g_string_append_c (r->tail, '\n');
  if (r->tail->len > TAIL_BYTES)
    {
      /* From the start of a line. */
      const char *cut = strchr (r->tail->str + (r->tail->len - TAIL_BYTES), '\n');
      g_string_erase (r->tail, 0, cut ? (gssize) (cut - r->tail->str + 1) : (gssize) (r->tail->len - TAIL_BYTES));
    }
}

static void read_line (GDataInputStream *in, Run *r);

static void
on_line (GObject *source, GAsyncResult *res, gpointer data)
{
  Run *r = data;
  GDataInputStream *in = G_DATA_INPUT_STREAM (source);
  gsize length = 0;
  g_autofree char *line = g_data_input_stream_read_line_finish (in, res, &length, NULL);
  if (line == NULL)
    {
      r->output_done = TRUE;
      return;
    }
  if (length > MAX_LINE)
    line[MAX_LINE] = '\0';
  g_autofree char *valid = g_utf8_make_valid (line, -1);
  keep_tail (r, valid);
  if (r->command->on_line)
    r->command->on_line (valid, r->command->data);
  read_line (in, r);
}

static void
read_line (GDataInputStream *in, Run *r)
{
  g_data_input_stream_read_line_async (in, G_PRIORITY_DEFAULT, NULL, on_line, r);
}

static void
on_exited (GObject *source, GAsyncResult *res, gpointer data)
{
  Run *r = data;
  g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL);
  r->exited = TRUE;
}

static void
kill_group (Run *r)
{
  const char *id = g_subprocess_get_identifier (r->proc);
  if (id)
    kill (-(pid_t) g_ascii_strtoll (id, NULL, 10), SIGKILL);
}

static gboolean
on_deadline (gpointer data)
{
  Run *r = data;
  r->timed_out = TRUE;
  kill_group (r);
  return G_SOURCE_REMOVE;
}

static gboolean
on_stop (GCancellable *cancellable, gpointer data)
{
  Run *r = data;
  r->cancelled = TRUE;
  kill_group (r);
  return G_SOURCE_REMOVE;
}

static void
on_input_written (GObject *source, GAsyncResult *res, gpointer data)
{
  /* A command that does not read its input is no failure. */
  g_output_stream_splice_finish (G_OUTPUT_STREAM (source), res, NULL);
}

gboolean
mtv_command_run (const MtvCommand *command, GError **error)
{
  Run r = { .command = command, .tail = g_string_new (NULL) };
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
    (command->input ? G_SUBPROCESS_FLAGS_STDIN_PIPE : G_SUBPROCESS_FLAGS_NONE) | G_SUBPROCESS_FLAGS_STDOUT_PIPE
    | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  for (guint i = 0; command->env && command->env[i]; i++)
    {
      g_auto (GStrv) kv = g_strsplit (command->env[i], "=", 2);
      g_subprocess_launcher_setenv (launcher, kv[0], kv[1] ? kv[1] : "", TRUE);
    }
  if (command->cwd)
    g_subprocess_launcher_set_cwd (launcher, command->cwd);

  /* A context of this thread's own: the main loop is not waited on. */
  r.context = g_main_context_new ();
  g_main_context_push_thread_default (r.context);
  r.proc = g_subprocess_launcher_spawnv (launcher, command->argv, &r.error);
  if (r.proc)
    {
      g_autoptr (GDataInputStream) out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (r.proc));
      read_line (out, &r);
      g_subprocess_wait_async (r.proc, NULL, on_exited, &r);
      if (command->input)
        {
          g_autoptr (GInputStream) input = g_memory_input_stream_new_from_bytes (command->input);
          g_output_stream_splice_async (g_subprocess_get_stdin_pipe (r.proc), input,
                                        G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, G_PRIORITY_DEFAULT, NULL,
                                        on_input_written, &r);
        }
      GSource *deadline = g_timeout_source_new_seconds (command->timeout_seconds);
      g_source_set_callback (deadline, on_deadline, &r, NULL);
      g_source_attach (deadline, r.context);
      GSource *stop = command->stop ? g_cancellable_source_new (command->stop) : NULL;
      if (stop)
        {
          g_source_set_callback (stop, G_SOURCE_FUNC (on_stop), &r, NULL);
          g_source_attach (stop, r.context);
        }
      while (!(r.exited && r.output_done))
        g_main_context_iteration (r.context, TRUE);
      g_source_destroy (deadline);
      g_source_unref (deadline);
      if (stop)
        {
          g_source_destroy (stop);
          g_source_unref (stop);
        }
      /* What the spliced input or a late line still holds is settled here. */
      while (g_main_context_iteration (r.context, FALSE))
        ;
    }
  g_main_context_pop_thread_default (r.context);
  g_main_context_unref (r.context);

  gboolean ok = FALSE;
  g_strchomp (r.tail->str);
  r.tail->len = strlen (r.tail->str);
  const char *tail = r.tail->len ? r.tail->str : "no output";
  if (r.error)
    g_propagate_error (error, g_steal_pointer (&r.error));
  else if (r.cancelled)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "%s was cancelled", command->argv[0]);
  else if (r.timed_out)
    g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s did not finish within %u seconds and was killed: %s",
                 command->argv[0], command->timeout_seconds, tail);
  else if (g_subprocess_get_if_signaled (r.proc))
    g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s was killed by signal %d (%s): %s", command->argv[0],
                 g_subprocess_get_term_sig (r.proc), g_strsignal (g_subprocess_get_term_sig (r.proc)), tail);
  else if (g_subprocess_get_exit_status (r.proc) != 0)
    g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s exited with status %d: %s", command->argv[0],
                 g_subprocess_get_exit_status (r.proc), tail);
  else
    ok = TRUE;
  g_clear_object (&r.proc);
  g_string_free (r.tail, TRUE);
  return ok;
}

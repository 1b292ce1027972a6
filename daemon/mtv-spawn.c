#define _GNU_SOURCE
#include "mtv-spawn.h"
#include "mtv-error.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define OUTPUT_LIMIT (64 << 10)

typedef struct {
  MtvChild *child;              /* NULL once the child was freed */
  GInputStream *stream;
  GString *text;
  gboolean reading;             /* a read is in flight: it owns the pipe */
  guint8 buf[4096];
} Pipe;

static void
pipe_free (Pipe *p)
{
  g_object_unref (p->stream);
  g_string_free (p->text, TRUE);
  g_free (p);
}

struct _MtvChild {
  GPid pid;
  gboolean exited;
  int status;
  guint watch;
  GCancellable *cancellable;
  Pipe *pipes[2];               /* stdout, stderr, when captured */
  guint open_pipes;
  MtvChildDone done;
  gpointer data;
};

static void
maybe_done (MtvChild *c)
{
  if (!c->exited || c->open_pipes > 0 || c->done == NULL)
    return;
  MtvChildDone done = c->done;
  c->done = NULL;
  done (c->data, c->status, c->pipes[0] ? c->pipes[0]->text->str : "", c->pipes[1] ? c->pipes[1]->text->str : "");
}

static void read_more (Pipe *p);

static void
on_read (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);
  Pipe *p = data;
  p->reading = FALSE;
  if (p->child == NULL)
    {
      pipe_free (p);   /* the child was freed meanwhile */
      return;
    }
  if (n > 0)
    {
      if (p->text->len < OUTPUT_LIMIT)
        g_string_append_len (p->text, (const char *) p->buf, MIN (n, (gssize) (OUTPUT_LIMIT - p->text->len)));
      read_more (p);
      return;
    }
  p->child->open_pipes--;
  maybe_done (p->child);
}

static void
read_more (Pipe *p)
{
  p->reading = TRUE;
  g_input_stream_read_async (p->stream, p->buf, sizeof p->buf, G_PRIORITY_DEFAULT, p->child->cancellable, on_read, p);
}

static void
on_child_exit (GPid pid, gint status, gpointer data)
{
  MtvChild *c = data;
  c->watch = 0;
  c->exited = TRUE;
  c->status = status;
  g_spawn_close_pid (pid);
  maybe_done (c);
}

/* A copy of @fd at 100 or above, so that no descriptor a child gets is one
 * another mapping writes over. */
static int
high (int fd)
{
  return fcntl (fd, F_DUPFD_CLOEXEC, 100);
}

MtvChild *
mtv_child_spawn (const MtvSpawn *spawn, GError **error)
{
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init (&actions);
  int out[2] = { -1, -1 }, err[2] = { -1, -1 };
  int given[8];
  guint n_given = MIN (spawn->n_fds, G_N_ELEMENTS (given));
  gboolean ok = TRUE;
  for (guint i = 0; i < n_given; i++)
    ok &= (given[i] = high (spawn->fds[i])) >= 0;
  if (spawn->capture)
    ok &= g_unix_open_pipe (out, FD_CLOEXEC, NULL) && g_unix_open_pipe (err, FD_CLOEXEC, NULL);
  if (ok)
    {
      posix_spawn_file_actions_addopen (&actions, 0, "/dev/null", O_RDONLY, 0);
      if (spawn->capture)
        {
          posix_spawn_file_actions_adddup2 (&actions, out[1], 1);
          posix_spawn_file_actions_adddup2 (&actions, err[1], 2);
        }
      else
        {
          posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
          posix_spawn_file_actions_addopen (&actions, 2, "/dev/null", O_WRONLY, 0);
        }
      for (guint i = 0; i < n_given; i++)
        posix_spawn_file_actions_adddup2 (&actions, given[i], 3 + (int) i);
      posix_spawn_file_actions_addclosefrom_np (&actions, 3 + (int) n_given);
    }
  /* It dies with mtvd: a killed mtvd's copies must not go on writing into
   * disks its successor removes. */
  g_autoptr (GStrvBuilder) argv = g_strv_builder_new ();
  g_strv_builder_add_many (argv, "setpriv", "--pdeathsig", "KILL", "--", NULL);
  g_strv_builder_addv (argv, (const char **) spawn->argv);
  g_auto (GStrv) full_argv = g_strv_builder_end (argv);
  g_auto (GStrv) envp = g_get_environ ();
  for (guint i = 0; spawn->env && spawn->env[i]; i++)
    {
      g_auto (GStrv) kv = g_strsplit (spawn->env[i], "=", 2);
      envp = g_environ_setenv (envp, kv[0], kv[1] ? kv[1] : "", TRUE);
    }
  pid_t pid = -1;
  int rc = ok ? posix_spawnp (&pid, "setpriv", &actions, NULL, full_argv, envp) : errno;
  posix_spawn_file_actions_destroy (&actions);
  for (guint i = 0; i < spawn->n_fds; i++)
    close (spawn->fds[i]);
  for (guint i = 0; i < n_given; i++)
    if (given[i] >= 0)
      close (given[i]);
  if (out[1] >= 0)
    close (out[1]);
  if (err[1] >= 0)
    close (err[1]);
  if (!ok || rc != 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "cannot start %s: %s", spawn->argv[0],
                   g_strerror (ok ? rc : errno));
      if (out[0] >= 0)
        close (out[0]);
      if (err[0] >= 0)
        close (err[0]);
      return NULL;
    }
  MtvChild *c = g_new0 (MtvChild, 1);
  c->pid = pid;
  c->cancellable = g_cancellable_new ();
  int ends[2] = { out[0], err[0] };
  for (guint i = 0; spawn->capture && i < 2; i++)
    {
      Pipe *p = g_new0 (Pipe, 1);
      p->child = c;
      p->stream = g_unix_input_stream_new (ends[i], TRUE);
      p->text = g_string_new (NULL);
      c->pipes[i] = p;
      c->open_pipes++;
      read_more (p);
    }
  c->watch = g_child_watch_add (pid, on_child_exit, c);
  return c;
}

void
mtv_child_watch (MtvChild *c, MtvChildDone done, gpointer data)
{
  c->done = done;
  c->data = data;
  maybe_done (c);
}

gboolean
mtv_child_running (MtvChild *c)
{
  return !c->exited;
}

void
mtv_child_signal (MtvChild *c, int signum)
{
  if (!c->exited)
    kill (c->pid, signum);
}

void
mtv_child_free (MtvChild *c)
{
  if (c == NULL)
    return;
  g_cancellable_cancel (c->cancellable);
  if (c->watch)
    {
      /* It is killed and reaped here: no watch is left to do it. */
      g_source_remove (c->watch);
      kill (c->pid, SIGKILL);
      waitpid (c->pid, NULL, 0);
      g_spawn_close_pid (c->pid);
    }
  for (guint i = 0; i < 2; i++)
    if (c->pipes[i])
      {
        /* A read in flight still has it: freed when it reports cancelled. */
        c->pipes[i]->child = NULL;
        if (!c->pipes[i]->reading)
          pipe_free (c->pipes[i]);
      }
  g_object_unref (c->cancellable);
  g_free (c);
}

char *
mtv_child_describe_status (const char *program, int status)
{
  if (WIFSIGNALED (status))
    return g_strdup_printf ("%s was killed by signal %d (%s)", program, WTERMSIG (status), g_strsignal (WTERMSIG (status)));
  if (WIFEXITED (status))
    return g_strdup_printf ("%s exited with status %d", program, WEXITSTATUS (status));
  return g_strdup_printf ("%s ended (wait status %d)", program, status);
}

char *
mtv_child_last_line (const char *output)
{
  g_auto (GStrv) lines = g_strsplit (output ? output : "", "\n", -1);
  for (guint n = g_strv_length (lines); n > 0; n--)
    if (*g_strstrip (lines[n - 1]))
      return g_utf8_make_valid (lines[n - 1], -1);
  return NULL;
}

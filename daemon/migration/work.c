#include "work.h"

struct _MtvWork {
  GCancellable *alive, *stop;
  MtvWorkFunc func;
  gpointer data;
  GDestroyNotify free_data;
  MtvWorkDone done;
  gpointer owner;
};

static void
work_free (MtvWork *work)
{
  if (work->free_data)
    work->free_data (work->data);
  g_clear_object (&work->alive);
  g_clear_object (&work->stop);
  g_free (work);
}

static void
work_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  MtvWork *work = data;
  GError *error = NULL;
  if (work->func (work, work->data, work->stop, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error ? error : g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "failed"));
}

static void
work_done (GObject *source, GAsyncResult *res, gpointer data)
{
  MtvWork *work = g_task_get_task_data (G_TASK (res));
  g_autoptr (GError) error = NULL;
  g_task_propagate_boolean (G_TASK (res), &error);
  if (work->done && !(work->alive && g_cancellable_is_cancelled (work->alive)))
    work->done (work->owner, work->data, error);
  /* Here, on the main loop, not wherever the task happens to be finalized:
   * what the data holds (a target's instance) may need the main loop. */
  if (work->free_data)
    work->free_data (work->data);
  work->free_data = NULL;
}

void
mtv_work_start (GCancellable *alive, GCancellable *stop, MtvWorkFunc func, gpointer data, GDestroyNotify free_data,
                MtvWorkDone done, gpointer owner)
{
  MtvWork *work = g_new0 (MtvWork, 1);
  work->alive = alive ? g_object_ref (alive) : NULL;
  work->stop = stop ? g_object_ref (stop) : NULL;
  work->func = func;
  work->data = data;
  work->free_data = free_data;
  work->done = done;
  work->owner = owner;
  g_autoptr (GTask) task = g_task_new (NULL, NULL, work_done, NULL);
  g_task_set_task_data (task, work, (GDestroyNotify) work_free);
  g_task_run_in_thread (task, work_thread);
}

typedef struct {
  GCancellable *alive;
  MtvWorkMessage func;
  gpointer owner, message;
  GDestroyNotify free_message;
} Message;

static gboolean
deliver (gpointer data)
{
  Message *m = data;
  if (!(m->alive && g_cancellable_is_cancelled (m->alive)))
    m->func (m->owner, m->message);
  if (m->free_message)
    m->free_message (m->message);
  g_clear_object (&m->alive);
  g_free (m);
  return G_SOURCE_REMOVE;
}

void
mtv_work_post (MtvWork *work, MtvWorkMessage func, gpointer message, GDestroyNotify free_message)
{
  Message *m = g_new0 (Message, 1);
  m->alive = work->alive ? g_object_ref (work->alive) : NULL;
  m->func = func;
  m->owner = work->owner;
  m->message = message;
  m->free_message = free_message;
  /* The priority GTask returns at: messages arrive before the work's result. */
  g_idle_add_full (G_PRIORITY_DEFAULT, deliver, m, NULL);
}

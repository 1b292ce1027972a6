#include "transfer-progress.h"

#include <string.h>
#include <unistd.h>

void
mtv_progress_init (MtvProgress *p, int fd)
{
  p->fd = fd;
  p->started = g_get_monotonic_time ();
  p->last = 0;
}

void
mtv_progress_report (MtvProgress *p, guint64 done, guint64 total, guint64 bytes_read, gboolean force)
{
  if (p->fd < 0)
    return;
  gint64 now = g_get_monotonic_time ();
  if (!force && now - p->last < 500000)
    return;
  p->last = now;
  double seconds = MAX (0.001, (now - p->started) / 1e6);
  g_autofree char *line = g_strdup_printf ("{\"bytes_done\": %" G_GUINT64_FORMAT ", \"bytes_total\": %" G_GUINT64_FORMAT
                                           ", \"bytes_read\": %" G_GUINT64_FORMAT ", \"rate\": %.0f}\n",
                                           done, total, bytes_read, done / seconds);
  if (write (p->fd, line, strlen (line)) < 0)
    {
      /* A reader that went away does not stop the copy. */
    }
}

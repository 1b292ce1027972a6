#pragma once
#include <glib.h>

/* Progress as JSON lines on a descriptor (--progress-fd), at most twice a second. */
typedef struct {
  int fd;                     /* -1: none */
  gint64 started, last;
} MtvProgress;

void mtv_progress_init (MtvProgress *p, int fd);
/* With @force, whatever the time since the last line. */
void mtv_progress_report (MtvProgress *p, guint64 done, guint64 total, guint64 bytes_read, gboolean force);

#pragma once
#include <gio/gio.h>

/* A helper process (a disk server, mtv-transfer) started with posix_spawn:
 * unlike fork, it copies none of mtvd's page tables, which cost a
 * millisecond and more per helper with a few dozen MiB mapped (and
 * copy-on-write faults after). It dies with mtvd (setpriv --pdeathsig, as
 * the helpers always have), its standard input is /dev/null, and it holds
 * none of mtvd's descriptors but those it is given. */
typedef struct _MtvChild MtvChild;

typedef struct {
  const char *const *argv;       /* argv[0] is looked for in PATH */
  const char *const *env;        /* added to mtvd's environment: NAME=VALUE, or NULL */
  const int *fds;                /* descriptors it gets as 3, 4, ... (taken), or NULL */
  guint n_fds;
  gboolean capture;              /* its stdout and stderr are kept (else /dev/null) */
} MtvSpawn;

MtvChild *mtv_child_spawn (const MtvSpawn *spawn, GError **error);
/* Called once the child has exited and (when captured) its output ended.
 * @status is a wait status; @out and @err what it wrote (at most 64 KiB
 * each), which go with the child when it is freed. */
typedef void (*MtvChildDone) (gpointer data, int status, const char *out, const char *err);
/* Watches for the end; after mtv_child_free, @done is never called. */
void mtv_child_watch (MtvChild *child, MtvChildDone done, gpointer data);
gboolean mtv_child_running (MtvChild *child);
void mtv_child_signal (MtvChild *child, int signum);
/* Kills it (SIGKILL) if it runs and forgets it. */
void mtv_child_free (MtvChild *child);

/* How @program ended, for people: "was killed by signal 9 (Killed)",
 * "exited with status 2". */
char *mtv_child_describe_status (const char *program, int status);
/* The last line of @output that says something, or NULL. */
char *mtv_child_last_line (const char *output);

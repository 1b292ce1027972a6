#pragma once
#include <gio/gio.h>
#include "mtv-kinds.h"

/* The daemon's context: the bus connection, the exported objects, the store
 * and the authority. Everything mutable in mtvd hangs off this one object. */

/* @rules_dir holds the shipped validation rules, @rules_dropin_dir the
 * administrator's; both are watched for changes. @runtime_dir (NULL:
 * STATE_DIR/run) is emptied at the start and the end. */
MtvDaemon *mtv_daemon_new (GDBusConnection *connection, const char *state_dir, const char *runtime_dir,
                           const char *rules_dir, const char *rules_dropin_dir, gboolean session_bus,
                           guint max_in_flight, GError **error);
void mtv_daemon_free (MtvDaemon *daemon);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvDaemon, mtv_daemon_free)

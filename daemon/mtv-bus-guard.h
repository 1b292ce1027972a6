#pragma once
#include <gio/gio.h>

/* The bus disconnects a peer that sends a message over its
 * max_message_size (32 MiB by default): mtvd would fall off the bus, and a
 * restart that answers the same call would fall off again. The guard looks
 * at every message mtvd sends: a reply too large becomes an error reply
 * saying so, a signal too large is dropped with a warning. */
#define MTV_BUS_MAX_MESSAGE (32 << 20)

/* Returns the filter's id, for g_dbus_connection_remove_filter(). */
guint mtv_bus_guard_install (GDBusConnection *connection);

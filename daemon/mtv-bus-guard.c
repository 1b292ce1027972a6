#include "mtv-bus-guard.h"
#include "mtv-error.h"
#include "mtv-text.h"

/* Room for the header (path, interface, member, destination, signature). */
#define HEADER_ROOM (64 << 10)

static GDBusMessage *
too_large_reply (GDBusMessage *reply, gsize size)
{
  g_autofree char *shown = mtv_text_size (size);
  g_autofree char *text = g_strdup_printf ("the reply would be %s, more than the bus carries in one message (32 MiB): "
                                           "ask for less (fewer objects, a query with LIMIT)", shown);
  g_warning ("a reply to %s was %s, too large for the bus: sent an error instead",
             g_dbus_message_get_destination (reply) ? g_dbus_message_get_destination (reply) : "?", shown);
  GDBusMessage *error = g_dbus_message_new ();
  g_dbus_message_set_message_type (error, G_DBUS_MESSAGE_TYPE_ERROR);
  g_dbus_message_set_flags (error, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
  g_dbus_message_set_serial (error, g_dbus_message_get_serial (reply));
  g_dbus_message_set_reply_serial (error, g_dbus_message_get_reply_serial (reply));
  if (g_dbus_message_get_destination (reply))
    g_dbus_message_set_destination (error, g_dbus_message_get_destination (reply));
  g_dbus_message_set_error_name (error, "org.mtvd.Mtv1.Error.Failed");
  g_dbus_message_set_body (error, g_variant_new ("(s)", text));
  return error;
}

static GDBusMessage *
guard (GDBusConnection *connection, GDBusMessage *message, gboolean incoming, gpointer data)
{
  if (incoming)
    return message;
  GVariant *body = g_dbus_message_get_body (message);
  gsize size = body ? g_variant_get_size (body) : 0;
  if (size + HEADER_ROOM <= MTV_BUS_MAX_MESSAGE)
    return message;
  GDBusMessage *replacement = NULL;
  if (g_dbus_message_get_message_type (message) == G_DBUS_MESSAGE_TYPE_METHOD_RETURN)
    replacement = too_large_reply (message, size);
  else
    g_warning ("dropped a %s message of %" G_GSIZE_FORMAT " bytes (%s.%s), too large for the bus",
               g_dbus_message_get_message_type (message) == G_DBUS_MESSAGE_TYPE_SIGNAL ? "signal" : "D-Bus", size,
               g_dbus_message_get_interface (message) ? g_dbus_message_get_interface (message) : "?",
               g_dbus_message_get_member (message) ? g_dbus_message_get_member (message) : "?");
  g_object_unref (message);
  return replacement;
}

guint
mtv_bus_guard_install (GDBusConnection *connection)
{
  return g_dbus_connection_add_filter (connection, guard, NULL, NULL);
}

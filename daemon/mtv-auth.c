#include "mtv-auth.h"
#include "mtv-error.h"

#include <polkit/polkit.h>

struct _MtvAuth {
  PolkitAuthority *authority; /* NULL on the session bus */
};

typedef struct {
  GDBusMethodInvocation *invocation;
  char *action_id;
  MtvAuthorizedFunc func;
  gpointer data;
  GDestroyNotify destroy;
} AuthCall;

static void
auth_call_free (AuthCall *call)
{
  g_object_unref (call->invocation);
  g_free (call->action_id);
  if (call->destroy)
    call->destroy (call->data);
  g_free (call);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AuthCall, auth_call_free)

MtvAuth *
mtv_auth_new (gboolean session_bus, GError **error)
{
  g_autoptr (MtvAuth) auth = g_new0 (MtvAuth, 1);
  if (!session_bus)
    {
      auth->authority = polkit_authority_get_sync (NULL, error);
      if (auth->authority == NULL)
        return NULL;
    }
  return g_steal_pointer (&auth);
}

void
mtv_auth_free (MtvAuth *auth)
{
  if (auth == NULL)
    return;
  g_clear_object (&auth->authority);
  g_free (auth);
}

static void
deny (AuthCall *call, const char *reason)
{
  g_message ("denied %s to %s: %s", call->action_id,
             g_dbus_method_invocation_get_sender (call->invocation), reason);
  g_dbus_method_invocation_return_error (call->invocation, MTV_ERROR, MTV_ERROR_NOT_AUTHORIZED,
                                         "Not authorized to %s (polkit action %s): %s",
                                         g_dbus_method_invocation_get_method_name (call->invocation),
                                         call->action_id, reason);
}

static void
on_checked (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (AuthCall) call = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (PolkitAuthorizationResult) result =
    polkit_authority_check_authorization_finish (POLKIT_AUTHORITY (source), res, &error);

  if (result == NULL)
    deny (call, error->message);
  else if (polkit_authorization_result_get_is_authorized (result))
    call->func (call->invocation, call->data);
  else if (polkit_authorization_result_get_is_challenge (result))
    deny (call, "authentication is required (no authentication agent answered, or interaction "
                "was not allowed)");
  else
    deny (call, "the caller is not allowed this action");
}

void
mtv_auth_check (MtvAuth *auth, GDBusMethodInvocation *invocation, const char *action_id,
                GVariant *options, const char *object_name, MtvAuthorizedFunc func,
                gpointer data, GDestroyNotify destroy)
{
  AuthCall *call = g_new0 (AuthCall, 1);
  call->invocation = g_object_ref (invocation);
  call->action_id = g_strdup (action_id);
  call->func = func;
  call->data = data;
  call->destroy = destroy;

  if (auth->authority == NULL)
    {
      func (invocation, data);
      auth_call_free (call);
      return;
    }

  gboolean no_interaction = FALSE;
  if (options)
    g_variant_lookup (options, "auth.no_user_interaction", "b", &no_interaction);

  g_autoptr (PolkitSubject) subject =
    polkit_system_bus_name_new (g_dbus_method_invocation_get_sender (invocation));
  g_autoptr (PolkitDetails) details = polkit_details_new ();
  if (object_name)
    polkit_details_insert (details, "name", object_name);

  polkit_authority_check_authorization (
    auth->authority, subject, action_id, details,
    no_interaction ? POLKIT_CHECK_AUTHORIZATION_FLAGS_NONE
                   : POLKIT_CHECK_AUTHORIZATION_FLAGS_ALLOW_USER_INTERACTION,
    NULL, on_checked, call);
}

void
mtv_reply (GDBusMethodInvocation *invocation, gboolean ok, const GError *error)
{
  if (ok)
    {
      g_dbus_method_invocation_return_value (invocation, NULL);
      return;
    }
  /* GDBus refuses an error message that is not UTF-8 (a GLib-CRITICAL, and
   * "[Invalid UTF-8]" to the caller): a message quoting a file name or a
   * server's answer is made valid here, for every method. */
  g_autoptr (GError) valid = g_error_copy (error);
  g_free (valid->message);
  valid->message = g_utf8_make_valid (error->message, -1);
  g_dbus_method_invocation_return_gerror (invocation, valid);
}

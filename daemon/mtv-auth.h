#pragma once
#include <gio/gio.h>

/* Authorization: every D-Bus method asks polkit, with the caller's bus name
 * as the subject, before it acts (udisks and fwupd do the same). On the
 * session bus (--session, for development) the bus itself admits only its
 * owner, so every caller is allowed. */

typedef struct _MtvAuth MtvAuth;

/* The polkit actions. */
#define MTV_ACTION_READ "org.mtvd.mtv1.read"
#define MTV_ACTION_MANAGE_PROVIDERS "org.mtvd.mtv1.manage-providers"
#define MTV_ACTION_MANAGE_PLANS "org.mtvd.mtv1.manage-plans"
#define MTV_ACTION_RUN_MIGRATIONS "org.mtvd.mtv1.run-migrations"
#define MTV_ACTION_MANAGE_SETTINGS "org.mtvd.mtv1.manage-settings"

typedef void (*MtvAuthorizedFunc) (GDBusMethodInvocation *invocation, gpointer data);

MtvAuth *mtv_auth_new (gboolean session_bus, GError **error);
void mtv_auth_free (MtvAuth *auth);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvAuth, mtv_auth_free)

/* Checks @action_id for the caller of @invocation. When allowed, calls @func
 * (which must answer the invocation); when not, answers with
 * org.mtvd.Mtv1.Error.NotAuthorized. @data is freed with @destroy either way.
 * @options may hold "auth.no_user_interaction" (b); @object_name is shown in
 * the authentication dialog. */
void mtv_auth_check (MtvAuth *auth, GDBusMethodInvocation *invocation, const char *action_id,
                     GVariant *options, const char *object_name, MtvAuthorizedFunc func,
                     gpointer data, GDestroyNotify destroy);

/* Answers an invocation whose work returned @ok (and @error when not). */
void mtv_reply (GDBusMethodInvocation *invocation, gboolean ok, const GError *error);

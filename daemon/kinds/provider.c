/* Provider: a source or target platform, with write-only credentials. */
#include "mtv-kinds.h"
#include "mtv-error.h"
#include "mtv-dbus-generated.h"
#include "providers/mtv-provider-types.h"
#include "mtv-provider-runtime.h"

static gboolean
check_type (const char *value, GError **error)
{
  if (mtv_provider_type_lookup (value) != NULL)
    return TRUE;
  g_autofree char *known = mtv_provider_type_list ();
  g_autofree char *shown = g_strescape (value, NULL);
  g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "unknown provider type \"%s\" (known: %s)",
               shown, known);
  return FALSE;
}

static const MtvField fields[] = {
  { .key = "type", .json_path = "type", .type = MTV_FIELD_STRING,
    .flags = MTV_FIELD_REQUIRED | MTV_FIELD_IMMUTABLE, .check_string = check_type },
  { .key = "url", .json_path = "url", .type = MTV_FIELD_STRING },
  { .key = "settings", .json_path = "settings", .type = MTV_FIELD_STRING_MAP },
};

/* The credential fields Forklift's provider secrets use. */
static const char *const credential_keys[] = {
  "user", "password", "token", "cacert", "insecureSkipVerify", "thumbprint",
  "domainName", "projectName", "regionName", "applicationCredentialID",
  "applicationCredentialSecret", NULL,
};

static gboolean
check_secret (const char *key, const char *value, GError **error)
{
  if (!g_strv_contains (credential_keys, key))
    {
      g_autofree char *known = g_strjoinv (", ", (char **) credential_keys);
      g_autofree char *shown = g_strescape (key, NULL);
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "credentials: \"%s\" is not a credential field (known: %s)", shown, known);
      return FALSE;
    }
  if (g_strcmp0 (key, "insecureSkipVerify") == 0 && g_strcmp0 (value, "true") != 0
      && g_strcmp0 (value, "false") != 0 && *value != '\0')
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "credentials: insecureSkipVerify must be \"true\" or \"false\"");
      return FALSE;
    }
  return TRUE;
}

static gboolean
validate (MtvDaemon *daemon, const char *name, JsonObject *spec, GError **error)
{
  const MtvProviderType *type = mtv_provider_type_lookup (json_object_get_string_member (spec, "type"));
  return mtv_provider_type_check_url (type, json_object_get_string_member_with_default (spec, "url", ""),
                                      error);
}

static void
compute_status (MtvDaemon *daemon, const MtvRecord *record, MtvStatusBuilder *status)
{
  const MtvProviderType *type =
    mtv_provider_type_lookup (json_object_get_string_member (record->spec, "type"));
  MtvProviderRuntime *rt = mtv_daemon_provider_runtime (daemon, record->name);
  if (type->backend == NULL)
    mtv_status_add (status, "BackendNotBuilt", "Critical", "NotImplemented",
                    "This mtvd has no %s backend yet: the provider is stored, but it has no "
                    "inventory and cannot be used in a migration.", type->type);
  else if ((rt == NULL || !rt->reported) && json_object_has_member (record->status, "phase"))
    /* Restarted: what was known stands until the backend reports again. */
    status->keep = TRUE;
  else if (rt == NULL || !rt->reported)
    mtv_status_add (status, "InventoryNotReady", "Critical", "Collecting",
                    "The provider's inventory is being collected.");
  else if (rt->failure)
    mtv_status_add (status, "ConnectionTestFailed", "Critical", "Unreachable", "%s", rt->failure);
  else
    {
      JsonNode *about = rt->inventory ? json_object_get_member (rt->inventory, "about") : NULL;
      /* The certificate users pin (Forklift shows it as status.fingerprint). */
      JsonNode *fingerprint = rt->inventory ? json_object_get_member (rt->inventory, "fingerprint") : NULL;
      if (fingerprint && JSON_NODE_HOLDS_VALUE (fingerprint) && json_node_get_value_type (fingerprint) == G_TYPE_STRING)
        status->fingerprint = g_strdup (json_node_get_string (fingerprint));
      if (about && JSON_NODE_HOLDS_VALUE (about))
        mtv_status_add (status, "ConnectionTestSucceeded", "Required", "Tested", "Connection test, succeeded: %s.",
                        json_node_get_string (about));
      else
        mtv_status_add (status, "ConnectionTestSucceeded", "Required", "Tested", "Connection test, succeeded.");
      mtv_status_add (status, "InventoryCreated", "Required", "Completed", "The inventory has been loaded.");
      if (rt->faults->len > 0)
        {
          g_autoptr (GString) all = g_string_new (NULL);
          for (guint i = 0; i < rt->faults->len; i++)
            g_string_append_printf (all, "%s%s", i ? "; " : "", (const char *) rt->faults->pdata[i]);
          mtv_status_add (status, "InventoryFaults", "Warning", "InvalidFiles",
                          "Parts of the provider could not be used: %s", all->str);
        }
    }
}

static void
export_spec (MtvDaemon *daemon, const MtvRecord *record, JsonObject *spec)
{
  /* Forklift keeps credentials in a Secret the provider names; ours are in the
   * state database, so the reference only says that there are some. */
  JsonObject *secret = json_object_new ();
  if (mtv_daemon_provider_has_credentials (daemon, record->name))
    json_object_set_string_member (secret, "name", record->name);
  json_object_set_object_member (spec, "secret", secret);
}

const MtvKindInfo mtv_kind_provider = {
  .kind = MTV_KIND_PROVIDER,
  .fields = fields,
  .n_fields = G_N_ELEMENTS (fields),
  .manage_action = MTV_ACTION_MANAGE_PROVIDERS,
  .skeleton_type = mtv_provider_skeleton_get_type,
  .secret_key = "credentials",
  .check_secret = check_secret,
  .validate = validate,
  .compute_status = compute_status,
  .ready_message = "The provider is ready.",
  .export_spec = export_spec,
};

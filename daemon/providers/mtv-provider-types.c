#include "mtv-provider-types.h"
#include "mtv-error.h"
#include "mtv-provider-backend.h"

extern const MtvProviderBackend mtv_ova_backend;
extern const MtvProviderBackend mtv_vsphere_backend;
extern const MtvSourceAdapter mtv_vsphere_source;
extern const MtvProviderBackend mtv_local_backend;
extern const MtvProviderBackend mtv_openshift_backend;
extern const MtvSourceAdapter mtv_ova_source;
extern const MtvSourceAdapter mtv_openshift_source;
extern const MtvTargetAdapter mtv_local_target;
extern const MtvTargetAdapter mtv_cluster_target;

static const char *const https_schemes[] = { "https", "http", NULL };
static const char *const file_schemes[] = { "file", NULL };
/* NFS shares are mounted by the administrator and given as file:// paths. */
static const char *const ova_schemes[] = { "file", NULL };

static const char *const cold_warm[] = { "cold", "warm", "conversion", NULL };
static const char *const cold_only[] = { "cold", NULL };
static const char *const cold_live[] = { "cold", "live", NULL };
static const char *const none[] = { NULL };

static const MtvProviderType types[] = {
  { "vsphere", MTV_ROLE_SOURCE, TRUE, https_schemes, "https://vcenter.example.com/sdk", &mtv_vsphere_backend,
    &mtv_vsphere_source, NULL, cold_warm, TRUE },
  { "ovirt", MTV_ROLE_SOURCE, TRUE, https_schemes, "https://engine.example.com/ovirt-engine/api", NULL, NULL, NULL,
    cold_warm, TRUE },
  { "openstack", MTV_ROLE_SOURCE, TRUE, https_schemes, "https://keystone.example.com:5000/v3", NULL, NULL, NULL, cold_only,
    TRUE },
  { "ova", MTV_ROLE_SOURCE, TRUE, ova_schemes, "file:///srv/ova or file:///srv/vm.ova", &mtv_ova_backend, &mtv_ova_source,
    NULL, cold_only, TRUE },
  /* An empty URL means the cluster mtvd itself is configured for. */
  { "openshift", MTV_ROLE_SOURCE | MTV_ROLE_TARGET, FALSE, https_schemes, "https://api.cluster.example.com:6443",
    &mtv_openshift_backend, &mtv_openshift_source, &mtv_cluster_target, cold_live, FALSE },
  { "local", MTV_ROLE_TARGET, TRUE, file_schemes, "file:///var/lib/mtv", &mtv_local_backend, NULL,
    &mtv_local_target, none, FALSE },
};

static const struct {
  const char *alias;
  const char *type;
} aliases[] = {
  { "kubevirt", "openshift" },
};

const MtvProviderType *
mtv_provider_type_lookup (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (aliases); i++)
    if (g_strcmp0 (name, aliases[i].alias) == 0)
      name = aliases[i].type;
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    if (g_strcmp0 (name, types[i].type) == 0)
      return &types[i];
  return NULL;
}

char *
mtv_provider_type_list (void)
{
  g_autoptr (GString) s = g_string_new (NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", types[i].type);
  for (gsize i = 0; i < G_N_ELEMENTS (aliases); i++)
    g_string_append_printf (s, ", %s (= %s)", aliases[i].alias, aliases[i].type);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

gboolean
mtv_provider_type_check_url (const MtvProviderType *type, const char *url, GError **error)
{
  if (url == NULL || *url == '\0')
    {
      if (!type->url_required)
        return TRUE;
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "url: a %s provider needs a URL, such as %s", type->type, type->url_example);
      return FALSE;
    }

  g_autoptr (GError) parse_error = NULL;
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, &parse_error);
  if (uri == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "url: \"%s\" is not a URL (%s); expected "
                   "something like %s", url, parse_error->message, type->url_example);
      return FALSE;
    }
  /* A URL is a property every local user reads: credentials go in the
   * write-only secrets. The URL is not quoted: it holds them. */
  if (g_uri_get_userinfo (uri) != NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "url: a user name or password does not belong in the URL, where every local user can read it; "
                   "give them as the credentials user and password (mtvctl: --username, --password-file)");
      return FALSE;
    }
  if (!g_strv_contains (type->url_schemes, g_uri_get_scheme (uri)))
    {
      g_autofree char *schemes = g_strjoinv ("://, ", (char **) type->url_schemes);
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "url: a %s provider takes %s:// URLs, not %s:// (e.g. %s)", type->type, schemes,
                   g_uri_get_scheme (uri), type->url_example);
      return FALSE;
    }
  if (!g_utf8_validate (g_uri_get_path (uri), -1, NULL))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "url: \"%s\" names a path that is not UTF-8", url);
      return FALSE;
    }
  if (g_strcmp0 (g_uri_get_scheme (uri), "file") == 0 && !g_path_is_absolute (g_uri_get_path (uri)))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "url: \"%s\" must name an absolute path (file:///dir)", url);
      return FALSE;
    }
  if (g_strcmp0 (g_uri_get_scheme (uri), "file") != 0
      && (g_uri_get_host (uri) == NULL || *g_uri_get_host (uri) == '\0'))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "url: \"%s\" has no host name", url);
      return FALSE;
    }
  return TRUE;
}

/* mtvctl create provider / patch provider */
#include "mtv-ctl.h"
#include "mtv-error.h"

static const MtvFlag provider_flags[] = {
  { "type", 't', MTV_FLAG_STRING, "type", "Provider type: vsphere, ovirt, openstack, ova, openshift, local", "TYPE" },
  { "url", 'U', MTV_FLAG_STRING, "url", "Provider URL (https://vcenter/sdk, file:///dir, ...)", "URL" },
  { "username", 'u', MTV_FLAG_SECRET, "user", "User name", "USER" },
  { "password", 'p', MTV_FLAG_SECRET, "password", "Password (prefer --password-file: this one stays in shell history)", "PASSWORD" },
  { "password-file", 0, MTV_FLAG_SECRET_FILE, "password", "Read the password from FILE, or from standard input for -", "FILE" },
  { "provider-token", 'T', MTV_FLAG_SECRET, "token", "Bearer token (openshift)", "TOKEN" },
  { "token-file", 0, MTV_FLAG_SECRET_FILE, "token", "Read the token from FILE, or from standard input for -", "FILE" },
  { "cacert", 0, MTV_FLAG_SECRET, "cacert", "CA certificate, PEM text or @file", "PEM|@FILE" },
  { "provider-insecure-skip-tls", 0, MTV_FLAG_SECRET_BOOL, "insecureSkipVerify", "Do not verify the provider's TLS certificate", NULL },
  { "insecure-skip-tls", 0, MTV_FLAG_SECRET_BOOL, "insecureSkipVerify", "Same as --provider-insecure-skip-tls", NULL },
  { "vddk-init-image", 0, MTV_FLAG_SETTING, "vddkInitImage", "VDDK image (vsphere)", "IMAGE" },
  { "sdk-endpoint", 0, MTV_FLAG_SETTING, "sdkEndpoint", "vcenter or esxi (vsphere)", "ENDPOINT" },
  { "provider-domain-name", 0, MTV_FLAG_SECRET, "domainName", "Domain name (openstack)", "NAME" },
  { "provider-project-name", 0, MTV_FLAG_SECRET, "projectName", "Project name (openstack)", "NAME" },
  { "provider-region-name", 0, MTV_FLAG_SECRET, "regionName", "Region name (openstack)", "NAME" },
  { "setting", 0, MTV_FLAG_SETTINGS, NULL, "Any provider setting, KEY=VALUE (repeatable)", "KEY=VALUE" },
};

/* Puts credentials and settings into the spec. For patch, settings given on
 * the command line are merged into the provider's current ones. */
static GVariant *
provider_spec (MtvFlagValues *values, GVariant *current_settings)
{
  if (g_hash_table_size (values->credentials) > 0)
    g_variant_dict_insert_value (&values->spec, "credentials",
                                 mtv_flags_string_map (values->credentials));
  if (g_hash_table_size (values->settings) > 0)
    {
      if (current_settings)
        {
          GVariantIter iter;
          const char *k, *v;
          g_variant_iter_init (&iter, current_settings);
          while (g_variant_iter_next (&iter, "{&s&s}", &k, &v))
            if (!g_hash_table_contains (values->settings, k))
              g_hash_table_insert (values->settings, g_strdup (k), g_strdup (v));
        }
      g_variant_dict_insert_value (&values->spec, "settings", mtv_flags_string_map (values->settings));
    }
  return g_variant_dict_end (&values->spec);
}

static int
run_provider (MtvCtl *ctl, int argc, char **argv, gboolean create)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL;
  g_autofree char *path = NULL;
  MtvFlagValues values;
  mtv_flag_values_init (&values, provider_flags, G_N_ELEMENTS (provider_flags));

  gboolean ok = FALSE;
  const char *name = NULL;
  MtvClient *client = NULL;
  if (!mtv_ctl_parse ("NAME", create ? "Create a provider." : "Change a provider.", &argc, &argv,
                      &values, &name_flag, NULL, &error)
      || !(name = mtv_ctl_single_name (argc, argv, name_flag, "provider", &error))
      || !(client = mtv_ctl_client (ctl, &error)))
    goto out;

  if (create)
    {
      if (!g_variant_dict_contains (&values.spec, "type"))
        {
          g_set_error (&error, MTV_ERROR, MTV_ERROR_INVALID, "--type is required");
          goto out;
        }
      path = mtv_client_create (client, MTV_KIND_PROVIDER, name,
                                                 provider_spec (&values, NULL), &error);
      if ((ok = path != NULL))
        g_print ("provider/%s created\n", name);
    }
  else
    {
      g_autoptr (MtvObject) object = mtv_client_get (client, MTV_KIND_PROVIDER, name, &error);
      if (object == NULL)
        goto out;
      GVariant *settings = mtv_provider_get_settings (mtv_object_peek_provider (object));
      ok = mtv_client_update (client, MTV_KIND_PROVIDER, name, provider_spec (&values, settings),
                              NULL, &error);
      if (ok)
        g_print ("provider/%s patched\n", name);
    }
out:
  mtv_flag_values_clear (&values);
  return mtv_ctl_finish (ok, error);
}

int
mtv_cmd_create_provider (MtvCtl *ctl, int argc, char **argv)
{
  return run_provider (ctl, argc, argv, TRUE);
}

int
mtv_cmd_patch_provider (MtvCtl *ctl, int argc, char **argv)
{
  return run_provider (ctl, argc, argv, FALSE);
}

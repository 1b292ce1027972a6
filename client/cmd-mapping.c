/* mtvctl create mapping network|storage */
#include "mtv-ctl.h"
#include "mtv-error.h"
#include "mtv-pairs.h"

static const MtvFlag network_flags[] = {
  { "source", 'S', MTV_FLAG_STRING, "sourceProvider", "Source provider", "PROVIDER" },
  { "target", 'T', MTV_FLAG_STRING, "targetProvider", "Target provider", "PROVIDER" },
  { "network-pairs", 0, MTV_FLAG_RAW, NULL, "Pairs: \"src:default,src2:ns/name,src3:ignored\"", "PAIRS" },
};

static const MtvFlag storage_flags[] = {
  { "source", 'S', MTV_FLAG_STRING, "sourceProvider", "Source provider", "PROVIDER" },
  { "target", 'T', MTV_FLAG_STRING, "targetProvider", "Target provider", "PROVIDER" },
  { "storage-pairs", 0, MTV_FLAG_RAW, NULL, "Pairs: \"src:class;volumeMode=Block;accessMode=ReadWriteOnce,...\"", "PAIRS" },
  { "default-volume-mode", 0, MTV_FLAG_RAW, NULL, "Volume mode for pairs that do not give one (Filesystem, Block)", "MODE" },
  { "default-access-mode", 0, MTV_FLAG_RAW, NULL, "Access mode for pairs that do not give one (ReadWriteOnce, ...)", "MODE" },
};

static int
run_mapping (MtvCtl *ctl, int argc, char **argv, MtvKind kind)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *name_flag = NULL;
  g_autofree char *path = NULL;
  gboolean network = kind == MTV_KIND_NETWORK_MAP;
  MtvFlagValues values;
  mtv_flag_values_init (&values, network ? network_flags : storage_flags,
                        network ? G_N_ELEMENTS (network_flags) : G_N_ELEMENTS (storage_flags));

  gboolean ok = FALSE;
  const char *name = NULL;
  MtvClient *client = NULL;
  if (!mtv_ctl_parse ("NAME", network ? "Create a network mapping." : "Create a storage mapping.",
                      &argc, &argv, &values, &name_flag, NULL, &error)
      || !(name = mtv_ctl_single_name (argc, argv, name_flag, "mapping", &error))
      || !(client = mtv_ctl_client (ctl, &error)))
    goto out;

  const char *text = g_hash_table_lookup (values.raw, network ? "network-pairs" : "storage-pairs");
  GVariant *pairs = network ? mtv_pairs_parse_network (text ? text : "", &error)
                            : mtv_pairs_parse_storage (text ? text : "",
                                                       g_hash_table_lookup (values.raw, "default-volume-mode"),
                                                       g_hash_table_lookup (values.raw, "default-access-mode"),
                                                       &error);
  if (pairs == NULL)
    goto out;
  g_variant_dict_insert_value (&values.spec, "pairs", pairs);
  path = mtv_client_create (client, kind, name, g_variant_dict_end (&values.spec), &error);
  if ((ok = path != NULL))
    g_print ("mapping/%s created\n", name);
out:
  mtv_flag_values_clear (&values);
  return mtv_ctl_finish (ok, error);
}

int
mtv_cmd_create_network_mapping (MtvCtl *ctl, int argc, char **argv)
{
  return run_mapping (ctl, argc, argv, MTV_KIND_NETWORK_MAP);
}

int
mtv_cmd_create_storage_mapping (MtvCtl *ctl, int argc, char **argv)
{
  return run_mapping (ctl, argc, argv, MTV_KIND_STORAGE_MAP);
}

/* libFuzzer target for kubeconfig documents (what an openshift provider's
 * "kubeconfig" setting names): any bytes give a configuration or an error,
 * never a crash. Runs through the replay driver in every build. */
#include "kube-client.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  MtvKubeConfig *config = mtv_kube_config_from_kubeconfig ((const char *) data, size, "/nonexistent", NULL, &error);
  g_assert ((config != NULL) != (error != NULL));
  if (config)
    g_assert (config->server != NULL);
  mtv_kube_config_free (config);
  g_clear_error (&error);
  config = mtv_kube_config_from_kubeconfig ((const char *) data, size, "/nonexistent", "other", &error);
  mtv_kube_config_free (config);
  return 0;
}

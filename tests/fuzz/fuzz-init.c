/* What every fuzz target does first, under libFuzzer or the replay driver:
 * a GLib critical or warning is a bug the fuzzer found, so it aborts. */
#include <glib.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  return 0;
}

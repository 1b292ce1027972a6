#include "ova-stamp.h"
#include "mtv-error.h"

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

char *
ova_file_stamp (const char *path, GError **error)
{
  struct stat st;
  if (stat (path, &st) < 0)
    {
      int saved = errno;
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s", path, g_strerror (saved));
      return NULL;
    }
  return g_strdup_printf ("%ju:%ju:%jd:%jd.%09ld:%jd.%09ld", (uintmax_t) st.st_dev, (uintmax_t) st.st_ino,
                          (intmax_t) st.st_size, (intmax_t) st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                          (intmax_t) st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
}

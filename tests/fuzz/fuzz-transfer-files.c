/* libFuzzer target for the files mtv-transfer reads back: a checkpoint
 * (after a crash it may be torn or damaged) and an extents list. Any bytes
 * give what the file holds within the disk's bounds, or an error; never a
 * crash, a run off the disk or one longer than a request. */
#include "transfer-checkpoint.h"
#include "transfer-extents.h"

#include <glib/gstdio.h>
#include <stdint.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define HEADER "mtv-transfer checkpoint 1 size=1073741824 request=1048576"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const guint64 disk = 1 << 30;
  g_autoptr (GError) error = NULL;
  GArray *ranges = mtv_extents_parse ((const char *) data, size, disk, "fuzz", &error);
  g_assert ((ranges != NULL) != (error != NULL));
  for (guint i = 0; ranges && i < ranges->len; i++)
    {
      MtvRange *r = &g_array_index (ranges, MtvRange, i);
      g_assert (r->length > 0 && r->offset <= disk && r->length <= disk - r->offset);
    }
  if (ranges)
    g_array_unref (ranges);
  g_clear_error (&error);

  /* A checkpoint of this copy: the header, then the fuzzer's lines. */
  static char *path;
  if (path == NULL)
    path = g_build_filename (g_get_tmp_dir (), "mtv-fuzz-checkpoint-XXXXXX", NULL), close (g_mkstemp (path));
  g_autoptr (GString) text = g_string_new (HEADER "\n");
  g_string_append_len (text, (const char *) data, (gssize) size);
  if (!g_file_set_contents (path, text->str, (gssize) text->len, NULL))
    return 0;
  const MtvCheckpointBounds bounds = { disk, 1 << 20 };
  g_autoptr (GHashTable) done = g_hash_table_new (NULL, NULL);
  g_autoptr (GArray) written = g_array_new (FALSE, FALSE, sizeof (MtvWritten));
  MtvCheckpoint *cp = mtv_checkpoint_open (path, HEADER, &bounds, done, written, &error);
  g_assert ((cp != NULL) != (error != NULL));
  for (guint i = 0; i < written->len; i++)
    {
      MtvWritten *w = &g_array_index (written, MtvWritten, i);
      g_assert (w->length > 0 && w->length <= bounds.max_run && w->offset <= disk && w->length <= disk - w->offset);
    }
  if (cp)
    mtv_checkpoint_close (cp, FALSE);
  return 0;
}

/* Runs a libFuzzer target without libFuzzer (a build without
 * -Dfuzzing=true): every file of the corpus directories given, then N random
 * mutations of them (N from MTV_FUZZ_ITERATIONS, default 20000), with a
 * fixed seed so a failure repeats. tools/fuzz runs the real thing. */
#include <glib.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

int
main (int argc, char **argv)
{
  LLVMFuzzerInitialize (&argc, &argv);
  g_autoptr (GPtrArray) corpus = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  for (int i = 1; i < argc; i++)
    {
      g_autoptr (GDir) dir = g_dir_open (argv[i], 0, NULL);
      const char *name;
      while (dir && (name = g_dir_read_name (dir)))
        {
          g_autofree char *path = g_build_filename (argv[i], name, NULL);
          char *data;
          gsize len;
          if (g_file_get_contents (path, &data, &len, NULL))
            g_ptr_array_add (corpus, g_bytes_new_take (data, len));
        }
    }
  g_ptr_array_add (corpus, g_bytes_new_static ("", 0));
  for (guint i = 0; i < corpus->len; i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (corpus->pdata[i], &len);
      LLVMFuzzerTestOneInput (data, len);
    }

  const char *env = g_getenv ("MTV_FUZZ_ITERATIONS");
  guint64 iterations = env ? g_ascii_strtoull (env, NULL, 10) : 20000;
  g_autoptr (GRand) rand = g_rand_new_with_seed (20261122);
  static const char tokens[] = "[]{}:,-\"'&*!|>?#%@`\n\t ;=/abcz019";
  for (guint64 n = 0; n < iterations; n++)
    {
      gsize len;
      const guint8 *base = g_bytes_get_data (corpus->pdata[g_rand_int_range (rand, 0, (gint32) corpus->len)], &len);
      g_autoptr (GString) buf = g_string_new_len ((const char *) base, (gssize) len);
      int edits = g_rand_int_range (rand, 1, 8);
      for (int e = 0; e < edits; e++)
        {
          guint pos = buf->len ? (guint) g_rand_int_range (rand, 0, (gint32) buf->len + 1) : 0;
          guint8 c = g_rand_boolean (rand) ? (guint8) tokens[g_rand_int_range (rand, 0, sizeof tokens - 1)]
                                           : (guint8) g_rand_int_range (rand, 0, 256);
          switch (g_rand_int_range (rand, 0, 3))
            {
            case 0:
              g_string_insert_c (buf, pos, (char) c);
              break;
            case 1:
              if (pos < buf->len)
                buf->str[pos] = (char) c;
              break;
            default:
              if (pos < buf->len)
                g_string_erase (buf, pos, 1);
            }
        }
      LLVMFuzzerTestOneInput ((const uint8_t *) buf->str, buf->len);
    }
  g_print ("fuzz-driver: %u corpus files, %" G_GUINT64_FORMAT " mutations, no crash\n", corpus->len, iterations);
  return 0;
}

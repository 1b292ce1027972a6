/* CRC-32C: the standard check value, and the hardware and table paths agree
 * on every length and alignment. */
#include "crc32c.h"

#include <string.h>

static void
test_check_value (void)
{
  const char *s = "123456789";
  g_assert_cmphex (mtv_crc32c (0, (const guint8 *) s, strlen (s)), ==, 0xE3069283);
  g_assert_cmphex (mtv_crc32c_portable (0, (const guint8 *) s, strlen (s)), ==, 0xE3069283);
  g_assert_cmphex (mtv_crc32c (0, NULL, 0), ==, 0);
}

static void
test_paths_agree (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  guint8 buf[4096 + 16];
  for (gsize i = 0; i < sizeof buf; i++)
    buf[i] = (guint8) g_rand_int (rand);
  for (gsize off = 0; off < 9; off++)
    for (gsize len = 0; len < 300; len += 7)
      g_assert_cmphex (mtv_crc32c (0, buf + off, len), ==, mtv_crc32c_portable (0, buf + off, len));
  /* Continuing a CRC equals computing it in one go. */
  guint32 whole = mtv_crc32c (0, buf, 4096);
  guint32 parts = mtv_crc32c (mtv_crc32c (0, buf, 1000), buf + 1000, 3096);
  g_assert_cmphex (whole, ==, parts);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/crc32c/check-value", test_check_value);
  g_test_add_func ("/crc32c/paths-agree", test_paths_agree);
  return g_test_run ();
}

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

/* Long buffers go through three interleaved streams joined by a shift
 * operator: still the same CRC at every length around the block sizes. */
static void
test_long_buffers (void)
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  gsize size = 3 * 8192 * 3 + 64;
  g_autofree guint8 *buf = g_malloc (size);
  for (gsize i = 0; i < size; i++)
    buf[i] = (guint8) g_rand_int (rand);
  gsize lengths[] = { 3 * 8192 - 1, 3 * 8192, 3 * 8192 + 1, 3 * 8192 + 8, 6 * 8192 + 13, 9 * 8192 };
  for (gsize off = 0; off < 5; off++)
    for (gsize i = 0; i < G_N_ELEMENTS (lengths); i++)
      g_assert_cmphex (mtv_crc32c (0x1234, buf + off, lengths[i]), ==,
                       mtv_crc32c_portable (0x1234, buf + off, lengths[i]));
  guint32 whole = mtv_crc32c (0, buf, 9 * 8192);
  guint32 parts = mtv_crc32c (mtv_crc32c (0, buf, 5), buf + 5, 9 * 8192 - 5);
  g_assert_cmphex (whole, ==, parts);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/crc32c/check-value", test_check_value);
  g_test_add_func ("/crc32c/paths-agree", test_paths_agree);
  g_test_add_func ("/crc32c/long-buffers", test_long_buffers);
  return g_test_run ();
}

#include "crc32c.h"

#include <string.h>

static guint32 table[256];

static void
init_table (void)
{
  for (guint32 i = 0; i < 256; i++)
    {
      guint32 c = i;
      for (int k = 0; k < 8; k++)
        c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
      table[i] = c;
    }
}

static guint32
crc_table (guint32 crc, const guint8 *buf, gsize len)
{
  static gsize initialized;
  if (g_once_init_enter (&initialized))
    {
      init_table ();
      g_once_init_leave (&initialized, 1);
    }
  crc = ~crc;
  for (gsize i = 0; i < len; i++)
    crc = (crc >> 8) ^ table[(crc ^ buf[i]) & 0xff];
  return ~crc;
}

#if defined(__x86_64__)
__attribute__ ((target ("sse4.2"))) static guint32
crc_sse42 (guint32 crc, const guint8 *buf, gsize len)
{
  guint64 c = ~crc;
  while (len >= 8)
    {
      guint64 word;
      memcpy (&word, buf, sizeof word);
      c = __builtin_ia32_crc32di (c, word);
      buf += 8;
      len -= 8;
    }
  guint32 c32 = (guint32) c;
  while (len--)
    c32 = __builtin_ia32_crc32qi (c32, *buf++);
  return ~c32;
}
#endif

guint32
mtv_crc32c (guint32 crc, const guint8 *buf, gsize len)
{
#if defined(__x86_64__)
  static int have_sse42 = -1;
  if (have_sse42 < 0)
    have_sse42 = __builtin_cpu_supports ("sse4.2");
  if (have_sse42)
    return crc_sse42 (crc, buf, len);
#endif
  return crc_table (crc, buf, len);
}

guint32
mtv_crc32c_portable (guint32 crc, const guint8 *buf, gsize len)
{
  return crc_table (crc, buf, len);
}

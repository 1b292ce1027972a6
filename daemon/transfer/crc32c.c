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
/* The crc32 instruction takes three cycles but can start one every cycle, so
 * one dependent chain leaves two thirds of it idle. Long buffers are cut into
 * three blocks checksummed side by side and the three CRCs joined: appending
 * a block to a CRC is linear in the CRC, so a CRC is carried over a block of
 * BLOCK bytes by a precomputed 32x32 bit operator (applied a byte at a time
 * through four tables). */
enum { BLOCK = 8192 };

typedef struct
{
  guint32 t[4][256];
} Shift;

__attribute__ ((target ("sse4.2"))) static guint32
register_over_zeroes (guint32 reg, gsize len)
{
  guint64 c = reg;
  for (gsize i = 0; i < len / 8; i++)
    c = __builtin_ia32_crc32di (c, 0);
  return (guint32) c;
}

static void
shift_init (Shift *s, gsize len)
{
  guint32 image[32];
  for (int bit = 0; bit < 32; bit++)
    image[bit] = register_over_zeroes (1u << bit, len);
  for (int k = 0; k < 4; k++)
    for (guint32 b = 0; b < 256; b++)
      {
        guint32 v = 0;
        for (int bit = 0; bit < 8; bit++)
          if (b & (1u << bit))
            v ^= image[8 * k + bit];
        s->t[k][b] = v;
      }
}

static inline guint32
shift_apply (const Shift *s, guint32 reg)
{
  return s->t[0][reg & 0xff] ^ s->t[1][(reg >> 8) & 0xff]
         ^ s->t[2][(reg >> 16) & 0xff] ^ s->t[3][reg >> 24];
}

static const Shift *
block_shift (void)
{
  static Shift shift;
  static gsize initialized;
  if (g_once_init_enter (&initialized))
    {
      shift_init (&shift, BLOCK);
      g_once_init_leave (&initialized, 1);
    }
  return &shift;
}

static inline guint64
load64 (const guint8 *p)
{
  guint64 word;
  memcpy (&word, p, sizeof word);
  return word;
}

__attribute__ ((target ("sse4.2"))) static guint32
crc_sse42 (guint32 crc, const guint8 *buf, gsize len)
{
  guint64 c = (guint32) ~crc;
  if (len >= 3 * BLOCK)
    {
      const Shift *shift = block_shift ();
      while (len >= 3 * BLOCK)
        {
          guint64 c1 = 0, c2 = 0;
          for (gsize i = 0; i < BLOCK; i += 8)
            {
              c = __builtin_ia32_crc32di (c, load64 (buf + i));
              c1 = __builtin_ia32_crc32di (c1, load64 (buf + BLOCK + i));
              c2 = __builtin_ia32_crc32di (c2, load64 (buf + 2 * BLOCK + i));
            }
          c = shift_apply (shift, (guint32) c) ^ (guint32) c1;
          c = shift_apply (shift, (guint32) c) ^ (guint32) c2;
          buf += 3 * BLOCK;
          len -= 3 * BLOCK;
        }
    }
  while (len >= 8)
    {
      c = __builtin_ia32_crc32di (c, load64 (buf));
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

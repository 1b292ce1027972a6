#pragma once
#include <glib.h>

/* CRC-32C (Castagnoli) of a buffer, continuing from @crc (0 to start). Uses
 * the SSE4.2 instruction where the CPU has it (about as fast as memory), a
 * table otherwise. Verification checksums every byte copied twice, so it must
 * cost little; CRC-32C catches the accidental corruption it is there for. */
guint32 mtv_crc32c (guint32 crc, const guint8 *buf, gsize len);

/* The same, always by table (for tests: both paths must agree). */
guint32 mtv_crc32c_portable (guint32 crc, const guint8 *buf, gsize len);

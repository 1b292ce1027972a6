#pragma once
#include "transfer-checkpoint.h"
#include "transfer-options.h"

/* Where a copy writes, behind one table (nbdcopy's struct rw_ops): a file
 * or block device (sink-file.c), an NBD export (sink-nbd.c), an HTTP(S)
 * upload (sink-http.c). Each file exports its constructor only; the copy
 * engines (transfer-copy.c, transfer-stream.c) see nothing but the ops. */
typedef struct _MtvSink MtvSink;

typedef struct {
  /* One more handle onto the same destination, for another worker (an NBD
   * connection, a file's writeback window of its own). */
  MtvSink *(*clone) (MtvSink *sink, GError **error);
  /* @crc is the CRC-32C of @buf, for sinks that check what they wrote. */
  gboolean (*write) (MtvSink *sink, const guint8 *buf, gsize len, guint64 offset, guint32 crc, GError **error);
  /* Makes a range read as zeroes (a sink that knows it does already: nothing). */
  gboolean (*zero) (MtvSink *sink, guint64 offset, guint64 length, GError **error);
  /* A worker is done: what it still has in flight settles (and is checked). */
  gboolean (*settle) (MtvSink *sink, GError **error);
  /* Everything written is on the destination (the end of a stream). */
  gboolean (*flush) (MtvSink *sink, GError **error);
  /* Reads @runs (sorted, MtvWritten) back and compares their CRC-32C; NULL
   * for a sink that cannot be read back. @depth reads may be in flight. */
  gboolean (*verify) (MtvSink *sink, GArray *runs, guint depth, GError **error);
  void (*close) (MtvSink *sink);
} MtvSinkOps;

struct _MtvSink {
  const MtvSinkOps *ops;
  gsize max_io;               /* the longest write or read it takes */
  gboolean checks_writes;     /* each write is read back as it settles: only older runs need verify */
  gboolean ordered;           /* a stream: takes the disk in order, once (the stream engine copies into it) */
  gboolean resumable;         /* a checkpoint can resume a copy into it */
};

/* The sink for @options->destination of a disk of @size bytes; @full_copy:
 * it is written from scratch (a file starts empty and sparse). */
MtvSink *mtv_sink_open (const MtvCopyOptions *options, guint64 size, gboolean full_copy, GError **error);

MtvSink *mtv_sink_file_open (const char *path, guint64 size, gboolean full_copy, gboolean check_writes, GError **error);
MtvSink *mtv_sink_nbd_open (const char *uri, guint64 size, volatile sig_atomic_t *stop, GError **error);
MtvSink *mtv_sink_http_open (const MtvCopyOptions *options, GError **error);
gboolean mtv_is_http_url (const char *s);

/* Verification failed for @w: FALSE with an error naming the range. */
gboolean mtv_sink_mismatch (const MtvWritten *w, GError **error);

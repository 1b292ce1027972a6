#pragma once
#include "transfer-sink.h"
#include "transfer-progress.h"

#include <libnbd.h>

/* The copy into a sink that is a stream (an upload): @ranges of @src in
 * disk order, data read many requests ahead and consumed in order, zero
 * ranges and the holes between ranges as zeroes, to the end of the disk
 * (@size). The data runs it wrote go into @written, for the checksum. */
gboolean mtv_copy_stream (const MtvCopyOptions *o, struct nbd_handle *src, guint64 size, GArray *ranges, MtvSink *sink,
                          GArray *written, MtvCopyResult *result, MtvProgress *progress, GError **error);

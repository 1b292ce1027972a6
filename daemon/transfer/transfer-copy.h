#pragma once
#include "transfer-options.h"

/* Copies a disk from an NBD source to @options->destination: the areas
 * --extents names, many requests in flight, zeroes detected, what was written
 * verified; a stream destination (an upload) in disk order. */
gboolean mtv_copy_run (const MtvCopyOptions *options, MtvCopyResult *result, GError **error);

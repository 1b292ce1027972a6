#pragma once
#include <glib.h>

/* A data run written by a copy, with the CRC-32C that verification checks. */
typedef struct {
  guint64 offset, length;
  guint32 crc;
} MtvWritten;

/* The record of a copy's progress, so that a copy interrupted by a crash (of
 * mtv-transfer, of mtvd, of the machine) goes on where it stopped. It is a
 * text file: a header naming the copy, then one line per finished work item
 * with the data runs it wrote. Lines reach the file only after the destination
 * was flushed, so whatever it lists is on the destination. */
typedef struct _MtvCheckpoint MtvCheckpoint;

/* What a run may be: on a disk of @size bytes, at most @max_run long. */
typedef struct {
  guint64 size, max_run;
} MtvCheckpointBounds;

/* Opens @path for a copy described by @header. When the file exists it must
 * describe the same copy (else an error: copies are not mixed); the items it
 * lists go into @done (index + 1) and their runs into @written, up to the
 * first line that is torn or breaks @bounds. */
MtvCheckpoint *mtv_checkpoint_open (const char *path, const char *header, const MtvCheckpointBounds *bounds,
                                    GHashTable *done, GArray *written, GError **error);
/* Notes a finished item (thread-safe); it is written at the next sync. */
void mtv_checkpoint_item_done (MtvCheckpoint *cp, guint index, const MtvWritten *runs, guint n_runs);
/* Takes the notes made so far; after the caller has flushed the destination,
 * mtv_checkpoint_commit writes them durably. */
GString *mtv_checkpoint_take (MtvCheckpoint *cp);
gboolean mtv_checkpoint_commit (MtvCheckpoint *cp, GString *notes, GError **error);
/* Closes it; with @remove, the copy is complete and the file goes. */
void mtv_checkpoint_close (MtvCheckpoint *cp, gboolean remove);

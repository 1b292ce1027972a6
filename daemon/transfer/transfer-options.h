#pragma once
#include <glib.h>
#include <signal.h>

/* What a copy is asked to do and what it reports: shared by the copy
 * engines (transfer-copy.c, transfer-stream.c) and the sinks. */

/* mtv-transfer's exit status when it gave up on a copy that stopped
 * moving (--stall-timeout); 1 is any other failure. */
#define MTV_TRANSFER_EXIT_STALLED 3

/* A range of the disk to copy; zero ranges are written as zeroes (or left as holes). */
typedef struct {
  guint64 offset, length;
  gboolean zero;
} MtvRange;

typedef struct {
  const char *source;       /* NBD URI */
  const char *destination;  /* file or block device path, or NBD URI */
  const char *extents;      /* allocation | dirty-bitmap:NAME | file:PATH */
  int progress_fd;          /* -1: none */
  gboolean verify;
  gsize request_size;
  guint64 max_rate;         /* bytes read per second at most; 0: no limit */
  guint connections;        /* NBD connections when the server allows multi-conn */
  guint requests;           /* reads in flight per connection */
  const char *checkpoint;   /* record progress here and resume from it; NULL: none */
  /* Leave a complete copy's checkpoint for the caller to remove once it has
   * recorded the copy (else a crash between the two copies it all again). */
  gboolean keep_checkpoint;
  /* Give up (exit 1, saying so) when no request finishes for this long; 0: wait. */
  guint stall_seconds;
  /* HTTP(S) destinations: bearer token from a file or a descriptor, TLS trust. */
  const char *token_file;
  int token_fd;
  const char *cacert;
  gboolean insecure;
  volatile sig_atomic_t *stop;
} MtvCopyOptions;

typedef struct {
  guint64 size;
  guint64 bytes_read;
  guint64 bytes_written;
  guint64 bytes_zeroed;
  double seconds;
  char *checksum;           /* SHA-256 over (offset, length, CRC-32C) of every data run */
  gboolean verified;
} MtvCopyResult;

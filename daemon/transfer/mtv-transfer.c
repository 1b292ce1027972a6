/* mtv-transfer: copies one disk from an NBD source to a file, block device or
 * NBD destination, reading only what the extents say holds data, leaving
 * holes as holes, and checking at the end that the destination holds what
 * was read. mtvd starts one per disk.
 *
 *   mtv-transfer [--extents allocation|dirty-bitmap:NAME|file:LIST]
 *                [--progress-fd FD] [--no-verify] [--max-rate BYTES] [--checkpoint FILE [--keep-checkpoint]]
 *                [--stall-timeout SECONDS]
 *                [--token-file FILE|--token-fd FD] [--cacert FILE] [--insecure]
 *                SRC-NBD-URI DESTINATION
 *
 * DESTINATION is a file, a block device, an NBD URI or an HTTP(S) upload URL
 * (CDI's upload proxy): the image is then streamed gzip-compressed.
 *
 * Progress goes as JSON lines to --progress-fd; the summary is one JSON line
 * on stdout. Exit status 0 when the copy is complete and verified. */
#include "config.h"
#include "transfer-copy.h"

#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>

/* A copy no request of which finishes for this long is given up: the disk server
 * or the destination stopped answering. */
#define DEFAULT_STALL_SECONDS 300

static volatile sig_atomic_t stop_requested;

static void
on_stop (int sig)
{
  stop_requested = 1;
}

int
main (int argc, char **argv)
{
  g_autofree char *extents = NULL;
  g_autofree char *checkpoint = NULL;
  gboolean keep_checkpoint = FALSE;
  gint stall_seconds = DEFAULT_STALL_SECONDS;
  g_autofree char *token_file = NULL, *cacert = NULL;
  int token_fd = -1;
  gboolean insecure = FALSE;
  int progress_fd = -1;
  gboolean no_verify = FALSE;
  g_autofree char *request_size_text = NULL;
  gint64 max_rate = 0;
  /* Measured with bench/transfer: 1 MiB requests, 16 in flight per
   * connection, a connection per core (up to 4) did best on 2 cores. */
  int connections = (int) MIN (4, g_get_num_processors ()), requests = 16;
  g_autoptr (GError) error = NULL;
  const GOptionEntry entries[] = {
    { "extents", 0, 0, G_OPTION_ARG_STRING, &extents,
      "What to copy: allocation (default: the data, not holes or zeroes), dirty-bitmap:NAME "
      "(the blocks a qemu dirty bitmap marks), file:LIST (\"offset length\" lines)", "MODE" },
    { "progress-fd", 0, 0, G_OPTION_ARG_INT, &progress_fd, "Write progress as JSON lines to FD", "FD" },
    { "checkpoint", 0, 0, G_OPTION_ARG_FILENAME, &checkpoint,
      "Record what was copied in FILE and, when FILE exists, go on from there", "FILE" },
    { "stall-timeout", 0, 0, G_OPTION_ARG_INT, &stall_seconds,
      "Fail when no request finishes for SECONDS (default 300; 0: wait for ever)", "SECONDS" },
    { "keep-checkpoint", 0, 0, G_OPTION_ARG_NONE, &keep_checkpoint,
      "Leave the checkpoint of a complete copy (the caller removes it once it has noted the copy)", NULL },
    { "token-file", 0, 0, G_OPTION_ARG_FILENAME, &token_file, "HTTP destination: bearer token from FILE", "FILE" },
    { "token-fd", 0, 0, G_OPTION_ARG_INT, &token_fd, "HTTP destination: bearer token from descriptor FD", "FD" },
    { "cacert", 0, 0, G_OPTION_ARG_FILENAME, &cacert, "HTTPS destination: trust the CAs in FILE", "FILE" },
    { "insecure", 0, 0, G_OPTION_ARG_NONE, &insecure, "HTTPS destination: do not verify its certificate", NULL },
    { "no-verify", 0, 0, G_OPTION_ARG_NONE, &no_verify, "Do not read back and compare what was written", NULL },
    { "request-size", 0, 0, G_OPTION_ARG_STRING, &request_size_text,
      "Read requests of SIZE bytes, with K or M: 64K to 32M (default 1M; a plain number means MiB); kept within the NBD block size limits the source (and an NBD destination) advertise", "SIZE" },
    { "max-rate", 0, 0, G_OPTION_ARG_INT64, &max_rate, "Read at most BYTES per second from the source", "BYTES" },
    { "connections", 0, 0, G_OPTION_ARG_INT, &connections, "NBD connections when the server allows several (default: one per core, up to 4)", "N" },
    { "requests", 0, 0, G_OPTION_ARG_INT, &requests, "Reads in flight per connection (default 16)", "N" },
    G_OPTION_ENTRY_NULL,
  };
  setlocale (LC_ALL, "");
  g_autoptr (GOptionContext) context = g_option_context_new ("SRC-NBD-URI DESTINATION");
  g_option_context_set_summary (context, "Copy a disk from an NBD server, data only, verified.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || argc != 3)
    {
      g_printerr ("mtv-transfer: %s\n", error ? error->message : "give a source NBD URI and a destination");
      return 2;
    }
  guint64 request_size = 1 << 20;
  if (request_size_text)
    {
      char *end;
      guint64 n = g_ascii_strtoull (request_size_text, &end, 10);
      guint64 unit = (*end == 'K' || *end == 'k') ? 1024 : (1 << 20);
      if (*end == 'K' || *end == 'k' || *end == 'M' || *end == 'm')
        end++;
      request_size = n * unit;
      if (end == request_size_text || *end != '\0' || request_size < (64 << 10) || request_size > (32 << 20))
        {
          g_printerr ("mtv-transfer: --request-size must be 64K to 32M\n");
          return 2;
        }
    }

  struct sigaction sa = { .sa_handler = on_stop };
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGINT, &sa, NULL);
  signal (SIGPIPE, SIG_IGN);

  MtvCopyOptions options = {
    .source = argv[1],
    .destination = argv[2],
    .extents = extents ? extents : "allocation",
    .progress_fd = progress_fd,
    .verify = !no_verify,
    .request_size = (gsize) request_size,
    .max_rate = max_rate > 0 ? (guint64) max_rate : 0,
    .connections = (guint) CLAMP (connections, 1, 16),
    .requests = (guint) CLAMP (requests, 1, 64),
    .checkpoint = checkpoint,
    .keep_checkpoint = keep_checkpoint,
    .stall_seconds = (guint) CLAMP (stall_seconds, 0, 24 * 3600),
    .token_file = token_file,
    .token_fd = token_fd,
    .cacert = cacert,
    .insecure = insecure,
    .stop = &stop_requested,
  };
  MtvCopyResult result = { 0 };
  if (!mtv_copy_run (&options, &result, &error))
    {
      g_printerr ("mtv-transfer: %s\n", error->message);
      return stop_requested ? 3 : 1;
    }
  printf ("{\"bytes_read\": %" G_GUINT64_FORMAT ", \"bytes_written\": %" G_GUINT64_FORMAT
          ", \"bytes_zeroed\": %" G_GUINT64_FORMAT ", \"size\": %" G_GUINT64_FORMAT
          ", \"seconds\": %.3f, \"checksum\": \"%s\", \"verified\": %s}\n",
          result.bytes_read, result.bytes_written, result.bytes_zeroed, result.size, result.seconds,
          result.checksum, result.verified ? "true" : "false");
  g_free (result.checksum);
  return 0;
}

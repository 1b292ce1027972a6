/* A minimal HTTP/1.1 server for disk images: GET and HEAD of published
 * paths, one thread per connection. */
#include "disk-http.h"
#include "mtv-error.h"

#include <string.h>
#include <sys/random.h>

struct _MtvDiskHttp {
  GSocketService *service;
  char *base;              /* http://HOST:PORT */
  GMutex lock;
  GHashTable *disks;       /* token -> Disk */
};

typedef struct {
  char *nbd_uri;
  guint64 size;
} Disk;

static void
disk_free (Disk *d)
{
  g_free (d->nbd_uri);
  g_free (d);
}

static gboolean
reply (GOutputStream *out, const char *status, guint64 length, const char *extra)
{
  g_autofree char *head = g_strdup_printf ("HTTP/1.1 %s\r\nContent-Length: %" G_GUINT64_FORMAT "\r\n"
                                           "Content-Type: application/octet-stream\r\nConnection: close\r\n%s\r\n",
                                           status, length, extra ? extra : "");
  return g_output_stream_write_all (out, head, strlen (head), NULL, NULL, NULL);
}

static gboolean
on_connection (GThreadedSocketService *service, GSocketConnection *connection, GObject *source, gpointer data)
{
  MtvDiskHttp *server = data;
  GInputStream *in_base = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  g_autoptr (GDataInputStream) in = g_data_input_stream_new (in_base);
  g_data_input_stream_set_newline_type (in, G_DATA_STREAM_NEWLINE_TYPE_ANY);
  g_autofree char *request = g_data_input_stream_read_line (in, NULL, NULL, NULL);
  for (;;)
    {
      /* Headers: nothing in them changes the answer. */
      g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, NULL);
      if (line == NULL || *g_strstrip (line) == '\0')
        break;
    }
  g_auto (GStrv) parts = request ? g_strsplit (request, " ", 3) : NULL;
  if (parts == NULL || g_strv_length (parts) < 2 || !(g_str_equal (parts[0], "GET") || g_str_equal (parts[0], "HEAD")))
    {
      reply (out, "405 Method Not Allowed", 0, NULL);
      return TRUE;
    }
  /* /disks/TOKEN/disk.img */
  g_auto (GStrv) path = g_strsplit (parts[1], "/", 0);
  Disk copy = { NULL, 0 };
  if (g_strv_length (path) == 4 && g_str_equal (path[1], "disks") && g_str_equal (path[3], "disk.img"))
    {
      g_mutex_lock (&server->lock);
      Disk *d = g_hash_table_lookup (server->disks, path[2]);
      if (d)
        copy = (Disk) { g_strdup (d->nbd_uri), d->size };
      g_mutex_unlock (&server->lock);
    }
  g_autofree char *uri = copy.nbd_uri;
  if (uri == NULL)
    {
      reply (out, "404 Not Found", 0, NULL);
      return TRUE;
    }
  if (!reply (out, "200 OK", copy.size, NULL) || g_str_equal (parts[0], "HEAD"))
    return TRUE;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) copier = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                                     &error, "nbdcopy", uri, "-", NULL);
  if (copier == NULL)
    {
      g_warning ("serving %s: %s", uri, error->message);
      return TRUE;
    }
  g_output_stream_splice (out, g_subprocess_get_stdout_pipe (copier), G_OUTPUT_STREAM_SPLICE_NONE, NULL, &error);
  if (error)
    {
      /* The importer went away: stop reading the disk. */
      g_subprocess_force_exit (copier);
    }
  g_subprocess_wait (copier, NULL, NULL);
  return TRUE;
}

MtvDiskHttp *
mtv_disk_http_new (const char *address, GError **error)
{
  const char *colon = address ? strrchr (address, ':') : NULL;
  guint64 port;
  if (colon == NULL || !g_ascii_string_to_unsigned (colon + 1, 10, 0, 65535, &port, NULL))
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "settings.diskServerAddress: \"%s\" is not HOST:PORT (the address the cluster reaches mtvd at)",
                   address ? address : "");
      return NULL;
    }
  g_autofree char *host = g_strndup (address, (gsize) (colon - address));
  g_autoptr (GInetAddress) inet = g_inet_address_new_from_string (host);
  if (inet == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "settings.diskServerAddress: \"%s\" is not an IP address", host);
      return NULL;
    }
  MtvDiskHttp *server = g_new0 (MtvDiskHttp, 1);
  g_mutex_init (&server->lock);
  server->disks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) disk_free);
  server->service = g_threaded_socket_service_new (8);
  g_autoptr (GSocketAddress) bind = g_inet_socket_address_new (inet, (guint16) port);
  g_autoptr (GSocketAddress) bound = NULL;
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (server->service), bind, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, &bound, error))
    {
      mtv_disk_http_free (server);
      return NULL;
    }
  guint16 actual = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  server->base = strchr (host, ':') ? g_strdup_printf ("http://[%s]:%u", host, actual)
                                    : g_strdup_printf ("http://%s:%u", host, actual);
  g_signal_connect (server->service, "run", G_CALLBACK (on_connection), server);
  g_socket_service_start (server->service);
  return server;
}

void
mtv_disk_http_free (MtvDiskHttp *server)
{
  if (server == NULL)
    return;
  g_socket_service_stop (server->service);
  g_socket_listener_close (G_SOCKET_LISTENER (server->service));
  g_object_unref (server->service);
  g_hash_table_unref (server->disks);
  g_mutex_clear (&server->lock);
  g_free (server->base);
  g_free (server);
}

char *
mtv_disk_http_publish (MtvDiskHttp *server, const char *nbd_uri, guint64 size)
{
  /* The token is the capability to read the disk: from the kernel's CSPRNG. */
  guint8 raw[16];
  if (getrandom (raw, sizeof raw, 0) != (ssize_t) sizeof raw)
    g_error ("getrandom failed");
  g_autoptr (GString) token = g_string_new (NULL);
  for (gsize i = 0; i < sizeof raw; i++)
    g_string_append_printf (token, "%02x", raw[i]);
  Disk *d = g_new0 (Disk, 1);
  d->nbd_uri = g_strdup (nbd_uri);
  d->size = size;
  g_mutex_lock (&server->lock);
  g_hash_table_replace (server->disks, g_strdup (token->str), d);
  g_mutex_unlock (&server->lock);
  return g_strdup_printf ("%s/disks/%s/disk.img", server->base, token->str);
}

void
mtv_disk_http_withdraw (MtvDiskHttp *server, const char *url)
{
  const char *p = strstr (url, "/disks/");
  if (p == NULL)
    return;
  g_autofree char *token = g_strndup (p + 7, strcspn (p + 7, "/"));
  g_mutex_lock (&server->lock);
  g_hash_table_remove (server->disks, token);
  g_mutex_unlock (&server->lock);
}

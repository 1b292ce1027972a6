/* An HTTP(S) upload as the sink: the disk, in order, as one gzip-compressed
 * raw image POSTed (chunked) to an upload URL such as CDI's upload proxy,
 * with a bearer token. Holes and zeroes compress to almost nothing on the
 * wire. It is a stream: the stream engine (transfer-stream.c) feeds it in
 * disk order; it cannot be read back. */
#include "transfer-sink.h"
#include "mtv-error.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

gboolean
mtv_is_http_url (const char *s)
{
  return g_str_has_prefix (s, "http://") || g_str_has_prefix (s, "https://");
}

/* The upload runs in its own thread; the copy feeds it through a pipe. */
typedef struct {
  const MtvCopyOptions *options;
  int read_fd;
  gint abort;                 /* the copy failed: end the upload as failed, not as complete */
  long status;
  GString *response;
  char curl_error[CURL_ERROR_SIZE];
  CURLcode code;
} Upload;

static size_t
on_read (char *buf, size_t size, size_t n, void *data)
{
  Upload *u = data;
  for (;;)
    {
      ssize_t got = read (u->read_fd, buf, size * n);
      if (got < 0 && errno == EINTR)
        continue;
      /* The end of the stream: the image is whole only if the copy says so. */
      if (got == 0 && g_atomic_int_get (&u->abort))
        return CURL_READFUNC_ABORT;
      return got < 0 ? CURL_READFUNC_ABORT : (size_t) got;
    }
}

static size_t
on_response (char *buf, size_t size, size_t n, void *data)
{
  Upload *u = data;
  if (u->response->len < 4096)
    g_string_append_len (u->response, buf, (gssize) MIN (size * n, 4096 - u->response->len));
  return size * n;
}

static char *
read_token (const MtvCopyOptions *o, GError **error)
{
  g_autofree char *text = NULL;
  if (o->token_file)
    {
      if (!g_file_get_contents (o->token_file, &text, NULL, error))
        return NULL;
    }
  else if (o->token_fd >= 0)
    {
      g_autoptr (GString) s = g_string_new (NULL);
      char buf[4096];
      ssize_t n;
      while ((n = read (o->token_fd, buf, sizeof buf)) > 0)
        g_string_append_len (s, buf, n);
      text = g_string_free (g_steal_pointer (&s), FALSE);
    }
  else
    return g_strdup ("");
  return g_strdup (g_strstrip (text));
}

/* Called by libcurl about once a second even while the server takes nothing:
 * a SIGTERM ends a stalled upload too. */
static int
on_xfer (void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
  Upload *u = data;
  return *u->options->stop ? 1 : 0;
}

static gpointer
upload_thread (gpointer data)
{
  Upload *u = data;
  const MtvCopyOptions *o = u->options;
  g_autoptr (GError) error = NULL;
  g_autofree char *token = read_token (o, &error);
  CURL *curl = curl_easy_init ();
  struct curl_slist *headers = NULL;
  headers = curl_slist_append (headers, "Content-Type: application/octet-stream");
  headers = curl_slist_append (headers, "Transfer-Encoding: chunked");
  g_autofree char *auth = token && *token ? g_strdup_printf ("Authorization: Bearer %s", token) : NULL;
  if (auth)
    headers = curl_slist_append (headers, auth);
  curl_easy_setopt (curl, CURLOPT_URL, o->destination);
  curl_easy_setopt (curl, CURLOPT_POST, 1L);
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (curl, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt (curl, CURLOPT_READDATA, u);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, on_response);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, u);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, u->curl_error);
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt (curl, CURLOPT_XFERINFOFUNCTION, on_xfer);
  curl_easy_setopt (curl, CURLOPT_XFERINFODATA, u);
  if (o->cacert)
    curl_easy_setopt (curl, CURLOPT_CAINFO, o->cacert);
  if (o->insecure)
    {
      curl_easy_setopt (curl, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt (curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
  u->code = error ? CURLE_READ_ERROR : curl_easy_perform (curl);
  if (error)
    g_strlcpy (u->curl_error, error->message, sizeof u->curl_error);
  curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &u->status);
  curl_slist_free_all (headers);
  curl_easy_cleanup (curl);
  /* Unblock a writer whose reader is gone. */
  close (u->read_fd);
  u->read_fd = -1;
  return NULL;
}

/* The gzip stream: raw deflate with the gzip header and trailer written
 * here, so that runs of zeroes can be spliced in pre-compressed (deflating
 * every zero byte of a mostly empty disk is what the copy would spend its
 * time on). After a full flush the compressor refers to nothing before it,
 * and the spliced block - 1 MiB of zeroes compressed once from a fresh state,
 * ending in a full flush - refers to nothing outside itself. */
#define ZERO_BLOCK (1 << 20)

typedef struct {
  int fd;
  z_stream z;
  guint8 out[1 << 18];
  guint64 bytes_out;
  uLong crc;
  guint64 size;
  GBytes *zero_block;   /* ZERO_BLOCK zeroes, deflated */
  uLong zero_crc;
} Compressor;

static gboolean
write_all (Compressor *c, const guint8 *buf, gsize len, GError **error)
{
  for (gsize done = 0; done < len;)
    {
      ssize_t n = write (c->fd, buf + done, len - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "the upload stopped taking data");
          return FALSE;
        }
      done += (gsize) n;
    }
  c->bytes_out += len;
  return TRUE;
}

static gboolean
deflate_into (Compressor *c, const guint8 *buf, gsize len, int flush, GError **error)
{
  c->z.next_in = (Bytef *) buf;
  c->z.avail_in = (uInt) len;
  do
    {
      c->z.next_out = c->out;
      c->z.avail_out = sizeof c->out;
      if (deflate (&c->z, flush) == Z_STREAM_ERROR)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "compressing: zlib error");
          return FALSE;
        }
      if (!write_all (c, c->out, sizeof c->out - c->z.avail_out, error))
        return FALSE;
    }
  while (c->z.avail_out == 0);
  return TRUE;
}

static gboolean
push (Compressor *c, const guint8 *buf, gsize len, int flush, GError **error)
{
  if (len)
    {
      c->crc = crc32 (c->crc, buf, (uInt) len);
      c->size += len;
    }
  return deflate_into (c, buf, len, flush, error);
}

static GBytes *
deflate_zero_block (void)
{
  z_stream z = { 0 };
  deflateInit2 (&z, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  g_autofree guint8 *zeroes = g_malloc0 (ZERO_BLOCK);
  GByteArray *out = g_byte_array_new ();
  guint8 buf[1 << 16];
  z.next_in = zeroes;
  z.avail_in = ZERO_BLOCK;
  do
    {
      z.next_out = buf;
      z.avail_out = sizeof buf;
      deflate (&z, Z_FULL_FLUSH);
      g_byte_array_append (out, buf, sizeof buf - z.avail_out);
    }
  while (z.avail_out == 0);
  deflateEnd (&z);
  return g_byte_array_free_to_bytes (out);
}

static gboolean
push_zeroes (Compressor *c, const guint8 *zeroes, guint64 len, GError **error)
{
  if (len >= ZERO_BLOCK)
    {
      if (!deflate_into (c, NULL, 0, Z_FULL_FLUSH, error))
        return FALSE;
      gsize zlen;
      const guint8 *block = g_bytes_get_data (c->zero_block, &zlen);
      for (; len >= ZERO_BLOCK; len -= ZERO_BLOCK)
        {
          if (!write_all (c, block, zlen, error))
            return FALSE;
          c->crc = crc32_combine (c->crc, c->zero_crc, ZERO_BLOCK);
          c->size += ZERO_BLOCK;
        }
    }
  return len == 0 || push (c, zeroes, (gsize) len, Z_NO_FLUSH, error);
}

static gboolean
compressor_start (Compressor *c, GError **error)
{
  static const guint8 header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
  deflateInit2 (&c->z, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  c->crc = crc32 (0, NULL, 0);
  c->zero_block = deflate_zero_block ();
  g_autofree guint8 *zeroes = g_malloc0 (ZERO_BLOCK);
  c->zero_crc = crc32 (0, zeroes, ZERO_BLOCK);
  return write_all (c, header, sizeof header, error);
}

static gboolean
compressor_finish (Compressor *c, GError **error)
{
  if (!deflate_into (c, NULL, 0, Z_FINISH, error))
    return FALSE;
  guint8 trailer[8];
  guint32 crc = (guint32) c->crc, size = (guint32) c->size;
  for (int i = 0; i < 4; i++)
    {
      trailer[i] = (guint8) (crc >> (8 * i));
      trailer[4 + i] = (guint8) (size >> (8 * i));
    }
  return write_all (c, trailer, sizeof trailer, error);
}

typedef struct {
  MtvSink base;
  const MtvCopyOptions *options;
  Upload upload;
  GThread *thread;
  Compressor compressor;
  guint64 at;                 /* what the stream has reached */
  guint8 *zeroes;
  gboolean finished;
} HttpSink;

static const MtvSinkOps http_ops;

/* Ends the upload and says how it went; the upload's own failure explains
 * more than "it stopped taking data". */
static gboolean
end_upload (HttpSink *s, gboolean complete, GError **error)
{
  if (s->thread == NULL)
    return complete;
  if (!complete)
    g_atomic_int_set (&s->upload.abort, 1);
  close (s->compressor.fd);
  s->compressor.fd = -1;
  g_thread_join (s->thread);
  s->thread = NULL;
  Upload *u = &s->upload;
  if (u->code != CURLE_OK || u->status < 200 || u->status >= 300)
    {
      if (!complete)
        return FALSE;   /* the copy's own error says why */
      if (u->code != CURLE_OK)
        g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "upload to %s failed: %s", s->options->destination,
                     u->curl_error);
      else
        g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "upload to %s failed: HTTP status %ld: %s",
                     s->options->destination, u->status, g_strstrip (u->response->str));
      return FALSE;
    }
  return complete;
}

/* A write the upload did not take: the upload's error replaces the pipe's. */
static gboolean
stream_failed (HttpSink *s, GError **error)
{
  g_autoptr (GError) upload_error = NULL;
  g_atomic_int_set (&s->upload.abort, 0);
  if (!end_upload (s, TRUE, &upload_error) && upload_error)
    {
      g_clear_error (error);
      g_propagate_error (error, g_steal_pointer (&upload_error));
    }
  return FALSE;
}

/* The stream takes the disk in order: a gap before @offset is zeroes. */
static gboolean
reach (HttpSink *s, guint64 offset, GError **error)
{
  if (offset < s->at)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "the upload stream got offset %" G_GUINT64_FORMAT " after %"
                   G_GUINT64_FORMAT, offset, s->at);
      return FALSE;
    }
  if (offset > s->at && !push_zeroes (&s->compressor, s->zeroes, offset - s->at, error))
    return stream_failed (s, error);
  s->at = offset;
  return TRUE;
}

static gboolean
http_write (MtvSink *sink, const guint8 *buf, gsize len, guint64 offset, guint32 crc, GError **error)
{
  HttpSink *s = (HttpSink *) sink;
  if (!reach (s, offset, error))
    return FALSE;
  if (!push (&s->compressor, buf, len, Z_NO_FLUSH, error))
    return stream_failed (s, error);
  s->at += len;
  return TRUE;
}

static gboolean
http_zero (MtvSink *sink, guint64 offset, guint64 length, GError **error)
{
  HttpSink *s = (HttpSink *) sink;
  if (!reach (s, offset, error))
    return FALSE;
  if (!push_zeroes (&s->compressor, s->zeroes, length, error))
    return stream_failed (s, error);
  s->at += length;
  return TRUE;
}

static gboolean
http_settle (MtvSink *sink, GError **error)
{
  return TRUE;
}

/* The end of the stream: the gzip trailer, then the server's answer. */
static gboolean
http_flush (MtvSink *sink, GError **error)
{
  HttpSink *s = (HttpSink *) sink;
  if (!compressor_finish (&s->compressor, error))
    return stream_failed (s, error);
  s->finished = TRUE;
  return end_upload (s, TRUE, error);
}

static void
http_close (MtvSink *sink)
{
  HttpSink *s = (HttpSink *) sink;
  end_upload (s, s->finished, NULL);
  deflateEnd (&s->compressor.z);
  g_clear_pointer (&s->compressor.zero_block, g_bytes_unref);
  if (s->compressor.fd >= 0)
    close (s->compressor.fd);
  g_string_free (s->upload.response, TRUE);
  g_free (s->zeroes);
  g_free (s);
}

static MtvSink *
http_clone (MtvSink *sink, GError **error)
{
  g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "an upload is one stream");
  return NULL;
}

static const MtvSinkOps http_ops = {
  .clone = http_clone,
  .write = http_write,
  .zero = http_zero,
  .settle = http_settle,
  .flush = http_flush,
  .close = http_close,
};

MtvSink *
mtv_sink_http_open (const MtvCopyOptions *options, GError **error)
{
  static gsize curl_ready;
  if (g_once_init_enter (&curl_ready))
    {
      curl_global_init (CURL_GLOBAL_DEFAULT);
      g_once_init_leave (&curl_ready, 1);
    }
  int fds[2];
  if (pipe (fds) < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "pipe: %s", g_strerror (errno));
      return NULL;
    }
  HttpSink *s = g_new0 (HttpSink, 1);
  s->base.ops = &http_ops;
  s->base.max_io = G_MAXSIZE;
  s->base.ordered = TRUE;
  s->options = options;
  s->upload = (Upload) { .options = options, .read_fd = fds[0], .response = g_string_new (NULL) };
  s->compressor.fd = fds[1];
  s->zeroes = g_malloc0 (ZERO_BLOCK);
  s->thread = g_thread_new ("upload", upload_thread, &s->upload);
  if (!compressor_start (&s->compressor, error))
    {
      stream_failed (s, error);
      http_close (&s->base);
      return NULL;
    }
  return &s->base;
}

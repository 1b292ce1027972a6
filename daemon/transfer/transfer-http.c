#include "transfer-http.h"
#include "crc32c.h"
#include "mtv-error.h"

#include <curl/curl.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* Matches transfer-copy.c's Range. */
typedef struct {
  guint64 offset, length;
  gboolean zero;
} HttpRange;

gboolean
mtv_is_http_url (const char *s)
{
  return g_str_has_prefix (s, "http://") || g_str_has_prefix (s, "https://");
}

/* The upload runs in its own thread; the copy feeds it through a pipe. */
typedef struct {
  const MtvCopyOptions *options;
  int read_fd;
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
  guint8 *buf;
  guint64 offset, length;
  gboolean done;
  int err;
} Slot;

static int
on_slot_done (void *data, int *err)
{
  Slot *s = data;
  s->done = TRUE;
  s->err = *err;
  return 1;
}

gboolean
mtv_copy_http (const MtvCopyOptions *o, struct nbd_handle *src, const guint64 size, GArray *ranges,
               MtvCopyResult *result, GError **error)
{
  static gsize curl_ready;
  if (g_once_init_enter (&curl_ready))
    {
      curl_global_init (CURL_GLOBAL_DEFAULT);
      g_once_init_leave (&curl_ready, 1);
    }
  gint64 started = g_get_monotonic_time (), last_report = 0;
  int fds[2];
  if (pipe (fds) < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "pipe: %s", g_strerror (errno));
      return FALSE;
    }
  Upload u = { .options = o, .read_fd = fds[0], .response = g_string_new (NULL) };
  GThread *thread = g_thread_new ("upload", upload_thread, &u);
  Compressor *c = g_new0 (Compressor, 1);
  c->fd = fds[1];
  gboolean started_ok = compressor_start (c, error);
  g_autofree guint8 *zeroes = g_malloc0 (1 << 20);
  g_autoptr (GChecksum) total = g_checksum_new (G_CHECKSUM_SHA256);
  gboolean ok = started_ok;
  guint64 at = 0;

  /* Work in disk order: zero ranges and the holes between ranges become zeroes;
   * data is read many requests ahead and consumed in order. */
  GQueue slots = G_QUEUE_INIT;
  guint r = 0;
  guint64 next_read = 0; /* offset within ranges[r] of the next read to submit */
  while (ok)
    {
      /* Submit reads ahead, in order. */
      while (g_queue_get_length (&slots) < MAX (1, o->requests) && r < ranges->len)
        {
          HttpRange *range = &g_array_index (ranges, HttpRange, r);
          if (range->zero)
            {
              if (g_queue_is_empty (&slots))
                {
                  Slot *s = g_new0 (Slot, 1);
                  s->offset = range->offset;
                  s->length = range->length;
                  s->done = TRUE; /* no buffer: zeroes */
                  g_queue_push_tail (&slots, s);
                  r++;
                  next_read = 0;
                }
              break;
            }
          guint64 len = MIN ((guint64) o->request_size, range->length - next_read);
          Slot *s = g_new0 (Slot, 1);
          s->offset = range->offset + next_read;
          s->length = len;
          s->buf = g_malloc ((gsize) len);
          nbd_completion_callback cb = { .callback = on_slot_done, .user_data = s };
          if (nbd_aio_pread (src, s->buf, (size_t) len, s->offset, cb, 0) == -1)
            {
              s->done = TRUE;
              s->err = EIO;
            }
          g_queue_push_tail (&slots, s);
          next_read += len;
          if (next_read >= range->length)
            {
              r++;
              next_read = 0;
            }
        }
      Slot *head = g_queue_peek_head (&slots);
      if (head == NULL)
        break;
      while (!head->done)
        if (nbd_poll (src, -1) == -1)
          {
            ok = FALSE;
            g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "reading the source: %s", nbd_get_error ());
            break;
          }
      if (!ok)
        break;
      g_queue_pop_head (&slots);
      if (head->err)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "reading %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
                       ": %s", head->length, head->offset, g_strerror (head->err));
          ok = FALSE;
        }
      /* Holes before this slot, then the slot. */
      if (ok && at < head->offset)
        ok = push_zeroes (c, zeroes, head->offset - at, error);
      if (ok && head->buf)
        {
          ok = push (c, head->buf, (gsize) head->length, Z_NO_FLUSH, error);
          guint32 crc = GUINT32_TO_LE (mtv_crc32c (0, head->buf, (gsize) head->length));
          guint64 header[2] = { GUINT64_TO_LE (head->offset), GUINT64_TO_LE (head->length) };
          g_checksum_update (total, (const guint8 *) header, sizeof header);
          g_checksum_update (total, (const guint8 *) &crc, sizeof crc);
          result->bytes_read += head->length;
          result->bytes_written += head->length;
        }
      else if (ok)
        {
          ok = push_zeroes (c, zeroes, head->length, error);
          result->bytes_zeroed += head->length;
        }
      at = head->offset + head->length;
      g_free (head->buf);
      g_free (head);
      if (*o->stop)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_CANCELLED, "cancelled at offset %" G_GUINT64_FORMAT, at);
          ok = FALSE;
        }
      if (o->progress_fd >= 0 && (g_get_monotonic_time () - last_report > 500000))
        {
          last_report = g_get_monotonic_time ();
          double seconds = MAX (0.001, (last_report - started) / 1e6);
          g_autofree char *line = g_strdup_printf ("{\"bytes_done\": %" G_GUINT64_FORMAT ", \"bytes_total\": %" G_GUINT64_FORMAT
                                                   ", \"bytes_read\": %" G_GUINT64_FORMAT ", \"rate\": %.0f}\n",
                                                   at, size, result->bytes_read, at / seconds);
          if (write (o->progress_fd, line, strlen (line)) < 0)
            {
            }
        }
    }
  /* Trailing holes, and the end of the stream. */
  if (ok && at < size)
    ok = push_zeroes (c, zeroes, size - at, error);
  if (ok)
    ok = compressor_finish (c, error);
  /* Outstanding reads must finish before their buffers go. */
  while (!g_queue_is_empty (&slots))
    {
      Slot *s = g_queue_pop_head (&slots);
      while (!s->done && nbd_poll (src, -1) != -1)
        ;
      g_free (s->buf);
      g_free (s);
    }
  deflateEnd (&c->z);
  g_clear_pointer (&c->zero_block, g_bytes_unref);
  close (c->fd);
  g_free (c);
  g_thread_join (thread);
  /* The upload's own failure explains more than "it stopped taking data". */
  if (u.code != CURLE_OK || u.status < 200 || u.status >= 300)
    {
      g_clear_error (error);
      if (u.code != CURLE_OK)
        g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "upload to %s failed: %s", o->destination, u.curl_error);
      else
        g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "upload to %s failed: HTTP status %ld: %s", o->destination,
                     u.status, g_strstrip (u.response->str));
      ok = FALSE;
    }
  g_string_free (u.response, TRUE);
  if (!ok)
    return FALSE;
  result->size = size;
  result->checksum = g_strdup (g_checksum_get_string (total));
  result->seconds = (g_get_monotonic_time () - started) / 1e6;
  result->verified = FALSE; /* the receiver cannot be read back */
  return TRUE;
}

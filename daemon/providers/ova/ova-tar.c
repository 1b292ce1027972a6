#include "ova-tar.h"
#include "mtv-error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 512
#define MAX_MEMBERS 100000

void
ova_tar_member_free (OvaTarMember *member)
{
  g_free (member->name);
  g_free (member);
}

gboolean
ova_path_is_safe (const char *name)
{
  if (name == NULL || *name == '\0' || name[0] == '/')
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (name, "/", -1);
  for (guint i = 0; parts[i]; i++)
    if (g_str_equal (parts[i], ".."))
      return FALSE;
  return TRUE;
}

/* Octal, or GNU base-256 for large sizes. FALSE when not a number. */
static gboolean
parse_number (const guint8 *field, gsize len, guint64 *out)
{
  guint64 v = 0;
  if (field[0] & 0x80)
    {
      for (gsize i = 1; i < len; i++)
        {
          if (v >> 56)
            return FALSE;
          v = (v << 8) | field[i];
        }
      *out = v;
      return (field[0] & 0x7f) == 0;
    }
  gsize i = 0;
  while (i < len && field[i] == ' ')
    i++;
  gboolean digits = FALSE;
  for (; i < len && field[i] >= '0' && field[i] <= '7'; i++)
    {
      if (v >> 60)
        return FALSE;
      v = (v << 3) | (guint64) (field[i] - '0');
      digits = TRUE;
    }
  for (; i < len; i++)
    if (field[i] != ' ' && field[i] != '\0')
      return FALSE;
  *out = v;
  return digits;
}

static gboolean
checksum_ok (const guint8 *h)
{
  guint64 stored;
  if (!parse_number (h + 148, 8, &stored))
    return FALSE;
  guint64 sum = 0;
  for (int i = 0; i < BLOCK; i++)
    sum += (i >= 148 && i < 156) ? ' ' : h[i];
  return sum == stored;
}

static gboolean
all_zero (const guint8 *b)
{
  for (int i = 0; i < BLOCK; i++)
    if (b[i])
      return FALSE;
  return TRUE;
}

static char *
field_string (const guint8 *f, gsize len)
{
  return g_strndup ((const char *) f, strnlen ((const char *) f, len));
}

/* Reads blocks through a callback so the same walk serves files and memory. */
typedef gboolean (*ReadAt) (gpointer source, guint64 offset, guint8 *buf, gsize len, GError **error);

static gboolean
fail (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);
static gboolean
fail (GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, MTV_ERROR, MTV_ERROR_INVALID, msg);
  return FALSE;
}

static GPtrArray *
walk (ReadAt read_at, gpointer source, guint64 total, GError **error)
{
  g_autoptr (GPtrArray) members = g_ptr_array_new_with_free_func ((GDestroyNotify) ova_tar_member_free);
  g_autofree char *long_name = NULL;
  guint64 offset = 0;
  guint8 h[BLOCK];

  while (offset + BLOCK <= total)
    {
      if (!read_at (source, offset, h, BLOCK, error))
        return NULL;
      if (all_zero (h))
        return g_steal_pointer (&members);
      if (!checksum_ok (h))
        {
          fail (error, "not a tar archive, or damaged: bad header checksum at offset %" G_GUINT64_FORMAT, offset);
          return NULL;
        }
      guint64 size;
      if (!parse_number (h + 124, 12, &size))
        {
          fail (error, "bad member size in the header at offset %" G_GUINT64_FORMAT, offset);
          return NULL;
        }
      guint64 data = offset + BLOCK;
      guint64 padded = (size + BLOCK - 1) / BLOCK * BLOCK;
      char type = (char) h[156];
      g_autofree char *name = NULL;
      if (long_name)
        name = g_steal_pointer (&long_name);
      else
        {
          g_autofree char *base = field_string (h, 100);
          g_autofree char *prefix = memcmp (h + 257, "ustar", 5) == 0 ? field_string (h + 345, 155) : g_strdup ("");
          name = *prefix ? g_strconcat (prefix, "/", base, NULL) : g_steal_pointer (&base);
        }
      if (size > total || data > total - size)
        {
          fail (error, "truncated: member \"%s\" needs %" G_GUINT64_FORMAT " bytes at offset %" G_GUINT64_FORMAT
                ", past the end of the file (%" G_GUINT64_FORMAT " bytes)", name, size, data, total);
          return NULL;
        }
      if (type == 'L')
        {
          /* GNU long name: the next header's name is in this member's data. */
          if (size == 0 || size > 4096)
            {
              fail (error, "bad long-name record at offset %" G_GUINT64_FORMAT, offset);
              return NULL;
            }
          g_autofree guint8 *buf = g_malloc (size + 1);
          if (!read_at (source, data, buf, size, error))
            return NULL;
          buf[size] = '\0';
          long_name = g_strdup ((const char *) buf);
        }
      else if (type == '0' || type == '\0' || type == '7')
        {
          while (g_str_has_prefix (name, "./"))
            memmove (name, name + 2, strlen (name + 2) + 1);
          if (!g_utf8_validate (name, -1, NULL))
            {
              g_autofree char *shown = g_strescape (name, NULL);
              fail (error, "member \"%s\" has a name that is not UTF-8", shown);
              return NULL;
            }
          if (!ova_path_is_safe (name))
            {
              fail (error, "member \"%s\" has a name that leaves the archive's directory", name);
              return NULL;
            }
          if (members->len >= MAX_MEMBERS)
            {
              fail (error, "more than %d members", MAX_MEMBERS);
              return NULL;
            }
          OvaTarMember *m = g_new0 (OvaTarMember, 1);
          m->name = g_steal_pointer (&name);
          m->offset = data;
          m->size = size;
          g_ptr_array_add (members, m);
        }
      else if (type == '1' || type == '2')
        {
          fail (error, "member \"%s\" is a link; an OVA holds only plain files", name);
          return NULL;
        }
      /* Directories, pax headers ('x', 'g') and others carry no file. */
      if (padded > total - data)
        return g_steal_pointer (&members); /* the last member's padding may be missing */
      offset = data + padded;
    }
  if (members->len == 0)
    {
      fail (error, "not a tar archive (too short)");
      return NULL;
    }
  return g_steal_pointer (&members);
}

gboolean
ova_read_at (int fd, guint64 offset, guint8 *buf, gsize len, GError **error)
{
  gsize done = 0;
  while (done < len)
    {
      ssize_t n = pread (fd, buf + done, len - done, (off_t) (offset + done));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int saved = errno;
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "cannot read at offset %" G_GUINT64_FORMAT ": %s",
                       offset + done, n == 0 ? "unexpected end of file" : g_strerror (saved));
          return FALSE;
        }
      done += (gsize) n;
    }
  return TRUE;
}

typedef struct {
  const guint8 *data;
  gsize size;
} Memory;

static gboolean
read_fd (gpointer source, guint64 offset, guint8 *buf, gsize len, GError **error)
{
  return ova_read_at (GPOINTER_TO_INT (source), offset, buf, len, error);
}

static gboolean
read_memory (gpointer source, guint64 offset, guint8 *buf, gsize len, GError **error)
{
  Memory *m = source;
  if (offset > m->size || len > m->size - offset)
    return fail (error, "unexpected end of data");
  memcpy (buf, m->data + offset, len);
  return TRUE;
}

GPtrArray *
ova_tar_list (const char *path, GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "cannot open: %s", g_strerror (saved));
      return NULL;
    }
  struct stat st;
  GPtrArray *result = NULL;
  if (fstat (fd, &st) == 0)
    result = walk (read_fd, GINT_TO_POINTER (fd), (guint64) st.st_size, error);
  else
    g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "cannot stat: %s", g_strerror (errno));
  close (fd);
  return result;
}

GPtrArray *
ova_tar_list_bytes (const guint8 *data, gsize size, GError **error)
{
  Memory m = { data, size };
  return walk (read_memory, &m, size, error);
}

GBytes *
ova_tar_read_member (const char *path, const OvaTarMember *member, gsize max, GError **error)
{
  if (member->size > max)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "member \"%s\" is %" G_GUINT64_FORMAT
                   " bytes, more than the %zu allowed", member->name, member->size, max);
      return NULL;
    }
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "cannot open: %s", g_strerror (saved));
      return NULL;
    }
  guint8 *buf = g_malloc (member->size + 1);
  gboolean ok = read_fd (GINT_TO_POINTER (fd), member->offset, buf, member->size, error);
  close (fd);
  if (!ok)
    {
      g_free (buf);
      return NULL;
    }
  return g_bytes_new_take (buf, member->size);
}

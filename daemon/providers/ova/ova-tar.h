#pragma once
#include <gio/gio.h>

/* Reads the member list of a tar archive (an OVA) without extracting it:
 * names, offsets and sizes, so members can be read or served in place. */

typedef struct {
  char *name;     /* as stored, checked to stay inside the archive */
  guint64 offset; /* of the member's data in the archive */
  guint64 size;
} OvaTarMember;

void ova_tar_member_free (OvaTarMember *member);

/* Lists the regular-file members of @path. Fails, naming the fault, on a
 * header with a bad checksum, a member that ends past the end of the file
 * (truncated archive), or a name that is absolute or climbs out with "..". */
GPtrArray *ova_tar_list (const char *path, GError **error);

/* Lists members of an archive held in memory (the same checks). */
GPtrArray *ova_tar_list_bytes (const guint8 *data, gsize size, GError **error);

/* Reads a member of at most @max bytes into memory. */
GBytes *ova_tar_read_member (const char *path, const OvaTarMember *member, gsize max, GError **error);

/* Reads exactly @len bytes at @offset of @fd; the error names the offset. */
gboolean ova_read_at (int fd, guint64 offset, guint8 *buf, gsize len, GError **error);

/* A member name is safe when it is relative and never climbs with "..". */
gboolean ova_path_is_safe (const char *name);

#include "ova-scan.h"
#include "ova-ovf.h"
#include "ova-stamp.h"
#include "ova-tar.h"
#include "mtv-error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 8
#define MAX_OVF_SIZE (16 * 1024 * 1024)
#define MAX_MF_SIZE (1024 * 1024)

char *
ova_stable_id (const char *text)
{
  g_autofree char *h = g_compute_checksum_for_string (G_CHECKSUM_SHA1, text, -1);
  return g_strdup_printf ("%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12, h + 16, h + 20);
}

/* Where a disk's bytes are: a member of an OVA or a file beside an OVF. */
typedef struct {
  const char *path;       /* the .ova, or the disk file */
  const OvaTarMember *member; /* NULL for a plain file */
  guint64 offset, size;
  const char *stamp;      /* the version of the file that was read (ova-stamp.h) */
} Location;


/* The digest of a location's bytes, or NULL with the fault. */
static char *
digest_of (const Location *loc, GChecksumType type, char **fault)
{
  int fd = open (loc->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      *fault = g_strdup_printf ("cannot open: %s", g_strerror (errno));
      return NULL;
    }
  g_autoptr (GChecksum) sum = g_checksum_new (type);
  g_autofree guint8 *buf = g_malloc (1 << 20);
  guint64 done = 0;
  while (done < loc->size)
    {
      gsize n = (gsize) MIN ((guint64) (1 << 20), loc->size - done);
      if (!ova_read_at (fd, loc->offset + done, buf, n, NULL))
        {
          close (fd);
          *fault = g_strdup ("read error or unexpected end of file");
          return NULL;
        }
      g_checksum_update (sum, buf, n);
      done += n;
    }
  close (fd);
  return g_strdup (g_checksum_get_string (sum));
}

/* The virtual size a VMDK sparse header declares, or 0 when not a sparse VMDK. */
static guint64
vmdk_capacity (const Location *loc)
{
  if (loc->size < 20)
    return 0;
  int fd = open (loc->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return 0;
  guint8 h[20];
  gboolean ok = ova_read_at (fd, loc->offset, h, sizeof h, NULL);
  close (fd);
  if (!ok || memcmp (h, "KDMV", 4) != 0)
    return 0;
  guint64 sectors = 0;
  for (int i = 7; i >= 0; i--)
    sectors = (sectors << 8) | h[12 + i];
  return sectors > G_MAXUINT64 / 512 ? G_MAXUINT64 : sectors * 512;
}

/* Checks a manifest ("SHA256(name)= hex" lines) against the files it names.
 * Returns the faults as one string, or NULL when everything matched. */
static char *
check_manifest (const char *mf, const char *archive, GHashTable *locations, GHashTable *cache)
{
  g_autoptr (GString) faults = g_string_new (NULL);
  g_auto (GStrv) lines = g_strsplit (mf, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      char *line = g_strstrip (lines[i]);
      if (*line == '\0')
        continue;
      char *open_paren = strchr (line, '(');
      char *close_paren = strstr (line, ")=");
      if (open_paren == NULL || close_paren == NULL || close_paren < open_paren)
        {
          g_string_append_printf (faults, "%smanifest line %u is not \"ALGO(file)= digest\"", faults->len ? "; " : "", i + 1);
          continue;
        }
      g_autofree char *algo = g_strndup (line, (gsize) (open_paren - line));
      g_autofree char *name = g_strndup (open_paren + 1, (gsize) (close_paren - open_paren - 1));
      g_autofree char *want = g_ascii_strdown (g_strstrip (close_paren + 2), -1);
      GChecksumType type;
      if (g_ascii_strcasecmp (algo, "SHA256") == 0)
        type = G_CHECKSUM_SHA256;
      else if (g_ascii_strcasecmp (algo, "SHA1") == 0)
        type = G_CHECKSUM_SHA1;
      else if (g_ascii_strcasecmp (algo, "SHA512") == 0)
        type = G_CHECKSUM_SHA512;
      else
        {
          g_string_append_printf (faults, "%smanifest uses %s, not SHA1/SHA256/SHA512", faults->len ? "; " : "", algo);
          continue;
        }
      const Location *loc = g_hash_table_lookup (locations, name);
      if (loc == NULL)
        {
          g_string_append_printf (faults, "%smanifest lists \"%s\", which is missing", faults->len ? "; " : "", name);
          continue;
        }
      struct stat st;
      if (stat (loc->path, &st) < 0)
        continue;
      g_autofree char *key = g_strdup_printf ("%s|%lld|%lld|%s|%s|%s", archive, (long long) st.st_size,
                                              (long long) st.st_mtime, name, algo, want);
      const char *cached = g_hash_table_lookup (cache, key);
      g_autofree char *fault = NULL;
      if (cached == NULL)
        {
          g_autofree char *got = digest_of (loc, type, &fault);
          if (got && !g_str_equal (got, want))
            fault = g_strdup_printf ("%s digest of \"%s\" does not match the manifest", algo, name);
          g_hash_table_insert (cache, g_steal_pointer (&key), g_strdup (fault ? fault : ""));
        }
      else if (*cached)
        fault = g_strdup (cached);
      if (fault)
        g_string_append_printf (faults, "%s%s", faults->len ? "; " : "", fault);
    }
  return faults->len ? g_string_free (g_steal_pointer (&faults), FALSE) : NULL;
}

typedef struct {
  JsonArray *vms, *networks, *storages, *disks;
  GHashTable *network_ids; /* name -> id */
  GHashTable *digests;
  GPtrArray *faults;
} Scan;

static void
add_fault (Scan *s, const char *file, const char *fmt, ...) G_GNUC_PRINTF (3, 4);
static void
add_fault (Scan *s, const char *file, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_ptr_array_add (s->faults, g_strdup_printf ("%s: %s", file, msg));
}

static void
vm_concern (JsonObject *vm, const char *id, const char *label, const char *assessment)
{
  JsonObject *c = json_object_new ();
  json_object_set_string_member (c, "id", id);
  json_object_set_string_member (c, "category", "Critical");
  json_object_set_string_member (c, "label", label);
  json_object_set_string_member (c, "assessment", assessment);
  json_array_add_object_element (json_object_get_array_member (vm, "concerns"), c);
}

/* Adds the VMs and networks of one descriptor. @locations maps file names
 * (as the OVF's References give them) to where their bytes are. */
static void
add_descriptor (Scan *s, const char *source, JsonObject *ovf, GHashTable *locations, const char *manifest_fault)
{
  JsonArray *networks = json_object_get_array_member (ovf, "networks");
  for (guint i = 0; i < json_array_get_length (networks); i++)
    {
      JsonObject *n = json_array_get_object_element (networks, i);
      const char *name = json_object_get_string_member (n, "name");
      if (g_hash_table_contains (s->network_ids, name))
        continue;
      char *id = ova_stable_id (name);
      g_hash_table_insert (s->network_ids, g_strdup (name), id);
      JsonObject *net = json_object_new ();
      json_object_set_string_member (net, "id", id);
      json_object_set_string_member (net, "name", name);
      json_object_set_string_member (net, "description", json_object_get_string_member (n, "description"));
      json_array_add_object_element (s->networks, net);
    }

  JsonArray *vms = json_object_get_array_member (ovf, "vms");
  for (guint i = 0; i < json_array_get_length (vms); i++)
    {
      JsonObject *vm = json_object_ref (json_array_get_object_element (vms, i));
      g_autofree char *key = g_strdup_printf ("%s#%s", source, json_object_get_string_member (vm, "ovfId"));
      g_autofree char *vm_id = ova_stable_id (key);
      json_object_set_string_member (vm, "id", vm_id);
      json_object_set_string_member (vm, "uuid", vm_id);
      json_object_set_string_member (vm, "ovaPath", source);
      if (manifest_fault)
        vm_concern (vm, "ova.manifest.mismatch", "Manifest check failed", manifest_fault);

      JsonArray *disks = json_object_get_array_member (vm, "disks");
      gint64 used = 0;
      for (guint d = 0; d < json_array_get_length (disks); d++)
        {
          JsonObject *disk = json_array_get_object_element (disks, d);
          const char *file = json_object_get_string_member (disk, "file");
          g_autofree char *disk_key = g_strdup_printf ("%s#%s", key, json_object_get_string_member (disk, "diskId"));
          g_autofree char *disk_id = ova_stable_id (disk_key);
          json_object_set_string_member (disk, "id", disk_id);
          json_object_set_string_member (disk, "name", *file ? file : json_object_get_string_member (disk, "diskId"));
          const Location *loc = *file ? g_hash_table_lookup (locations, file) : NULL;
          if (loc == NULL)
            {
              g_autofree char *msg = g_strdup_printf ("Disk file \"%s\" is referenced by the OVF but missing from %s.",
                                                      file, source);
              vm_concern (vm, "ova.disk.missing", "Disk file missing", msg);
              add_fault (s, source, "disk file \"%s\" is referenced but missing", file);
            }
          else
            {
              json_object_set_string_member (disk, "filePath", loc->path);
              /* A migration reads this version of the file, or fails. */
              if (loc->stamp)
                json_object_set_string_member (disk, "fileStamp", loc->stamp);
              json_object_set_string_member (disk, "member", loc->member ? loc->member->name : "");
              json_object_set_int_member (disk, "memberOffset", (gint64) loc->offset);
              json_object_set_int_member (disk, "memberSize", (gint64) loc->size);
              guint64 declared = vmdk_capacity (loc);
              gint64 capacity = json_object_get_int_member (disk, "capacity");
              if (declared > (guint64) capacity)
                {
                  g_autofree char *msg = g_strdup_printf (
                    "Disk \"%s\" holds %" G_GUINT64_FORMAT " bytes but the OVF gives its capacity as %" G_GINT64_FORMAT ".",
                    file, declared, capacity);
                  vm_concern (vm, "ova.disk.capacity", "Disk capacity does not fit", msg);
                  add_fault (s, source, "disk \"%s\": capacity %" G_GINT64_FORMAT " is smaller than its image (%" G_GUINT64_FORMAT ")",
                             file, capacity, declared);
                }
            }
          used += json_object_get_int_member (disk, "populatedSize");
          /* Forklift's OVA storages are the disks: a storage pair maps a disk. */
          JsonObject *storage = json_object_new ();
          json_object_set_string_member (storage, "id", disk_id);
          g_autofree char *storage_name = g_strdup_printf ("%s/%s", json_object_get_string_member (vm, "name"),
                                                           json_object_get_string_member (disk, "name"));
          json_object_set_string_member (storage, "name", storage_name);
          json_array_add_object_element (s->storages, storage);

          JsonObject *flat = json_object_new ();
          g_autoptr (GList) members = json_object_get_members (disk);
          for (GList *l = members; l; l = l->next)
            json_object_set_member (flat, l->data, json_node_copy (json_object_get_member (disk, l->data)));
          json_object_set_string_member (flat, "vm", vm_id);
          json_array_add_object_element (s->disks, flat);
        }
      json_object_set_int_member (vm, "storageUsed", used);

      /* NICs name their network; the VM lists the networks it uses. */
      JsonArray *nics = json_object_get_array_member (vm, "nics");
      JsonArray *vm_networks = json_array_new ();
      for (guint n = 0; n < json_array_get_length (nics); n++)
        {
          const char *net = json_object_get_string_member (json_array_get_object_element (nics, n), "network");
          const char *net_id = g_hash_table_lookup (s->network_ids, net);
          if (net_id == NULL && *net)
            {
              char *id = ova_stable_id (net);
              g_hash_table_insert (s->network_ids, g_strdup (net), id);
              net_id = id;
              JsonObject *entry = json_object_new ();
              json_object_set_string_member (entry, "id", id);
              json_object_set_string_member (entry, "name", net);
              json_object_set_string_member (entry, "description", "");
              json_array_add_object_element (s->networks, entry);
            }
          if (net_id)
            {
              JsonObject *ref = json_object_new ();
              json_object_set_string_member (ref, "id", net_id);
              json_object_set_string_member (ref, "name", net);
              json_array_add_object_element (vm_networks, ref);
            }
        }
      json_object_set_array_member (vm, "networks", vm_networks);
      json_array_add_object_element (s->vms, vm);
    }
}

static void
scan_ova (Scan *s, const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *stamp = ova_file_stamp (path, &error);
  if (stamp == NULL)
    {
      add_fault (s, path, "%s", error->message);
      return;
    }
  g_autoptr (GPtrArray) members = ova_tar_list (path, &error);
  if (members == NULL)
    {
      add_fault (s, path, "%s", error->message);
      return;
    }
  const OvaTarMember *ovf = NULL, *mf = NULL;
  g_autoptr (GHashTable) locations = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  for (guint i = 0; i < members->len; i++)
    {
      const OvaTarMember *m = members->pdata[i];
      if (g_str_has_suffix (m->name, ".ovf") && ovf == NULL)
        ovf = m;
      else if (g_str_has_suffix (m->name, ".mf"))
        mf = m;
      Location *loc = g_new0 (Location, 1);
      loc->path = path;
      loc->member = m;
      loc->offset = m->offset;
      loc->size = m->size;
      loc->stamp = stamp;
      /* References name files relative to the descriptor: use base names. */
      const char *base = strrchr (m->name, '/') ? strrchr (m->name, '/') + 1 : m->name;
      g_hash_table_insert (locations, (gpointer) base, loc);
    }
  if (ovf == NULL)
    {
      add_fault (s, path, "no .ovf descriptor in the archive");
      return;
    }
  g_autoptr (GBytes) xml = ova_tar_read_member (path, ovf, MAX_OVF_SIZE, &error);
  if (xml == NULL)
    {
      add_fault (s, path, "%s", error->message);
      return;
    }
  gsize len;
  const char *data = g_bytes_get_data (xml, &len);
  g_autoptr (JsonObject) doc = ova_ovf_parse (data, len, &error);
  if (doc == NULL)
    {
      add_fault (s, path, "%s: %s", ovf->name, error->message);
      return;
    }
  g_autofree char *manifest_fault = NULL;
  if (mf)
    {
      g_autoptr (GBytes) text = ova_tar_read_member (path, mf, MAX_MF_SIZE, &error);
      if (text == NULL)
        manifest_fault = g_strdup (error->message);
      else
        {
          g_autofree char *str = g_strndup (g_bytes_get_data (text, NULL), g_bytes_get_size (text));
          manifest_fault = check_manifest (str, path, locations, s->digests);
        }
      if (manifest_fault)
        add_fault (s, path, "%s", manifest_fault);
    }
  /* Offsets read from another version of the archive would cut its disks
   * wrongly: an archive that changed while it was read waits for the next scan. */
  g_autofree char *after = ova_file_stamp (path, NULL);
  if (g_strcmp0 (after, stamp) != 0)
    {
      add_fault (s, path, "changed while it was read; it is read again at the next scan");
      return;
    }
  add_descriptor (s, path, doc, locations, manifest_fault);
}

static void
scan_ovf (Scan *s, const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *xml = NULL;
  gsize len;
  struct stat st;
  if (lstat (path, &st) < 0 || st.st_size > MAX_OVF_SIZE)
    {
      add_fault (s, path, "descriptor larger than %d bytes", MAX_OVF_SIZE);
      return;
    }
  if (!g_file_get_contents (path, &xml, &len, &error))
    {
      add_fault (s, path, "%s", error->message);
      return;
    }
  g_autoptr (JsonObject) doc = ova_ovf_parse (xml, len, &error);
  if (doc == NULL)
    {
      add_fault (s, path, "%s", error->message);
      return;
    }
  /* Disk files are beside the descriptor; names that leave its directory,
   * and symbolic links, are not followed. */
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr (GHashTable) locations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) stamps = g_ptr_array_new_with_free_func (g_free);
  JsonArray *vms = json_object_get_array_member (doc, "vms");
  for (guint i = 0; i < json_array_get_length (vms); i++)
    {
      JsonArray *disks = json_object_get_array_member (json_array_get_object_element (vms, i), "disks");
      for (guint d = 0; d < json_array_get_length (disks); d++)
        {
          const char *file = json_object_get_string_member (json_array_get_object_element (disks, d), "file");
          if (*file == '\0' || g_hash_table_contains (locations, file))
            continue;
          if (!ova_path_is_safe (file))
            {
              add_fault (s, path, "disk file \"%s\" lies outside the descriptor's directory; not used", file);
              continue;
            }
          char *full = g_build_filename (dir, file, NULL);
          g_ptr_array_add (paths, full);
          if (lstat (full, &st) < 0 || !S_ISREG (st.st_mode))
            continue;
          Location *loc = g_new0 (Location, 1);
          loc->path = full;
          loc->size = (guint64) st.st_size;
          loc->stamp = ova_file_stamp (full, NULL);
          g_ptr_array_add (stamps, (gpointer) loc->stamp);
          g_hash_table_insert (locations, g_strdup (file), loc);
        }
    }
  g_autofree char *manifest_fault = NULL;
  g_autofree char *stem = g_strndup (path, strlen (path) - 4);
  g_autofree char *mf_path = g_strconcat (stem, ".mf", NULL);
  g_autofree char *mf = NULL;
  if (g_file_get_contents (mf_path, &mf, NULL, NULL))
    {
      /* The descriptor itself is listed too. */
      Location *self = g_new0 (Location, 1);
      self->path = path;
      self->size = (guint64) len;
      g_autofree char *base = g_path_get_basename (path);
      g_hash_table_insert (locations, g_strdup (base), self);
      manifest_fault = check_manifest (mf, path, locations, s->digests);
      if (manifest_fault)
        add_fault (s, path, "%s", manifest_fault);
    }
  add_descriptor (s, path, doc, locations, manifest_fault);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char *const *) a, *(char *const *) b);
}

static void
walk (Scan *s, const char *dir, guint depth)
{
  if (depth > MAX_DEPTH)
    return;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) d = g_dir_open (dir, 0, &error);
  if (d == NULL)
    {
      add_fault (s, dir, "%s", error->message);
      return;
    }
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (d)))
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++)
    {
      const char *entry = g_ptr_array_index (names, i);
      if (!g_utf8_validate (entry, -1, NULL))
        {
          /* Inventory and D-Bus carry UTF-8 only; say which file was left out. */
          g_autofree char *shown = g_strescape (entry, NULL);
          add_fault (s, dir, "\"%s\" is skipped: its name is not UTF-8", shown);
          continue;
        }
      g_autofree char *path = g_build_filename (dir, entry, NULL);
      struct stat st;
      if (lstat (path, &st) < 0)
        continue;
      /* Symbolic links could lead out of the provider's directory. */
      if (S_ISDIR (st.st_mode))
        walk (s, path, depth + 1);
      else if (S_ISREG (st.st_mode) && g_str_has_suffix (path, ".ova"))
        scan_ova (s, path);
      else if (S_ISREG (st.st_mode) && g_str_has_suffix (path, ".ovf"))
        scan_ovf (s, path);
    }
}


JsonObject *
ova_scan (const char *root, GHashTable *digests, GPtrArray *faults, GError **error)
{
  struct stat st;
  if (lstat (root, &st) < 0)
    {
      int saved = errno;
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s: %s", root, g_strerror (saved));
      return NULL;
    }
  Scan s = {
    .vms = json_array_new (),
    .networks = json_array_new (),
    .storages = json_array_new (),
    .disks = json_array_new (),
    .network_ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free),
    .digests = digests,
    .faults = faults,
  };
  if (S_ISDIR (st.st_mode))
    walk (&s, root, 0);
  else if (S_ISREG (st.st_mode) && g_str_has_suffix (root, ".ova"))
    scan_ova (&s, root);
  else
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s is neither a directory nor an .ova file", root);
      json_array_unref (s.vms), json_array_unref (s.networks), json_array_unref (s.storages), json_array_unref (s.disks);
      g_hash_table_unref (s.network_ids);
      return NULL;
    }
  g_hash_table_unref (s.network_ids);
  JsonObject *inventory = json_object_new ();
  json_object_set_array_member (inventory, "vms", s.vms);
  json_object_set_array_member (inventory, "networks", s.networks);
  json_object_set_array_member (inventory, "storages", s.storages);
  json_object_set_array_member (inventory, "disks", s.disks);
  return inventory;
}

#include "local-target.h"
#include "mtv-error.h"
#include "mtv-yaml.h"
#include "targets/mtv-vm-builder.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <string.h>
#include <unistd.h>

char *
mtv_local_vm_dir (JsonObject *provider_spec, const char *namespace, const char *name)
{
  g_autoptr (GUri) uri = g_uri_parse (json_object_get_string_member_with_default (provider_spec, "url", ""),
                                      G_URI_FLAGS_NONE, NULL);
  return g_build_filename (uri ? g_uri_get_path (uri) : "/", namespace, name, NULL);
}

/* In a directory being filled: which migration fills it. */
#define MARKER ".mtvd-migration"

/* The migration named in @dir's marker; NULL when none is (the marker is
 * not synced: a crash can leave it empty). */
static char *
marker_owner (const char *dir)
{
  g_autofree char *marker = g_build_filename (dir, MARKER, NULL);
  g_autofree char *owner = NULL;
  if (!g_file_get_contents (marker, &owner, NULL, NULL) || *g_strstrip (owner) == '\0')
    return NULL;
  return g_steal_pointer (&owner);
}

/* Nothing in @dir but perhaps a marker. */
static gboolean
holds_nothing (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *entry;
  while (d && (entry = g_dir_read_name (d)))
    if (!g_str_equal (entry, MARKER))
      return FALSE;
  return d != NULL;
}

gboolean
mtv_local_prepare (const char *dir, const char *migration_id, GError **error)
{
  g_autofree char *parent = g_path_get_dirname (dir);
  if (g_mkdir_with_parents (parent, 0755) < 0)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "cannot create %s: %s", parent, g_strerror (errno));
      return FALSE;
    }
  if (g_mkdir (dir, 0755) < 0)
    {
      int saved = errno;
      if (saved != EEXIST)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "cannot create %s: %s", dir, g_strerror (saved));
          return FALSE;
        }
      /* Again after a restart: this migration's own directory, or an empty
       * one (mtvd stopped between making it and marking it), is taken as
       * it is; anything else is somebody's VM. */
      g_autofree char *owner = marker_owner (dir);
      if (g_strcmp0 (owner, migration_id) == 0)
        return TRUE;
      if (owner)
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s already exists: migration %s was filling it and did not "
                       "finish; remove the directory to migrate the VM there again", dir, owner);
          return FALSE;
        }
      if (!holds_nothing (dir))
        {
          g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "%s already exists: a VM of that name is already on the "
                       "target", dir);
          return FALSE;
        }
    }
  g_autofree char *marker = g_build_filename (dir, MARKER, NULL);
  /* Not synced: lost in a crash, it leaves at worst an empty directory. */
  if (!g_file_set_contents_full (marker, migration_id, -1, G_FILE_SET_CONTENTS_NONE, 0600, error))
    {
      g_rmdir (dir);
      return FALSE;
    }
  return TRUE;
}

void
mtv_local_release (const char *dir)
{
  g_autofree char *marker = g_build_filename (dir, MARKER, NULL);
  g_unlink (marker);
}

char *
mtv_local_disk_path (const char *dir, guint index)
{
  g_autofree char *name = g_strdup_printf ("disk-%u.img", index);
  return g_build_filename (dir, name, NULL);
}

const char *
mtv_local_disk_format (JsonObject *destination)
{
  const char *sc = destination ? json_object_get_string_member_with_default (destination, "storageClass", "") : "";
  return g_str_equal (sc, "qcow2") ? "qcow2" : "raw";
}

char *
mtv_local_image_path (const char *dir, guint index, const char *format)
{
  if (g_strcmp0 (format, "qcow2") != 0)
    return mtv_local_disk_path (dir, index);
  g_autofree char *name = g_strdup_printf ("disk-%u.qcow2", index);
  return g_build_filename (dir, name, NULL);
}

static gboolean
write_durably (const char *path, const char *text, GError **error)
{
  if (!g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0644, error))
    return FALSE;
  return TRUE;
}

gboolean
mtv_local_finish (const char *dir, const char *name, JsonArray *manifests, const char *domain_xml,
                  GError **error)
{
  g_autoptr (GString) yaml = g_string_new (NULL);
  for (guint i = 0; i < json_array_get_length (manifests); i++)
    {
      g_autofree char *doc = mtv_yaml_emit (json_array_get_element (manifests, i));
      g_string_append_printf (yaml, "---\n%s", doc);
    }
  g_autofree char *base = g_build_filename (dir, name, NULL);
  g_autofree char *yaml_path = g_strconcat (base, ".yaml", NULL);
  g_autofree char *xml_path = g_strconcat (base, ".xml", NULL);
  return write_durably (yaml_path, yaml->str, error) && write_durably (xml_path, domain_xml, error);
}

static void
libvirt_failed (GError **error, const char *what, const char *uri)
{
  const char *msg = virGetLastErrorMessage ();
  g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "libvirt %s: %s: %s", uri, what, msg ? msg : "unknown error");
}

/* The XML to define: @domain_xml, with the UUID of the domain of that name
 * if this migration defined it before; NULL (and @error) if another did. */
static char *
redefinition (virConnectPtr conn, const char *uri, const char *name, const char *migration_id, const char *domain_xml,
              GError **error)
{
  virDomainPtr old = virDomainLookupByName (conn, name);
  if (old == NULL)
    return g_strdup (domain_xml);
  char *metadata = virDomainGetMetadata (old, VIR_DOMAIN_METADATA_ELEMENT, MTV_VM_XMLNS, 0);
  g_autofree char *expected = g_strdup_printf ("migration=\"%s\"", migration_id);
  char uuid[VIR_UUID_STRING_BUFLEN] = "";
  gboolean ours = metadata && strstr (metadata, expected) && virDomainGetUUIDString (old, uuid) == 0;
  free (metadata);
  virDomainFree (old);
  if (!ours)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_FAILED, "libvirt %s: a domain named %s exists already", uri, name);
      return NULL;
    }
  g_autofree char *name_element = g_strdup_printf ("</name>\n  <uuid>%s</uuid>", uuid);
  g_auto (GStrv) parts = g_strsplit (domain_xml, "</name>", 2);
  return g_strjoinv (name_element, parts);
}

/* libvirt prints every error to stderr unless told otherwise; mtvd
 * reports those it cares about itself. */
static void
quiet (void *data, virErrorPtr error)
{
}

char *
mtv_local_define (const char *uri, const char *name, const char *migration_id, const char *domain_xml,
                  GError **error)
{
  virConnectPtr conn = virConnectOpen (uri);
  if (conn == NULL)
    {
      libvirt_failed (error, "cannot connect", uri);
      return NULL;
    }
  virConnSetErrorFunc (conn, NULL, quiet);
  char *result = NULL;
  g_autofree char *xml = redefinition (conn, uri, name, migration_id, domain_xml, error);
  virDomainPtr dom = xml ? virDomainDefineXML (conn, xml) : NULL;
  if (xml && dom == NULL)
    libvirt_failed (error, "cannot define the domain", uri);
  else if (dom)
    {
      char uuid[VIR_UUID_STRING_BUFLEN];
      if (virDomainGetUUIDString (dom, uuid) == 0)
        result = g_strdup (uuid);
      else
        libvirt_failed (error, "cannot read the domain's UUID", uri);
      virDomainFree (dom);
    }
  virConnectClose (conn);
  return result;
}

void
mtv_local_abort (const char *dir, const char *migration_id, gboolean made)
{
  g_autofree char *marker = g_build_filename (dir, MARKER, NULL);
  g_autofree char *owner = marker_owner (dir);
  /* Another migration's directory is left alone. Without a marker (it is
   * not synced), the directory is this migration's if it recorded making
   * it; else it is removed only if it holds nothing. */
  if (owner ? !g_str_equal (owner, migration_id) : !made)
    {
      if (owner == NULL && holds_nothing (dir))
        g_unlink (marker), g_rmdir (dir);
      return;
    }
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *entry;
  while (d && (entry = g_dir_read_name (d)))
    {
      /* Only what mtvd writes there. */
      if (g_str_has_prefix (entry, "disk-") || g_str_has_suffix (entry, ".yaml") || g_str_has_suffix (entry, ".xml"))
        {
          g_autofree char *path = g_build_filename (dir, entry, NULL);
          g_unlink (path);
        }
    }
  g_unlink (marker);
  g_rmdir (dir);
}

/* Snapshots and changed block tracking: what a warm migration asks of
 * vSphere. A snapshot's disks are read from its config (the backing files
 * as they were when it was taken); changed areas come a window at a time,
 * as a vCenter answers them, until the window reaches the disk's end. */
#include "vsphere-warm.h"
#include "migration/source-adapter.h"
#include "mtv-json.h"

#include <string.h>

/* Areas in one disk's answer at most: a 62 TB disk in 64 KiB blocks, every
 * other one changed, is far more, but a reply is already bounded in size. */
#define MAX_AREAS (1u << 22)
/* Calls for one disk at most: a window can be small, never empty. */
#define MAX_WINDOWS (1u << 20)

char *
mtv_vsphere_snapshot_create (MtvVsphere *vs, const char *vm, const char *name, const char *description,
                             guint timeout_seconds, GError **error)
{
  g_autofree char *v = mtv_soap_escape (vm), *n = mtv_soap_escape (name), *d = mtv_soap_escape (description);
  g_autofree char *body = g_strdup_printf ("<vim25:CreateSnapshot_Task><vim25:_this type=\"VirtualMachine\">%s"
                                           "</vim25:_this><vim25:name>%s</vim25:name><vim25:description>%s"
                                           "</vim25:description><vim25:memory>false</vim25:memory><vim25:quiesce>"
                                           "false</vim25:quiesce></vim25:CreateSnapshot_Task>", v, n, d);
  g_autofree char *task = mtv_vsphere_start_task (vs, body, error);
  char *snapshot = NULL;
  if (task == NULL || !mtv_vsphere_wait_task (vs, task, timeout_seconds, &snapshot, error))
    return NULL;
  if (snapshot == NULL)
    g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "the snapshot's task gave no snapshot");
  return snapshot;
}

gboolean
mtv_vsphere_snapshot_remove (MtvVsphere *vs, const char *snapshot, guint timeout_seconds, GError **error)
{
  g_autofree char *s = mtv_soap_escape (snapshot);
  g_autofree char *body = g_strdup_printf ("<vim25:RemoveSnapshot_Task><vim25:_this type=\"VirtualMachineSnapshot\">"
                                           "%s</vim25:_this><vim25:removeChildren>false</vim25:removeChildren>"
                                           "<vim25:consolidate>true</vim25:consolidate></vim25:RemoveSnapshot_Task>", s);
  GError *local = NULL;
  g_autofree char *task = mtv_vsphere_start_task (vs, body, &local);
  if (task == NULL && mtv_soap_is_fault (local, "ManagedObjectNotFound"))
    {
      g_clear_error (&local);
      return TRUE;   /* removed already (by an earlier try, or by someone else) */
    }
  if (task == NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  return mtv_vsphere_wait_task (vs, task, timeout_seconds, NULL, error);
}

static const char *
text (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING ? json_node_get_string (n)
                                                                                         : NULL;
}

JsonObject *
mtv_vsphere_snapshot_disks (MtvVsphere *vs, const char *snapshot, GError **error)
{
  static const char *const paths[] = { "config.hardware.device", NULL };
  g_autoptr (JsonObject) o = mtv_vsphere_get (vs, "VirtualMachineSnapshot", snapshot, paths, error);
  if (o == NULL)
    return NULL;
  JsonNode *devices = json_object_get_member (mtv_json_object (o, "props"), "config.hardware.device");
  g_autoptr (JsonObject) disks = json_object_new ();
  g_autoptr (GPtrArray) list = g_ptr_array_new ();
  if (devices && JSON_NODE_HOLDS_ARRAY (devices))
    for (guint i = 0; i < json_array_get_length (json_node_get_array (devices)); i++)
      g_ptr_array_add (list, json_array_get_object_element (json_node_get_array (devices), i));
  for (guint i = 0; i < list->len; i++)
    {
      JsonObject *d = list->pdata[i];
      if (d == NULL || g_strcmp0 (text (d, "_type"), "VirtualDisk") != 0 || text (d, "key") == NULL)
        continue;
      JsonObject *backing = mtv_json_object (d, "backing");
      JsonObject *disk = json_object_new ();
      if (text (backing, "fileName"))
        json_object_set_string_member (disk, "file", text (backing, "fileName"));
      if (text (backing, "changeId"))
        json_object_set_string_member (disk, "changeId", text (backing, "changeId"));
      json_object_set_boolean_member (disk, "delta", backing && json_object_has_member (backing, "parent"));
      json_object_set_object_member (disks, text (d, "key"), disk);
    }
  return g_steal_pointer (&disks);
}

static gboolean
number (xmlNode *parent, const char *name, guint64 *out)
{
  g_autofree char *t = mtv_soap_child_text (parent, name);
  return t && g_ascii_string_to_unsigned (t, 10, 0, G_MAXINT64, out, NULL);
}

gboolean
mtv_vsphere_parse_changed_areas (xmlNode *reply, guint64 capacity, guint64 *start, guint64 *length, GArray *into,
                                 GError **error)
{
  xmlNode *ret = mtv_soap_child (reply, "returnval");
  if (ret == NULL || !number (ret, "startOffset", start) || !number (ret, "length", length))
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "a DiskChangeInfo without startOffset and length");
      return FALSE;
    }
  if (*start > capacity || *length > capacity - *start)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "changed areas from %" G_GUINT64_FORMAT " for %"
                   G_GUINT64_FORMAT " bytes lie outside the disk (%" G_GUINT64_FORMAT " bytes)", *start, *length,
                   capacity);
      return FALSE;
    }
  guint64 last_end = *start;
  for (xmlNode *c = ret->children; c; c = c->next)
    {
      if (c->type != XML_ELEMENT_NODE || !g_str_equal ((const char *) c->name, "changedArea"))
        continue;
      MtvExtent e;
      if (!number (c, "start", &e.offset) || !number (c, "length", &e.length))
        {
          g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "a changed area without start and length");
          return FALSE;
        }
      /* In order, within the window, not overlapping: what mtv-transfer's
       * --extents file expects. */
      guint64 end = *start + *length;   /* no overflow: both are within the disk */
      if (e.offset < last_end || e.offset >= end || e.length == 0 || e.length > end - e.offset)
        {
          g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "changed area at %" G_GUINT64_FORMAT " for %"
                       G_GUINT64_FORMAT " bytes is out of order or outside %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT,
                       e.offset, e.length, *start, *length);
          return FALSE;
        }
      if (into->len >= MAX_AREAS)
        {
          g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "more than %u changed areas", MAX_AREAS);
          return FALSE;
        }
      g_array_append_val (into, e);
      last_end = e.offset + e.length;
    }
  return TRUE;
}

GArray *
mtv_vsphere_changed_areas (MtvVsphere *vs, const char *vm, const char *snapshot, gint64 key, guint64 capacity,
                           const char *change_id, GError **error)
{
  g_autoptr (GArray) areas = g_array_new (FALSE, FALSE, sizeof (MtvExtent));
  g_autofree char *v = mtv_soap_escape (vm), *s = mtv_soap_escape (snapshot), *c = mtv_soap_escape (change_id);
  guint64 at = 0;
  for (guint calls = 0; at < capacity; calls++)
    {
      if (calls >= MAX_WINDOWS)
        {
          g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "the changed areas of disk %" G_GINT64_FORMAT
                       " took more than %u calls", key, MAX_WINDOWS);
          return NULL;
        }
      g_autofree char *body = g_strdup_printf (
        "<vim25:QueryChangedDiskAreas><vim25:_this type=\"VirtualMachine\">%s</vim25:_this><vim25:snapshot "
        "type=\"VirtualMachineSnapshot\">%s</vim25:snapshot><vim25:deviceKey>%" G_GINT64_FORMAT "</vim25:deviceKey>"
        "<vim25:startOffset>%" G_GUINT64_FORMAT "</vim25:startOffset><vim25:changeId>%s</vim25:changeId>"
        "</vim25:QueryChangedDiskAreas>", v, s, key, at, c);
      xmlDoc *doc = mtv_vsphere_call (vs, body, error);
      if (doc == NULL)
        return NULL;
      guint64 start = 0, length = 0;
      gboolean ok = mtv_vsphere_parse_changed_areas (mtv_soap_reply (doc), capacity, &start, &length, areas, error);
      xmlFreeDoc (doc);
      if (!ok)
        return NULL;
      if (start != at || length == 0)
        {
          g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "asked for the changed areas from %"
                       G_GUINT64_FORMAT ", the server answered for %" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT,
                       at, start, length);
          return NULL;
        }
      at = start + length;
    }
  return g_steal_pointer (&areas);
}

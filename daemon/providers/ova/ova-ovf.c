#include "ova-ovf.h"
#include "mtv-error.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#define NS_OVF1 "http://schemas.dmtf.org/ovf/envelope/1"
#define NS_OVF2 "http://schemas.dmtf.org/ovf/envelope/2"
#define NS_RASD "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
#define NS_VMW "http://www.vmware.com/schema/ovf"

/* CIM resource types used by OVF hardware items. */
enum {
  RT_IDE = 5,
  RT_SCSI = 6,
  RT_CPU = 3,
  RT_MEMORY = 4,
  RT_ETHERNET = 10,
  RT_DISK = 17,
  RT_SATA = 20,
};

typedef struct {
  const char *ovf_ns; /* the envelope's namespace (1 or 2) */
} Ctx;

static gboolean
is (xmlNode *n, const char *name, const char *ns)
{
  return n && n->type == XML_ELEMENT_NODE && n->ns && g_str_equal ((const char *) n->name, name)
      && (ns == NULL || g_str_equal ((const char *) n->ns->href, ns));
}

static gboolean
is_ovf (Ctx *ctx, xmlNode *n, const char *name)
{
  return is (n, name, ctx->ovf_ns);
}

static xmlNode *
child (Ctx *ctx, xmlNode *parent, const char *name)
{
  for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
    if (is_ovf (ctx, c, name))
      return c;
  return NULL;
}

/* An attribute in the envelope's namespace (or unqualified, as some tools write). */
static char *
attr (Ctx *ctx, xmlNode *n, const char *name)
{
  xmlChar *v = xmlGetNsProp (n, (const xmlChar *) name, (const xmlChar *) ctx->ovf_ns);
  if (v == NULL)
    v = xmlGetNoNsProp (n, (const xmlChar *) name);
  if (v == NULL)
    return NULL;
  char *s = g_strdup ((const char *) v);
  xmlFree (v);
  return s;
}

static char *
vmw_attr (xmlNode *n, const char *name)
{
  xmlChar *v = xmlGetNsProp (n, (const xmlChar *) name, (const xmlChar *) NS_VMW);
  if (v == NULL)
    return NULL;
  char *s = g_strdup ((const char *) v);
  xmlFree (v);
  return s;
}

static char *
text (xmlNode *n)
{
  if (n == NULL)
    return NULL;
  xmlChar *c = xmlNodeGetContent (n);
  char *s = g_strdup (c ? g_strstrip ((char *) c) : "");
  xmlFree (c);
  return s;
}

/* The text of an item's child in the RASD namespace (or any, for OVF 2's
 * epasd/sasd variants), by local name. */
static char *
rasd (xmlNode *item, const char *name)
{
  for (xmlNode *c = item->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && g_str_equal ((const char *) c->name, name))
      return text (c);
  return NULL;
}

guint64
ova_ovf_units (const char *units)
{
  if (units == NULL || *units == '\0')
    return 1;
  g_autofree char *u = g_strdup (units);
  g_strstrip (u);
  if (g_ascii_strcasecmp (u, "KiloBytes") == 0 || g_ascii_strcasecmp (u, "KB") == 0)
    return G_GUINT64_CONSTANT (1) << 10;
  if (g_ascii_strcasecmp (u, "MegaBytes") == 0 || g_ascii_strcasecmp (u, "MB") == 0)
    return G_GUINT64_CONSTANT (1) << 20;
  if (g_ascii_strcasecmp (u, "GigaBytes") == 0 || g_ascii_strcasecmp (u, "GB") == 0)
    return G_GUINT64_CONSTANT (1) << 30;
  /* "byte", "byte * 2^N", "byte * N" (spaces optional). */
  if (g_ascii_strncasecmp (u, "byte", 4) != 0)
    return 0;
  const char *p = u + 4;
  while (*p == ' ')
    p++;
  if (*p == '\0')
    return 1;
  if (*p++ != '*')
    return 0;
  while (*p == ' ')
    p++;
  char *end;
  guint64 base = g_ascii_strtoull (p, &end, 10);
  if (end == p)
    return 0;
  while (*end == ' ')
    end++;
  if (*end == '\0')
    return base;
  if (*end != '^' || base != 2)
    return 0;
  const char *e = end + 1;
  while (*e == ' ')
    e++;
  guint64 exp = g_ascii_strtoull (e, &end, 10);
  if (end == e || *end != '\0' || exp > 62)
    return 0;
  return G_GUINT64_CONSTANT (1) << exp;
}

static void
concern (JsonObject *vm, const char *id, const char *label, const char *fmt, ...) G_GNUC_PRINTF (4, 5);
static void
concern (JsonObject *vm, const char *id, const char *label, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  JsonObject *c = json_object_new ();
  json_object_set_string_member (c, "id", id);
  json_object_set_string_member (c, "category", "Critical");
  json_object_set_string_member (c, "label", label);
  json_object_set_string_member (c, "assessment", msg);
  if (!json_object_has_member (vm, "concerns"))
    json_object_set_array_member (vm, "concerns", json_array_new ());
  json_array_add_object_element (json_object_get_array_member (vm, "concerns"), c);
}

/* value * units in bytes; FALSE when it does not fit in 63 bits. */
static gboolean
scaled (const char *value, const char *units, gint64 *out)
{
  if (value == NULL)
    return FALSE;
  char *end;
  guint64 v = g_ascii_strtoull (value, &end, 10);
  guint64 m = ova_ovf_units (units);
  if (end == value || *end != '\0' || m == 0 || (v != 0 && m > (guint64) G_MAXINT64 / v))
    return FALSE;
  *out = (gint64) (v * m);
  return TRUE;
}

static gint64
int_or (const char *s, gint64 fallback)
{
  if (s == NULL)
    return fallback;
  char *end;
  gint64 v = g_ascii_strtoll (s, &end, 10);
  return (end == s || *end != '\0' || v < 0) ? fallback : v;
}

static const char *
controller_name (gint64 type)
{
  switch (type)
    {
    case RT_IDE:
      return "ide";
    case RT_SCSI:
      return "scsi";
    case RT_SATA:
      return "sata";
    default:
      return "unknown";
    }
}

static gint64
rasd_int (xmlNode *item, const char *name, gint64 fallback)
{
  g_autofree char *v = rasd (item, name);
  return int_or (v, fallback);
}

static void
parse_hardware (Ctx *ctx, xmlNode *hw, JsonObject *vm, JsonObject *disk_section)
{
  g_autoptr (GHashTable) controllers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  JsonArray *disks = json_array_new ();
  JsonArray *nics = json_array_new ();
  json_object_set_array_member (vm, "disks", disks);
  json_object_set_array_member (vm, "nics", nics);

  /* Controllers first, so disks can name theirs whatever the order. */
  for (xmlNode *item = hw->children; item; item = item->next)
    {
      if (!is_ovf (ctx, item, "Item") && !is_ovf (ctx, item, "StorageItem"))
        continue;
      gint64 type = rasd_int (item, "ResourceType", -1);
      if (type == RT_IDE || type == RT_SCSI || type == RT_SATA)
        {
          g_autofree char *id = rasd (item, "InstanceID");
          if (id)
            g_hash_table_insert (controllers, g_steal_pointer (&id), (gpointer) controller_name (type));
        }
    }

  for (xmlNode *item = hw->children; item; item = item->next)
    {
      if (!is_ovf (ctx, item, "Item") && !is_ovf (ctx, item, "StorageItem")
          && !is_ovf (ctx, item, "EthernetPortItem"))
        continue;
      gint64 type = rasd_int (item, "ResourceType", -1);
      if (type == RT_CPU)
        {
          json_object_set_int_member (vm, "cpuCount", rasd_int (item, "VirtualQuantity", 1));
          g_autofree char *cores = vmw_attr (item, "CoresPerSocket");
          if (cores == NULL)
            for (xmlNode *c = item->children; c; c = c->next)
              if (c->type == XML_ELEMENT_NODE && g_str_equal ((const char *) c->name, "CoresPerSocket"))
                cores = text (c);
          json_object_set_int_member (vm, "coresPerSocket", int_or (cores, 1));
        }
      else if (type == RT_MEMORY)
        {
          g_autofree char *quantity = rasd (item, "VirtualQuantity");
          g_autofree char *units = rasd (item, "AllocationUnits");
          gint64 bytes;
          if (!scaled (quantity, units ? units : "byte * 2^20", &bytes))
            concern (vm, "ova.memory.invalid", "Invalid memory size",
                     "Memory \"%s\" in units \"%s\" is not a size this migration can use.",
                     quantity ? quantity : "", units ? units : "");
          else
            json_object_set_int_member (vm, "memoryMB", bytes >> 20);
        }
      else if (type == RT_ETHERNET)
        {
          JsonObject *nic = json_object_new ();
          g_autofree char *name = rasd (item, "ElementName");
          g_autofree char *mac = rasd (item, "Address");
          g_autofree char *network = rasd (item, "Connection");
          g_autofree char *adapter = rasd (item, "ResourceSubType");
          json_object_set_string_member (nic, "name", name ? name : "");
          json_object_set_string_member (nic, "mac", mac ? mac : "");
          json_object_set_string_member (nic, "network", network ? network : "");
          json_object_set_string_member (nic, "adapterType", adapter ? adapter : "");
          json_array_add_object_element (nics, nic);
        }
      else if (type == RT_DISK)
        {
          g_autofree char *host = rasd (item, "HostResource");
          g_autofree char *parent = rasd (item, "Parent");
          const char *id = host;
          if (id && g_str_has_prefix (id, "ovf:/disk/"))
            id += strlen ("ovf:/disk/");
          else if (id && g_str_has_prefix (id, "/disk/"))
            id += strlen ("/disk/");
          JsonNode *disk_node = id && disk_section ? json_object_get_member (disk_section, id) : NULL;
          JsonObject *disk = disk_node ? json_node_get_object (disk_node) : NULL;
          if (disk == NULL)
            {
              concern (vm, "ova.disk.undefined", "Disk not described",
                       "Disk \"%s\" is not in the OVF's DiskSection.", host ? host : "");
              continue;
            }
          JsonObject *copy = json_object_new ();
          g_autoptr (GList) members = json_object_get_members (disk);
          for (GList *l = members; l; l = l->next)
            json_object_set_member (copy, l->data, json_node_copy (json_object_get_member (disk, l->data)));
          const char *controller = parent ? g_hash_table_lookup (controllers, parent) : NULL;
          json_object_set_string_member (copy, "controller", controller ? controller : "unknown");
          json_array_add_object_element (disks, copy);
        }
    }
}

/* DiskSection: diskId -> {diskId, fileRef, file, capacity, ...}. */
static JsonObject *
parse_disks (Ctx *ctx, xmlNode *envelope, GHashTable *files, GPtrArray *faults)
{
  JsonObject *disks = json_object_new ();
  xmlNode *section = child (ctx, envelope, "DiskSection");
  for (xmlNode *d = section ? section->children : NULL; d; d = d->next)
    {
      if (!is_ovf (ctx, d, "Disk"))
        continue;
      g_autofree char *id = attr (ctx, d, "diskId");
      g_autofree char *file_ref = attr (ctx, d, "fileRef");
      g_autofree char *capacity = attr (ctx, d, "capacity");
      g_autofree char *units = attr (ctx, d, "capacityAllocationUnits");
      g_autofree char *populated = attr (ctx, d, "populatedSize");
      g_autofree char *format = attr (ctx, d, "format");
      if (id == NULL)
        continue;
      JsonObject *disk = json_object_new ();
      json_object_set_string_member (disk, "diskId", id);
      json_object_set_string_member (disk, "fileRef", file_ref ? file_ref : "");
      const char *href = file_ref ? g_hash_table_lookup (files, file_ref) : NULL;
      json_object_set_string_member (disk, "file", href ? href : "");
      gint64 bytes = 0;
      if (!scaled (capacity, units, &bytes) || bytes == 0)
        g_ptr_array_add (faults, g_strdup_printf ("disk %s: capacity \"%s\" in units \"%s\" is not a size",
                                                  id, capacity ? capacity : "", units ? units : "byte"));
      json_object_set_int_member (disk, "capacity", bytes);
      json_object_set_string_member (disk, "capacityAllocationUnits", units ? units : "byte");
      json_object_set_int_member (disk, "populatedSize", int_or (populated, 0));
      json_object_set_string_member (disk, "format", format ? format : "");
      if (file_ref && href == NULL)
        g_ptr_array_add (faults, g_strdup_printf ("disk %s: file reference \"%s\" is not in References", id, file_ref));
      json_object_set_object_member (disks, id, disk);
    }
  return disks;
}

static JsonObject *
parse_system (Ctx *ctx, xmlNode *system, JsonObject *disk_section, GPtrArray *disk_faults)
{
  JsonObject *vm = json_object_new ();
  g_autofree char *id = attr (ctx, system, "id");
  g_autofree char *name = text (child (ctx, system, "Name"));
  json_object_set_string_member (vm, "ovfId", id ? id : "");
  json_object_set_string_member (vm, "name", name && *name ? name : (id ? id : ""));
  json_object_set_array_member (vm, "concerns", json_array_new ());

  xmlNode *os = child (ctx, system, "OperatingSystemSection");
  g_autofree char *os_type = os ? vmw_attr (os, "osType") : NULL;
  if (os_type == NULL && os)
    os_type = attr (ctx, os, "id");
  json_object_set_string_member (vm, "osType", os_type ? os_type : "");
  /* Who exported it: VMware's tools declare their OVF namespace (the
   * export_source rule warns about the others). */
  const char *source = "Unknown";
  if (xmlSearchNsByHref (system->doc, system, BAD_CAST NS_VMW))
    source = "VMware";
  else if (xmlSearchNsByHref (system->doc, system, BAD_CAST "http://www.virtualbox.org/ovf/machine"))
    source = "VirtualBox";
  json_object_set_string_member (vm, "ovaSource", source);

  json_object_set_int_member (vm, "cpuCount", 1);
  json_object_set_int_member (vm, "coresPerSocket", 1);
  json_object_set_string_member (vm, "firmware", "bios");
  json_object_set_boolean_member (vm, "secureBoot", FALSE);
  json_object_set_boolean_member (vm, "cpuHotAddEnabled", FALSE);
  json_object_set_boolean_member (vm, "memoryHotAddEnabled", FALSE);

  xmlNode *hw = child (ctx, system, "VirtualHardwareSection");
  if (hw == NULL)
    {
      concern (vm, "ova.hardware.missing", "No hardware", "The VM has no VirtualHardwareSection.");
      json_object_set_array_member (vm, "disks", json_array_new ());
      json_object_set_array_member (vm, "nics", json_array_new ());
      return vm;
    }
  parse_hardware (ctx, hw, vm, disk_section);
  for (guint i = 0; i < disk_faults->len; i++)
    concern (vm, "ova.disk.invalid", "Invalid disk", "%s", (const char *) disk_faults->pdata[i]);

  /* VMware keeps firmware, secure boot and hot-plug in vmw:Config entries. */
  for (xmlNode *c = hw->children; c; c = c->next)
    {
      if (!is (c, "Config", NS_VMW))
        continue;
      g_autofree char *key = vmw_attr (c, "key");
      g_autofree char *value = vmw_attr (c, "value");
      if (key == NULL || value == NULL)
        continue;
      if (g_str_equal (key, "firmware"))
        json_object_set_string_member (vm, "firmware", g_ascii_strcasecmp (value, "efi") == 0 ? "efi" : "bios");
      else if (g_str_equal (key, "uefi.secureBoot.enabled"))
        json_object_set_boolean_member (vm, "secureBoot", g_ascii_strcasecmp (value, "true") == 0);
      else if (g_str_equal (key, "cpuHotAddEnabled"))
        json_object_set_boolean_member (vm, "cpuHotAddEnabled", g_ascii_strcasecmp (value, "true") == 0);
      else if (g_str_equal (key, "memoryHotAddEnabled"))
        json_object_set_boolean_member (vm, "memoryHotAddEnabled", g_ascii_strcasecmp (value, "true") == 0);
    }
  return vm;
}

static void
collect_systems (Ctx *ctx, xmlNode *node, GPtrArray *out, guint depth)
{
  if (depth > 8)
    return;
  for (xmlNode *c = node->children; c; c = c->next)
    {
      if (is_ovf (ctx, c, "VirtualSystem"))
        g_ptr_array_add (out, c);
      else if (is_ovf (ctx, c, "VirtualSystemCollection"))
        collect_systems (ctx, c, out, depth + 1);
    }
}

JsonObject *
ova_ovf_parse (const char *xml, gsize length, GError **error)
{
  if (length > G_MAXINT)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "OVF descriptor too large");
      return NULL;
    }
  /* No network, no external entities, no DTD loading. */
  xmlDoc *doc = xmlReadMemory (xml, (int) length, "descriptor.ovf", NULL,
                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == NULL)
    {
      const xmlError *e = xmlGetLastError ();
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "not well-formed XML%s%s",
                   e && e->message ? ": " : "", e && e->message ? g_strstrip (e->message) : "");
      return NULL;
    }
  xmlNode *root = xmlDocGetRootElement (doc);
  Ctx ctx = { NULL };
  if (is (root, "Envelope", NS_OVF1))
    ctx.ovf_ns = NS_OVF1;
  else if (is (root, "Envelope", NS_OVF2))
    ctx.ovf_ns = NS_OVF2;
  if (ctx.ovf_ns == NULL)
    {
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID,
                   "not an OVF descriptor: the root element is not an OVF 1.x or 2.x Envelope");
      xmlFreeDoc (doc);
      return NULL;
    }

  /* References: file id -> href. */
  g_autoptr (GHashTable) files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  xmlNode *refs = child (&ctx, root, "References");
  for (xmlNode *f = refs ? refs->children : NULL; f; f = f->next)
    if (is_ovf (&ctx, f, "File"))
      {
        char *id = attr (&ctx, f, "id");
        char *href = attr (&ctx, f, "href");
        if (id && href)
          g_hash_table_insert (files, id, href);
        else
          g_free (id), g_free (href);
      }

  g_autoptr (GPtrArray) disk_faults = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (JsonObject) disks = parse_disks (&ctx, root, files, disk_faults);

  JsonObject *result = json_object_new ();
  JsonArray *networks = json_array_new ();
  xmlNode *net_section = child (&ctx, root, "NetworkSection");
  for (xmlNode *n = net_section ? net_section->children : NULL; n; n = n->next)
    if (is_ovf (&ctx, n, "Network"))
      {
        g_autofree char *name = attr (&ctx, n, "name");
        g_autofree char *desc = text (child (&ctx, n, "Description"));
        if (name == NULL)
          continue;
        JsonObject *net = json_object_new ();
        json_object_set_string_member (net, "name", name);
        json_object_set_string_member (net, "description", desc ? desc : "");
        json_array_add_object_element (networks, net);
      }
  json_object_set_array_member (result, "networks", networks);

  g_autoptr (GPtrArray) systems = g_ptr_array_new ();
  collect_systems (&ctx, root, systems, 0);
  JsonArray *vms = json_array_new ();
  for (guint i = 0; i < systems->len; i++)
    json_array_add_object_element (vms, parse_system (&ctx, systems->pdata[i], disks, disk_faults));
  json_object_set_array_member (result, "vms", vms);
  xmlFreeDoc (doc);

  if (systems->len == 0)
    {
      json_object_unref (result);
      g_set_error (error, MTV_ERROR, MTV_ERROR_INVALID, "the OVF descriptor describes no VirtualSystem");
      return NULL;
    }
  return result;
}

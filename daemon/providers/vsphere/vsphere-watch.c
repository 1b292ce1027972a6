/* Watching a vSphere inventory: see vsphere-watch.h. */
#include "vsphere-watch.h"

#include <string.h>

/* Updates in one reply beyond which the server is asked to truncate (a
 * real vCenter pages the first, complete set; vcsim ignores it). */
#define MAX_OBJECT_UPDATES 1000
/* A reply naming more objects than this is refused. */
#define MAX_UPDATES 1000000

/* A view and a filter for each type that is watched alone, and one for the
 * others together. The many VMs are alone: vcsim's WaitForUpdatesEx panics
 * matching an object removed in the same batch against another type's
 * spec (which only a VM's removal does often), and recollects every
 * filter for every filter and update (so few filters, not one per type). */
struct _MtvVsphereWatch {
  char *collector;
  GPtrArray *views, *filters;
  char *version;
};

static char *
returned_reference (MtvVsphere *vs, const char *body, const char *what, GError **error)
{
  xmlDoc *doc = mtv_vsphere_call (vs, body, error);
  if (doc == NULL)
    {
      g_prefix_error (error, "%s: ", what);
      return NULL;
    }
  char *ref = mtv_vsphere_reference (mtv_soap_reply (doc), "returnval");
  xmlFreeDoc (doc);
  if (ref == NULL)
    g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "%s: the server answered no reference", what);
  return ref;
}

void
mtv_vsphere_watch_free (MtvVsphere *vs, MtvVsphereWatch *w)
{
  if (w == NULL)
    return;
  for (guint i = 0; vs && i < w->filters->len; i++)
    mtv_vsphere_destroy (vs, "DestroyPropertyFilter", "PropertyFilter", w->filters->pdata[i]);
  for (guint i = 0; vs && i < w->views->len; i++)
    mtv_vsphere_destroy (vs, "DestroyView", "ContainerView", w->views->pdata[i]);
  if (vs)
    mtv_vsphere_destroy (vs, "DestroyPropertyCollector", "PropertyCollector", w->collector);
  g_free (w->collector);
  g_ptr_array_unref (w->views);
  g_ptr_array_unref (w->filters);
  g_free (w->version);
  g_free (w);
}

/* A view of the objects of @n types and a filter on it. */
static gboolean
watch_types (MtvVsphere *vs, MtvVsphereWatch *w, const MtvVsphereWatchSpec *const *specs, guint n, GError **error)
{
  if (n == 0)
    return TRUE;
  g_autoptr (GPtrArray) types = g_ptr_array_new ();
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (types, (gpointer) specs[i]->type);
  g_ptr_array_add (types, NULL);
  char *view = mtv_vsphere_create_view (vs, (const char *const *) types->pdata, error);
  if (view == NULL)
    {
      g_prefix_error (error, "creating a view to watch: ");
      return FALSE;
    }
  g_ptr_array_add (w->views, view);
  g_autofree char *c = mtv_soap_escape (w->collector);
  g_autoptr (GString) filter = g_string_new (NULL);
  g_string_append_printf (filter, "<vim25:CreateFilter><vim25:_this type=\"PropertyCollector\">%s</vim25:_this>"
                                  "<vim25:spec>", c);
  for (guint i = 0; i < n; i++)
    mtv_vsphere_append_prop_set (filter, specs[i]->type, specs[i]->paths);
  mtv_vsphere_append_view_objects (filter, view);
  g_string_append (filter, "</vim25:spec><vim25:partialUpdates>false</vim25:partialUpdates></vim25:CreateFilter>");
  char *f = returned_reference (vs, filter->str, "creating a property filter", error);
  if (f == NULL)
    return FALSE;
  g_ptr_array_add (w->filters, f);
  return TRUE;
}

MtvVsphereWatch *
mtv_vsphere_watch_new (MtvVsphere *vs, const MtvVsphereWatchSpec *specs, guint n, GError **error)
{
  const MtvVsphereService *s = mtv_vsphere_service (vs);
  MtvVsphereWatch *w = g_new0 (MtvVsphereWatch, 1);
  w->version = g_strdup ("");
  w->views = g_ptr_array_new_with_free_func (g_free);
  w->filters = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *pc = mtv_soap_escape (s->property_collector);
  g_autofree char *create_pc = g_strdup_printf ("<vim25:CreatePropertyCollector><vim25:_this type=\"PropertyCollector\">"
                                                "%s</vim25:_this></vim25:CreatePropertyCollector>", pc);
  w->collector = returned_reference (vs, create_pc, "creating a property collector", error);
  gboolean ok = w->collector != NULL;
  g_autoptr (GPtrArray) together = g_ptr_array_new ();
  for (guint i = 0; ok && i < n; i++)
    {
      const MtvVsphereWatchSpec *one = &specs[i];
      if (specs[i].alone)
        ok = watch_types (vs, w, &one, 1, error);
      else
        g_ptr_array_add (together, (gpointer) one);
    }
  if (ok)
    ok = watch_types (vs, w, (const MtvVsphereWatchSpec *const *) together->pdata, together->len, error);
  if (!ok)
    {
      mtv_vsphere_watch_free (vs, w);
      return NULL;
    }
  return w;
}

const char *
mtv_vsphere_watch_version (MtvVsphereWatch *w)
{
  return w->version;
}

static gboolean
is_element (xmlNode *n, const char *name)
{
  return n->type == XML_ELEMENT_NODE && g_str_equal ((const char *) n->name, name);
}

gboolean
mtv_vsphere_parse_updates (xmlNode *reply, JsonArray *into, char **version, gboolean *truncated, GError **error)
{
  *version = NULL;
  *truncated = FALSE;
  xmlNode *set = mtv_soap_child (reply, "returnval");
  if (set == NULL)
    return TRUE;   /* the wait ended with nothing new */
  g_autofree char *v = mtv_soap_child_text (set, "version");
  if (v == NULL || strlen (v) > 256 || !g_utf8_validate (v, -1, NULL))
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "an update set without a valid version");
      return FALSE;
    }
  g_autofree char *t = mtv_soap_child_text (set, "truncated");
  for (xmlNode *f = set->children; f; f = f->next)
    {
      if (!is_element (f, "filterSet"))
        continue;
      for (xmlNode *o = f->children; o; o = o->next)
        {
          if (!is_element (o, "objectSet"))
            continue;
          if (json_array_get_length (into) >= MAX_UPDATES)
            {
              g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "more than %u object updates", MAX_UPDATES);
              return FALSE;
            }
          g_autofree char *kind = mtv_soap_child_text (o, "kind");
          g_autofree char *id = mtv_vsphere_reference (o, "obj");
          xmlNode *obj = mtv_soap_child (o, "obj");
          xmlChar *type = obj ? xmlGetNoNsProp (obj, (const xmlChar *) "type") : NULL;
          static const char *const kinds[] = { "enter", "modify", "leave", NULL };
          gboolean ok = id && type && kind && g_strv_contains (kinds, kind) && g_utf8_validate ((const char *) type, -1, NULL)
                        && strlen ((const char *) type) <= 128;
          if (!ok)
            {
              xmlFree (type);
              g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "an object update without a valid %s",
                           kind && g_strv_contains (kinds, kind) ? "object" : "kind");
              return FALSE;
            }
          JsonObject *u = json_object_new ();
          json_object_set_string_member (u, "id", id);
          json_object_set_string_member (u, "type", (const char *) type);
          json_object_set_string_member (u, "kind", kind);
          xmlFree (type);
          json_array_add_object_element (into, u);
        }
    }
  *truncated = g_strcmp0 (t, "true") == 0;
  *version = g_steal_pointer (&v);
  return TRUE;
}

JsonArray *
mtv_vsphere_watch_wait (MtvVsphere *vs, MtvVsphereWatch *w, guint seconds, GError **error)
{
  g_autoptr (JsonArray) changes = json_array_new ();
  g_autofree char *c = mtv_soap_escape (w->collector);
  for (;;)
    {
      g_autofree char *v = mtv_soap_escape (w->version);
      g_autofree char *body = g_strdup_printf (
        "<vim25:WaitForUpdatesEx><vim25:_this type=\"PropertyCollector\">%s</vim25:_this><vim25:version>%s</vim25:version>"
        "<vim25:options><vim25:maxWaitSeconds>%u</vim25:maxWaitSeconds><vim25:maxObjectUpdates>%u</vim25:maxObjectUpdates>"
        "</vim25:options></vim25:WaitForUpdatesEx>", c, v, seconds, MAX_OBJECT_UPDATES);
      xmlDoc *doc = mtv_vsphere_call (vs, body, error);
      if (doc == NULL)
        {
          g_prefix_error (error, "waiting for changes: ");
          return NULL;
        }
      g_autofree char *version = NULL;
      gboolean truncated = FALSE;
      gboolean ok = mtv_vsphere_parse_updates (mtv_soap_reply (doc), changes, &version, &truncated, error);
      xmlFreeDoc (doc);
      if (!ok)
        return NULL;
      if (version)
        {
          g_free (w->version);
          w->version = g_steal_pointer (&version);
        }
      if (!truncated)
        return g_steal_pointer (&changes);
    }
}

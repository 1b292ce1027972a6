/* A vSphere session: see vsphere-client.h. */
#include "vsphere-client.h"
#include "mtv-json.h"

#include <string.h>

struct _MtvVsphere {
  MtvSoap *soap;
  MtvVsphereService service;
  gboolean logged_in;
  /* Kept to log in again when the server ends the session (idle timeout,
   * a vCenter restart); wiped when freed. NULL: a session taken over from
   * a cookie, which cannot be renewed. */
  char *user, *password;
  guint logins;   /* how many times it logged in: what the server keeps per session is gone after a new one */
};

void
mtv_vsphere_service_clear (MtvVsphereService *s)
{
  g_clear_pointer (&s->api_version, g_free);
  g_clear_pointer (&s->api_type, g_free);
  g_clear_pointer (&s->full_name, g_free);
  g_clear_pointer (&s->instance_uuid, g_free);
  g_clear_pointer (&s->root_folder, g_free);
  g_clear_pointer (&s->property_collector, g_free);
  g_clear_pointer (&s->view_manager, g_free);
  g_clear_pointer (&s->session_manager, g_free);
  g_clear_pointer (&s->search_index, g_free);
}

char *
mtv_vsphere_reference (xmlNode *parent, const char *name)
{
  char *text = mtv_soap_child_text (parent, name);
  if (text && (strlen (text) == 0 || strlen (text) > 256 || !g_utf8_validate (text, -1, NULL)))
    g_clear_pointer (&text, g_free);
  return text;
}

gboolean
mtv_vsphere_service_parse (xmlNode *reply, MtvVsphereService *s, GError **error)
{
  xmlNode *content = mtv_soap_child (reply, "returnval");
  xmlNode *about = mtv_soap_child (content, "about");
  s->root_folder = mtv_vsphere_reference (content, "rootFolder");
  s->property_collector = mtv_vsphere_reference (content, "propertyCollector");
  s->view_manager = mtv_vsphere_reference (content, "viewManager");
  s->session_manager = mtv_vsphere_reference (content, "sessionManager");
  s->search_index = mtv_vsphere_reference (content, "searchIndex");   /* optional: only the disks' import uses it */
  s->api_version = mtv_soap_child_text (about, "apiVersion");
  s->api_type = mtv_soap_child_text (about, "apiType");
  s->full_name = mtv_soap_child_text (about, "fullName");
  s->instance_uuid = mtv_soap_child_text (about, "instanceUuid");
  const char *missing = !s->root_folder ? "rootFolder" : !s->property_collector ? "propertyCollector"
                        : !s->session_manager ? "sessionManager" : !s->api_version ? "about.apiVersion" : NULL;
  if (missing)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "the ServiceContent has no valid %s", missing);
      mtv_vsphere_service_clear (s);
      return FALSE;
    }
  return TRUE;
}

/* A handle with the server's ServiceContent read, holding @cookie's
 * session when there is one (logged in: it is given back when freed). */
static MtvVsphere *
open_service (const char *url, GBytes *ca_pem, gboolean insecure, const char *cookie, GError **error)
{
  g_autoptr (MtvVsphere) vs = g_new0 (MtvVsphere, 1);
  vs->soap = mtv_soap_new (url, ca_pem, insecure);
  if (cookie)
    mtv_soap_set_cookie (vs->soap, cookie);
  xmlDoc *doc = mtv_soap_call (vs->soap, "<vim25:RetrieveServiceContent>"
                                         "<vim25:_this type=\"ServiceInstance\">ServiceInstance</vim25:_this>"
                                         "</vim25:RetrieveServiceContent>", error);
  if (doc == NULL)
    return NULL;
  gboolean ok = mtv_vsphere_service_parse (mtv_soap_reply (doc), &vs->service, error);
  xmlFreeDoc (doc);
  vs->logged_in = ok && cookie != NULL;
  return ok ? g_steal_pointer (&vs) : NULL;
}

static gboolean
login (MtvVsphere *vs, GError **error)
{
  g_autofree char *sm = mtv_soap_escape (vs->service.session_manager);
  g_autofree char *u = mtv_soap_escape (vs->user);
  g_autofree char *p = mtv_soap_escape (vs->password);
  g_autofree char *body = g_strdup_printf ("<vim25:Login><vim25:_this type=\"SessionManager\">%s</vim25:_this>"
                                           "<vim25:userName>%s</vim25:userName><vim25:password>%s</vim25:password>"
                                           "</vim25:Login>", sm, u, p);
  xmlDoc *doc = mtv_soap_call (vs->soap, body, error);
  /* The body held the password: it goes now, not when freed. */
  memset (body, 0, strlen (body));
  memset (p, 0, strlen (p));
  if (doc == NULL)
    {
      g_prefix_error (error, "logging in as %s: ", vs->user);
      return FALSE;
    }
  xmlFreeDoc (doc);
  vs->logged_in = TRUE;
  vs->logins++;
  return TRUE;
}

guint
mtv_vsphere_logins (MtvVsphere *vs)
{
  return vs->logins;
}

MtvVsphere *
mtv_vsphere_open (const char *url, GBytes *ca_pem, gboolean insecure, GError **error)
{
  return open_service (url, ca_pem, insecure, NULL, error);
}

void
mtv_vsphere_set_login (MtvVsphere *vs, const char *user, const char *password)
{
  g_free (vs->user);
  if (vs->password)
    memset (vs->password, 0, strlen (vs->password));
  g_free (vs->password);
  vs->user = g_strdup (user);
  vs->password = g_strdup (password);
}

gboolean
mtv_vsphere_login (MtvVsphere *vs, const char *user, const char *password, GError **error)
{
  mtv_vsphere_set_login (vs, user, password);
  return login (vs, error);
}

MtvVsphere *
mtv_vsphere_connect (const char *url, GBytes *ca_pem, gboolean insecure, const char *user, const char *password,
                     GError **error)
{
  g_autoptr (MtvVsphere) vs = mtv_vsphere_open (url, ca_pem, insecure, error);
  return vs && mtv_vsphere_login (vs, user, password, error) ? g_steal_pointer (&vs) : NULL;
}

MtvVsphere *
mtv_vsphere_resume (const char *url, GBytes *ca_pem, gboolean insecure, const char *cookie, GError **error)
{
  return open_service (url, ca_pem, insecure, cookie, error);
}

char *
mtv_vsphere_cookie (MtvVsphere *vs)
{
  return mtv_soap_cookie (vs->soap);
}

xmlDoc *
mtv_vsphere_call (MtvVsphere *vs, const char *body, GError **error)
{
  GError *local = NULL;
  xmlDoc *doc = mtv_soap_call (vs->soap, body, &local);
  if (doc || !mtv_soap_is_fault (local, "NotAuthenticated") || vs->password == NULL)
    {
      if (local)
        g_propagate_error (error, local);
      return doc;
    }
  /* The server ended our session: a new one, and the call again. */
  g_clear_error (&local);
  vs->logged_in = FALSE;
  if (!login (vs, error))
    {
      g_prefix_error (error, "the session expired and ");
      return NULL;
    }
  return mtv_soap_call (vs->soap, body, error);
}

void
mtv_vsphere_keep_session (MtvVsphere *vs)
{
  vs->logged_in = FALSE;
}

const MtvVsphereService *
mtv_vsphere_service (MtvVsphere *vs)
{
  return &vs->service;
}

MtvSoap *
mtv_vsphere_soap (MtvVsphere *vs)
{
  return vs->soap;
}

void
mtv_vsphere_free (MtvVsphere *vs)
{
  if (vs == NULL)
    return;
  if (vs->logged_in)
    {
      /* Sessions are a limited resource on a vCenter: give ours back. */
      g_autofree char *sm = mtv_soap_escape (vs->service.session_manager);
      g_autofree char *body = g_strdup_printf ("<vim25:Logout><vim25:_this type=\"SessionManager\">%s</vim25:_this>"
                                               "</vim25:Logout>", sm);
      g_autoptr (GError) error = NULL;
      xmlDoc *doc = mtv_soap_call (vs->soap, body, &error);
      if (doc)
        xmlFreeDoc (doc);
    }
  mtv_soap_free (vs->soap);
  mtv_vsphere_service_clear (&vs->service);
  g_free (vs->user);
  if (vs->password)
    memset (vs->password, 0, strlen (vs->password));
  g_free (vs->password);
  g_free (vs);
}

/* ---- reading the inventory ---------------------------------------------------------- */

/* Deeper than any vSphere data object nests. */
#define MAX_DEPTH 32
/* A RetrievePropertiesEx reply with more objects than this is refused. */
#define MAX_OBJECTS 1000000

static gboolean
has_element_children (xmlNode *node)
{
  for (xmlNode *c = node->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE)
      return TRUE;
  return FALSE;
}

static char *
text_of (xmlNode *node)
{
  xmlChar *t = xmlNodeGetContent (node);
  char *s = g_utf8_make_valid (t ? (const char *) t : "", -1);
  xmlFree (t);
  return s;
}

static JsonNode *
value_at (xmlNode *node, guint depth)
{
  g_autofree char *type = mtv_soap_type (node);
  if (depth > MAX_DEPTH)
    return json_node_new (JSON_NODE_NULL);
  if (type && g_str_has_prefix (type, "ArrayOf"))
    {
      JsonArray *a = json_array_new ();
      for (xmlNode *c = node->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
          json_array_add_element (a, value_at (c, depth + 1));
      JsonNode *n = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (n, a);
      return n;
    }
  if (!has_element_children (node))
    {
      g_autofree char *text = text_of (node);
      xmlChar *ref_type = xmlGetNoNsProp (node, (const xmlChar *) "type");
      if (ref_type)
        {
          /* A ManagedObjectReference: <parent type="Folder">group-v3</parent>. */
          JsonObject *o = json_object_new ();
          g_autofree char *valid = g_utf8_make_valid ((const char *) ref_type, -1);
          json_object_set_string_member (o, "type", valid);
          json_object_set_string_member (o, "value", text);
          xmlFree (ref_type);
          JsonNode *n = json_node_new (JSON_NODE_OBJECT);
          json_node_take_object (n, o);
          return n;
        }
      JsonNode *n = json_node_new (JSON_NODE_VALUE);
      json_node_set_string (n, text);
      return n;
    }
  /* A data object; an element repeated in it is a list (its array
   * fields come as one element per item). */
  JsonObject *o = json_object_new ();
  if (type)
    json_object_set_string_member (o, "_type", type);
  g_autoptr (GHashTable) counts = g_hash_table_new (g_str_hash, g_str_equal);
  for (xmlNode *c = node->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE)
      g_hash_table_insert (counts, (gpointer) c->name,
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (counts, c->name)) + 1));
  for (xmlNode *c = node->children; c; c = c->next)
    {
      if (c->type != XML_ELEMENT_NODE)
        continue;
      g_autofree char *name = g_utf8_make_valid ((const char *) c->name, -1);
      JsonNode *v = value_at (c, depth + 1);
      if (GPOINTER_TO_UINT (g_hash_table_lookup (counts, c->name)) < 2)
        {
          json_object_set_member (o, name, v);
          continue;
        }
      JsonNode *list = json_object_get_member (o, name);
      if (list == NULL || !JSON_NODE_HOLDS_ARRAY (list))
        {
          json_object_set_array_member (o, name, json_array_new ());
          list = json_object_get_member (o, name);
        }
      json_array_add_element (json_node_get_array (list), v);
    }
  JsonNode *n = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (n, o);
  return n;
}

JsonNode *
mtv_vsphere_value (xmlNode *node)
{
  return value_at (node, 0);
}

gboolean
mtv_vsphere_parse_objects (xmlNode *reply, JsonArray *into, char **token, GError **error)
{
  *token = NULL;
  xmlNode *ret = mtv_soap_child (reply, "returnval");
  if (ret == NULL)
    return TRUE;   /* nothing matched: no returnval at all */
  for (xmlNode *c = ret->children; c; c = c->next)
    {
      if (c->type != XML_ELEMENT_NODE)
        continue;
      if (g_str_equal ((const char *) c->name, "token"))
        {
          g_free (*token);
          *token = mtv_vsphere_reference (ret, "token");
          continue;
        }
      if (!g_str_equal ((const char *) c->name, "objects"))
        continue;
      if (json_array_get_length (into) >= MAX_OBJECTS)
        {
          g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "more than %u objects", MAX_OBJECTS);
          g_clear_pointer (token, g_free);
          return FALSE;
        }
      xmlNode *obj = mtv_soap_child (c, "obj");
      g_autofree char *id = mtv_vsphere_reference (c, "obj");
      xmlChar *type = obj ? xmlGetNoNsProp (obj, (const xmlChar *) "type") : NULL;
      if (id == NULL || type == NULL)
        {
          xmlFree (type);
          g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "an object without a valid reference");
          g_clear_pointer (token, g_free);
          return FALSE;
        }
      JsonObject *o = json_object_new ();
      g_autofree char *valid_type = g_utf8_make_valid ((const char *) type, -1);
      xmlFree (type);
      json_object_set_string_member (o, "id", id);
      json_object_set_string_member (o, "type", valid_type);
      JsonObject *props = json_object_new ();
      for (xmlNode *p = c->children; p; p = p->next)
        {
          if (p->type != XML_ELEMENT_NODE || !g_str_equal ((const char *) p->name, "propSet"))
            continue;
          g_autofree char *name = mtv_soap_child_text (p, "name");
          xmlNode *val = mtv_soap_child (p, "val");
          if (name && val && g_utf8_validate (name, -1, NULL))
            json_object_set_member (props, name, mtv_vsphere_value (val));
        }
      json_object_set_object_member (o, "props", props);
      json_array_add_object_element (into, o);
    }
  return TRUE;
}

static xmlDoc *
call (MtvVsphere *vs, const char *body, GError **error)
{
  return mtv_vsphere_call (vs, body, error);
}

static gboolean
collect (JsonObject *object, gpointer data, GError **error)
{
  json_array_add_object_element (data, json_object_ref (object));
  return TRUE;
}

JsonArray *
mtv_vsphere_retrieve (MtvVsphere *vs, const char *type, const char *const *paths, guint page, GError **error)
{
  g_autoptr (JsonArray) objects = json_array_new ();
  if (!mtv_vsphere_retrieve_each (vs, type, paths, page, collect, objects, error))
    return NULL;
  return g_steal_pointer (&objects);
}

gboolean
mtv_vsphere_retrieve_each (MtvVsphere *vs, const char *type, const char *const *paths, guint page,
                           MtvVsphereEach each, gpointer data, GError **error)
{
  const MtvVsphereService *s = &vs->service;
  const char *const types[] = { type, NULL };
  g_autofree char *view = mtv_vsphere_create_view (vs, types, error);
  if (view == NULL)
    {
      g_prefix_error (error, "creating a view of the %s objects: ", type);
      return FALSE;
    }
  g_autofree char *pc = mtv_soap_escape (s->property_collector);
  g_autoptr (GString) body = g_string_new (NULL);
  g_string_append_printf (body, "<vim25:RetrievePropertiesEx><vim25:_this type=\"PropertyCollector\">%s</vim25:_this>"
                                "<vim25:specSet>", pc);
  mtv_vsphere_append_prop_set (body, type, paths);
  mtv_vsphere_append_view_objects (body, view);
  g_string_append (body, "</vim25:specSet><vim25:options>");
  if (page)
    g_string_append_printf (body, "<vim25:maxObjects>%u</vim25:maxObjects>", page);
  g_string_append (body, "</vim25:options></vim25:RetrievePropertiesEx>");
  g_autofree char *token = NULL;
  gboolean ok = TRUE;
  xmlDoc *doc = call (vs, body->str, error);
  while (ok)
    {
      if (doc == NULL)
        {
          g_prefix_error (error, "reading the %s objects: ", type);
          ok = FALSE;
          break;
        }
      g_clear_pointer (&token, g_free);
      g_autoptr (JsonArray) objects = json_array_new ();
      ok = mtv_vsphere_parse_objects (mtv_soap_reply (doc), objects, &token, error);
      xmlFreeDoc (doc);
      for (guint i = 0; ok && i < json_array_get_length (objects); i++)
        ok = each (json_array_get_object_element (objects, i), data, error);
      if (!ok || token == NULL)
        break;
      /* The server pages: the next page by its token. */
      g_autofree char *tk = mtv_soap_escape (token);
      g_autofree char *more = g_strdup_printf (
        "<vim25:ContinueRetrievePropertiesEx><vim25:_this type=\"PropertyCollector\">%s</vim25:_this>"
        "<vim25:token>%s</vim25:token></vim25:ContinueRetrievePropertiesEx>", pc, tk);
      doc = call (vs, more, error);
    }
  /* The view is the server's memory: it goes whatever happened. */
  mtv_vsphere_destroy (vs, "DestroyView", "ContainerView", view);
  return ok;
}

/* ---- pieces of requests ------------------------------------------------------------- */

void
mtv_vsphere_append_prop_set (GString *body, const char *type, const char *const *paths)
{
  g_autofree char *t = mtv_soap_escape (type);
  g_string_append_printf (body, "<vim25:propSet><vim25:type>%s</vim25:type>", t);
  for (guint i = 0; paths && paths[i]; i++)
    {
      g_autofree char *p = mtv_soap_escape (paths[i]);
      g_string_append_printf (body, "<vim25:pathSet>%s</vim25:pathSet>", p);
    }
  g_string_append (body, "</vim25:propSet>");
}

void
mtv_vsphere_append_view_objects (GString *body, const char *view)
{
  g_autofree char *v = mtv_soap_escape (view);
  g_string_append_printf (body, "<vim25:objectSet><vim25:obj type=\"ContainerView\">%s</vim25:obj>"
                                "<vim25:skip>true</vim25:skip><vim25:selectSet xsi:type=\"vim25:TraversalSpec\">"
                                "<vim25:name>view</vim25:name><vim25:type>ContainerView</vim25:type>"
                                "<vim25:path>view</vim25:path><vim25:skip>false</vim25:skip></vim25:selectSet>"
                                "</vim25:objectSet>", v);
}

char *
mtv_vsphere_create_view (MtvVsphere *vs, const char *const *types, GError **error)
{
  const MtvVsphereService *s = &vs->service;
  if (s->view_manager == NULL)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "the server has no ViewManager");
      return NULL;
    }
  g_autofree char *vm_ref = mtv_soap_escape (s->view_manager);
  g_autofree char *root = mtv_soap_escape (s->root_folder);
  g_autoptr (GString) body = g_string_new (NULL);
  g_string_append_printf (body, "<vim25:CreateContainerView><vim25:_this type=\"ViewManager\">%s</vim25:_this>"
                                "<vim25:container type=\"Folder\">%s</vim25:container>", vm_ref, root);
  for (guint i = 0; types[i]; i++)
    {
      g_autofree char *t = mtv_soap_escape (types[i]);
      g_string_append_printf (body, "<vim25:type>%s</vim25:type>", t);
    }
  g_string_append (body, "<vim25:recursive>true</vim25:recursive></vim25:CreateContainerView>");
  xmlDoc *doc = call (vs, body->str, error);
  if (doc == NULL)
    return NULL;
  char *view = mtv_vsphere_reference (mtv_soap_reply (doc), "returnval");
  xmlFreeDoc (doc);
  if (view == NULL)
    g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "CreateContainerView answered no view");
  return view;
}

void
mtv_vsphere_destroy (MtvVsphere *vs, const char *method, const char *type, const char *ref)
{
  if (ref == NULL)
    return;
  g_autofree char *r = mtv_soap_escape (ref);
  g_autofree char *body = g_strdup_printf ("<vim25:%s><vim25:_this type=\"%s\">%s</vim25:_this></vim25:%s>", method,
                                           type, r, method);
  g_autoptr (GError) ignored = NULL;
  xmlDoc *doc = call (vs, body, &ignored);
  if (doc)
    xmlFreeDoc (doc);
}

JsonObject *
mtv_vsphere_get (MtvVsphere *vs, const char *type, const char *id, const char *const *paths, GError **error)
{
  g_autofree char *pc = mtv_soap_escape (vs->service.property_collector);
  g_autofree char *t = mtv_soap_escape (type);
  g_autofree char *i = mtv_soap_escape (id);
  g_autoptr (GString) body = g_string_new (NULL);
  g_string_append_printf (body, "<vim25:RetrievePropertiesEx><vim25:_this type=\"PropertyCollector\">%s</vim25:_this>"
                                "<vim25:specSet>", pc);
  mtv_vsphere_append_prop_set (body, type, paths);
  g_string_append_printf (body, "<vim25:objectSet><vim25:obj type=\"%s\">%s</vim25:obj><vim25:skip>false</vim25:skip>"
                                "</vim25:objectSet></vim25:specSet><vim25:options/></vim25:RetrievePropertiesEx>", t, i);
  xmlDoc *doc = call (vs, body->str, error);
  if (doc == NULL)
    return NULL;
  g_autoptr (JsonArray) objects = json_array_new ();
  g_autofree char *token = NULL;
  gboolean ok = mtv_vsphere_parse_objects (mtv_soap_reply (doc), objects, &token, error);
  xmlFreeDoc (doc);
  if (!ok)
    return NULL;
  if (json_array_get_length (objects) == 0)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_FAULT, "ManagedObjectNotFound: %s %s is gone", type, id);
      return NULL;
    }
  return json_object_ref (json_array_get_object_element (objects, 0));
}

char *
mtv_vsphere_start_task (MtvVsphere *vs, const char *body, GError **error)
{
  xmlDoc *doc = mtv_vsphere_call (vs, body, error);
  if (doc == NULL)
    return NULL;
  char *task = mtv_soap_child_text (mtv_soap_reply (doc), "returnval");
  xmlFreeDoc (doc);
  if (task == NULL)
    g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "the call returned no task");
  return task;
}

gboolean
mtv_vsphere_wait_task (MtvVsphere *vs, const char *task, guint seconds, char **result, GError **error)
{
  static const char *const paths[] = { "info.state", "info.error", "info.result", NULL };
  for (guint waited = 0; waited <= seconds * 4; waited++)
    {
      g_autoptr (JsonObject) t = mtv_vsphere_get (vs, "Task", task, paths, error);
      if (t == NULL)
        return FALSE;
      JsonObject *p = mtv_json_object (t, "props");
      const char *s = mtv_json_string (p, "info.state");
      if (g_strcmp0 (s, "success") == 0)
        {
          if (result)
            *result = g_strdup (mtv_json_string (mtv_json_object (p, "info.result"), "value"));
          return TRUE;
        }
      if (g_strcmp0 (s, "error") == 0)
        {
          JsonObject *e = mtv_json_object (p, "info.error");
          const char *message = mtv_json_string (e, "localizedMessage");
          const char *type = mtv_json_string (mtv_json_object (e, "fault"), "_type");
          g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_FAULT, "%s",
                       message && *message ? message : type ? type : "the task failed, giving no reason");
          return FALSE;
        }
      g_usleep (G_USEC_PER_SEC / 4);
    }
  g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_FAULT, "the task did not finish within %u seconds", seconds);
  return FALSE;
}

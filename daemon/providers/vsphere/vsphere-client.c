/* A vSphere session: see vsphere-client.h. */
#include "vsphere-client.h"

#include <string.h>

struct _MtvVsphere {
  MtvSoap *soap;
  MtvVsphereService service;
  gboolean logged_in;
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
}

/* A moref's value, bounded: it goes back into the requests we send. */
static char *
moref (xmlNode *parent, const char *name)
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
  s->root_folder = moref (content, "rootFolder");
  s->property_collector = moref (content, "propertyCollector");
  s->view_manager = moref (content, "viewManager");
  s->session_manager = moref (content, "sessionManager");
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

MtvVsphere *
mtv_vsphere_connect (const char *url, GBytes *ca_pem, gboolean insecure, const char *user, const char *password,
                     GError **error)
{
  g_autoptr (MtvVsphere) vs = g_new0 (MtvVsphere, 1);
  vs->soap = mtv_soap_new (url, ca_pem, insecure);
  xmlDoc *doc = mtv_soap_call (vs->soap, "<vim25:RetrieveServiceContent>"
                                         "<vim25:_this type=\"ServiceInstance\">ServiceInstance</vim25:_this>"
                                         "</vim25:RetrieveServiceContent>", error);
  if (doc == NULL)
    return NULL;
  gboolean ok = mtv_vsphere_service_parse (mtv_soap_reply (doc), &vs->service, error);
  xmlFreeDoc (doc);
  if (!ok)
    return NULL;
  g_autofree char *sm = mtv_soap_escape (vs->service.session_manager);
  g_autofree char *u = mtv_soap_escape (user);
  g_autofree char *p = mtv_soap_escape (password);
  g_autofree char *body = g_strdup_printf ("<vim25:Login><vim25:_this type=\"SessionManager\">%s</vim25:_this>"
                                           "<vim25:userName>%s</vim25:userName><vim25:password>%s</vim25:password>"
                                           "</vim25:Login>", sm, u, p);
  doc = mtv_soap_call (vs->soap, body, error);
  /* The body held the password: it goes now, not when freed. */
  memset (body, 0, strlen (body));
  memset (p, 0, strlen (p));
  if (doc == NULL)
    {
      g_prefix_error (error, "logging in as %s: ", user);
      return NULL;
    }
  xmlFreeDoc (doc);
  vs->logged_in = TRUE;
  return g_steal_pointer (&vs);
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
  g_free (vs);
}

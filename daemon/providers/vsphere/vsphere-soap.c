/* SOAP to the vSphere SDK: see vsphere-soap.h. */
#include "vsphere-soap.h"
#include "mtv-text.h"

#include <curl/curl.h>
#include <string.h>

#define SOAP_ENV "http://schemas.xmlsoap.org/soap/envelope/"
#define VIM25 "urn:vim25"
#define XSI "http://www.w3.org/2001/XMLSchema-instance"
/* The API version the bodies are written for (vSphere 6.5 and later). */
#define SOAP_ACTION "SOAPAction: urn:vim25/6.5"
#define CALL_TIMEOUT 300L

G_DEFINE_QUARK (mtv-soap-error-quark, mtv_soap_error)

struct _MtvSoap {
  char *url;
  GBytes *ca_pem;
  gboolean insecure;
  CURL *curl;          /* kept: its cookie engine holds the session */
  char *thumbprint;
};

MtvSoap *
mtv_soap_new (const char *url, GBytes *ca_pem, gboolean insecure)
{
  MtvSoap *soap = g_new0 (MtvSoap, 1);
  soap->url = g_strdup (url);
  soap->ca_pem = ca_pem ? g_bytes_ref (ca_pem) : NULL;
  soap->insecure = insecure;
  return soap;
}

void
mtv_soap_free (MtvSoap *soap)
{
  if (soap == NULL)
    return;
  if (soap->curl)
    curl_easy_cleanup (soap->curl);
  g_clear_pointer (&soap->ca_pem, g_bytes_unref);
  g_free (soap->url);
  g_free (soap->thumbprint);
  g_free (soap);
}

const char *
mtv_soap_thumbprint (MtvSoap *soap)
{
  return soap->thumbprint;
}

/* ---- replies ------------------------------------------------------------------------ */

static gboolean
is (xmlNode *n, const char *ns, const char *name)
{
  return n && n->type == XML_ELEMENT_NODE && g_strcmp0 ((const char *) n->name, name) == 0
         && (ns == NULL || (n->ns && g_strcmp0 ((const char *) n->ns->href, ns) == 0));
}

static xmlNode *
first_element (xmlNode *n)
{
  for (; n; n = n->next)
    if (n->type == XML_ELEMENT_NODE)
      return n;
  return NULL;
}

xmlNode *
mtv_soap_child (xmlNode *parent, const char *name)
{
  for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
    if (n->type == XML_ELEMENT_NODE && g_strcmp0 ((const char *) n->name, name) == 0)
      return n;
  return NULL;
}

char *
mtv_soap_child_text (xmlNode *parent, const char *name)
{
  xmlNode *n = mtv_soap_child (parent, name);
  if (n == NULL)
    return NULL;
  xmlChar *text = xmlNodeGetContent (n);
  char *copy = g_strdup ((const char *) text);
  xmlFree (text);
  return copy;
}

char *
mtv_soap_type (xmlNode *node)
{
  xmlChar *type = node ? xmlGetNsProp (node, (const xmlChar *) "type", (const xmlChar *) XSI) : NULL;
  if (type == NULL)
    return NULL;
  /* "vim25:VirtualDisk" and "VirtualDisk" name the same type. */
  const char *colon = strchr ((const char *) type, ':');
  char *local = g_strdup (colon ? colon + 1 : (const char *) type);
  xmlFree (type);
  return local;
}

static xmlNode *
body_of (xmlDoc *doc)
{
  xmlNode *env = xmlDocGetRootElement (doc);
  if (!is (env, SOAP_ENV, "Envelope"))
    return NULL;
  for (xmlNode *n = env->children; n; n = n->next)
    if (is (n, SOAP_ENV, "Body"))
      return n;
  return NULL;
}

xmlNode *
mtv_soap_reply (xmlDoc *doc)
{
  xmlNode *body = doc ? body_of (doc) : NULL;
  return body ? first_element (body->children) : NULL;
}

/* "InvalidLogin: Login failure": the fault's type (its detail's xsi:type,
 * else the detail element's name without "Fault") and its text. */
static void
set_fault (xmlNode *fault, GError **error)
{
  g_autofree char *text = mtv_soap_child_text (fault, "faultstring");
  xmlNode *details = mtv_soap_child (fault, "detail");
  xmlNode *detail = first_element (details ? details->children : NULL);
  g_autofree char *type = mtv_soap_type (detail);
  if (type == NULL && detail)
    {
      type = g_strdup ((const char *) detail->name);
      if (g_str_has_suffix (type, "Fault"))
        type[strlen (type) - strlen ("Fault")] = '\0';
    }
  /* A bound for the message, not for the fault: cut on a character. */
  g_autofree char *shown = mtv_text_shorten (text && *text ? text : "no text", -1, 1024);
  g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_FAULT, "%s%s%s", type ? type : "", type ? ": " : "", shown);
}

xmlDoc *
mtv_soap_parse_reply (const char *text, gsize length, GError **error)
{
  if (length == 0 || length > MTV_SOAP_MAX_REPLY)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "the answer is %s", length ? "too large" : "empty");
      return NULL;
    }
  /* No network, no entity substitution, no DTD loading: a reply is data. */
  xmlDoc *doc = xmlReadMemory (text, (int) length, "reply.xml", NULL,
                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == NULL)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "the answer is not XML");
      return NULL;
    }
  xmlNode *body = body_of (doc);
  xmlNode *reply = body ? first_element (body->children) : NULL;
  if (reply == NULL)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "the answer is not a SOAP reply (no Envelope/Body content)");
      xmlFreeDoc (doc);
      return NULL;
    }
  if (is (reply, SOAP_ENV, "Fault"))
    {
      set_fault (reply, error);
      xmlFreeDoc (doc);
      return NULL;
    }
  return doc;
}

/* ---- calls -------------------------------------------------------------------------- */

char *
mtv_soap_escape (const char *text)
{
  GString *s = g_string_new (NULL);
  for (const char *p = text; *p; p++)
    switch (*p)
      {
      case '&': g_string_append (s, "&amp;"); break;
      case '<': g_string_append (s, "&lt;"); break;
      case '>': g_string_append (s, "&gt;"); break;
      case '"': g_string_append (s, "&quot;"); break;
      case '\'': g_string_append (s, "&apos;"); break;
      default: g_string_append_c (s, *p);
      }
  return g_string_free (s, FALSE);
}

static size_t
on_data (char *ptr, size_t size, size_t n, void *data)
{
  GByteArray *sink = data;
  if (sink->len + size * n > MTV_SOAP_MAX_REPLY)
    return 0;   /* ends the transfer: too large */
  g_byte_array_append (sink, (const guint8 *) ptr, (guint) (size * n));
  return size * n;
}

/* SHA-1 of the first certificate's DER, as "AB:CD:...". */
static char *
thumbprint_of (CURL *curl)
{
  struct curl_certinfo *info = NULL;
  if (curl_easy_getinfo (curl, CURLINFO_CERTINFO, &info) != CURLE_OK || info == NULL || info->num_of_certs < 1)
    return NULL;
  for (struct curl_slist *l = info->certinfo[0]; l; l = l->next)
    if (g_str_has_prefix (l->data, "Cert:"))
      {
        g_autoptr (GString) b64 = g_string_new (NULL);
        g_auto (GStrv) lines = g_strsplit (l->data + strlen ("Cert:"), "\n", -1);
        for (guint i = 0; lines[i]; i++)
          if (!g_str_has_prefix (lines[i], "-----"))
            g_string_append (b64, g_strstrip (lines[i]));
        gsize der_len = 0;
        g_autofree guchar *der = g_base64_decode (b64->str, &der_len);
        if (der_len == 0)
          return NULL;
        g_autofree char *hex = g_compute_checksum_for_data (G_CHECKSUM_SHA1, der, der_len);
        GString *out = g_string_new (NULL);
        for (guint i = 0; hex[i] && hex[i + 1]; i += 2)
          g_string_append_printf (out, "%s%c%c", i ? ":" : "", g_ascii_toupper (hex[i]), g_ascii_toupper (hex[i + 1]));
        return g_string_free (out, FALSE);
      }
  return NULL;
}

static CURL *
handle (MtvSoap *soap)
{
  if (soap->curl == NULL)
    {
      soap->curl = curl_easy_init ();
      if (soap->curl)
        curl_easy_setopt (soap->curl, CURLOPT_COOKIEFILE, "");   /* the session cookie, in memory only */
    }
  return soap->curl;
}

#define SESSION_COOKIE "vmware_soap_session"

char *
mtv_soap_cookie (MtvSoap *soap)
{
  struct curl_slist *cookies = NULL;
  if (soap->curl == NULL || curl_easy_getinfo (soap->curl, CURLINFO_COOKIELIST, &cookies) != CURLE_OK)
    return NULL;
  char *found = NULL;
  /* Netscape format: domain, flag, path, secure, expiry, name, value. */
  for (struct curl_slist *c = cookies; c && found == NULL; c = c->next)
    {
      g_auto (GStrv) f = g_strsplit (c->data, "\t", 7);
      if (g_strv_length (f) == 7 && g_str_equal (f[5], SESSION_COOKIE))
        found = g_strdup_printf ("%s=%s", f[5], f[6]);
    }
  curl_slist_free_all (cookies);
  return found;
}

void
mtv_soap_set_cookie (MtvSoap *soap, const char *cookie)
{
  CURL *curl = handle (soap);
  if (curl == NULL)
    return;
  g_autoptr (GUri) uri = g_uri_parse (soap->url, G_URI_FLAGS_NONE, NULL);
  g_autofree char *line = g_strdup_printf ("Set-Cookie: %s; domain=%s; path=/", cookie,
                                           uri && g_uri_get_host (uri) ? g_uri_get_host (uri) : "localhost");
  curl_easy_setopt (curl, CURLOPT_COOKIELIST, line);
  memset (line, 0, strlen (line));
}

gboolean
mtv_soap_is_fault (const GError *error, const char *type)
{
  return g_error_matches (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_FAULT) && g_str_has_prefix (error->message, type)
         && error->message[strlen (type)] == ':';
}

xmlDoc *
mtv_soap_call (MtvSoap *soap, const char *body, GError **error)
{
  CURL *curl = handle (soap);
  if (curl == NULL)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_TRANSPORT, "cannot start an HTTP client");
      return NULL;
    }
  g_autofree char *envelope = g_strconcat ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                                           "<soapenv:Envelope xmlns:soapenv=\"" SOAP_ENV "\" xmlns:vim25=\"" VIM25 "\""
                                           " xmlns:xsi=\"" XSI "\"><soapenv:Body>",
                                           body, "</soapenv:Body></soapenv:Envelope>", NULL);
  struct curl_slist *headers = curl_slist_append (NULL, "Content-Type: text/xml; charset=utf-8");
  headers = curl_slist_append (headers, SOAP_ACTION);
  g_autoptr (GByteArray) sink = g_byte_array_new ();
  char curl_error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt (curl, CURLOPT_URL, soap->url);
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt (curl, CURLOPT_POSTFIELDS, envelope);
  curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE, (long) strlen (envelope));
  curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt (curl, CURLOPT_TIMEOUT, CALL_TIMEOUT);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, curl_error);
  curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, sink);
  curl_easy_setopt (curl, CURLOPT_USERAGENT, "mtvd");
  curl_easy_setopt (curl, CURLOPT_CERTINFO, 1L);
  curl_easy_setopt (curl, CURLOPT_SSL_VERIFYPEER, soap->insecure ? 0L : 1L);
  curl_easy_setopt (curl, CURLOPT_SSL_VERIFYHOST, soap->insecure ? 0L : 2L);
  if (soap->ca_pem && !soap->insecure)
    {
      struct curl_blob ca = { (void *) g_bytes_get_data (soap->ca_pem, NULL), g_bytes_get_size (soap->ca_pem),
                              CURL_BLOB_COPY };
      curl_easy_setopt (curl, CURLOPT_CAINFO_BLOB, &ca);
    }
  CURLcode rc = curl_easy_perform (curl);
  curl_slist_free_all (headers);
  curl_easy_setopt (curl, CURLOPT_HTTPHEADER, NULL);
  curl_easy_setopt (curl, CURLOPT_POSTFIELDS, NULL);
  curl_easy_setopt (curl, CURLOPT_WRITEDATA, NULL);
  curl_easy_setopt (curl, CURLOPT_ERRORBUFFER, NULL);
  if (rc == CURLE_OK && soap->thumbprint == NULL)
    soap->thumbprint = thumbprint_of (curl);
  if (rc != CURLE_OK)
    {
      g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_TRANSPORT, "%s: %s", soap->url,
                   rc == CURLE_WRITE_ERROR ? "the answer is too large" : *curl_error ? curl_error : curl_easy_strerror (rc));
      return NULL;
    }
  long code = 0;
  curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &code);
  g_autoptr (GError) parse_error = NULL;
  xmlDoc *doc = mtv_soap_parse_reply ((const char *) sink->data, sink->len, &parse_error);
  if (doc && code == 200)
    return doc;
  if (doc)
    xmlFreeDoc (doc);
  /* A fault comes with status 500: the fault says more than the status. */
  if (g_error_matches (parse_error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_FAULT))
    g_propagate_error (error, g_steal_pointer (&parse_error));
  else if (code == 200)
    g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_PARSE, "%s: %s", soap->url, parse_error->message);
  else
    g_set_error (error, MTV_SOAP_ERROR, MTV_SOAP_ERROR_HTTP, "%s: HTTP status %ld", soap->url, code);
  return NULL;
}

#pragma once
/* SOAP over HTTPS to a vCenter or ESXi SDK endpoint (libcurl + libxml2): one
 * connection with its session cookie, calls that send a body and give back
 * the reply's element, vSphere faults as errors. Calls block: run them in a
 * worker thread. Names in replies are matched by local name in the vim25
 * namespace and types by the XMLSchema-instance namespace, whatever prefix
 * the server picks (vcsim and vCenter pick different ones). */
#include <glib.h>
#include <libxml/tree.h>

#define MTV_SOAP_ERROR (mtv_soap_error_quark ())
GQuark mtv_soap_error_quark (void);

typedef enum {
  MTV_SOAP_ERROR_TRANSPORT,   /* no answer: connection, TLS, timeout */
  MTV_SOAP_ERROR_HTTP,        /* an HTTP status without a SOAP fault */
  MTV_SOAP_ERROR_FAULT,       /* a SOAP fault: the message is the fault's type and text */
  MTV_SOAP_ERROR_PARSE,       /* an answer that is not a SOAP reply */
} MtvSoapError;

/* A reply is refused beyond this size (a PropertyCollector page of 10,000
 * VMs is far below it). */
#define MTV_SOAP_MAX_REPLY (256u << 20)

typedef struct _MtvSoap MtvSoap;

/* For @url (https://host/sdk), trusting the CAs in @ca_pem (NULL: the
 * system's) or nothing at all when @insecure. */
MtvSoap *mtv_soap_new (const char *url, GBytes *ca_pem, gboolean insecure);
void mtv_soap_free (MtvSoap *soap);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvSoap, mtv_soap_free)

/* Sends @body (elements inside soapenv:Body, written with the vim25 prefix
 * "vim25:") and returns the reply document; mtv_soap_reply is its first
 * element inside Body. */
xmlDoc *mtv_soap_call (MtvSoap *soap, const char *body, GError **error);

/* The server certificate's SHA-1 thumbprint as vSphere shows it
 * ("AB:CD:..."), from the last call; NULL before any. */
const char *mtv_soap_thumbprint (MtvSoap *soap);

/* The session cookie ("vmware_soap_session=..."), NULL before a login; and
 * a session taken over from such a cookie (a source adapter's later calls). */
char *mtv_soap_cookie (MtvSoap *soap);
void mtv_soap_set_cookie (MtvSoap *soap, const char *cookie);

/* Whether @error is the SOAP fault @type (NotAuthenticated, ...). */
gboolean mtv_soap_is_fault (const GError *error, const char *type);

/* Parses a reply (pure: what mtv_soap_call does with the bytes it got, and
 * what the fuzzer drives). A fault becomes MTV_SOAP_ERROR_FAULT with
 * "TYPE: text" (InvalidLogin: Login failure). */
xmlDoc *mtv_soap_parse_reply (const char *text, gsize length, GError **error);
xmlNode *mtv_soap_reply (xmlDoc *doc);

/* Element children by local name; text content; xsi:type whatever its prefix. */
xmlNode *mtv_soap_child (xmlNode *parent, const char *name);
char *mtv_soap_child_text (xmlNode *parent, const char *name);
char *mtv_soap_type (xmlNode *node);

/* @text escaped for an XML text node or attribute. */
char *mtv_soap_escape (const char *text);

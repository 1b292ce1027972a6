#pragma once
#include <gio/gio.h>

/* Serves source disks over HTTP for the cluster transfer mode: CDI's importer
 * pods pull each disk themselves (a DataVolume with an http source) instead
 * of mtvd pushing it. A disk is published at a URL whose path holds a random
 * token (the capability to read it) and streamed from its NBD server as raw
 * bytes by nbdcopy. */
typedef struct _MtvDiskHttp MtvDiskHttp;

/* Listens on @address ("HOST:PORT", PORT 0 picks one); URLs use HOST. */
MtvDiskHttp *mtv_disk_http_new (const char *address, GError **error);
void mtv_disk_http_free (MtvDiskHttp *server);

/* The URL at which @nbd_uri (of @size bytes) can be read, until withdrawn. */
char *mtv_disk_http_publish (MtvDiskHttp *server, const char *nbd_uri, guint64 size);
void mtv_disk_http_withdraw (MtvDiskHttp *server, const char *url);

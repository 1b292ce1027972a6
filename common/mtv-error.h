#pragma once
#include <gio/gio.h>

/* The errors mtvd returns, registered as org.mtvd.Mtv1.Error.<Name> so that
 * clients get the same GError code back on their side of the bus. */
typedef enum {
  MTV_ERROR_FAILED,
  MTV_ERROR_NOT_AUTHORIZED,
  MTV_ERROR_NOT_FOUND,
  MTV_ERROR_ALREADY_EXISTS,
  MTV_ERROR_INVALID,
  MTV_ERROR_BUSY,
  MTV_ERROR_CANCELLED,
} MtvError;

#define MTV_ERROR (mtv_error_quark ())
GQuark mtv_error_quark (void);

/* The D-Bus name of an error code, e.g. "org.mtvd.Mtv1.Error.NotFound". */
const char *mtv_error_dbus_name (MtvError code);

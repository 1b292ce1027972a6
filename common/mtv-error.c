#include "mtv-error.h"

static const GDBusErrorEntry mtv_error_entries[] = {
  { MTV_ERROR_FAILED, "org.mtvd.Mtv1.Error.Failed" },
  { MTV_ERROR_NOT_AUTHORIZED, "org.mtvd.Mtv1.Error.NotAuthorized" },
  { MTV_ERROR_NOT_FOUND, "org.mtvd.Mtv1.Error.NotFound" },
  { MTV_ERROR_ALREADY_EXISTS, "org.mtvd.Mtv1.Error.AlreadyExists" },
  { MTV_ERROR_INVALID, "org.mtvd.Mtv1.Error.Invalid" },
  { MTV_ERROR_BUSY, "org.mtvd.Mtv1.Error.Busy" },
  { MTV_ERROR_CANCELLED, "org.mtvd.Mtv1.Error.Cancelled" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (mtv_error_entries) == MTV_ERROR_CANCELLED + 1);

GQuark
mtv_error_quark (void)
{
  static gsize quark = 0;
  g_dbus_error_register_error_domain ("mtv-error-quark", &quark, mtv_error_entries,
                                      G_N_ELEMENTS (mtv_error_entries));
  return (GQuark) quark;
}

const char *
mtv_error_dbus_name (MtvError code)
{
  for (gsize i = 0; i < G_N_ELEMENTS (mtv_error_entries); i++)
    if (mtv_error_entries[i].error_code == (gint) code)
      return mtv_error_entries[i].dbus_error_name;
  return "org.mtvd.Mtv1.Error.Failed";
}

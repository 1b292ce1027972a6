#pragma once
/* Shared by the TSL sources, not by its users. */
#include "tsl.h"

/* Sets a query error: "MESSAGE at position N", then the query and a caret
 * under character N. Returns FALSE. */
gboolean tsl_set_error (GError **error, const char *text, guint position, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

/* YYYY-MM-DD */
gboolean tsl_is_date (const char *s);
/* YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM) */
gboolean tsl_is_rfc3339 (const char *s);

/* A number as a JSON node: an integer when it is whole. */
JsonNode *tsl_number_to_json (double number);

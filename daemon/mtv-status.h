#pragma once
#include <json-glib/json-glib.h>

/* Builds an item's status the way Forklift's controllers do: a list of
 * conditions (type, status, category, reason, message, lastTransitionTime)
 * and a phase. A condition that was already there with the same status keeps
 * its lastTransitionTime, so the time says when it last changed. */
typedef struct {
  JsonArray *conditions;
  gboolean has_critical;
  const char *phase;      /* set by a kind to override Ready/NotReady (a running plan) */
  gboolean keep;          /* set by a kind: nothing new is known, keep the stored status */
  char *fingerprint;      /* a provider's server certificate (Forklift's status.fingerprint) */
} MtvStatusBuilder;

void mtv_status_builder_init (MtvStatusBuilder *builder);
void mtv_status_builder_clear (MtvStatusBuilder *builder);

/* Characters of a condition's message at most (it ends in "…" if cut). */
#define MTV_STATUS_MAX_MESSAGE 4096

/* Adds a condition with status "True". Category is one of Critical, Error,
 * Warning, Required, Advisory, Information. */
void mtv_status_add (MtvStatusBuilder *builder, const char *type, const char *category,
                     const char *reason, const char *format, ...) G_GNUC_PRINTF (5, 6);

/* The new status: when no Critical condition was added the item is Ready
 * (and gets Forklift's Ready condition), otherwise NotReady. */
JsonObject *mtv_status_finish (MtvStatusBuilder *builder, JsonObject *old_status,
                               guint64 generation, const char *ready_message);

/* The status as the D-Bus Conditions property, a(ssssss). */
GVariant *mtv_status_conditions_variant (JsonObject *status);

#pragma once
#include <json-glib/json-glib.h>
#include "mtv-names.h"

/* One stored item as the database holds it: identity, the spec the user asked
 * for and the status mtvd observed, both as Forklift-shaped JSON objects. */
typedef struct {
  MtvKind kind;
  char *name;
  char *uid;
  char *created;         /* RFC 3339, UTC */
  guint64 generation;
  JsonObject *spec;
  JsonObject *status;    /* {phase, observedGeneration, conditions[]} */
} MtvRecord;

MtvRecord *mtv_record_new (MtvKind kind, const char *name);
void mtv_record_free (MtvRecord *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvRecord, mtv_record_free)

/* The current time as RFC 3339 in UTC, second precision, like Kubernetes. */
char *mtv_now_rfc3339 (void);

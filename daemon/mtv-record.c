#include "mtv-record.h"

MtvRecord *
mtv_record_new (MtvKind kind, const char *name)
{
  MtvRecord *record = g_new0 (MtvRecord, 1);
  record->kind = kind;
  record->name = g_strdup (name);
  record->spec = json_object_new ();
  record->status = json_object_new ();
  return record;
}

void
mtv_record_free (MtvRecord *record)
{
  if (record == NULL)
    return;
  g_free (record->name);
  g_free (record->uid);
  g_free (record->created);
  g_clear_pointer (&record->spec, json_object_unref);
  g_clear_pointer (&record->status, json_object_unref);
  g_free (record);
}

char *
mtv_now_rfc3339 (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  return g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
}

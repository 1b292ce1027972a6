/* A warm VM's copy rounds, kept in its state: when each began and ended,
 * the snapshot it read, the disks' delta ids (what the source's checkpoint
 * names), and what it read. They become Forklift's status.migration.vms[].warm
 * and, beside it, what Forklift does not show: the churn between rounds, the
 * final delta and downtime it projects, and the downtime measured at cutover
 * (from the source's power-off to the target VM created). */
#include "engine.h"
#include "itinerary.h"
#include "mtv-json.h"
#include "mtv-record.h"

static JsonObject *
last_round (MtvVm *v)
{
  guint n = json_array_get_length (v->precopy_log);
  return n ? json_array_get_object_element (v->precopy_log, n - 1) : NULL;
}

void
mtv_precopy_begin (MtvVm *v)
{
  if (!mtv_run_is_warm (v->run))
    return;
  JsonObject *round = json_object_new ();
  g_autofree char *now = mtv_now_rfc3339 ();
  json_object_set_string_member (round, "start", now);
  json_object_set_int_member (round, "startUs", g_get_real_time ());
  json_object_set_string_member (round, "phase", v->phase);
  if (v->snapshot)
    json_object_set_string_member (round, "snapshot", v->snapshot);
  json_object_set_int_member (round, "copiesFrom", json_array_get_length (v->copies));
  json_array_add_object_element (v->precopy_log, round);
  mtv_vm_commit (v);
}

void
mtv_precopy_end (MtvVm *v, JsonObject *checkpoint)
{
  JsonObject *round = last_round (v);
  if (!mtv_run_is_warm (v->run) || round == NULL || json_object_has_member (round, "end"))
    return;
  g_autofree char *now = mtv_now_rfc3339 ();
  json_object_set_string_member (round, "end", now);
  json_object_set_int_member (round, "endUs", g_get_real_time ());
  gint64 read = 0;
  for (guint i = (guint) mtv_json_int (round, "copiesFrom", 0); i < json_array_get_length (v->copies); i++)
    read += mtv_json_int (json_array_get_object_element (v->copies, i), "bytes_read", 0);
  json_object_set_int_member (round, "bytesRead", read);
  JsonArray *deltas = mtv_json_array (checkpoint, "deltas");
  if (deltas)
    json_object_set_array_member (round, "deltas", json_array_ref (deltas));
  mtv_vm_commit (v);
}

void
mtv_precopy_downtime_begins (MtvVm *v)
{
  if (v->downtime_start == 0)
    v->downtime_start = g_get_real_time ();
}

void
mtv_precopy_downtime_ends (MtvVm *v)
{
  if (v->downtime_start && v->downtime == 0)
    v->downtime = MAX (1, g_get_real_time () - v->downtime_start);
}

JsonObject *
mtv_precopy_status (MtvVm *v)
{
  if (!mtv_run_is_warm (v->run))
    return NULL;
  JsonObject *warm = json_object_new ();
  JsonArray *precopies = json_array_new ();
  guint ended = 0;
  for (guint i = 0; i < json_array_get_length (v->precopy_log); i++)
    {
      JsonObject *r = json_array_get_object_element (v->precopy_log, i);
      JsonObject *shown = json_object_new ();
      static const char *const keys[] = { "start", "end", "snapshot" };
      for (guint k = 0; k < G_N_ELEMENTS (keys); k++)
        if (mtv_json_string (r, keys[k]))
          json_object_set_string_member (shown, keys[k], mtv_json_string (r, keys[k]));
      if (mtv_json_array (r, "deltas"))
        json_object_set_array_member (shown, "deltas", json_array_ref (mtv_json_array (r, "deltas")));
      ended += json_object_has_member (r, "end");
      json_array_add_object_element (precopies, shown);
    }
  /* A precopy that fails fails the VM (it is not tried again): one that
   * failed in a phase of the precopy loop (the DiskTransfer step). */
  const MtvPhase *at = mtv_itinerary_phase (v->run->itinerary, v->phase);
  gboolean failed = g_str_equal (v->status, "Failed") && at && g_strcmp0 (at->step, "DiskTransfer") == 0;
  json_object_set_int_member (warm, "successes", ended);
  json_object_set_int_member (warm, "failures", failed);
  json_object_set_int_member (warm, "consecutiveFailures", failed);
  if (g_str_equal (v->phase, "CopyingPaused") && g_str_equal (v->status, "Running") && v->next_precopy > 0)
    {
      g_autoptr (GDateTime) at = g_date_time_new_from_unix_utc (v->next_precopy);
      g_autofree char *text = at ? g_date_time_format (at, "%Y-%m-%dT%H:%M:%SZ") : NULL;
      if (text)
        json_object_set_string_member (warm, "nextPrecopyAt", text);
    }
  json_object_set_array_member (warm, "precopies", precopies);
  return warm;
}

static void
annotate (JsonObject *annotations, const char *key, gint64 value)
{
  g_autofree char *text = g_strdup_printf ("%" G_GINT64_FORMAT, value);
  json_object_set_string_member (annotations, key, text);
}

void
mtv_precopy_annotate (MtvVm *v, JsonObject *annotations)
{
  if (!mtv_run_is_warm (v->run))
    return;
  guint n = json_array_get_length (v->precopy_log);
  JsonObject *last = NULL, *before = NULL;
  for (guint i = n; i > 0 && before == NULL; i--)
    {
      JsonObject *r = json_array_get_object_element (v->precopy_log, i - 1);
      if (!json_object_has_member (r, "end"))
        continue;
      if (last == NULL)
        last = r;
      else
        before = r;
    }
  if (last)
    annotate (annotations, "lastRoundBytesRead", mtv_json_int (last, "bytesRead", 0));
  /* Churn: what the last delta round read over the time since the round
   * before it began (its snapshot was that much later). */
  if (last && before)
    {
      gint64 span = mtv_json_int (last, "startUs", 0) - mtv_json_int (before, "startUs", 0);
      gint64 copy = mtv_json_int (last, "endUs", 0) - mtv_json_int (last, "startUs", 0);
      gint64 read = mtv_json_int (last, "bytesRead", 0);
      if (span > 0)
        {
          gint64 churn = (gint64) ((double) read * G_USEC_PER_SEC / (double) span);
          annotate (annotations, "churnBytesPerSecond", churn);
          if (v->downtime == 0)
            {
              /* Were the cutover now: what changed since the last snapshot,
               * at the rate the last round copied. */
              gint64 since = g_get_real_time () - mtv_json_int (last, "startUs", 0);
              gint64 delta = (gint64) ((double) churn * (double) MAX (since, 0) / G_USEC_PER_SEC);
              annotate (annotations, "projectedFinalDeltaBytes", delta);
              if (read > 0 && copy > 0)
                annotate (annotations, "projectedDowntimeSeconds",
                          (gint64) ((double) delta / ((double) read * G_USEC_PER_SEC / (double) copy)) + 1);
            }
        }
    }
  if (v->downtime)
    annotate (annotations, "downtimeMilliseconds", (v->downtime + 500) / 1000);
}

#include "mtv-status.h"
#include "mtv-record.h"
#include "mtv-text.h"

void
mtv_status_builder_init (MtvStatusBuilder *builder)
{
  builder->conditions = json_array_new ();
  builder->has_critical = FALSE;
  builder->phase = NULL;
  builder->keep = FALSE;
  builder->fingerprint = NULL;
}

void
mtv_status_builder_clear (MtvStatusBuilder *builder)
{
  g_clear_pointer (&builder->conditions, json_array_unref);
  g_clear_pointer (&builder->fingerprint, g_free);
}

static void
add_condition (MtvStatusBuilder *builder, const char *type, const char *status,
               const char *category, const char *reason, const char *message)
{
  JsonObject *c = json_object_new ();
  json_object_set_string_member (c, "type", type);
  json_object_set_string_member (c, "status", status);
  json_object_set_string_member (c, "category", category);
  json_object_set_string_member (c, "reason", reason);
  /* Shown in properties: valid UTF-8 whatever an inventory or a server
   * said, and bounded (a condition listing thousands of VMs is cut). */
  g_autofree char *valid = mtv_text_shorten (message, -1, MTV_STATUS_MAX_MESSAGE);
  json_object_set_string_member (c, "message", valid);
  json_array_add_object_element (builder->conditions, c);
  if (g_strcmp0 (category, "Critical") == 0)
    builder->has_critical = TRUE;
}

void
mtv_status_add (MtvStatusBuilder *builder, const char *type, const char *category,
                const char *reason, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_autofree char *message = g_strdup_vprintf (format, ap);
  va_end (ap);
  add_condition (builder, type, "True", category, reason, message);
}

static const char *
previous_transition (JsonObject *old_status, JsonObject *condition)
{
  if (old_status == NULL || !json_object_has_member (old_status, "conditions"))
    return NULL;
  JsonArray *old = json_object_get_array_member (old_status, "conditions");
  for (guint i = 0; i < json_array_get_length (old); i++)
    {
      JsonObject *o = json_array_get_object_element (old, i);
      if (g_strcmp0 (json_object_get_string_member_with_default (o, "type", NULL),
                     json_object_get_string_member (condition, "type")) == 0
          && g_strcmp0 (json_object_get_string_member_with_default (o, "status", NULL),
                        json_object_get_string_member (condition, "status")) == 0)
        return json_object_get_string_member_with_default (o, "lastTransitionTime", NULL);
    }
  return NULL;
}

JsonObject *
mtv_status_finish (MtvStatusBuilder *builder, JsonObject *old_status, guint64 generation,
                   const char *ready_message)
{
  if (!builder->has_critical)
    add_condition (builder, "Ready", "True", "Required", "", ready_message);

  g_autofree char *now = mtv_now_rfc3339 ();
  for (guint i = 0; i < json_array_get_length (builder->conditions); i++)
    {
      JsonObject *c = json_array_get_object_element (builder->conditions, i);
      const char *since = previous_transition (old_status, c);
      json_object_set_string_member (c, "lastTransitionTime", since ? since : now);
    }

  JsonObject *status = json_object_new ();
  json_object_set_string_member (status, "phase", builder->phase ? builder->phase
                                                   : builder->has_critical ? "NotReady" : "Ready");
  json_object_set_int_member (status, "observedGeneration", (gint64) generation);
  if (builder->fingerprint)
    json_object_set_string_member (status, "fingerprint", builder->fingerprint);
  json_object_set_array_member (status, "conditions", g_steal_pointer (&builder->conditions));
  return status;
}

GVariant *
mtv_status_conditions_variant (JsonObject *status)
{
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ssssss)"));
  if (status && json_object_has_member (status, "conditions"))
    {
      JsonArray *conditions = json_object_get_array_member (status, "conditions");
      for (guint i = 0; i < json_array_get_length (conditions); i++)
        {
          JsonObject *c = json_array_get_object_element (conditions, i);
#define S(name) json_object_get_string_member_with_default (c, name, "")
          g_variant_builder_add (&b, "(ssssss)", S ("type"), S ("status"), S ("category"),
                                 S ("reason"), S ("message"), S ("lastTransitionTime"));
#undef S
        }
    }
  return g_variant_builder_end (&b);
}

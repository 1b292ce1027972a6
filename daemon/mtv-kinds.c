#include "mtv-kinds.h"
#include "mtv-json.h"

const MtvKindInfo *
mtv_kind_info (MtvKind kind)
{
  static const MtvKindInfo *const infos[MTV_N_KINDS] = {
    [MTV_KIND_PROVIDER] = &mtv_kind_provider,
    [MTV_KIND_NETWORK_MAP] = &mtv_kind_network_map,
    [MTV_KIND_STORAGE_MAP] = &mtv_kind_storage_map,
    [MTV_KIND_HOOK] = &mtv_kind_hook,
    [MTV_KIND_PLAN] = &mtv_kind_plan,
  };
  g_return_val_if_fail (kind < MTV_N_KINDS, NULL);
  return infos[kind];
}

GPtrArray *
mtv_kind_references (MtvKind kind, JsonObject *spec)
{
  const MtvKindInfo *info = mtv_kind_info (kind);
  GPtrArray *refs = g_ptr_array_new_with_free_func ((GDestroyNotify) mtv_reference_free);
  mtv_spec_collect_references (info->fields, info->n_fields, spec, refs);
  if (info->collect_references)
    info->collect_references (spec, refs);
  return refs;
}

const char *
mtv_record_phase (const MtvRecord *record)
{
  return json_object_get_string_member_with_default (record->status, "phase", "");
}

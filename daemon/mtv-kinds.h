#pragma once
#include "mtv-spec.h"
#include "mtv-status.h"
#include "mtv-record.h"
#include "mtv-auth.h"

typedef struct _MtvDaemon MtvDaemon;

/* What mtvd knows about one kind of item. Each kind lives in daemon/kinds/. */
typedef struct {
  MtvKind kind;
  const MtvField *fields;
  gsize n_fields;
  /* The polkit action that Create, Update and Delete of this kind need. */
  const char *manage_action;
  /* The gdbus-codegen skeleton type of the kind's interface. */
  GType (*skeleton_type) (void);
  /* A write-only a{ss} spec key kept apart from the spec (provider credentials),
   * and the check of its entries; NULL when the kind has none. */
  const char *secret_key;
  gboolean (*check_secret) (const char *key, const char *value, GError **error);
  /* Checks a spec about to be stored against the other items (the types of
   * referenced providers, ...). References are already known to exist. */
  gboolean (*validate) (MtvDaemon *daemon, const char *name, JsonObject *spec, GError **error);
  /* Adds references found below the top level (hooks inside a plan's VMs). */
  void (*collect_references) (JsonObject *spec, GPtrArray *refs);
  /* Adds the conditions that describe the item now. */
  void (*compute_status) (MtvDaemon *daemon, const MtvRecord *record, MtvStatusBuilder *status);
  const char *ready_message;
  /* Completes the exported Forklift spec with what is not stored in it. */
  void (*export_spec) (MtvDaemon *daemon, const MtvRecord *record, JsonObject *spec);
  /* Completes the exported status (a plan's migration). */
  void (*export_status) (MtvDaemon *daemon, const MtvRecord *record, JsonObject *status);
  /* Moves what Forklift's CRD has no field for into metadata.annotations. */
  void (*export_manifest) (MtvDaemon *daemon, const MtvRecord *record, JsonObject *manifest);
} MtvKindInfo;

const MtvKindInfo *mtv_kind_info (MtvKind kind);

/* Every reference @spec of @kind makes to other items, as MtvReference. */
GPtrArray *mtv_kind_references (MtvKind kind, JsonObject *spec);


/* Daemon services the kinds use. */
const MtvRecord *mtv_daemon_lookup_record (MtvDaemon *daemon, MtvKind kind, const char *name);
const char *mtv_record_phase (const MtvRecord *record);
gboolean mtv_daemon_provider_has_credentials (MtvDaemon *daemon, const char *name);
/* The latest migration run of a plan, or NULL. */
typedef struct _MtvRun MtvRun;
MtvRun *mtv_daemon_plan_run (MtvDaemon *daemon, const char *plan);
/* The runtime of a provider (its inventory), or NULL. */
typedef struct _MtvProviderRuntime MtvProviderRuntime;
MtvProviderRuntime *mtv_daemon_provider_runtime (MtvDaemon *daemon, const char *name);

extern const MtvKindInfo mtv_kind_provider;
extern const MtvKindInfo mtv_kind_network_map;
extern const MtvKindInfo mtv_kind_storage_map;
extern const MtvKindInfo mtv_kind_hook;
extern const MtvKindInfo mtv_kind_plan;

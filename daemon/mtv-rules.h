#pragma once
/* Validation rules: Forklift's validation service as data. Each *.rules file
 * (GKeyFile) holds rules for the provider type its name starts with
 * (vsphere.rules, ova-site.rules); every group is one rule:
 *
 *   [rule_name]
 *   id=vmware.changed_block_tracking.disabled     concern id
 *   category=Warning                              Critical|Warning|Information|Advisory
 *   label=Changed Block Tracking (CBT) not enabled
 *   assessment=For VM warm migration, ...          label and assessment may hold {expression}
 *   when=changeTrackingEnabled = false             a TSL condition over the VM
 *   each=disks                                     optional: one concern per element of this list
 *   any=nics                                       optional: one concern if any element matches
 *   enabled=false                                  in a later file: drops a rule of that name
 *
 * With each/any the condition and templates see the element's fields, and the
 * VM's as vm.FIELD. Files are read from the directories in order; a rule in a
 * later directory replaces the one of the same provider type and name. A file
 * or rule that is broken is reported (mtv_rules_faults) and skipped. */
#include <json-glib/json-glib.h>

typedef struct _MtvRules MtvRules;

MtvRules *mtv_rules_load (const char *const *dirs);
void mtv_rules_free (MtvRules *rules);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MtvRules, mtv_rules_free)

/* What could not be loaded: "FILE: [RULE:] problem". */
const GPtrArray *mtv_rules_faults (MtvRules *rules);
/* How many rules apply to @provider_type. */
guint mtv_rules_count (MtvRules *rules, const char *provider_type);

/* The concerns the rules of @provider_type raise for @vm (a new array). */
JsonArray *mtv_rules_evaluate (MtvRules *rules, const char *provider_type, JsonNode *vm);

/* The concerns of one rule (by name) for @vm, or NULL when there is no such rule. */
JsonArray *mtv_rules_evaluate_rule (MtvRules *rules, const char *provider_type, const char *name, JsonNode *vm);
/* The names of the rules of @provider_type, in load order. */
GStrv mtv_rules_names (MtvRules *rules, const char *provider_type);

/* @inventory with the rules' concerns added to its VMs': a new object whose
 * VMs with concerns are new objects sharing the rest of their values with
 * @inventory (which is left alone); @inventory itself, with a new
 * reference, when no rule applies to the type. */
JsonObject *mtv_rules_apply (MtvRules *rules, const char *provider_type, JsonObject *inventory);
/* The same, reusing what an earlier call made of a VM object it was given
 * again (the same JsonObject: a backend that publishes unchanged VMs as the
 * same objects, as vSphere's does, costs only its changed VMs). @cache
 * (JsonObject -> JsonObject, made by mtv_rules_cache_new) keeps only the
 * VMs of this call; clear it when the rules change. */
JsonObject *mtv_rules_apply_cached (MtvRules *rules, const char *provider_type, JsonObject *inventory,
                                    GHashTable **cache);
GHashTable *mtv_rules_cache_new (void);

/* Decentralized live migration between two KubeVirt namespaces or clusters. */
#include "cluster-live.h"
#include "mtv-inventory.h"
#include "mtv-json.h"

#include <string.h>

#define WAIT_SECONDS 600

static const MtvKubeResource VMIMS = { "kubevirt.io", "v1", "virtualmachineinstancemigrations", TRUE };

/* The storage class the map gives volume @claim of VM @vm, or NULL (keep the source's). */
static const char *
storage_class_for (JsonObject *storage_map, const char *vm, const char *claim)
{
  g_autofree char *name = g_strdup_printf ("%s/%s", vm, claim);
  JsonObject *pair = mtv_inventory_find_pair (storage_map, "", name);
  return mtv_json_string (mtv_json_object (pair, "destination"), "storageClass");
}

static gboolean
ensure_data_volumes (MtvKube *source, MtvKube *target, const MtvLiveInput *in, GError **error)
{
  JsonObject *meta = mtv_json_object (in->source_vm, "metadata");
  const char *ns = mtv_json_string (meta, "namespace"), *vm = mtv_json_string (meta, "name");
  JsonNode *volumes = json_object_get_member (
    mtv_json_object (mtv_json_object (mtv_json_object (in->source_vm, "spec"), "template"), "spec"), "volumes");
  for (guint i = 0; volumes && JSON_NODE_HOLDS_ARRAY (volumes) && i < json_array_get_length (json_node_get_array (volumes)); i++)
    {
      const char *claim = mtv_json_string (mtv_json_object (json_array_get_object_element (json_node_get_array (volumes), i),
                                                            "dataVolume"), "name");
      if (claim == NULL)
        continue;
      g_autoptr (JsonObject) src_dv = mtv_kube_get (source, &MTV_KUBE_DATAVOLUMES, ns, claim, error);
      if (src_dv == NULL)
        return FALSE;
      JsonObject *src_spec = mtv_json_object (src_dv, "spec");
      JsonObject *storage = mtv_json_copy_or_new (mtv_json_object (src_spec, "storage"));
      const char *sc = storage_class_for (in->storage_map, vm, claim);
      if (sc)
        json_object_set_string_member (storage, "storageClassName", sc);
      g_autoptr (JsonObject) dv = mtv_kube_object_new ("cdi.kubevirt.io/v1beta1", "DataVolume", in->target_namespace,
                                                       claim, NULL, mtv_json_object_copy (in->labels));
      JsonObject *spec = json_object_new (), *source_blank = json_object_new ();
      /* Blank: the live migration fills it. */
      json_object_set_object_member (source_blank, "blank", json_object_new ());
      json_object_set_object_member (spec, "source", source_blank);
      json_object_set_object_member (spec, "storage", storage);
      json_object_set_object_member (dv, "spec", spec);
      g_autoptr (JsonObject) applied = mtv_kube_apply (target, &MTV_KUBE_DATAVOLUMES, in->target_namespace, dv, TRUE, error);
      if (applied == NULL)
        return FALSE;
    }
  return TRUE;
}

static gboolean
create_target_vm (MtvKube *target, const MtvLiveInput *in, char **original_strategy, GError **error)
{
  JsonObject *src_spec = mtv_json_object (in->source_vm, "spec");
  const char *strategy = mtv_json_string (src_spec, "runStrategy");
  *original_strategy = g_strdup (strategy ? strategy : "Always");
  g_autoptr (JsonObject) vm = mtv_kube_object_new ("kubevirt.io/v1", "VirtualMachine", in->target_namespace,
                                                   in->target_name, NULL, mtv_json_object_copy (in->labels));
  JsonObject *annotations = json_object_new ();
  /* Where the run strategy waits while the VM is a receiver, as Forklift keeps it. */
  json_object_set_string_member (annotations, "forklift.konveyor.io/runStrategy", *original_strategy);
  json_object_set_object_member (mtv_json_object (vm, "metadata"), "annotations", annotations);
  JsonObject *spec = mtv_json_object_copy (src_spec);
  json_object_remove_member (spec, "running");
  json_object_set_string_member (spec, "runStrategy", "WaitAsReceiver");
  json_object_set_object_member (vm, "spec", spec);
  g_autoptr (JsonObject) applied = mtv_kube_apply (target, &MTV_KUBE_VIRTUAL_MACHINES, in->target_namespace, vm, TRUE,
                                                   error);
  return applied != NULL;
}

static JsonObject *
migration_object (const char *ns, const char *vmi, const char *role, const char *id, const char *connect_url,
                  JsonObject *labels)
{
  JsonObject *o = mtv_kube_object_new ("kubevirt.io/v1", "VirtualMachineInstanceMigration", ns, NULL, "mtv-",
                                       mtv_json_object_copy (labels));
  JsonObject *spec = json_object_new (), *side = json_object_new ();
  json_object_set_string_member (spec, "vmiName", vmi);
  json_object_set_string_member (side, "migrationID", id);
  if (connect_url)
    json_object_set_string_member (side, "connectURL", connect_url);
  json_object_set_object_member (spec, role, side);
  json_object_set_object_member (o, "spec", spec);
  return o;
}

static gboolean
create_migrations (MtvKube *source, MtvKube *target, const MtvLiveInput *in, JsonObject *state, GError **error)
{
  JsonObject *meta = mtv_json_object (in->source_vm, "metadata");
  const char *src_ns = mtv_json_string (meta, "namespace"), *src_name = mtv_json_string (meta, "name");
  g_autoptr (JsonObject) receive = migration_object (in->target_namespace, in->target_name, "receive",
                                                     in->migration_id, NULL, in->labels);
  g_autoptr (JsonObject) receiver = mtv_kube_create (target, &VMIMS, in->target_namespace, receive, error);
  if (receiver == NULL)
    return FALSE;
  const char *receiver_name = mtv_json_string (mtv_json_object (receiver, "metadata"), "name");
  json_object_set_string_member (state, "receiver", receiver_name);
  g_autofree char *address = NULL;
  for (int i = 0; i < WAIT_SECONDS * 4 && address == NULL; i++)
    {
      g_autoptr (JsonObject) o = mtv_kube_get (target, &VMIMS, in->target_namespace, receiver_name, error);
      if (o == NULL)
        return FALSE;
      JsonObject *status = mtv_json_object (o, "status");
      JsonNode *addrs = status ? json_object_get_member (status, "synchronizationAddresses") : NULL;
      if (addrs && JSON_NODE_HOLDS_ARRAY (addrs) && json_array_get_length (json_node_get_array (addrs)) > 0)
        address = g_strdup (json_array_get_string_element (json_node_get_array (addrs), 0));
      else
        g_usleep (G_USEC_PER_SEC / 4);
    }
  if (address == NULL)
    {
      g_set_error (error, MTV_KUBE_ERROR, 408, "the receiving migration published no synchronization address");
      return FALSE;
    }
  g_autoptr (JsonObject) send = migration_object (src_ns, src_name, "sendTo", in->migration_id, address, in->labels);
  g_autoptr (JsonObject) sender = mtv_kube_create (source, &VMIMS, src_ns, send, error);
  return sender != NULL;
}

gboolean
mtv_cluster_live_step (MtvKube *source, MtvKube *target, const MtvLiveInput *in, const char *phase, JsonObject *state,
                       GError **error)
{
  if (g_str_equal (phase, "EnsureDataVolumes"))
    return ensure_data_volumes (source, target, in, error);
  if (g_str_equal (phase, "CreateTarget"))
    {
      g_autofree char *strategy = NULL;
      if (!create_target_vm (target, in, &strategy, error))
        return FALSE;
      json_object_set_string_member (state, "runStrategy", strategy);
      return TRUE;
    }
  if (g_str_equal (phase, "WaitForTargetVMI"))
    {
      static const char *const waiting[] = { "WaitingForSync", NULL };
      g_autoptr (JsonObject) vmi = mtv_kube_wait_status (target, &MTV_KUBE_VIRTUAL_MACHINE_INSTANCES,
                                                         in->target_namespace, in->target_name, "phase", waiting,
                                                         "Failed", WAIT_SECONDS, error);
      return vmi != NULL;
    }
  if (g_str_equal (phase, "CreateVirtualMachineInstanceMigrations"))
    return create_migrations (source, target, in, state, error);
  if (g_str_equal (phase, "WaitForStateTransfer"))
    {
      const char *receiver = mtv_json_string (state, "receiver");
      const char *strategy = mtv_json_string (state, "runStrategy");
      static const char *const succeeded[] = { "Succeeded", NULL };
      g_autoptr (JsonObject) done = receiver ? mtv_kube_wait_status (target, &VMIMS, in->target_namespace, receiver,
                                                                     "phase", succeeded, "Failed", WAIT_SECONDS, error)
                                             : NULL;
      if (done == NULL)
        {
          if (receiver == NULL)
            g_set_error (error, MTV_KUBE_ERROR, 0, "no receiving migration was created");
          return FALSE;
        }
      /* The VM runs on the target now: give it its own run strategy back. */
      return mtv_kube_set_run_strategy (target, in->target_namespace, in->target_name, strategy ? strategy : "Always",
                                        error);
    }
  g_set_error (error, MTV_KUBE_ERROR, 0, "%s is not a phase of a live migration", phase);
  return FALSE;
}

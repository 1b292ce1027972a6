/* The vSphere inventory linked as it is published (paths, datacenter,
 * host with its cluster, networks and disks' storage by name), an object
 * replaced and removed by id, WaitForUpdatesEx update sets parsed, and the
 * VDDK command line (the password by file, never in argv). */
#include "providers/vsphere/vsphere-inventory.h"
#include "providers/vsphere/vsphere-soap.h"
#include "providers/vsphere/vsphere-vddk.h"
#include "providers/vsphere/vsphere-watch.h"

static JsonObject *
parse (const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, text, -1, NULL));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
put (MtvVsphereInventory *inv, const char *text)
{
  g_autoptr (JsonObject) o = parse (text);
  g_assert_true (mtv_vsphere_inventory_put (inv, o));
}

static JsonObject *
first (JsonObject *inventory, const char *kind)
{
  return json_array_get_object_element (json_object_get_array_member (inventory, kind), 0);
}

static void
test_linked (void)
{
  g_autoptr (MtvVsphereInventory) inv = mtv_vsphere_inventory_new ();
  put (inv, "{\"id\": \"group-d1\", \"type\": \"Folder\", \"props\": {\"name\": \"Datacenters\"}}");
  put (inv, "{\"id\": \"dc-2\", \"type\": \"Datacenter\", \"props\": {\"name\": \"East\", \"parent\": {\"type\": \"Folder\","
            " \"value\": \"group-d1\"}}}");
  put (inv, "{\"id\": \"group-v3\", \"type\": \"Folder\", \"props\": {\"name\": \"vm\", \"parent\": {\"type\": "
            "\"Datacenter\", \"value\": \"dc-2\"}}}");
  put (inv, "{\"id\": \"domain-c7\", \"type\": \"ClusterComputeResource\", \"props\": {\"name\": \"C1\", \"parent\": "
            "{\"type\": \"Datacenter\", \"value\": \"dc-2\"}, \"configurationEx\": {\"drsConfig\": {\"enabled\": \"true\"},"
            " \"dpmConfigInfo\": {\"enabled\": \"false\"}}}}");
  put (inv, "{\"id\": \"host-9\", \"type\": \"HostSystem\", \"props\": {\"name\": \"esx1\", \"parent\": {\"type\": "
            "\"ClusterComputeResource\", \"value\": \"domain-c7\"}}}");
  put (inv, "{\"id\": \"ds/odd@1\", \"type\": \"Datastore\", \"props\": {\"name\": \"fast\"}}");
  put (inv, "{\"id\": \"dvportgroup-5\", \"type\": \"DistributedVirtualPortgroup\", \"props\": {\"name\": \"prod\", "
            "\"key\": \"dvportgroup-5\"}}");
  put (inv, "{\"id\": \"vm-1\", \"type\": \"VirtualMachine\", \"props\": {\"name\": \"Web 01\", \"parent\": {\"type\": "
            "\"Folder\", \"value\": \"group-v3\"}, \"runtime.host\": {\"type\": \"HostSystem\", \"value\": \"host-9\"},"
            " \"config.hardware.device\": [{\"_type\": \"VirtualDisk\", \"key\": \"2000\", \"capacityInKB\": \"4\","
            " \"backing\": {\"fileName\": \"[fast] Web 01/Web 01.vmdk\", \"datastore\": {\"type\": \"Datastore\","
            " \"value\": \"ds/odd@1\"}}}, {\"_type\": \"VirtualVmxnet3\", \"macAddress\": \"00:50:56:00:00:01\","
            " \"backing\": {\"port\": {\"portgroupKey\": \"dvportgroup-5\"}}}]}}");

  g_autoptr (JsonObject) out = mtv_vsphere_inventory_build (inv, "vCenter 8");
  g_assert_cmpstr (json_object_get_string_member (out, "about"), ==, "vCenter 8");
  JsonObject *vm = first (out, "vms");
  g_assert_cmpstr (json_object_get_string_member (vm, "path"), ==, "/East/vm/Web 01");
  g_assert_cmpstr (json_object_get_string_member (vm, "datacenterPath"), ==, "East");
  JsonObject *cluster = json_object_get_object_member (json_object_get_object_member (vm, "host"), "cluster");
  g_assert_cmpstr (json_object_get_string_member (cluster, "name"), ==, "C1");
  g_assert_true (json_object_get_boolean_member (cluster, "drsEnabled"));
  g_assert_false (json_object_get_boolean_member (cluster, "dpmEnabled"));
  JsonObject *net = json_array_get_object_element (json_object_get_array_member (vm, "networks"), 0);
  g_assert_cmpstr (json_object_get_string_member (net, "name"), ==, "prod");
  JsonObject *disk = json_array_get_object_element (json_object_get_array_member (vm, "disks"), 0);
  g_assert_cmpstr (json_object_get_string_member (disk, "name"), ==, "Web 01.vmdk");
  g_assert_cmpint (json_object_get_int_member (disk, "capacity"), ==, 4096);
  JsonObject *storage = json_object_get_object_member (disk, "storage");
  g_assert_cmpstr (json_object_get_string_member (storage, "id"), ==, "ds/odd@1");
  g_assert_cmpstr (json_object_get_string_member (storage, "name"), ==, "fast");
  g_assert_cmpstr (json_object_get_string_member (first (out, "hosts"), "path"), ==, "/East/C1/esx1");

  /* A rename of the datacenter reaches the VM's path (its link is redone). */
  put (inv, "{\"id\": \"dc-2\", \"type\": \"Datacenter\", \"props\": {\"name\": \"West\", \"parent\": {\"type\": \"Folder\","
            " \"value\": \"group-d1\"}}}");
  g_autoptr (JsonObject) renamed = mtv_vsphere_inventory_build (inv, NULL);
  g_assert_cmpstr (json_object_get_string_member (first (renamed, "vms"), "path"), ==, "/West/vm/Web 01");
  /* The published object is not changed by that. */
  g_assert_cmpstr (json_object_get_string_member (vm, "path"), ==, "/East/vm/Web 01");
  mtv_vsphere_inventory_remove (inv, "vm-1");
  g_autoptr (JsonObject) removed = mtv_vsphere_inventory_build (inv, NULL);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (removed, "vms")), ==, 0);
  g_assert_cmpuint (mtv_vsphere_inventory_count (inv, "hosts"), ==, 1);
  /* A type that is no kind is refused. */
  g_autoptr (JsonObject) other = parse ("{\"id\": \"x-1\", \"type\": \"ResourcePool\", \"props\": {}}");
  g_assert_false (mtv_vsphere_inventory_put (inv, other));
}

static void
test_updates (void)
{
  static const char reply[] =
    "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>"
    "<WaitForUpdatesExResponse xmlns=\"urn:vim25\"><returnval><version>7</version><filterSet><filter>f</filter>"
    "<objectSet><kind>modify</kind><obj type=\"VirtualMachine\">vm-1</obj></objectSet>"
    "<objectSet><kind>leave</kind><obj type=\"VirtualMachine\">vm/2@x</obj></objectSet></filterSet>"
    "<truncated>true</truncated></returnval></WaitForUpdatesExResponse></soapenv:Body></soapenv:Envelope>";
  g_autoptr (GError) error = NULL;
  xmlDoc *doc = mtv_soap_parse_reply (reply, sizeof reply - 1, &error);
  g_assert_no_error (error);
  g_autoptr (JsonArray) updates = json_array_new ();
  g_autofree char *version = NULL;
  gboolean truncated = FALSE;
  g_assert_true (mtv_vsphere_parse_updates (mtv_soap_reply (doc), updates, &version, &truncated, &error));
  xmlFreeDoc (doc);
  g_assert_cmpstr (version, ==, "7");
  g_assert_true (truncated);
  g_assert_cmpuint (json_array_get_length (updates), ==, 2);
  JsonObject *leave = json_array_get_object_element (updates, 1);
  g_assert_cmpstr (json_object_get_string_member (leave, "id"), ==, "vm/2@x");
  g_assert_cmpstr (json_object_get_string_member (leave, "kind"), ==, "leave");

  /* A wait that ended with nothing: no version, no updates. */
  static const char empty[] = "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
                              "<soapenv:Body><WaitForUpdatesExResponse xmlns=\"urn:vim25\"/></soapenv:Body>"
                              "</soapenv:Envelope>";
  doc = mtv_soap_parse_reply (empty, sizeof empty - 1, &error);
  g_autoptr (JsonArray) none = json_array_new ();
  g_autofree char *no_version = NULL;
  g_assert_true (mtv_vsphere_parse_updates (mtv_soap_reply (doc), none, &no_version, &truncated, &error));
  xmlFreeDoc (doc);
  g_assert_null (no_version);
  g_assert_cmpuint (json_array_get_length (none), ==, 0);

  /* An update of an unknown kind is refused, naming it. */
  static const char bad[] = "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\">"
                            "<soapenv:Body><R xmlns=\"urn:vim25\"><returnval><version>1</version><filterSet>"
                            "<objectSet><kind>explode</kind><obj type=\"VirtualMachine\">vm-1</obj></objectSet>"
                            "</filterSet></returnval></R></soapenv:Body></soapenv:Envelope>";
  doc = mtv_soap_parse_reply (bad, sizeof bad - 1, &error);
  g_autoptr (JsonArray) refused = json_array_new ();
  g_autofree char *bad_version = NULL;
  g_assert_false (mtv_vsphere_parse_updates (mtv_soap_reply (doc), refused, &bad_version, &truncated, &error));
  xmlFreeDoc (doc);
  g_assert_nonnull (strstr (error->message, "kind"));
}

static void
test_vddk_command (void)
{
  g_autoptr (JsonObject) spec = parse ("{\"url\": \"https://vc.example.com/sdk\"}");
  g_autoptr (JsonObject) creds = parse ("{\"user\": \"admin@vsphere.local\", \"password\": \"s3cret\"}");
  g_autoptr (JsonObject) vm = parse ("{\"id\": \"vm-42\"}");
  g_autoptr (JsonObject) disk = parse ("{\"file\": \"[ds1] web/web.vmdk\"}");
  g_autoptr (JsonObject) vddk = mtv_vddk_disk (spec, creds, vm, disk, "/opt/vmware-vix-disklib-distrib",
                                               "/run/mtvd/vsphere-vm-42-password", "AA:BB", "snapshot-7");
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv = mtv_vddk_command (vddk, "/run/mtvd/d.sock", &error);
  g_assert_no_error (error);
  g_autofree char *line = g_strjoinv (" ", argv);
  g_assert_cmpstr (line, ==, "nbdkit -f -r -U /run/mtvd/d.sock vddk libdir=/opt/vmware-vix-disklib-distrib "
                             "server=vc.example.com user=admin@vsphere.local password=+/run/mtvd/vsphere-vm-42-password "
                             "thumbprint=AA:BB vm=moref=vm-42 file=[ds1] web/web.vmdk snapshot=snapshot-7 "
                             "transports=file:nbdssl:nbd");
  g_assert_null (strstr (line, "s3cret"));
  /* Without a thumbprint VDDK would refuse the server: said before nbdkit runs. */
  json_object_set_string_member (vddk, "thumbprint", "");
  g_auto (GStrv) refused = mtv_vddk_command (vddk, "/s", &error);
  g_assert_null (refused);
  g_assert_nonnull (strstr (error->message, "thumbprint"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vsphere/inventory/linked", test_linked);
  g_test_add_func ("/vsphere/watch/updates", test_updates);
  g_test_add_func ("/vsphere/vddk/command", test_vddk_command);
  return g_test_run ();
}

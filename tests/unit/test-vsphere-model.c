/* The vSphere VM model from properties the simulator cannot give: disks
 * with capacityInBytes, RDM, multi-writer sharing, SATA, change ids; NSX
 * networks; guest networks and disks; disk.EnableUUID; a list of one item
 * (which SOAP without a schema shows as a single value). */
#include "providers/vsphere/vsphere-model.h"

static JsonObject *
model_of (const char *props_json)
{
  g_autofree char *text = g_strdup_printf ("{\"id\": \"vm-7\", \"type\": \"VirtualMachine\", \"props\": %s}", props_json);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_assert_true (json_parser_load_from_data (parser, text, -1, NULL));
  return mtv_vsphere_vm_model (json_node_get_object (json_parser_get_root (parser)));
}

static JsonObject *
element (JsonObject *o, const char *list, guint i)
{
  return json_array_get_object_element (json_object_get_array_member (o, list), i);
}

static void
test_devices (void)
{
  g_autoptr (JsonObject) vm = model_of (
    "{\"name\": \"Web Server 01\", \"config.hardware.numCPU\": \"4\", \"config.hardware.memoryMB\": \"8192\","
    " \"config.firmware\": \"efi\", \"config.bootOptions.efiSecureBootEnabled\": \"true\","
    " \"config.extraConfig\": [{\"_type\": \"OptionValue\", \"key\": \"disk.EnableUUID\", \"value\": \"TRUE\"}],"
    " \"config.hardware.device\": ["
    "  {\"_type\": \"VirtualAHCIController\", \"key\": \"15000\"},"
    "  {\"_type\": \"ParaVirtualSCSIController\", \"key\": \"1000\"},"
    "  {\"_type\": \"VirtualDisk\", \"key\": \"16000\", \"controllerKey\": \"15000\", \"unitNumber\": \"0\","
    "   \"capacityInBytes\": \"10737418240\", \"capacityInKB\": \"1\","
    "   \"backing\": {\"_type\": \"VirtualDiskFlatVer2BackingInfo\", \"fileName\": \"[ds1] web/web.vmdk\","
    "    \"datastore\": {\"type\": \"Datastore\", \"value\": \"datastore-11\"}, \"diskMode\": \"independent_persistent\","
    "    \"sharing\": \"sharingMultiWriter\", \"changeId\": \"52 ab/3\"}},"
    "  {\"_type\": \"VirtualDisk\", \"key\": \"2001\", \"controllerKey\": \"1000\", \"unitNumber\": \"1\","
    "   \"capacityInBytes\": \"0\", \"capacityInKB\": \"2048\","
    "   \"backing\": {\"_type\": \"VirtualDiskRawDiskMappingVer1BackingInfo\", \"fileName\": \"[ds1] web/rdm.vmdk\","
    "    \"compatibilityMode\": \"physicalMode\"}},"
    "  {\"_type\": \"VirtualVmxnet3\", \"key\": \"4000\", \"macAddress\": \"00:50:56:01:02:03\","
    "   \"backing\": {\"_type\": \"VirtualEthernetCardOpaqueNetworkBackingInfo\", \"opaqueNetworkId\": \"seg-1\"}},"
    "  {\"_type\": \"VirtualE1000e\", \"key\": \"4001\", \"macAddress\": \"00:50:56:01:02:04\","
    "   \"backing\": {\"_type\": \"VirtualEthernetCardNetworkBackingInfo\","
    "    \"network\": {\"type\": \"Network\", \"value\": \"network-9\"}}},"
    "  {\"_type\": \"VirtualUSBController\", \"key\": \"7000\"}]}");
  g_assert_cmpstr (json_object_get_string_member (vm, "id"), ==, "vm-7");
  g_assert_cmpint (json_object_get_int_member (vm, "cpuCount"), ==, 4);
  g_assert_cmpint (json_object_get_int_member (vm, "memoryMB"), ==, 8192);
  g_assert_cmpstr (json_object_get_string_member (vm, "firmware"), ==, "efi");
  g_assert_true (json_object_get_boolean_member (vm, "secureBoot"));
  g_assert_true (json_object_get_boolean_member (vm, "diskEnableUuid"));
  JsonObject *d0 = element (vm, "disks", 0), *d1 = element (vm, "disks", 1);
  g_assert_cmpint (json_object_get_int_member (d0, "capacity"), ==, 10737418240);   /* bytes win */
  g_assert_cmpstr (json_object_get_string_member (d0, "bus"), ==, "sata");
  g_assert_true (json_object_get_boolean_member (d0, "shared"));
  g_assert_true (json_object_get_boolean_member (d0, "changeTrackingEnabled"));
  g_assert_cmpstr (json_object_get_string_member (d0, "mode"), ==, "independent_persistent");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (d0, "datastore"), "id"), ==, "datastore-11");
  g_assert_cmpint (json_object_get_int_member (d0, "key"), ==, 16000);   /* keys are not always 2000+ */
  g_assert_cmpint (json_object_get_int_member (d1, "capacity"), ==, 2048 * 1024);   /* 0 bytes: KB then */
  g_assert_true (json_object_get_boolean_member (d1, "rdm"));
  g_assert_cmpstr (json_object_get_string_member (d1, "compatibilityMode"), ==, "physicalMode");   /* warm refuses it */
  g_assert_cmpstr (json_object_get_string_member (d1, "bus"), ==, "scsi");
  g_assert_false (json_object_get_boolean_member (d1, "changeTrackingEnabled"));
  JsonObject *n0 = element (vm, "nics", 0), *n1 = element (vm, "nics", 1);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (n0, "network"), "kind"), ==, "OpaqueNetwork");
  g_assert_cmpstr (json_object_get_string_member (n0, "deviceType"), ==, "Vmxnet3");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (n1, "network"), "id"), ==, "network-9");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (vm, "devices")), ==, 7);
  g_assert_cmpstr (json_object_get_string_member (element (vm, "devices", 6), "kind"), ==, "VirtualUSBController");
}

static void
test_guest_and_single_items (void)
{
  /* One NIC and one guest disk: single values where a list was meant. */
  g_autoptr (JsonObject) vm = model_of (
    "{\"name\": \"db\", \"runtime.faultToleranceState\": \"running\", \"guest.hostName\": \"db.example.com\","
    " \"guest.net\": {\"_type\": \"GuestNicInfo\", \"macAddress\": \"00:50:56:aa:00:01\", \"network\": \"VM Network\","
    "  \"ipAddress\": [\"10.0.0.5\", \"fe80::1\"]},"
    " \"guest.disk\": {\"_type\": \"GuestDiskInfo\", \"diskPath\": \"/\", \"capacity\": \"1000\", \"freeSpace\": \"10\","
    "  \"mappings\": {\"key\": \"2000\"}},"
    " \"snapshot\": {\"currentSnapshot\": {\"type\": \"VirtualMachineSnapshot\", \"value\": \"snapshot-3\"}},"
    " \"config.hardware.device\": {\"_type\": \"VirtualDisk\", \"key\": \"2000\", \"capacityInKB\": \"1\"}}");
  g_assert_true (json_object_get_boolean_member (vm, "faultToleranceEnabled"));
  g_assert_cmpstr (json_object_get_string_member (vm, "hostName"), ==, "db.example.com");
  g_assert_cmpstr (json_object_get_string_member (vm, "firmware"), ==, "bios");
  JsonObject *net = element (vm, "guestNetworks", 0);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (net, "ip")), ==, 2);
  JsonObject *gd = element (vm, "guestDisks", 0);
  g_assert_cmpstr (json_object_get_string_member (gd, "diskPath"), ==, "/");
  g_assert_cmpint (json_object_get_int_member (gd, "freeSpace"), ==, 10);
  g_assert_cmpint (json_object_get_int_member (gd, "key"), ==, 2000);
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (vm, "snapshot"), "kind"), ==,
                   "VirtualMachineSnapshot");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (vm, "disks")), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (element (vm, "disks", 0), "bus"), ==, "");   /* no controller */
}

static void
test_garbage_is_harmless (void)
{
  /* Wrong shapes everywhere: defaults, never a crash. */
  g_autoptr (JsonObject) vm = model_of (
    "{\"name\": 5, \"config.hardware.numCPU\": \"four\", \"config.hardware.device\": [1, \"x\", {\"_type\": 3}],"
    " \"guest.net\": [7], \"snapshot\": \"none\", \"runtime.host\": \"h\"}");
  g_assert_cmpstr (json_object_get_string_member (vm, "name"), ==, "");
  g_assert_cmpint (json_object_get_int_member (vm, "cpuCount"), ==, 0);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (vm, "disks")), ==, 0);
  g_assert_false (json_object_has_member (vm, "snapshot"));
  g_assert_false (json_object_has_member (vm, "host"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vsphere-model/devices", test_devices);
  g_test_add_func ("/vsphere-model/guest-and-single-items", test_guest_and_single_items);
  g_test_add_func ("/vsphere-model/garbage", test_garbage_is_harmless);
  return g_test_run ();
}

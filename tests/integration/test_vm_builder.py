"""The VM builder's manifests validate strictly against KubeVirt's and CDI's
OpenAPI definitions, and its libvirt domain against libvirt's schema; they
carry what the source VM and the plan's maps say."""
import json
import os
import subprocess
import unittest

from mtvtest import BUILD_ROOT
from openapi import check

TOOL = os.environ.get("MTV_VM_BUILD_TOOL") or os.path.join(BUILD_ROOT, "tests", "vm-build-tool")

VM = {
    "id": "4baa26ee-f122-4303-aed9-72845dfb999e", "name": "web1", "cpuCount": 4, "coresPerSocket": 2,
    "memoryMB": 2048, "firmware": "efi", "secureBoot": False,
    "disks": [{"id": "d1", "name": "web1-disk1.vmdk", "capacity": 8 << 30},
              {"id": "d2", "name": "web1-disk2.vmdk", "capacity": 1 << 30}],
    "nics": [{"name": "nic1", "mac": "00:50:56:aa:bb:01", "network": "VM Network"},
             {"name": "nic2", "mac": "00:50:56:aa:bb:02", "network": "Mgmt"},
             {"name": "nic3", "mac": "00:50:56:aa:bb:03", "network": "Backup"}],
    "networks": [{"id": "n1", "name": "VM Network"}, {"id": "n2", "name": "Mgmt"}, {"id": "n3", "name": "Backup"}],
}
NET_MAP = {"map": [
    {"source": {"id": "n1"}, "destination": {"type": "pod"}},
    {"source": {"name": "Mgmt"}, "destination": {"type": "multus", "namespace": "ns1", "name": "mgmt"}},
    {"source": {"name": "Backup"}, "destination": {"type": "ignored"}}]}
STORAGE_MAP = {"map": [
    {"source": {"id": "d1"}, "destination": {"storageClass": "standard", "volumeMode": "Block", "accessMode": "ReadWriteMany"}},
    {"source": {"name": "web1/web1-disk2.vmdk"}, "destination": {"storageClass": "fast"}}]}


def build(plan=None, vm=None, plan_vm=None, files=None):
    doc = {"name": "web1", "namespace": "prod", "plan": plan or {}, "planVm": plan_vm or {"name": "web1"},
           "vm": vm or VM, "networkMap": NET_MAP, "storageMap": STORAGE_MAP}
    if files:
        doc["diskFiles"], doc["diskFormats"] = files, ["raw", "qcow2"]
    r = subprocess.run([TOOL], input=json.dumps(doc), capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr.strip())
    return json.loads(r.stdout)


class VmBuilder(unittest.TestCase):
    def test_manifests_validate_strictly(self):
        for plan in ({}, {"skipGuestConversion": True}, {"skipGuestConversion": True, "useCompatibilityMode": False},
                     {"targetLabels": {"team": "web"}, "targetNodeSelector": {"zone": "a"}, "targetPowerState": "on"},
                     {"targetAffinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                         "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In",
                                                                      "values": ["a", "b"]}]}]}}}}):
            for vm in (VM, dict(VM, firmware="bios"), dict(VM, secureBoot=True)):
                with self.subTest(plan=plan, firmware=vm["firmware"], secure=vm["secureBoot"]):
                    for m in build(plan=plan, vm=vm)["manifests"]:
                        self.assertEqual(check(m), [], json.dumps(m, indent=1))

    def test_affinity_from_the_plan(self):
        affinity = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 50, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                               "labelSelector": {"matchLabels": {"app": "db"}}}}]}}
        vm = [m for m in build(plan={"targetAffinity": affinity})["manifests"] if m["kind"] == "VirtualMachine"][0]
        self.assertEqual(vm["spec"]["template"]["spec"]["affinity"], affinity)
        self.assertEqual(check(vm), [])

    def test_validator_rejects_unknown_fields(self):
        # The check is only worth something if it refuses what a cluster refuses.
        vm = [m for m in build()["manifests"] if m["kind"] == "VirtualMachine"][0]
        vm["spec"]["template"]["spec"]["domain"]["cpu"]["coress"] = 2
        vm["spec"]["runStrategy"] = 3
        errors = check(vm)
        self.assertTrue(any("coress" in e for e in errors), errors)
        self.assertTrue(any("runStrategy" in e for e in errors), errors)

    def test_content(self):
        manifests = build()["manifests"]
        dvs = [m for m in manifests if m["kind"] == "DataVolume"]
        vm = [m for m in manifests if m["kind"] == "VirtualMachine"][0]
        self.assertEqual([d["metadata"]["name"] for d in dvs], ["web1-disk-0", "web1-disk-1"])
        self.assertEqual(dvs[0]["spec"]["storage"], {"resources": {"requests": {"storage": str(8 << 30)}},
                                                     "storageClassName": "standard", "volumeMode": "Block",
                                                     "accessModes": ["ReadWriteMany"]})
        self.assertEqual(dvs[1]["spec"]["storage"]["storageClassName"], "fast")
        t = vm["spec"]["template"]["spec"]
        self.assertEqual(t["domain"]["cpu"], {"cores": 2, "sockets": 2, "threads": 1})
        self.assertEqual(t["domain"]["memory"], {"guest": "2048Mi"})
        self.assertEqual(t["domain"]["firmware"], {"bootloader": {"efi": {"secureBoot": False}}})
        self.assertEqual([d["disk"]["bus"] for d in t["domain"]["devices"]["disks"]], ["virtio", "virtio"])
        ifaces = t["domain"]["devices"]["interfaces"]
        self.assertEqual([(i["macAddress"], i["model"]) for i in ifaces],
                         [("00:50:56:aa:bb:01", "virtio"), ("00:50:56:aa:bb:02", "virtio")])
        self.assertIn("masquerade", ifaces[0])
        self.assertIn("bridge", ifaces[1])
        self.assertEqual(t["networks"], [{"name": "net-0", "pod": {}},
                                         {"name": "net-1", "multus": {"networkName": "ns1/mgmt"}}])
        self.assertEqual([v["dataVolume"]["name"] for v in t["volumes"]], ["web1-disk-0", "web1-disk-1"])
        self.assertEqual(vm["metadata"]["labels"]["vmID"], VM["id"])
        self.assertEqual(vm["spec"]["runStrategy"], "Halted")

    def test_compatibility_mode(self):
        vm = [m for m in build(plan={"skipGuestConversion": True})["manifests"] if m["kind"] == "VirtualMachine"][0]
        d = vm["spec"]["template"]["spec"]["domain"]["devices"]
        self.assertEqual({x["disk"]["bus"] for x in d["disks"]}, {"sata"})
        self.assertEqual({x["model"] for x in d["interfaces"]}, {"e1000e"})
        vm = [m for m in build(plan={"skipGuestConversion": True, "useCompatibilityMode": False})["manifests"]
              if m["kind"] == "VirtualMachine"][0]
        self.assertEqual({x["disk"]["bus"] for x in vm["spec"]["template"]["spec"]["domain"]["devices"]["disks"]},
                         {"virtio"})

    def test_secure_boot_and_power(self):
        vm = [m for m in build(vm=dict(VM, secureBoot=True), plan={"targetPowerState": "off"},
                               plan_vm={"name": "web1", "targetPowerState": "on"})["manifests"]
              if m["kind"] == "VirtualMachine"][0]
        dom = vm["spec"]["template"]["spec"]["domain"]
        self.assertEqual(dom["firmware"]["bootloader"]["efi"]["secureBoot"], True)
        self.assertEqual(dom["features"]["smm"]["enabled"], True)
        self.assertEqual(vm["spec"]["runStrategy"], "Always")

    def test_unmapped_is_an_error(self):
        with self.assertRaises(RuntimeError) as cm:
            build(vm=dict(VM, nics=VM["nics"] + [{"name": "x", "mac": "", "network": "Other"}]))
        self.assertIn("Other", str(cm.exception))

    def test_domain_xml_validates(self):
        import tempfile
        for plan in ({}, {"skipGuestConversion": True}):
            for vm in (VM, dict(VM, firmware="bios"), dict(VM, secureBoot=True)):
                xml = build(plan=plan, vm=vm, files=["/var/lib/x/a&b <0>.img", "/var/lib/x/disk-1.qcow2"])["domainXml"]
                with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
                    f.write(xml)
                    f.flush()
                    r = subprocess.run(["virt-xml-validate", f.name, "domain"], capture_output=True, text=True)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr + xml)
                self.assertIn("00:50:56:aa:bb:02", xml)
                self.assertIn("a&amp;b &lt;0&gt;.img", xml)


if __name__ == "__main__":
    unittest.main(verbosity=2)

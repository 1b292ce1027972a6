"""Plans are validated against the source inventory whenever the plan, its
maps, its providers or the inventory change, with Forklift's conditions."""
import json
import os
import shutil
import tempfile
import time
import unittest

from mtvtest import Sandbox, object_path, v
from ovabuilder import make_ova

S = lambda x: v("s", x)  # noqa: E731


def pair(source, destination):
    return {"source": v("a{sv}", {"name": S(source)}), "destination": v("a{sv}", {k: S(x) for k, x in destination.items()})}


class PlanValidation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mtv-plan-")
        cls.ovas = os.path.join(cls.dir, "ovas")
        make_ova(cls.ovas, "web1", disks=((4, "a"), (2, "b")),
                 nics=(("nic1", "00:50:56:aa:bb:01", "VM Network"), ("nic2", "00:50:56:aa:bb:02", "Mgmt")))
        make_ova(cls.ovas, "Web_Server 2", disks=((2, "c"),))
        make_ova(cls.ovas, "broken", tamper="broken-disk1.vmdk")
        sb = cls.sb = Sandbox().start()
        sb.create("CreateProvider", "ova", {"type": S("ova"), "url": S("file://" + cls.ovas),
                                            "settings": v("a{ss}", {"refreshInterval": "1"})})
        sb.create("CreateProvider", "host", {"type": S("local"), "url": S("file://" + cls.dir + "/target")})
        cls.wait_ready(cls, "providers", "ova")
        vms = json.loads(sb.call(object_path("providers", "ova"), "org.mtvd.Mtv1.Provider", "GetInventory",
                                 "(sa{sv})", ("vms", {}))[0])
        cls.disk_ids = {d["name"]: d["id"] for vm in vms for d in vm["disks"]}
        sb.create("CreateNetworkMap", "net", {"sourceProvider": S("ova"), "targetProvider": S("host"),
                                              "pairs": v("aa{sv}", [pair("VM Network", {"type": "pod"})])})
        sb.create("CreateStorageMap", "st", {"sourceProvider": S("ova"), "targetProvider": S("host"),
                                             "pairs": v("aa{sv}", [
                                                 {"source": v("a{sv}", {"id": S(cls.disk_ids["web1-disk1.vmdk"])}),
                                                  "destination": v("a{sv}", {"storageClass": S("standard")})},
                                                 pair("web1/web1-disk2.vmdk", {"storageClass": "fast"}),
                                                 pair("Web_Server 2/Web_Server 2-disk1.vmdk", {"storageClass": "fast"}),
                                                 pair("broken/broken-disk1.vmdk", {"storageClass": "fast"})])})

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def wait_ready(self, coll, name, phase="Ready", timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            status = self.sb.export(object_path(coll, name))["status"]
            if status["phase"] == phase or time.monotonic() > deadline:
                return status
            time.sleep(0.1)

    def plan(self, name, vms, **extra):
        spec = {"sourceProvider": S("ova"), "targetProvider": S("host"), "networkMap": S("net"), "storageMap": S("st"),
                "vms": v("aa{sv}", [{"name": S(n)} for n in vms])}
        spec.update(extra)
        self.sb.create("CreatePlan", name, spec)
        time.sleep(0.2)
        return self.sb.export(object_path("plans", name))["status"]

    def conditions(self, status):
        return {c["type"]: c for c in status["conditions"]}

    def test_guest_conversion_needed(self):
        c = self.conditions(self.plan("p-conv", ["Web_Server 2"]))
        self.assertEqual(c["GuestConversionNotAvailable"]["category"], "Critical")
        self.assertIn("skipGuestConversion", c["GuestConversionNotAvailable"]["message"])

    def test_warm_is_not_for_ova(self):
        c = self.conditions(self.plan("p-warm", ["Web_Server 2"], type=S("warm"), skipGuestConversion=v("b", True)))
        self.assertIn("MigrationTypeNotValid", c)
        self.assertIn("warm", c["MigrationTypeNotValid"]["message"])

    def test_not_found_and_concerns(self):
        status = self.plan("p-bad", ["nope", "broken"], skipGuestConversion=v("b", True))
        c = self.conditions(status)
        self.assertEqual(status["phase"], "NotReady")
        self.assertIn("nope", c["VMNotFound"]["message"])
        self.assertIn("broken", c["VMCriticalConcerns"]["message"])
        self.assertIn("manifest", c["VMCriticalConcerns"]["message"])

    def test_ready_renamed_and_revalidated(self):
        status = self.plan("p-ok", ["Web_Server 2"], skipGuestConversion=v("b", True))
        c = self.conditions(status)
        self.assertEqual(status["phase"], "Ready", status)
        self.assertEqual(c["VMNameNotValid"]["category"], "Warning")
        self.assertIn("Web_Server 2 -> web-server-2", c["VMNameNotValid"]["message"])

        # web1's second network is not mapped: NotReady, until the map says.
        status = self.plan("p-web", ["web1"], skipGuestConversion=v("b", True))
        c = self.conditions(status)
        self.assertEqual(status["phase"], "NotReady")
        self.assertIn("web1: Mgmt", c["VMNetworksNotMapped"]["message"])
        self.sb.call(object_path("networkmaps", "net"), "org.mtvd.Mtv1.Resource", "Update", "(a{sv}a{sv})",
                     ({"pairs": v("aa{sv}", [pair("VM Network", {"type": "pod"}),
                                             pair("Mgmt", {"type": "multus", "namespace": "ns", "name": "mgmt"})])}, {}))
        self.assertEqual(self.wait_ready("plans", "p-web")["phase"], "Ready")
        # Two networks on the pod network are refused.
        self.sb.call(object_path("networkmaps", "net"), "org.mtvd.Mtv1.Resource", "Update", "(a{sv}a{sv})",
                     ({"pairs": v("aa{sv}", [pair("VM Network", {"type": "pod"}), pair("Mgmt", {"type": "pod"})])}, {}))
        c = self.conditions(self.wait_ready("plans", "p-web", phase="NotReady"))
        self.assertIn("VMMultiplePodNetworkMappings", c)

    def test_inventory_change_revalidates(self):
        make_ova(self.ovas, "temp", disks=((2, "t"),), nics=())
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            vms = json.loads(self.sb.call(object_path("providers", "ova"), "org.mtvd.Mtv1.Provider", "GetInventory",
                                          "(sa{sv})", ("vms", {}))[0])
            if "temp" in [vm["name"] for vm in vms]:
                break
            time.sleep(0.2)
        status = self.plan("p-temp", ["temp"], skipGuestConversion=v("b", True))
        self.assertIn("VMStorageNotMapped", self.conditions(status))
        os.unlink(os.path.join(self.ovas, "temp.ova"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "VMNotFound" not in self.conditions(
                self.sb.export(object_path("plans", "p-temp"))["status"]):
            time.sleep(0.2)
        self.assertIn("VMNotFound", self.conditions(self.sb.export(object_path("plans", "p-temp"))["status"]))

    def test_rule_concerns_and_drop_ins(self):
        # The shipped name rule warns about "Web_Server 2"; a warning shows on
        # the plan without blocking it.
        vms = json.loads(self.sb.call(object_path("providers", "ova"), "org.mtvd.Mtv1.Provider", "QueryInventory",
                                      "(ssa{sv})", ("vms", "name = 'Web_Server 2'", {}))[0])
        self.assertIn("ova.name.invalid", [c["id"] for c in vms[0]["concerns"]])
        status = self.plan("p-rules", ["Web_Server 2"], skipGuestConversion=v("b", True))
        c = self.conditions(status)
        self.assertEqual(status["phase"], "Ready", status)
        self.assertEqual(c["VMWarnings"]["category"], "Warning")
        self.assertIn("Web_Server 2: Invalid VM Name", c["VMWarnings"]["message"])
        # Concerns are queryable like any field.
        rows = json.loads(self.sb.call(object_path("providers", "ova"), "org.mtvd.Mtv1.Provider", "QueryInventory",
                                       "(ssa{sv})", ("vms", "SELECT name WHERE any(concerns[*].category = 'Warning')", {}))[0])
        self.assertEqual(rows, [{"name": "Web_Server 2"}])

        # An administrator's drop-in with a Critical rule blocks the plan at once
        # (the directory is watched), and the inventory revision moves on.
        _, rev = self.sb.call(object_path("providers", "ova"), "org.mtvd.Mtv1.Provider", "GetInventory",
                              "(sa{sv})", ("vms", {}))
        dropin = os.path.join(self.sb.rules_dropin_dir, "ova-site.rules")
        with open(dropin, "w") as f:
            f.write("[small_disks]\nid=site.disk.small\ncategory=Critical\nlabel=Disk {name} is small\n"
                    "assessment=Site policy: disks under 3 MiB are not migrated.\neach=disks\nwhen=capacity < 3Mi\n")
        status = self.wait_ready("plans", "p-rules", phase="NotReady")
        self.assertIn("Site policy", self.conditions(status)["VMCriticalConcerns"]["message"])
        _, rev2 = self.sb.call(object_path("providers", "ova"), "org.mtvd.Mtv1.Provider", "GetInventory",
                               "(sa{sv})", ("vms", {}))
        self.assertGreater(rev2, rev)
        # A broken drop-in is reported (Manager.RuleFaults) and skipped; the good one stays.
        with open(os.path.join(self.sb.rules_dropin_dir, "ova-broken.rules"), "w") as f:
            f.write("[oops]\nid=x\ncategory=Severe\nlabel=l\nassessment=a\nwhen=true\n")
        deadline = time.monotonic() + 10
        faults = []
        while time.monotonic() < deadline and not faults:
            faults = self.sb.call("/org/mtvd/Mtv1", "org.freedesktop.DBus.Properties", "Get", "(ss)",
                                  ("org.mtvd.Mtv1.Manager", "RuleFaults"))[0]
            time.sleep(0.2)
        self.assertEqual(len(faults), 1)
        self.assertIn("ova-broken.rules: [oops]: category \"Severe\"", faults[0])
        self.assertEqual(self.sb.export(object_path("plans", "p-rules"))["status"]["phase"], "NotReady")
        # Removing the drop-in lifts the block.
        os.unlink(dropin)
        self.assertEqual(self.wait_ready("plans", "p-rules")["phase"], "Ready")
        os.unlink(os.path.join(self.sb.rules_dropin_dir, "ova-broken.rules"))


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""The OVA provider against real OVAs: inventory fields as Forklift names them,
the inventory following files as they come and go, and hostile archives that
must show up as faults and concerns without harming mtvd."""
import json
import os
import shutil
import tarfile
import tempfile
import time
import unittest

import yaml

from gi.repository import GLib

from mtvtest import CallError, Sandbox, object_path, v
from ovabuilder import make_ova

S = lambda x: v("s", x)  # noqa: E731


class OvaInventory(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mtv-ova-")
        cls.ovas = os.path.join(cls.dir, "ovas")
        os.makedirs(cls.ovas)
        make_ova(cls.ovas, "web1", disks=((8, "a"), (4, "b")), cpus=4, cores=2, memory=2048, firmware="efi",
                 nics=(("Network adapter 1", "00:50:56:aa:bb:01", "VM Network"),
                       ("Network adapter 2", "00:50:56:aa:bb:02", "Mgmt")))
        os.makedirs(os.path.join(cls.ovas, "nested", "deeper"))
        make_ova(os.path.join(cls.ovas, "nested", "deeper"), "db1", disks=((6, "c"),))
        # An unpacked export in OVF 2.x.
        make_ova(os.path.join(cls.ovas, "unpacked"), "app2", disks=((2, "u"),), pack=False, ovf_version=2)
        cls.sb = Sandbox().start()
        cls.sb.create("CreateProvider", "ova", {"type": S("ova"), "url": S("file://" + cls.ovas),
                                                "settings": v("a{ss}", {"refreshInterval": "1"})})

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def inventory(self, kind, provider="ova"):
        deadline = time.monotonic() + 20
        while True:
            try:
                text, revision = self.sb.call(object_path("providers", provider), "org.mtvd.Mtv1.Provider",
                                              "GetInventory", "(sa{sv})", (kind, {}))
                return json.loads(text), revision
            except CallError as e:
                if e.name != "org.mtvd.Mtv1.Error.Busy" or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def wait_for(self, predicate, what, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            time.sleep(0.2)
        self.fail(f"timed out waiting for {what}")

    def status(self, provider="ova"):
        return self.sb.export(object_path("providers", provider))["status"]

    def test_vms(self):
        vms, _ = self.inventory("vms")
        by_name = {vm["name"]: vm for vm in vms}
        self.assertEqual(sorted(by_name), ["app2", "db1", "web1"])
        app = by_name["app2"]
        self.assertEqual(app["concerns"], [])
        self.assertTrue(app["ovaPath"].endswith("/unpacked/app2.ovf"))
        self.assertTrue(app["disks"][0]["filePath"].endswith("/unpacked/app2-disk1.vmdk"))
        self.assertEqual(app["disks"][0]["member"], "")
        web = by_name["web1"]
        self.assertEqual((web["cpuCount"], web["coresPerSocket"], web["memoryMB"]), (4, 2, 2048))
        self.assertEqual(web["firmware"], "efi")
        self.assertEqual(web["osType"], "debian11_64Guest")
        self.assertEqual(web["concerns"], [])
        self.assertTrue(web["ovaPath"].endswith("/web1.ova"))
        self.assertRegex(web["id"], r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        self.assertEqual([(n["name"], n["mac"], n["network"]) for n in web["nics"]],
                         [("Network adapter 1", "00:50:56:aa:bb:01", "VM Network"),
                          ("Network adapter 2", "00:50:56:aa:bb:02", "Mgmt")])
        self.assertEqual([(d["name"], d["capacity"], d["controller"]) for d in web["disks"]],
                         [("web1-disk1.vmdk", 8 << 20, "scsi"), ("web1-disk2.vmdk", 4 << 20, "scsi")])
        self.assertEqual(sorted(n["name"] for n in web["networks"]), ["Mgmt", "VM Network"])
        self.assertEqual(by_name["db1"]["firmware"], "bios")

    def test_other_kinds(self):
        networks, _ = self.inventory("networks")
        self.assertEqual(sorted(n["name"] for n in networks), ["Mgmt", "VM Network"])
        disks, _ = self.inventory("disks")
        vms, _ = self.inventory("vms")
        self.assertEqual(len(disks), 4)
        self.assertEqual({d["vm"] for d in disks}, {vm["id"] for vm in vms})
        storages, _ = self.inventory("storages")
        # An OVA's storages are its disks: a storage pair's source is a disk id.
        self.assertEqual(sorted(s["id"] for s in storages), sorted(d["id"] for d in disks))
        with self.assertRaises(CallError) as cm:
            self.inventory("hosts")
        self.assertEqual(cm.exception.name, "org.mtvd.Mtv1.Error.Invalid")

    def test_status_ready(self):
        status = self.wait_for(lambda: (s := self.status()) and s["phase"] == "Ready" and s, "Ready")
        types = [c["type"] for c in status["conditions"]]
        self.assertIn("InventoryCreated", types)
        self.assertNotIn("InventoryFaults", types)

    def test_follows_files(self):
        _, rev = self.inventory("vms")
        changes = []
        sub = self.sb.conn.signal_subscribe("org.mtvd.Mtv1", "org.mtvd.Mtv1.Provider", "InventoryChanged",
                                            object_path("providers", "ova"), None, 0,
                                            lambda *a: changes.append(a[5].unpack()[0]))
        try:
            path, _ = make_ova(self.ovas, "late", disks=((2, "z"),))
            self.wait_for(lambda: "late" in [vm["name"] for vm in self.inventory("vms")[0]], "the new OVA")
            os.unlink(path)
            self.wait_for(lambda: "late" not in [vm["name"] for vm in self.inventory("vms")[0]], "the OVA to go")
            ctx = GLib.MainContext.default()
            self.wait_for(lambda: (ctx.iteration(False), len(changes) >= 2)[1], "InventoryChanged signals")
        finally:
            self.sb.conn.signal_unsubscribe(sub)
        _, rev2 = self.inventory("vms")
        self.assertGreaterEqual(rev2, rev + 2)
        self.assertEqual(changes[-1], rev2)

    def test_missing_directory(self):
        self.sb.create("CreateProvider", "gone", {"type": S("ova"), "url": S("file:///nonexistent/ovas")})
        status = self.wait_for(lambda: (s := self.status("gone")) and s["phase"] == "NotReady"
                               and any(c["type"] == "ConnectionTestFailed" for c in s["conditions"]) and s,
                               "ConnectionTestFailed")
        msg = [c for c in status["conditions"] if c["type"] == "ConnectionTestFailed"][0]["message"]
        self.assertIn("/nonexistent/ovas", msg)
        with self.assertRaises(CallError) as cm:
            self.inventory("vms", provider="gone")
        self.assertEqual(cm.exception.name, "org.mtvd.Mtv1.Error.Failed")


class Queries(unittest.TestCase):
    """QueryInventory and `mtvctl get inventory -q` over a real OVA inventory,
    and the inventory kept in the state database across restarts."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mtv-ovaq-")
        make_ova(cls.dir, "web1", disks=((8, "a"), (4, "b")), cpus=4, memory=2048)
        make_ova(cls.dir, "web2", disks=((2, "c"),), cpus=2, memory=1024)
        make_ova(cls.dir, "db1", disks=((6, "d"),), cpus=8, memory=8192, firmware="efi")
        cls.sb = Sandbox().start()
        cls.sb.create("CreateProvider", "ova", {"type": S("ova"), "url": S("file://" + cls.dir)})
        OvaInventory.inventory(cls, "vms")

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def query(self, query, kind="vms"):
        text, revision = self.sb.call(object_path("providers", "ova"), "org.mtvd.Mtv1.Provider", "QueryInventory",
                                      "(ssa{sv})", (kind, query, {}))
        return json.loads(text), revision

    def test_where_select_order_limit(self):
        rows, _ = self.query("SELECT name, cpuCount, len(disks) AS disks WHERE memoryMB >= 1Ki ORDER BY cpuCount DESC")
        self.assertEqual(rows, [{"name": "db1", "cpuCount": 8, "disks": 1}, {"name": "web1", "cpuCount": 4, "disks": 2},
                                {"name": "web2", "cpuCount": 2, "disks": 1}])
        rows, _ = self.query("name like 'web%' and sum(disks[*].capacity) > 9Mi")
        self.assertEqual([r["name"] for r in rows], ["web1"])
        self.assertIn("disks", rows[0])                      # whole documents without SELECT
        rows, _ = self.query("SELECT firmware, count(*) AS vms GROUP BY firmware ORDER BY firmware")
        self.assertEqual(rows, [{"firmware": "bios", "vms": 2}, {"firmware": "efi", "vms": 1}])
        rows, _ = self.query("SELECT name ORDER BY name LIMIT 1", kind="disks")
        self.assertEqual(len(rows), 1)

    def test_bad_queries_are_refused_with_the_position(self):
        for query, want in (("cpuCount >", "syntax error"), ("SELCT name", "Keyword Typo"),
                            ("name = 'x' LIMIT 1 LIMIT 2", "Duplicate Keyword"), ("name ~= '('", "error parsing regexp"),
                            ("name + 1 > 0", "type mismatch")):
            with self.subTest(query=query):
                with self.assertRaises(CallError) as cm:
                    self.query(query)
                self.assertEqual(cm.exception.name, "org.mtvd.Mtv1.Error.Invalid")
                self.assertIn(want, cm.exception.message)
        with self.assertRaises(CallError) as cm:
            self.query("cpuCount > 1 and", kind="vms")
        self.assertIn("at position 13", cm.exception.message)
        with self.assertRaises(CallError) as cm:
            self.query("name = 'x'", kind="hosts")
        self.assertIn("has no \"hosts\" inventory", cm.exception.message)

    def test_mtvctl_query_table_json_planvms(self):
        r = self.sb.mtvctl("get", "inventory", "vms", "ova", "-q", "SELECT name, memoryMB AS mem WHERE cpuCount < 8 SORT BY name")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "MEM"])
        self.assertEqual([l.split() for l in lines[1:]], [["web1", "2048"], ["web2", "1024"]])
        self.assertEqual(lines[0].index("MEM"), lines[1].index("2048"))   # columns line up
        r = self.sb.mtvctl("get", "inventory", "vm", "-p", "ova", "-q", "cpuCount = 8", "-o", "json")
        self.assertEqual([vm["name"] for vm in json.loads(r.stdout)], ["db1"])
        r = self.sb.mtvctl("get", "inventory", "vms", "ova", "-q", "name ~= '^web'", "-o", "planvms")
        self.assertEqual(r.returncode, 0, r.stderr)
        listed = yaml.safe_load(r.stdout)
        self.assertEqual(sorted(vm["name"] for vm in listed), ["web1", "web2"])
        self.assertTrue(all(vm["id"] for vm in listed))
        r = self.sb.mtvctl("get", "inventory", "vms", "ova", "-q", "cpuCount >> 2")
        self.assertEqual(r.returncode, 1)
        self.assertIn("syntax error", r.stderr)
        self.assertIn("^", r.stderr)

    def test_plan_vms_from_a_query(self):
        self.sb.create("CreateProvider", "here", {"type": S("local"), "url": S("file://" + self.dir + "/target")})
        r = self.sb.mtvctl("create", "plan", "webs", "-S", "ova", "--vms", "where name like 'web%'",
                           "--network-pairs", "", "--storage-pairs", "")
        self.assertEqual(r.returncode, 0, r.stderr)
        plan = self.sb.export(object_path("plans", "webs"))
        self.assertEqual(sorted(vm["name"] for vm in plan["spec"]["vms"]), ["web1", "web2"])
        self.assertTrue(all(vm["id"] for vm in plan["spec"]["vms"]))
        r = self.sb.mtvctl("create", "plan", "none", "-S", "ova", "--vms", "where cpuCount > 100")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no VM of provider ova matches", r.stderr)

    def test_inventory_survives_a_restart(self):
        rows, revision = self.query("SELECT name ORDER BY name")
        self.sb.kill_mtvd()
        self.sb.start_mtvd()
        # Served from the state database at once, at the same revision, before any rescan.
        again, revision2 = self.query("SELECT name ORDER BY name")
        self.assertEqual((again, revision2), (rows, revision))


class HostileOvas(unittest.TestCase):
    """Each broken archive is reported, naming the file and the fault; the good
    one beside it still works; mtvd stays up and writes nothing."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="mtv-hostile-")
        d = cls.ovas = os.path.join(cls.dir, "ovas")
        os.makedirs(d)
        make_ova(d, "good")
        # Bad XML.
        make_ova(d, "badxml", ovf_text="<Envelope xmlns='http://schemas.dmtf.org/ovf/envelope/1'><unclosed>")
        # Not an OVF at all.
        make_ova(d, "notovf", ovf_text="<html xmlns='http://www.w3.org/1999/xhtml'/>")
        # A disk the OVF references but the archive lacks.
        ova, _ = make_ova(d, "nodisk", manifest=False)
        with tarfile.open(ova) as t:
            members = [(m, t.extractfile(m).read()) for m in t.getmembers() if not m.name.endswith(".vmdk")]
        with tarfile.open(ova, "w", format=tarfile.USTAR_FORMAT) as t:
            for m, data in members:
                import io
                t.addfile(m, io.BytesIO(data))
        # A capacity smaller than the image.
        make_ova(d, "toosmall", disks=((8, "q"),), capacity_override=1)
        # A manifest that does not match.
        make_ova(d, "tampered", tamper="tampered-disk1.vmdk")
        # A truncated archive.
        ova, _ = make_ova(d, "truncated")
        size = os.path.getsize(ova)
        with open(ova, "r+b") as f:
            f.truncate(size // 2)
        # A member whose name climbs out of the directory.
        evil = os.path.join(d, "climb.ova")
        with tarfile.open(evil, "w", format=tarfile.USTAR_FORMAT) as t:
            import io
            info = tarfile.TarInfo("../../etc/evil.ovf")
            data = b"<x/>"
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        # Not a tar at all, and a symlink leading out of the directory.
        with open(os.path.join(d, "garbage.ova"), "wb") as f:
            f.write(os.urandom(4096))
        os.symlink("/etc", os.path.join(d, "outside"))
        cls.before = sorted(os.listdir(d))
        cls.sb = Sandbox().start()
        cls.sb.create("CreateProvider", "ova", {"type": S("ova"), "url": S("file://" + d)})

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_faults_are_reported(self):
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            status = self.sb.export(object_path("providers", "ova"))["status"]
            if any(c["type"] == "InventoryFaults" for c in status["conditions"]):
                break
            time.sleep(0.2)
        faults = [c for c in status["conditions"] if c["type"] == "InventoryFaults"]
        self.assertEqual(len(faults), 1, status)
        self.assertEqual(faults[0]["category"], "Warning")
        msg = faults[0]["message"]
        expectations = {
            "badxml.ova": "not well-formed XML",
            "notovf.ova": "not an OVF descriptor",
            "nodisk.ova": "nodisk-disk1.vmdk\" is referenced but missing",
            "toosmall.ova": "is smaller than its image",
            "tampered.ova": "does not match the manifest",
            "truncated.ova": "truncated",
            "climb.ova": "leaves the archive's directory",
            "garbage.ova": "not a tar archive",
        }
        for file, words in expectations.items():
            with self.subTest(file=file):
                part = [p for p in msg.split("; ") if file in p]
                self.assertTrue(part, f"{file} not named in: {msg}")
                self.assertIn(words, " ".join(part))
        # The good archive still counts, and the provider is usable.
        self.assertEqual(status["phase"], "Ready")

    def test_vm_concerns(self):
        deadline = time.monotonic() + 30
        while True:
            try:
                vms = json.loads(self.sb.call(object_path("providers", "ova"), "org.mtvd.Mtv1.Provider",
                                              "GetInventory", "(sa{sv})", ("vms", {}))[0])
                break
            except CallError as e:
                if e.name != "org.mtvd.Mtv1.Error.Busy" or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        by_name = {vm["name"]: vm for vm in vms}
        self.assertEqual(sorted(by_name), ["good", "nodisk", "tampered", "toosmall"])
        self.assertEqual(by_name["good"]["concerns"], [])
        for name, concern in (("nodisk", "ova.disk.missing"), ("tampered", "ova.manifest.mismatch"),
                              ("toosmall", "ova.disk.capacity")):
            with self.subTest(vm=name):
                ids = [c["id"] for c in by_name[name]["concerns"]]
                self.assertIn(concern, ids)
                self.assertTrue(all(c["category"] == "Critical" for c in by_name[name]["concerns"]))

    def test_nothing_written_and_daemon_alive(self):
        self.assertEqual(sorted(os.listdir(self.ovas)), self.before)
        self.assertFalse(os.path.exists("/etc/evil.ovf"))
        self.assertIsNone(self.sb.mtvd.poll())
        self.assertEqual(self.sb.call("/org/mtvd/Mtv1", "org.freedesktop.DBus.Properties", "Get", "(ss)",
                                      ("org.mtvd.Mtv1.Manager", "Version"))[0].count("."), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)

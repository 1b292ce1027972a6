"""Whole migrations through mtvd on the private bus: real OVAs in, disks
compared byte for byte with their sources, manifests and domains checked;
cancellation mid-copy; mtvd killed mid-migration; the in-flight limit."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import yaml

from mtvtest import CallError, Sandbox, object_path, v
from openapi import REFERENCE, check, validate


def pipeline_step_errors(step):
    """What in a VM's pipeline step Forklift's Plan CRD schema refuses."""
    with open(os.path.join(REFERENCE, "forklift", "crds", "plans.yaml")) as f:
        crd = yaml.safe_load(f)
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    schema = status["properties"]["migration"]["properties"]["vms"]["items"]["properties"]["pipeline"]["items"]
    return validate(step, schema, {})
from ovabuilder import make_ova


def read(path):
    with open(path, "rb") as f:
        return f.read()

S = lambda x: v("s", x)  # noqa: E731


def pair(source, dest):
    return {"source": v("a{sv}", {"name": S(source)}), "destination": v("a{sv}", {k: S(x) for k, x in dest.items()})}


class Base(unittest.TestCase):
    MAX_IN_FLIGHT = None
    CLASSES = {"web1-disk2.vmdk": "qcow2"}  # the local target writes qcow2 for this storage class
    RATE = None  # transferMaxRate of the source, to make copies slow enough to catch

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mtv-migration-")
        self.ovas = os.path.join(self.dir, "ovas")
        self.target = os.path.join(self.dir, "target")
        self.sb = Sandbox().start(with_mtvd=False)
        self.start_mtvd()

    def start_mtvd(self):
        args = ["--max-vms-in-flight", str(self.MAX_IN_FLIGHT)] if self.MAX_IN_FLIGHT else []
        self.sb.start_mtvd(extra_args=args)

    def tearDown(self):
        self.sb.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def setup_plan(self, vms, disks_of, nets=("VM Network",), name="p", target_settings=None, ready=True):
        settings = {"refreshInterval": "1"}
        if self.RATE:
            settings["transferMaxRate"] = str(self.RATE)
        self.sb.create("CreateProvider", "ova", {"type": S("ova"), "url": S("file://" + self.ovas),
                                                 "settings": v("a{ss}", settings)})
        self.sb.create("CreateProvider", "host", {"type": S("local"), "url": S("file://" + self.target),
                                                  "settings": v("a{ss}", target_settings or {})})
        self.sb.create("CreateNetworkMap", "net", {"sourceProvider": S("ova"), "targetProvider": S("host"), "pairs": v(
            "aa{sv}", [pair(nets[0], {"type": "pod"})] + [pair(n, {"type": "multus", "namespace": "ns1", "name": n.lower()})
                                                        for n in nets[1:]])})
        self.sb.create("CreateStorageMap", "st", {"sourceProvider": S("ova"), "targetProvider": S("host"), "pairs": v(
            "aa{sv}", [pair(f"{vm}/{d}", {"storageClass": self.CLASSES.get(d, "standard")})
                       for vm in vms for d in disks_of[vm]])})
        self.sb.create("CreatePlan", name, {"sourceProvider": S("ova"), "targetProvider": S("host"),
                                            "networkMap": S("net"), "storageMap": S("st"),
                                            "vms": v("aa{sv}", [{"name": S(n)} for n in vms]),
                                            "skipGuestConversion": v("b", True), "targetNamespace": S("prod")})
        if ready:
            self.wait_plan(name, lambda st: st["phase"] == "Ready", "Ready")

    def plan_status(self, name="p"):
        return self.sb.export(object_path("plans", name))["status"]

    def wait_plan(self, name, pred, what, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            st = self.plan_status(name)
            if pred(st):
                return st
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}: {json.dumps(st)[:2000]}")
            time.sleep(0.1)

    def start(self, name="p"):
        return self.sb.call(object_path("plans", name), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))[0]

    def vm_status(self, name="p"):
        st = self.plan_status(name)
        return {vm["name"]: vm for vm in st.get("migration", {}).get("vms", [])}


class Migration(Base):
    def test_end_to_end(self):
        _, web_raws = make_ova(self.ovas, "web1", disks=((16, "a"), (8, "b")), firmware="efi", cpus=4, cores=2,
                               memory=2048, nics=(("nic1", "00:50:56:aa:bb:01", "VM Network"),
                                                  ("nic2", "00:50:56:aa:bb:02", "Mgmt")))
        _, db_raws = make_ova(self.ovas, "db1", disks=((8, "c"),), nics=(("nic1", "00:50:56:aa:bb:03", "VM Network"),))
        self.setup_plan(["web1", "db1"], {"web1": ["web1-disk1.vmdk", "web1-disk2.vmdk"], "db1": ["db1-disk1.vmdk"]},
                        nets=("VM Network", "Mgmt"))
        progress = []
        sub = self.sb.conn.signal_subscribe("org.mtvd.Mtv1", "org.mtvd.Mtv1.Migration", "Progress", None, None, 0,
                                            lambda *a: progress.append(a[5].unpack()))
        try:
            path = self.start()
            st = self.wait_plan("p", lambda s: s["phase"] != "Executing", "the migration to end")
            from gi.repository import GLib
            while GLib.MainContext.default().iteration(False):
                pass
        finally:
            self.sb.conn.signal_unsubscribe(sub)
        self.assertEqual(st["phase"], "Succeeded", json.dumps(st, indent=1))
        self.assertTrue(progress, "no Progress signal")

        for vm, raws in (("web1", web_raws), ("db1", db_raws)):
            vm_dir = os.path.join(self.target, "prod", vm)
            for i, raw in enumerate(raws):
                qcow2 = vm == "web1" and i == 1
                image = os.path.join(vm_dir, f"disk-{i}.qcow2" if qcow2 else f"disk-{i}.img")
                r = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2" if qcow2 else "raw", raw, image],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", image], capture_output=True,
                                                 text=True).stdout)
                self.assertEqual(info["format"], "qcow2" if qcow2 else "raw")
            self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "web1", "disk-1.img")))
            docs = [d for d in yaml.safe_load_all(open(os.path.join(vm_dir, vm + ".yaml"))) if d]
            self.assertEqual([d["kind"] for d in docs], ["DataVolume"] * len(raws) + ["VirtualMachine"])
            for d in docs:
                self.assertEqual(check(d), [], d)
            r = subprocess.run(["virt-xml-validate", os.path.join(vm_dir, vm + ".xml"), "domain"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        web = [d for d in yaml.safe_load_all(open(os.path.join(self.target, "prod", "web1", "web1.yaml")))
               if d and d["kind"] == "VirtualMachine"][0]
        t = web["spec"]["template"]["spec"]
        self.assertEqual(web["metadata"]["namespace"], "prod")
        self.assertEqual(t["domain"]["cpu"], {"cores": 2, "sockets": 2, "threads": 1})
        self.assertEqual(t["domain"]["firmware"]["bootloader"], {"efi": {"secureBoot": False}})
        self.assertEqual([i["macAddress"] for i in t["domain"]["devices"]["interfaces"]],
                         ["00:50:56:aa:bb:01", "00:50:56:aa:bb:02"])
        self.assertEqual({d["disk"]["bus"] for d in t["domain"]["devices"]["disks"]}, {"sata"})  # raw copy
        self.assertEqual(t["networks"][1], {"name": "net-1", "multus": {"networkName": "ns1/mgmt"}})
        xml = open(os.path.join(self.target, "prod", "web1", "web1.xml")).read()
        self.assertIn('type="qcow2"', xml)
        self.assertIn("disk-1.qcow2", xml)

        # Status reads like Forklift's: per-VM pipelines with completed/total.
        vms = {vm["name"]: vm for vm in st["migration"]["vms"]}
        self.assertEqual(vms["web1"]["status"], "Succeeded")
        self.assertEqual([s["name"] for s in vms["web1"]["pipeline"]], ["Initialize", "DiskTransfer", "VirtualMachineCreation"])
        disk = vms["web1"]["pipeline"][1]
        self.assertEqual((disk["phase"], disk["progress"]["completed"], disk["progress"]["total"]), ("Completed", 24, 24))
        # ... with a task per disk saying what mtv-transfer read, wrote and verified.
        tasks = disk["tasks"]
        self.assertEqual([(t["name"], t["phase"], t["progress"]["completed"], t["progress"]["total"]) for t in tasks],
                         [("web1-disk1.vmdk", "Completed", 16, 16), ("web1-disk2.vmdk", "Completed", 8, 8)])
        for t, raw in zip(tasks, web_raws):
            self.assertEqual(t["annotations"]["verified"], "true")
            self.assertGreater(int(t["annotations"]["bytesWritten"]), 0)
            self.assertLessEqual(int(t["annotations"]["bytesWritten"]), os.path.getsize(raw))
        # The steps, tasks included, fit Forklift's Plan schema.
        for step in vms["web1"]["pipeline"]:
            self.assertEqual(pipeline_step_errors(step), [])
        props = self.sb.objects()[path + "/vms/0"]["org.mtvd.Mtv1.MigrationVm"]
        self.assertEqual((props["Status"], props["Progress"], props["BytesTotal"]), ("Succeeded", 1.0, 24 << 20))
        self.assertEqual(props["Destination"], os.path.join(self.target, "prod", "web1"))

        # Running it again fails for each VM: the target VMs exist.
        self.start()
        st = self.wait_plan("p", lambda s: s["phase"] != "Executing", "the second run to end")
        self.assertEqual(st["phase"], "Failed")
        self.assertIn("already exists", st["migration"]["vms"][0]["error"]["reasons"][0])
        # ... and the first run's disks are untouched.
        r = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw", web_raws[0],
                            os.path.join(self.target, "prod", "web1", "disk-0.img")], capture_output=True)
        self.assertEqual(r.returncode, 0)

    def test_not_ready_is_refused(self):
        make_ova(self.ovas, "vm1")
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]})
        self.sb.call(object_path("plans", "p"), "org.mtvd.Mtv1.Resource", "Update", "(a{sv}a{sv})",
                     ({"skipGuestConversion": v("b", False)}, {}))
        with self.assertRaises(CallError) as cm:
            self.start()
        self.assertEqual(cm.exception.name, "org.mtvd.Mtv1.Error.Invalid")
        self.assertIn("GuestConversionNotAvailable", cm.exception.message)
        r = self.sb.mtvctl("start", "plan", "p")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not ready", r.stderr)

    def test_unpacked_ovf(self):
        _, raws = make_ova(os.path.join(self.ovas, "export"), "vm1", pack=False, ovf_version=2)
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]})
        self.start()
        st = self.wait_plan("p", lambda s: s["phase"] != "Executing", "the migration to end")
        self.assertEqual(st["phase"], "Succeeded", json.dumps(st)[:1500])
        r = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw", raws[0],
                            os.path.join(self.target, "prod", "vm1", "disk-0.img")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_libvirt_define(self):
        make_ova(self.ovas, "vm1")
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]}, target_settings={"libvirtURI": "test:///default"})
        self.start()
        st = self.wait_plan("p", lambda s: s["phase"] != "Executing", "the migration to end")
        self.assertEqual(st["phase"], "Succeeded", json.dumps(st)[:1500])
        self.assertRegex(st["migration"]["vms"][0]["libvirtDomain"],
                         r"^test:///default [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

    def test_libvirt_define_failure_fails_the_vm(self):
        make_ova(self.ovas, "vm1")
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]}, target_settings={"libvirtURI": "test:///nonexistent.xml"})
        self.start()
        st = self.wait_plan("p", lambda s: s["phase"] != "Executing", "the migration to end")
        self.assertEqual(st["phase"], "Failed")
        self.assertIn("libvirt test:///nonexistent.xml", st["migration"]["vms"][0]["error"]["reasons"][0])
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))

    def test_killed_in_create_vm_resumes(self):
        # mtvd killed while it wrote a VM whose disks were copied and verified:
        # the restart writes the VM again (it used to fail the VM and remove
        # its complete disks).
        _, raws = make_ova(self.ovas, "vm1", disks=((4, "a"),))
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]})
        self.start()
        self.wait_plan("p", lambda s: s["phase"] == "Succeeded", "the migration to succeed")
        self.sb.kill_mtvd(signal.SIGKILL)
        vm_dir = os.path.join(self.target, "prod", "vm1")
        for name in ("vm1.yaml", "vm1.xml"):
            os.unlink(os.path.join(vm_dir, name))
        # The state as it was when CreateVM had been stored and was acting.
        import sqlite3
        with sqlite3.connect(os.path.join(self.sb.state_dir, "mtvd.db")) as conn:
            (rid, state), = conn.execute("SELECT id, state FROM runs")
            run = json.loads(state)
            run.update(phase="Running", completed=None)
            conn.execute("UPDATE runs SET state = ? WHERE id = ?", (json.dumps(run), rid))
            (state,), = conn.execute("SELECT state FROM run_vms WHERE run = ? AND idx = 0", (rid,))
            vm = json.loads(state)
            vm.update(phase="CreateVM", status="Running", created=False, completed=None)
            conn.execute("UPDATE run_vms SET state = ? WHERE run = ? AND idx = 0", (json.dumps(vm), rid))
        self.start_mtvd()
        st = self.wait_plan("p", lambda s: s["phase"] != "Executing", "the migration to end after restart")
        self.assertEqual(st["phase"], "Succeeded", json.dumps(st["migration"])[:2000])
        self.assertTrue(os.path.exists(os.path.join(vm_dir, "vm1.yaml")))
        self.assertTrue(os.path.exists(os.path.join(vm_dir, "vm1.xml")))
        self.assertEqual(read(raws[0]), read(os.path.join(vm_dir, "disk-0.img")))

    def test_empty_directory_on_the_target_is_taken(self):
        # An empty directory where the VM goes (mtvd stopped between making it
        # and recording it) does not block the VM; another migration's
        # leftovers and anything else there do, saying which.
        _, raws = make_ova(self.ovas, "vm1", disks=((4, "a"),))
        make_ova(self.ovas, "vm2", disks=((4, "b"),))
        make_ova(self.ovas, "vm3", disks=((4, "c"),))
        prod = os.path.join(self.target, "prod")
        for vm in ("vm1", "vm2", "vm3"):
            os.makedirs(os.path.join(prod, vm))
        with open(os.path.join(prod, "vm1", ".mtvd-migration"), "w"):
            pass   # a marker that lost its content in the crash
        with open(os.path.join(prod, "vm2", ".mtvd-migration"), "w") as f:
            f.write("0badc0de")
        with open(os.path.join(prod, "vm3", "notes.txt"), "w") as f:
            f.write("somebody's VM")
        self.setup_plan(["vm1", "vm2", "vm3"], {vm: [f"{vm}-disk1.vmdk"] for vm in ("vm1", "vm2", "vm3")})
        self.start()
        self.wait_plan("p", lambda s: s["phase"] != "Executing", "the migration to end")
        vms = self.vm_status()
        self.assertEqual(vms["vm1"]["status"], "Succeeded", json.dumps(vms["vm1"])[:2000])
        self.assertEqual(read(raws[0]), read(os.path.join(prod, "vm1", "disk-0.img")))
        self.assertFalse(os.path.exists(os.path.join(prod, "vm1", ".mtvd-migration")))
        self.assertEqual(vms["vm2"]["status"], "Failed")
        self.assertIn("migration 0badc0de was filling it", vms["vm2"]["error"]["reasons"][0])
        self.assertEqual(vms["vm3"]["status"], "Failed")
        self.assertIn("a VM of that name is already on the target", vms["vm3"]["error"]["reasons"][0])
        # What was there is left as it was.
        self.assertEqual(sorted(os.listdir(os.path.join(prod, "vm2"))), [".mtvd-migration"])
        self.assertEqual(os.listdir(os.path.join(prod, "vm3")), ["notes.txt"])

    def test_mtvctl_start_wait(self):
        make_ova(self.ovas, "vm1")
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]})
        r = self.sb.mtvctl("start", "plan", "p", "--wait")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Migration Succeeded.", r.stdout)
        self.assertIn("100%", r.stdout)
        r = self.sb.mtvctl("describe", "plan", "p", "--watch")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.sb.mtvctl("archive", "plan", "p")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(self.sb.export(object_path("plans", "p"))["spec"]["archived"])


class SlowMigration(Base):
    RATE = 200000  # bytes per second: a 12 MiB disk's data takes a few seconds

    def start_mtvd(self):
        super().start_mtvd()
        # One VM at a time, through the setting (kubectl-mtv's name for it).
        r = self.sb.mtvctl("settings", "set", "--setting", "controller_max_vm_inflight", "--value", "1")
        assert r.returncode == 0, r.stderr

    def disks(self):
        return {"slow": ["slow-disk1.vmdk"], "next": ["next-disk1.vmdk"]}

    def make(self):
        make_ova(self.ovas, "slow", disks=((48, "s"),))
        _, raws = make_ova(self.ovas, "next", disks=((4, "n"),))
        self.setup_plan(["slow", "next"], self.disks())
        return raws

    def wait_copying(self, vm):
        self.wait_plan("p", lambda s: self.vm_status().get(vm, {}).get("phase") == "CopyDisks"
                       and self.sb.objects()[s["migration"]["vms"] and mig_vm_path(self, vm)]["org.mtvd.Mtv1.MigrationVm"]
                       ["BytesTransferred"] > 0, f"{vm} to be copying")

    def test_in_flight_limit_and_cancel(self):
        self.make()
        self.start()
        self.wait_copying("slow")
        # Its disk server runs with the malloc settings that keep 1 MiB reads from
        # costing qemu-nbd a page fault per page (bench/README.md).
        pids = subprocess.run(["pgrep", "-f", "qemu-nbd.*" + self.ovas], capture_output=True, text=True).stdout.split()
        self.assertTrue(pids, "no qemu-nbd serves the OVA")
        with open(f"/proc/{pids[0]}/environ", "rb") as f:
            env = f.read()
        # (glibc cuts the variable at its colons in place when it reads it.)
        self.assertIn(b"\0GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432", env)
        self.assertIn(b"glibc.malloc.trim_threshold=134217728\0", env)
        # One VM at a time: the other waits.
        self.assertEqual(self.vm_status()["next"]["status"], "Pending")
        # The copying disk's task runs; the waiting VM's are pending.
        task = self.vm_status()["slow"]["pipeline"][1]["tasks"][0]
        self.assertEqual((task["name"], task["phase"], task["progress"]["total"]), ("slow-disk1.vmdk", "Running", 48))
        self.assertLess(task["progress"]["completed"], 48)
        self.assertEqual(self.vm_status()["next"]["pipeline"][1]["tasks"][0]["phase"], "Pending")
        r = self.sb.mtvctl("cancel", "plan", "p", "--vms", "slow")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = self.wait_plan("p", lambda s: s["phase"] != "Executing", "the migration to end")
        vms = self.vm_status()
        self.assertEqual(vms["slow"]["status"], "Canceled")
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "slow")), "partial disks left behind")
        self.assertEqual(vms["next"]["status"], "Succeeded")
        self.assertEqual(st["phase"], "Succeeded")

    def test_killed_mid_copy(self):
        raws = self.make()
        slow_raw = os.path.join(self.ovas, "slow-disk1.raw")
        self.start()
        self.wait_copying("slow")
        self.sb.kill_mtvd(signal.SIGKILL)
        # Its helpers die with it: nothing goes on writing to the target.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and subprocess.run(["pgrep", "-f", "mtv-transfer.*" + self.dir]).returncode == 0:
            time.sleep(0.1)
        self.assertNotEqual(subprocess.run(["pgrep", "-f", "mtv-transfer.*" + self.dir]).returncode, 0,
                            "mtv-transfer outlived mtvd")
        self.start_mtvd()
        st = self.wait_plan("p", lambda s: s["phase"] != "Executing", "the migration to end after restart")
        vms = self.vm_status()
        # The VM that was copying goes on from its checkpoint and ends with the right disk.
        self.assertEqual(vms["slow"]["status"], "Succeeded", json.dumps(vms["slow"]))
        with open(self.sb.mtvd_log.name) as f:
            self.assertIn("VM slow: resuming the copy: 0 of 1 disks done", f.read())
        for vm, raw in (("slow", slow_raw), ("next", raws[0])):
            r = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw", raw,
                                os.path.join(self.target, "prod", vm, "disk-0.img")], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(vms["next"]["status"], "Succeeded")
        self.assertEqual(st["phase"], "Succeeded")
        self.assertEqual(os.listdir(os.path.join(self.sb.state_dir, "checkpoints")), [])

class ParallelDisks(Base):
    """A VM's disks copy all at once; the in-flight limit counts VMs; a
    restart copies only the disks not done, each from its checkpoint."""
    RATE = 1000000   # bytes per second per disk copy
    MAX_IN_FLIGHT = 1
    CLASSES = {}

    def make(self):
        _, wide = make_ova(self.ovas, "wide", disks=((2, "a", "dense"), (10, "b", "dense"), (10, "c", "dense")))
        _, nxt = make_ova(self.ovas, "next", disks=((2, "n"),))
        self.setup_plan(["wide", "next"], {"wide": ["wide-disk1.vmdk", "wide-disk2.vmdk", "wide-disk3.vmdk"],
                                           "next": ["next-disk1.vmdk"]})
        return wide, nxt

    def transfers(self):
        out = subprocess.run(["pgrep", "-af", "mtv-transfer"], capture_output=True, text=True).stdout
        return sorted(re.findall(r"/prod/(\w+)/disk-(\d+)\.img", out))

    def tasks(self, vm):
        return [t["phase"] for t in self.vm_status()[vm]["pipeline"][1]["tasks"]]

    def test_disks_copy_at_once_and_a_restart_copies_what_is_left(self):
        wide, nxt = self.make()
        self.start()
        # All three disks of the one VM in flight copy at once, the other VM waits.
        self.wait_plan("p", lambda s: len(self.transfers()) == 3, "three copies at once", timeout=30)
        self.assertEqual(self.transfers(), [("wide", "0"), ("wide", "1"), ("wide", "2")])
        self.assertEqual(self.vm_status()["next"]["status"], "Pending")
        self.assertEqual(self.tasks("wide"), ["Running"] * 3)
        # The small disk ends first; the others go on. mtvd is killed then.
        self.wait_plan("p", lambda s: self.tasks("wide") == ["Completed", "Running", "Running"], "disk 0 done",
                       timeout=30)
        done = self.sb.objects()[mig_vm_path(self, "wide")]["org.mtvd.Mtv1.MigrationVm"]["BytesTransferred"]
        self.assertGreater(done, 2 << 20)   # disk 0 whole and some of the others
        self.sb.kill_mtvd(signal.SIGKILL)
        self.start_mtvd()
        seen = set()
        deadline = time.monotonic() + 60
        while self.plan_status()["phase"] == "Executing" and time.monotonic() < deadline:
            seen.update(self.transfers())
            time.sleep(0.05)
        st = self.wait_plan("p", lambda s: s["phase"] != "Executing", "the migration to end")
        self.assertEqual(st["phase"], "Succeeded", json.dumps(st)[:2000])
        with open(self.sb.mtvd_log.name) as f:
            self.assertIn("VM wide: resuming the copy: 1 of 3 disks done", f.read())
        # Disk 0 was not copied again; the others went on from their checkpoints.
        self.assertNotIn(("wide", "0"), seen)
        self.assertIn(("wide", "1"), seen)
        tasks = self.vm_status()["wide"]["pipeline"][1]["tasks"]
        for t in tasks[1:]:
            self.assertLess(int(t["annotations"]["bytesRead"]), 10 << 20, t)
        for i, raw in enumerate(wide):
            self.assertEqual(read(raw), read(os.path.join(self.target, "prod", "wide", f"disk-{i}.img")), i)
        self.assertEqual(read(nxt[0]), read(os.path.join(self.target, "prod", "next", "disk-0.img")))
        self.assertEqual(os.listdir(os.path.join(self.sb.state_dir, "checkpoints")), [])

    def test_one_disk_failing_stops_the_others(self):
        wide, _ = self.make()
        self.start()
        self.wait_plan("p", lambda s: len(self.transfers()) == 3, "three copies at once", timeout=30)
        # The third disk's target file made unwritable under its copy.
        victim = [p for p in subprocess.run(["pgrep", "-af", "mtv-transfer"], capture_output=True,
                                            text=True).stdout.splitlines() if "/prod/wide/disk-2.img" in p]
        os.kill(int(victim[0].split()[0]), signal.SIGSTOP)
        os.unlink(os.path.join(self.target, "prod", "wide", "disk-2.img"))
        os.mkdir(os.path.join(self.target, "prod", "wide", "disk-2.img"))
        os.kill(int(victim[0].split()[0]), signal.SIGKILL)
        st = self.wait_plan("p", lambda s: s["phase"] != "Executing", "the migration to end")
        vms = self.vm_status()
        self.assertEqual(vms["wide"]["status"], "Failed")
        self.assertIn("copying disk wide-disk3.vmdk", vms["wide"]["error"]["reasons"][0])
        self.assertEqual(self.transfers(), [])
        # The other disks' copies are removed (the directory made above is the test's).
        for i in (0, 1):
            self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "wide", f"disk-{i}.img")), i)
        self.assertEqual(vms["next"]["status"], "Succeeded")
        self.assertEqual(st["phase"], "Failed")


class Runs(Base):
    """What is asked of a plan's runs: refused when archived, cutover only
    for warm plans, a bounded history that goes with its plan."""

    def test_archived_plan_is_refused(self):
        make_ova(self.ovas, "vm1")
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]})
        r = self.sb.mtvctl("archive", "plan", "p")
        self.assertEqual(r.returncode, 0, r.stderr)
        with self.assertRaises(CallError) as cm:
            self.start()
        self.assertEqual(cm.exception.name, "org.mtvd.Mtv1.Error.Invalid")
        self.assertIn("archived", cm.exception.message)
        r = self.sb.mtvctl("start", "plan", "p")
        self.assertEqual(r.returncode, 1)
        self.assertIn("archived", r.stderr)
        self.assertEqual(self.sb.objects()[object_path("plans", "p")]["org.mtvd.Mtv1.Plan"]["Migration"], "/")
        r = self.sb.mtvctl("unarchive", "plan", "p")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.start()
        st = self.wait_plan("p", lambda s: s["phase"] not in ("Ready", "Executing"), "the migration to end")
        self.assertEqual(st["phase"], "Succeeded")

    def test_cutover_is_refused_for_a_cold_plan(self):
        make_ova(self.ovas, "vm1")
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]})
        with self.assertRaises(CallError) as cm:
            self.sb.call(object_path("plans", "p"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})",
                         ({"cutover": v("s", "2030-01-01T00:00:00Z")},))
        self.assertEqual(cm.exception.name, "org.mtvd.Mtv1.Error.Invalid")
        self.assertIn("only warm migrations have a cutover", cm.exception.message)
        r = self.sb.mtvctl("start", "plan", "p", "--cutover", "now")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cold migration; only warm migrations have a cutover", r.stderr)
        self.assertEqual(self.sb.objects()[object_path("plans", "p")]["org.mtvd.Mtv1.Plan"]["Migration"], "/")
        path = self.start()
        self.wait_plan("p", lambda s: s["phase"] not in ("Ready", "Executing"), "the migration to end")
        with self.assertRaises(CallError) as cm:
            self.sb.call(path, "org.mtvd.Mtv1.Migration", "Cutover", "(sa{sv})", ("2030-01-01T00:00:00Z", {}))
        self.assertEqual(cm.exception.name, "org.mtvd.Mtv1.Error.Invalid")
        r = self.sb.mtvctl("cutover", "plan", "p")
        self.assertEqual(r.returncode, 1)
        self.assertIn("only warm migrations have a cutover", r.stderr)
        self.assertEqual(self.sb.objects()[path]["org.mtvd.Mtv1.Migration"]["Cutover"], "")

    def test_history_is_bounded_and_goes_with_its_plan(self):
        make_ova(self.ovas, "vm1")
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]})
        paths = []
        for i in range(12):
            # The first run migrates the VM; every later one fails: it is there.
            paths.append(self.start())
            self.wait_plan("p", lambda s: s.get("migration", {}).get("id") == paths[-1].rsplit("/", 1)[1]
                           and s["phase"] not in ("Ready", "Executing"), f"run {i} to end")
        kept = self.sb.objects()[object_path("plans", "p")]["org.mtvd.Mtv1.Plan"]["Migrations"]
        self.assertEqual(kept, paths[2:])
        self.assertNotIn(paths[0], self.sb.objects())
        r = self.sb.mtvctl("get", "migrations", "p", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = json.loads(r.stdout)
        self.assertEqual([x["id"] for x in rows], [p.rsplit("/", 1)[1] for p in paths[2:]])
        self.assertEqual({x["phase"] for x in rows}, {"Failed"})
        self.assertIn("already exists", rows[0]["vms"][0]["error"])
        r = self.sb.mtvctl("get", "migrations")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(paths[-1].rsplit("/", 1)[1], r.stdout)
        r = self.sb.mtvctl("describe", "plan", "p")
        self.assertIn("Migrations (kept: the last 10)", r.stdout)
        # Deleting the plan removes its migrations, from the bus and the store.
        self.sb.call(object_path("plans", "p"), "org.mtvd.Mtv1.Resource", "Delete", "(a{sv})", ({},))
        self.assertEqual([o for o in self.sb.objects() if "/migrations/" in o], [])
        self.sb.kill_mtvd()
        self.start_mtvd()
        self.assertEqual([o for o in self.sb.objects() if "/migrations/" in o], [])
        r = self.sb.mtvctl("get", "migrations", "p")
        self.assertEqual(r.returncode, 1)
        self.assertIn('Plan "p" does not exist', r.stderr)


def mig_vm_path(test, vm):
    path = test.sb.export(object_path("plans", "p"))["status"]["migration"]["id"]
    names = [x["name"] for x in test.plan_status()["migration"]["vms"]]
    return f"/org/mtvd/Mtv1/migrations/{path}/vms/{names.index(vm)}"


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""Warm migration from vSphere through mtvd, against govmomi's vcsim with the
test program's changed block tracking (vcsim_cbt.go): a full copy read at
a first snapshot while the VM runs, precopy rounds that copy only what the
test wrote between them (QueryChangedDiskAreas, paged), the cutover powering
the VM off for the last delta; the target byte for byte equal to the
source's final content, and no snapshot left behind."""
import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import vsphere_soap  # noqa: E402
import yaml  # noqa: E402
from mtvtest import Sandbox, object_path, v  # noqa: E402
from openapi import REFERENCE, validate  # noqa: E402
from vcsim import Vcsim  # noqa: E402
from test_vsphere_provider import wait_for  # noqa: E402

BUILD_ROOT = os.environ.get("MTV_BUILD_ROOT") or os.path.join(HERE, "..", "..", "build")
S = lambda x: v("s", x)  # noqa: E731
MiB = 1 << 20
BLOCK = 64 << 10


def warm_errors(vm):
    """What in a plan's status.migration.vms[].warm Forklift's Plan CRD refuses."""
    with open(os.path.join(REFERENCE, "forklift", "crds", "plans.yaml")) as f:
        crd = yaml.safe_load(f)
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    item = status["properties"]["migration"]["properties"]["vms"]["items"]["properties"]
    return validate(vm["warm"], item["warm"], {}) + validate(vm["pipeline"], item["pipeline"], {})


class WarmMigration(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mtv-vsphere-warm-")
        self.sim = Vcsim(BUILD_ROOT, vms=2, tmp=self.tmp)
        self.admin = vsphere_soap.Admin(self.sim)
        self.sb = Sandbox().start()
        r = self.sb.mtvctl("create", "provider", "vc", "-t", "vsphere", "-U", self.sim.url, "-u", self.sim.user,
                           "--password-file", "-", "--cacert", "@" + self.sim.cafile, "--setting", "refreshInterval=1",
                           input=self.sim.password + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.sb.mtvctl("create", "provider", "host", "-t", "local", "-U", "file://" + os.path.join(self.tmp, "target"))
        r = self.sb.mtvctl("settings", "set", "--setting", "controller_precopy_interval", "--value", "2s")
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for("vc Ready", lambda: self.sb.export(object_path("providers", "vc"))["status"].get("phase") == "Ready",
                 timeout=60)

    def tearDown(self):
        self.sb.stop()
        self.sim.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def inventory_vm(self, name):
        text, _ = self.sb.call(object_path("providers", "vc"), "org.mtvd.Mtv1.Provider", "GetInventory", "(sa{sv})",
                               ("vms", {}))
        found = [x for x in json.loads(text) if x["name"] == name]
        return found[0] if found else None

    def warm_vm(self, name, sizes):
        """VM @name powered on, change tracking on, with disks of @sizes
        holding data; its inventory and the disks' files."""
        vm = self.inventory_vm(name)
        first = vm["disks"][0]
        self.admin.disk_capacity(vm["id"], first, sizes[0])
        for unit, size in enumerate(sizes[1:], start=1):
            self.admin.add_disk(vm["id"], first["controllerKey"], unit, size, "LocalDS_0")
        self.admin.reconfigure(vm["id"], "<changeTrackingEnabled>true</changeTrackingEnabled>")
        vm, _ = wait_for("the disks and CBT", lambda: (lambda x: x if [d["capacity"] for d in x["disks"]] == sizes
                                                       and all(d["changeTrackingEnabled"] for d in x["disks"])
                                                       else None)(self.inventory_vm(name)))
        if vm["powerState"] != "poweredOn":
            self.admin.power(vm["id"], True)
        files = []
        for disk, size in zip(vm["disks"], sizes):
            path = self.sim.flat_file(disk["file"])
            with open(path, "wb") as f:
                f.write(os.urandom(size // 2) + b"\0" * (size - size // 2))
            files.append(path)
        return vm, files

    def write_blocks(self, path, blocks):
        """The guest writes: new data in @blocks (64 KiB each) of the disk."""
        with open(path, "r+b") as f:
            for b in blocks:
                f.seek(b * BLOCK)
                f.write(os.urandom(BLOCK))
        vsphere_soap.written(self.sim, path, [b * BLOCK for b in blocks], BLOCK)

    def status(self):
        return self.sb.export(object_path("plans", "w"))["status"]

    def vm_status(self):
        return self.status().get("migration", {}).get("vms", [{}])[0]

    def snapshots(self, vm_id):
        text = self.admin.call(f'<RetrievePropertiesEx><_this type="PropertyCollector">propertyCollector</_this>'
                               f'<specSet><propSet><type>VirtualMachine</type><pathSet>snapshot</pathSet></propSet>'
                               f'<objectSet><obj type="VirtualMachine">{vm_id}</obj></objectSet></specSet><options/>'
                               f'</RetrievePropertiesEx>')
        return text.count("<snapshot type=")

    def test_precopies_then_cutover(self):
        vm, files = self.warm_vm("DC0_H0_VM0", [4 * MiB, 2 * MiB])
        # Started with a cutover far off, moved to now later (mtvctl cutover plan).
        self.plan("DC0_H0_VM0", cutover="2099-01-01T00:00:00Z")
        self.assertEqual(self.status()["migration"]["cutover"], "2099-01-01T00:00:00Z")
        # The first full copy, then each round copies what the guest wrote meanwhile.
        rounds = {0: [3, 40], 1: [7]}
        for n, blocks in rounds.items():
            wait_for(f"precopy {n + 1} to pause", lambda: self.vm_status().get("phase") == "CopyingPaused"
                     and self.log().count("created for a warm precopy") == n + 1, timeout=60)
            self.assertEqual(self.inventory_vm("DC0_H0_VM0")["powerState"], "poweredOn")   # it runs meanwhile
            warm = self.vm_status()["warm"]
            self.assertEqual(warm["successes"], n + 1)
            if n > 0:
                # A delta round reads the blocks written before it, no more.
                notes = self.vm_status()["pipeline"][1]["annotations"]
                self.assertEqual(int(notes["lastRoundBytesRead"]), (len(rounds[n - 1]) + 1) * BLOCK, n)
            self.assertIn("nextPrecopyAt", warm)
            self.assertEqual(warm_errors(self.vm_status()), [])
            if n == 1:
                # Paused after a delta round: the churn and what a cutover now would cost.
                r = self.sb.mtvctl("describe", "plan", "w")
                self.assertRegex(r.stdout, r"DC0_H0_VM0: 2 copy rounds, next at \S+Z; last round read .*; churn .*/s; "
                                           r"a cutover now: about .* to copy, \d+ s down")
            self.write_blocks(files[0], blocks)
            self.write_blocks(files[1], [n])
        wait_for("the third round", lambda: self.log().count("created for a warm precopy") == 3, timeout=60)
        wait_for("it to pause again", lambda: self.vm_status().get("phase") == "CopyingPaused", timeout=60)
        self.write_blocks(files[0], [60])   # the last changes, copied at cutover
        r = self.sb.mtvctl("cutover", "plan", "w", "--cutover", "now")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(self.status()["migration"]["cutover"], "2099")   # moved
        st = wait_for("the migration to end", lambda: (lambda s: s if s["phase"] in ("Succeeded", "Failed") else None)(
            self.status()), timeout=120)[0]
        self.assertEqual(st["phase"], "Succeeded", json.dumps(st.get("migration"), indent=1))
        out = os.path.join(self.tmp, "target", "mtv-test", "dc0-h0-vm0")
        for i, path in enumerate(files):
            with open(os.path.join(out, f"disk-{i}.img"), "rb") as a, open(path, "rb") as b:
                self.assertTrue(a.read() == b.read(), f"disk {i} differs from the source's final content")
        # The rounds after the first read only the blocks written (the last
        # copy's counts are in the annotations).
        status = self.vm_status()
        tasks = status["pipeline"][1]["tasks"]
        self.assertEqual(int(tasks[0]["annotations"]["bytesRead"]), BLOCK)
        # Forklift's warm status: three precopies and the final copy, each
        # with the snapshot it read and the disks' delta ids (its change ids).
        self.assertEqual(warm_errors(status), [])
        warm = status["warm"]
        self.assertEqual((warm["successes"], warm["failures"], warm["consecutiveFailures"]), (4, 0, 0))
        self.assertEqual(len(warm["precopies"]), 4)
        for p in warm["precopies"]:
            self.assertTrue(p["start"] <= p["end"], p)
            self.assertRegex(p["snapshot"], r"^snapshot-")
            self.assertEqual([d["disk"] for d in p["deltas"]], [d["file"] for d in vm["disks"]])
            self.assertTrue(all(d["deltaId"].startswith("52 3d 7a mtv-test/") for d in p["deltas"]), p)
        self.assertEqual(len({p["snapshot"] for p in warm["precopies"]}), 4)   # a new snapshot each round
        # mtv's own figures: what the last round read, the churn, the downtime.
        notes = status["pipeline"][1]["annotations"]
        self.assertEqual(int(notes["lastRoundBytesRead"]), BLOCK)
        self.assertGreater(int(notes["churnBytesPerSecond"]), 0)
        self.assertGreater(int(notes["downtimeMilliseconds"]), 0)
        self.assertNotIn("projectedDowntimeSeconds", notes)   # the downtime is known now
        r = self.sb.mtvctl("describe", "plan", "w")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"Warm:\n  DC0_H0_VM0: 4 copy rounds; last round read 65\.5\skB; churn .*/s; "
                                   r"downtime \d+\.\d s")
        self.assertEqual(self.snapshots(vm["id"]), 0, "a snapshot mtvd made is left")
        wait_for("the source left off", lambda: self.inventory_vm("DC0_H0_VM0")["powerState"] == "poweredOff")

    def create_plan(self, vm_name):
        """Plan "w": warm, @vm_name into the local target."""
        self.sb.mtvctl("create", "mapping", "network", "w-net", "-S", "vc", "-T", "host",
                       "--network-pairs", "DC0_DVPG0:default")
        self.sb.mtvctl("create", "mapping", "storage", "w-st", "-S", "vc", "-T", "host",
                       "--storage-pairs", "LocalDS_0:standard")
        self.sb.create("CreatePlan", "w", {
            "sourceProvider": S("vc"), "targetProvider": S("host"), "networkMap": S("w-net"), "storageMap": S("w-st"),
            "targetNamespace": S("mtv-test"), "skipGuestConversion": v("b", True), "type": S("warm"),
            "vms": v("aa{sv}", [{"name": S(vm_name)}])})

    def plan(self, vm_name, cutover=None):
        self.create_plan(vm_name)
        wait_for("plan Ready", lambda: self.status()["phase"] == "Ready", timeout=30)
        if cutover:
            r = self.sb.mtvctl("start", "plan", "w", "--cutover", cutover)
            self.assertEqual(r.returncode, 0, r.stderr)
        else:
            self.sb.call(object_path("plans", "w"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))

    def test_cancel_during_precopy_removes_the_snapshot(self):
        vm, files = self.warm_vm("DC0_H0_VM1", [2 * MiB])
        self.plan("DC0_H0_VM1")
        wait_for("the first precopy to pause", lambda: self.vm_status().get("phase") == "CopyingPaused", timeout=60)
        self.assertEqual(self.snapshots(vm["id"]), 1)
        r = self.sb.mtvctl("cancel", "plan", "w")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = wait_for("the migration to end", lambda: (lambda s: s if s["phase"] in ("Canceled", "Failed") else None)(
            self.status()), timeout=60)[0]
        self.assertEqual(st["phase"], "Canceled", json.dumps(st.get("migration"), indent=1))
        self.assertEqual(self.snapshots(vm["id"]), 0, "the precopy's snapshot is left")
        self.assertEqual(self.inventory_vm("DC0_H0_VM1")["powerState"], "poweredOn")   # left running as it was
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "target", "mtv-test", "dc0-h0-vm1")))

    def test_a_failed_precopy_leaves_the_source_as_it_was(self):
        vm, files = self.warm_vm("DC0_H0_VM1", [2 * MiB])
        self.plan("DC0_H0_VM1")
        wait_for("the first precopy to pause", lambda: self.vm_status().get("phase") == "CopyingPaused", timeout=60)
        os.rename(files[0], files[0] + ".away")   # the next round cannot read the disk
        try:
            st = wait_for("the migration to end", lambda: (lambda s: s if s["phase"] in ("Succeeded", "Failed")
                                                           else None)(self.status()), timeout=60)[0]
        finally:
            os.rename(files[0] + ".away", files[0])
        self.assertEqual(st["phase"], "Failed")
        self.assertEqual(self.vm_status()["warm"]["failures"], 1)
        self.assertEqual(self.snapshots(vm["id"]), 0, "a snapshot mtvd made is left after a failure")
        self.assertEqual(self.inventory_vm("DC0_H0_VM1")["powerState"], "poweredOn")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "target", "mtv-test", "dc0-h0-vm1")))

    def test_a_snapshot_that_cannot_be_removed_is_said_and_tried_again(self):
        vm, files = self.warm_vm("DC0_H0_VM1", [1 * MiB])
        # The precopy's snapshot goes at the cutover; the final one, removed
        # once the VM exists, fails.
        req = urllib.request.Request(self.sim.url.replace("/sdk", "") + "/mtv-test/fail-snapshot-removal?n=5&skip=1",
                                     method="POST")
        urllib.request.urlopen(req, context=self.admin.ctx, timeout=10).close()
        self.plan("DC0_H0_VM1", cutover="now")
        st = wait_for("the migration to end", lambda: (lambda s: s if s["phase"] in ("Succeeded", "Failed") else None)(
            self.status()), timeout=60)[0]
        # The VM is migrated and the plan not stuck; the snapshot left is said.
        self.assertEqual(st["phase"], "Succeeded", json.dumps(st.get("migration"), indent=1))
        c = {x["type"]: x for x in self.vm_status().get("conditions", [])}["SourceNotRestored"]
        self.assertEqual(c["category"], "Warn")
        self.assertIn("removing snapshot snapshot-", c["message"])
        self.assertIn("tries again when it next starts", c["message"])
        self.assertEqual(self.snapshots(vm["id"]), 1)
        self.assertIn("the source was not released", self.log())
        # The next start of mtvd removes it.
        urllib.request.urlopen(urllib.request.Request(self.sim.url.replace("/sdk", "") +
                                                      "/mtv-test/fail-snapshot-removal?n=0", method="POST"),
                               context=self.admin.ctx, timeout=10).close()
        self.sb.kill_mtvd()
        self.sb.start_mtvd()
        wait_for("the snapshot removed", lambda: self.snapshots(vm["id"]) == 0, timeout=30)
        wait_for("the condition gone", lambda: "conditions" not in self.vm_status(), timeout=30)

    def test_mtvd_killed_mid_copy_and_while_paused_resumes(self):
        vm, files = self.warm_vm("DC0_H0_VM1", [8 * MiB])
        r = self.sb.mtvctl("patch", "provider", "vc", "--setting", "transferMaxRate=2000000")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.plan("DC0_H0_VM1")
        # Killed during the first (full) copy: it goes on from its checkpoint.
        wait_for("the first copy under way", lambda: self.vm_status().get("phase") == "CopyDisks"
                 and self.sb.objects()[self.vm_status_path()]["org.mtvd.Mtv1.MigrationVm"]["BytesTransferred"] > MiB,
                 timeout=60)
        self.sb.kill_mtvd()
        self.sb.start_mtvd()
        wait_for("the first precopy to pause", lambda: self.vm_status().get("phase") == "CopyingPaused", timeout=60)
        self.assertIn("VM DC0_H0_VM1: resuming the copy: 0 of 1 disks done", self.log())
        self.write_blocks(files[0], [5, 100])
        wait_for("the second round", lambda: self.vm_status().get("warm", {}).get("successes") == 2, timeout=60)
        # Killed while paused: it waits on, then cuts over.
        self.sb.kill_mtvd()
        self.sb.start_mtvd()
        self.write_blocks(files[0], [7])
        r = self.sb.mtvctl("cutover", "plan", "w", "--cutover", "now")
        self.assertEqual(r.returncode, 0, r.stderr)
        st = wait_for("the migration to end", lambda: (lambda s: s if s["phase"] in ("Succeeded", "Failed") else None)(
            self.status()), timeout=120)[0]
        self.assertEqual(st["phase"], "Succeeded", json.dumps(st.get("migration"), indent=1))
        with open(os.path.join(self.tmp, "target", "mtv-test", "dc0-h0-vm1", "disk-0.img"), "rb") as a, \
                open(files[0], "rb") as b:
            self.assertTrue(a.read() == b.read(), "the disk differs from the source's final content")
        self.assertEqual(self.snapshots(vm["id"]), 0)

    def vm_status_path(self):
        plan = self.sb.objects()[object_path("plans", "w")]["org.mtvd.Mtv1.Plan"]
        run = self.sb.objects()[plan["Migration"]]["org.mtvd.Mtv1.Migration"]
        return run["Vms"][0]

    def conditions(self):
        return {c["type"]: c for c in self.status().get("conditions", [])}

    def test_what_cannot_be_warm_is_refused_before_it_starts(self):
        vm = self.inventory_vm("DC0_H0_VM1")
        self.create_plan("DC0_H0_VM1")
        # CBT off (vcsim's default), Forklift's condition.
        c = wait_for("VMMissingChangedBlockTracking", lambda: self.conditions().get("VMMissingChangedBlockTracking"))[0]
        self.assertEqual((c["category"], c["reason"]), ("Critical", "MissingChangedBlockTracking"))
        self.assertIn("DC0_H0_VM1", c["message"])
        self.admin.reconfigure(vm["id"], "<changeTrackingEnabled>true</changeTrackingEnabled>")
        wait_for("CBT on", lambda: "VMMissingChangedBlockTracking" not in self.conditions())
        # A snapshot from before the plan.
        self.admin.snapshot(vm["id"], "theirs")
        c = wait_for("VMHasSnapshots", lambda: self.conditions().get("VMHasSnapshots"))[0]
        self.assertEqual(c["category"], "Critical")
        self.admin.remove_snapshots(vm["id"])
        wait_for("no snapshot", lambda: "VMHasSnapshots" not in self.conditions())
        # An independent disk is not in any snapshot.
        disk = self.inventory_vm("DC0_H0_VM1")["disks"][0]
        self.admin.disk_capacity(vm["id"], disk, disk["capacity"], mode="independent_persistent")
        c = wait_for("VMMigrationTypeUnsupported", lambda: self.conditions().get("VMMigrationTypeUnsupported"))[0]
        self.assertIn("DC0_H0_VM1 (disk %s, independent)" % disk["name"], c["message"])
        self.admin.disk_capacity(vm["id"], disk, disk["capacity"], mode="persistent")
        wait_for("Ready", lambda: self.status()["phase"] == "Ready")

    def log(self):
        with open(os.path.join(self.sb.tmp, "mtvd.log"), errors="replace") as f:
            return f.read()


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""mtvd killed (SIGKILL) at every point where a migration stores its state,
just before and just after the write, and at fractions of its copies; each
time it is started again and the migration must end Succeeded with disks
equal to the source, with nothing left running or lying about. The points
come from a first run, so a new phase or store is in the matrix by itself.

The state writes are found with gdb: a breakpoint on the store's run and VM
writes, counted, and the Nth one kills mtvd (before it, or once it returned).
That is the real mtvd, killed exactly where a crash hurts most."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from faults import Migrations, make_ova, read
from mtvtest import CallError, Sandbox, object_path, v

STORE_WRITES = ("mtv_store_put_run_vm", "mtv_store_put_run", "mtv_store_delete_run")
GDB_TIMEOUT = 60
S = lambda x: v("s", x)  # noqa: E731


def slurp(path):
    with open(path, errors="replace") as f:
        return f.read()


def gdb_script(target, after):
    """Counts the store's writes; at the @target-th, kills mtvd (@after: once
    the write returned). Every line it prints starts with 'mtv-'."""
    breaks = "\n".join(f"break {f}" for f in STORE_WRITES)
    numbers = " ".join(str(i + 1) for i in range(len(STORE_WRITES)))
    return f"""set pagination off
set confirm off
set print thread-events off
handle all nostop noprint pass
handle SIGINT stop
set $hits = 0
{breaks}
commands {numbers}
  silent
  set $hits = $hits + 1
  printf "mtv-write %d\\n", $hits
  bt 8
  printf "mtv-end-bt\\n"
  if $hits < {target}
    continue
  end
end
printf "mtv-attached\\n"
continue
{"finish" if after else ""}
printf "mtv-killing\\n"
kill
quit
"""


class Sweep:
    """The sweep over a migration's state writes. The test class gives
    self.sb, self.dir, start(), plan_status(), log(), VM (the VM's name),
    assert_outcome(point) and reset()."""
    VM = "vm1"

    # ---- killing at the Nth state write ----------------------------------------------
    def kill_at_write(self, target, after):
        """Starts the plan under gdb and kills mtvd at its @target-th state
        write. Returns where that was (the write's callers), or None when the
        migration ended with fewer writes."""
        out_path = os.path.join(self.dir, f"gdb-{target}-{int(after)}.out")
        script = os.path.join(self.dir, "crash.gdb")
        with open(script, "w") as f:
            f.write(gdb_script(target, after))
        with open(out_path, "w") as out:
            gdb = subprocess.Popen(["gdb", "-nx", "-batch", "-p", str(self.sb.mtvd.pid), "-x", script],
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: gdb.poll() is None and gdb.kill())
        self.wait_for(lambda: "mtv-attached" in slurp(out_path), "gdb to attach", out_path)
        log_from = os.path.getsize(self.sb.mtvd_log.name)
        self.start_answered = True
        try:
            self.start()
        except CallError as e:
            # Killed inside Start: the caller hears that it got no answer.
            self.assertEqual(e.name, "org.freedesktop.DBus.Error.NoReply", e.message)
            self.start_answered = False
        deadline = time.monotonic() + GDB_TIMEOUT
        while self.sb.mtvd.poll() is None:
            try:
                phase = self.plan_status()["phase"]
            except CallError:
                continue   # mtvd stopped at the write, or killed there
            if phase not in ("Executing", "Ready"):
                # Fewer writes than @target: gdb lets it go, mtvd goes on.
                gdb.send_signal(signal.SIGINT)
                self.sb.mtvd.wait(timeout=30)
                gdb.wait(timeout=30)
                return None
            self.assertLess(time.monotonic(), deadline, "the crash point was not reached:\n" + slurp(out_path))
            time.sleep(0.02)
        gdb.wait(timeout=30)
        self.sb.kill_mtvd()
        text = slurp(out_path)
        self.assertIn("mtv-killing", text)
        last = text.rsplit(f"mtv-write {target}\n", 1)[1].split("mtv-end-bt", 1)[0]
        callers = " <- ".join(re.findall(r"#\d+\s+(?:0x\w+ in )?(\w+)", last)[:5])
        phases = re.findall(rf"VM {self.VM}: (\w+)$", self.log()[log_from:], re.M)
        return f"in {phases[-1] if phases else 'no phase yet'}, {callers}"

    def wait_for(self, pred, what, log):
        deadline = time.monotonic() + GDB_TIMEOUT
        while not pred():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}:\n" + slurp(log)[-3000:])
            time.sleep(0.05)

    def sweep(self, after):
        """Every state write of a migration, one run per write."""
        points = []
        target = 1
        while True:
            where = self.kill_at_write(target, after)
            if where is None:
                break
            point = f"{'after' if after else 'before'} state write {target} ({where})"
            points.append(point)
            self.start_mtvd()
            if not self.start_answered and self.plan_status()["phase"] == "Ready":
                # Start was killed before it stored the run: nothing was
                # started, and asking again starts it.
                self.start()
            self.assert_outcome(point)
            self.reset()
            target += 1
        # The matrix is as large as the migration: a change that stops storing
        # its state (or stores it without the store) shows here.
        self.assertGreaterEqual(len(points), 5, points)
        print(f"\n{len(points)} crash points, each resumed to its end:\n  " + "\n  ".join(points), file=sys.stderr)
        return points


class CrashPoints(Sweep, Migrations):
    """OVA to the local target, one disk raw and one converted to qcow2."""
    DISKS = ((6, "a"), (4, "b"))

    def setUp(self):
        super().setUp()
        _, self.raws = make_ova(self.ovas, "vm1", disks=self.DISKS)
        self.CLASSES = {"vm1-disk2.vmdk": "qcow2"}   # one disk converted, one raw
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk", "vm1-disk2.vmdk"]})

    # ---- looking at the result ------------------------------------------------------
    def assert_outcome(self, point):
        st = self.wait_end(timeout=120)
        self.assertEqual(st["phase"], "Succeeded", f"killed {point}: {self.reason('vm1')}")
        vm_dir = os.path.join(self.target, "prod", "vm1")
        self.assertEqual(read(self.raws[0]), read(os.path.join(vm_dir, "disk-0.img")), point)
        r = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "qcow2", self.raws[1],
                            os.path.join(vm_dir, "disk-1.qcow2")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, f"killed {point}: {r.stdout}{r.stderr}")
        for name in ("vm1.yaml", "vm1.xml"):
            self.assertTrue(os.path.exists(os.path.join(vm_dir, name)), f"killed {point}: no {name}")
        self.assert_nothing_left(point)

    def assert_nothing_left(self, point):
        self.assertTrue(self.wait_gone("(mtv-transfer|qemu-nbd|nbdkit).*" + self.dir), f"killed {point}: helpers left")
        checkpoints = os.path.join(self.sb.state_dir, "checkpoints")
        self.assertEqual(os.listdir(checkpoints) if os.path.isdir(checkpoints) else [], [], point)
        # mtvd answers, and lists what it has.
        self.assertIn(object_path("plans", "p"), self.sb.objects())

    def reset(self):
        """The same plan, run again from scratch: its target and history gone."""
        self.sb.call(object_path("plans", "p"), "org.mtvd.Mtv1.Resource", "Delete", "(a{sv})", ({},))
        subprocess.run(["rm", "-rf", os.path.join(self.target, "prod")], check=True)
        self.setup_plan_again()

    def setup_plan_again(self, hooks=()):
        vm = {"name": S("vm1")}
        if hooks:
            vm["hooks"] = v("aa{sv}", [{"hook": S(h), "step": S(step)} for h, step in hooks])
        self.sb.create("CreatePlan", "p", {"sourceProvider": S("ova"), "targetProvider": S("host"),
                                           "networkMap": S("net"), "storageMap": S("st"),
                                           "vms": v("aa{sv}", [vm]),
                                           "skipGuestConversion": v("b", True), "targetNamespace": S("prod")})
        self.wait_plan("p", lambda st: st["phase"] == "Ready", "Ready")

    def test_killed_just_before_each_state_write(self):
        self.sweep(after=False)

    def test_killed_just_after_each_state_write(self):
        self.sweep(after=True)


class CrashPointsWithHooks(CrashPoints):
    """The same with a PreHook and a PostHook (commands run by mtvd): a hook
    that was running when mtvd died runs again, and the migration ends."""
    HOOKS = (("pre", "PreHook"), ("post", "PostHook"))

    def setUp(self):
        super().setUp()
        self.ran = os.path.join(self.dir, "ran")
        for name, _ in self.HOOKS:
            self.sb.create("CreateHook", name, {"command": S(f"sh -c 'echo $MTV_STEP >> {self.ran}'")})
        self.sb.call(object_path("plans", "p"), "org.mtvd.Mtv1.Resource", "Delete", "(a{sv})", ({},))
        self.setup_plan_again()

    def setup_plan_again(self):
        super().setup_plan_again(hooks=self.HOOKS)

    def sweep(self, after):
        self.interrupted = []
        points = super().sweep(after)
        # Only the kills inside a hook's run fail the VM: at most the write
        # before and the write after each of the two hooks.
        self.assertLessEqual(len(self.interrupted), 2, self.interrupted)
        self.assertGreater(len(points) - len(self.interrupted), 8, points)
        return points

    def reset(self):
        super().reset()
        if os.path.exists(self.ran):
            os.unlink(self.ran)

    def assert_outcome(self, point):
        # A hook is not run twice (it may do harm): killed while one ran (or
        # had ended without that stored), the VM fails saying so; killed
        # anywhere else, it goes on, the hooks having run once each.
        st = self.wait_end(timeout=120)
        reason = self.reason("vm1")
        if st["phase"] == "Failed" and "which does not resume" in reason:
            if "phase PreHook" in reason:
                self.assertEqual(reason, "mtvd stopped while the VM was in phase PreHook, which does not resume; "
                                         "what it had made on the target is removed", point)
                self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")), point)
            else:
                self.assertEqual(reason, "mtvd stopped while the VM was in phase PostHook, which does not resume; "
                                         "the target VM is kept", point)
                self.assertTrue(os.path.exists(os.path.join(self.target, "prod", "vm1", "vm1.yaml")), point)
            self.assert_nothing_left(point)
            self.interrupted.append(point)
            return
        super().assert_outcome(point)
        self.assertEqual(sorted(slurp(self.ran).split()), ["PostHook", "PreHook"], f"killed {point}")
        pipeline = [step["name"] for step in self.vm("vm1")["pipeline"]]
        self.assertEqual(pipeline, ["Initialize", "PreHook", "DiskTransfer", "VirtualMachineCreation", "PostHook"])


class ClusterCrashPoints(Sweep, unittest.TestCase):
    """A running KubeVirt VM into the cluster target (the Kubernetes API
    stand-in, tests/integration/kube_standin.py): its power state is stored,
    it is stopped, exported, uploaded, created on the target. A kill anywhere
    must still end with the copy right, the source left as Forklift leaves it
    (off after success), and nothing of the migration's left in the cluster."""
    VM = "src1"

    def setUp(self):
        import kube_standin
        self.dir = tempfile.mkdtemp(prefix="mtv-crash-cluster-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.server, url = kube_standin.start(self.dir)
        self.addCleanup(self.server.shutdown)
        self.cluster = self.server.cluster
        self.sb = Sandbox().start()
        self.addCleanup(self.sb.stop)
        self.data = os.path.join(self.dir, "src1-root.img")
        with open(self.data, "wb") as f:
            f.write(os.urandom(1 << 20) * 2 + b"\0" * (2 << 20))
        c = self.cluster
        with c.lock:
            c.put_object(("", "v1", "namespaces"), None,
                         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}, "ADDED")
            c.create(("cdi.kubevirt.io", "v1beta1", "datavolumes"), "apps", {
                "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume", "metadata": {"name": "src1-root"},
                "spec": {"source": {"blank": {}},
                         "storage": {"storageClassName": "fast", "resources": {"requests": {"storage": "4Mi"}}}}})
            c.create(("kubevirt.io", "v1", "virtualmachines"), "apps", {
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "src1"},
                "spec": {"runStrategy": "Always", "template": {"metadata": {"labels": {"app": "src1"}}, "spec": {
                    "domain": {"devices": {"disks": [{"name": "root", "disk": {"bus": "virtio"}}],
                                           "interfaces": [{"name": "default", "masquerade": {}}]},
                               "resources": {"requests": {"memory": "1Gi"}}},
                    "networks": [{"name": "default", "pod": {}}],
                    "volumes": [{"name": "root", "dataVolume": {"name": "src1-root"}}]}}}})
            c.volumes[("apps", "src1-root")] = self.data
        for name in ("kvsrc", "kvdst"):
            self.sb.create("CreateProvider", name, {"type": S("openshift"), "url": S(url),
                                                    "settings": v("a{ss}", {"refreshInterval": "1"}),
                                                    "credentials": v("a{ss}", {"token": "admin-token"})})
        pair = lambda src, dst: {"source": v("a{sv}", {"name": S(src)}),  # noqa: E731
                                 "destination": v("a{sv}", {k: S(x) for k, x in dst.items()})}
        self.sb.create("CreateNetworkMap", "net", {"sourceProvider": S("kvsrc"), "targetProvider": S("kvdst"),
                                                   "pairs": v("aa{sv}", [pair("pod", {"type": "pod"})])})
        self.sb.create("CreateStorageMap", "st", {"sourceProvider": S("kvsrc"), "targetProvider": S("kvdst"),
                                                  "pairs": v("aa{sv}", [pair("src1/src1-root",
                                                                             {"storageClass": "standard"})])})
        self.make_plan()

    def make_plan(self):
        self.sb.create("CreatePlan", "p", {"sourceProvider": S("kvsrc"), "targetProvider": S("kvdst"),
                                           "networkMap": S("net"), "storageMap": S("st"),
                                           "targetNamespace": S("mtv-test"), "vms": v("aa{sv}", [{"name": S("src1")}])})
        deadline = time.monotonic() + 30
        while self.plan_status()["phase"] != "Ready":
            self.assertLess(time.monotonic(), deadline, "the plan did not become Ready: " + str(self.plan_status()))
            time.sleep(0.1)

    def start(self):
        return self.sb.call(object_path("plans", "p"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))[0]

    def start_mtvd(self):
        self.sb.start_mtvd()

    def plan_status(self):
        return self.sb.export(object_path("plans", "p"))["status"]

    def log(self):
        return slurp(self.sb.mtvd_log.name)

    def objects(self, kind, ns=None):
        with self.cluster.lock:
            return {k: o for k, o in self.cluster.objects.items() if k[2] == kind and (ns is None or k[3] == ns)}

    def assert_outcome(self, point):
        deadline = time.monotonic() + 120
        while (st := self.plan_status())["phase"] in ("Executing", "Ready"):
            self.assertLess(time.monotonic(), deadline, f"killed {point}: the migration did not end")
            time.sleep(0.1)
        vm = st["migration"]["vms"][0]
        self.assertEqual(st["phase"], "Succeeded", f"killed {point}: {vm.get('error')}")
        with open(self.cluster.uploads[("mtv-test", "src1-disk-0")], "rb") as a, open(self.data, "rb") as b:
            self.assertTrue(a.read() == b.read(), f"killed {point}: the uploaded disk differs")
        self.assertIn(("kubevirt.io", "v1", "virtualmachines", "mtv-test", "src1"), self.objects("virtualmachines"))
        source = self.objects("virtualmachines")[("kubevirt.io", "v1", "virtualmachines", "apps", "src1")]
        self.assertEqual(source["spec"]["runStrategy"], "Halted", f"killed {point}")   # stopped, left off
        deadline = time.monotonic() + 20
        while self.objects("virtualmachineexports") and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(list(self.objects("virtualmachineexports")), [], f"killed {point}: an export was left")
        deadline = time.monotonic() + 10
        while subprocess.run(["pgrep", "-f", "(mtv-transfer|nbdkit|qemu-nbd).*" + self.sb.tmp]).returncode == 0:
            self.assertLess(time.monotonic(), deadline, f"killed {point}: helpers left")
            time.sleep(0.05)
        self.assertIn(object_path("plans", "p"), self.sb.objects())

    def reset(self):
        """The plan again from scratch: the target's VM and volumes gone, the
        source running as at first."""
        self.sb.call(object_path("plans", "p"), "org.mtvd.Mtv1.Resource", "Delete", "(a{sv})", ({},))
        c = self.cluster
        with c.lock:
            for kind in ("virtualmachines", "datavolumes", "persistentvolumeclaims"):
                for key in [k for k in c.objects if k[2] == kind and k[3] == "mtv-test"]:
                    c.delete(key[:3], key[3], key[4])
            c.uploads.pop(("mtv-test", "src1-disk-0"), None)
            c.patch(("kubevirt.io", "v1", "virtualmachines"), "apps", "src1", "application/merge-patch+json",
                    {"spec": {"runStrategy": "Always"}}, None)
        self.make_plan()

    def test_killed_just_before_each_state_write(self):
        self.sweep(after=False)

    def test_killed_just_after_each_state_write(self):
        self.sweep(after=True)


class ClusterFailureCrashPoints(ClusterCrashPoints):
    """The same migration failing (the upload proxy drops every stream): a
    kill anywhere, in the failure's cleanup too, must still end Failed with
    the cause, the source running again as it was, nothing of the migration
    left in the cluster."""

    def setUp(self):
        super().setUp()
        self.cluster.fail_uploads_after = 4096

    def assert_outcome(self, point):
        deadline = time.monotonic() + 120
        while (st := self.plan_status())["phase"] in ("Executing", "Ready"):
            self.assertLess(time.monotonic(), deadline, f"killed {point}: the migration did not end")
            time.sleep(0.1)
        self.assertEqual(st["phase"], "Failed", f"killed {point}")
        vm = st["migration"]["vms"][0]
        self.assertIn("copying disk", json.dumps(vm.get("error")), f"killed {point}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            source = self.objects("virtualmachines")[("kubevirt.io", "v1", "virtualmachines", "apps", "src1")]
            left = [k for kind in ("virtualmachines", "datavolumes", "persistentvolumeclaims", "virtualmachineexports")
                    for k in self.objects(kind) if k[3] == "mtv-test" or kind == "virtualmachineexports"]
            if source["spec"]["runStrategy"] == "Always" and not left:
                break
            time.sleep(0.1)
        self.assertEqual(source["spec"]["runStrategy"], "Always", f"killed {point}: the source was left off")
        self.assertEqual(left, [], f"killed {point}: left in the cluster")
        self.assertIn(object_path("plans", "p"), self.sb.objects())


class CopyFractions(Migrations):
    """Killed while the disks are copied, at fractions of the whole found
    from the status: the copy goes on from its checkpoint, not from zero."""
    RATE = 2000000

    def test_killed_at_fractions_of_the_copy(self):
        _, raws = make_ova(self.ovas, "vm1", disks=((6, "a", "dense"), (6, "b", "dense")))
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk", "vm1-disk2.vmdk"]})
        total = 12 << 20
        self.start()
        for fraction in (0.1, 0.35, 0.6, 0.85):
            with self.subTest(fraction=fraction):
                self.wait_vm("vm1", lambda vm: self.bytes_copied("vm1") >= fraction * total,
                             f"{int(fraction * 100)} % copied", timeout=60)
                copied = self.bytes_copied("vm1")
                self.sb.kill_mtvd()
                self.assertTrue(self.wait_gone("(mtv-transfer|qemu-nbd).*" + self.dir), "helpers outlived mtvd")
                self.start_mtvd()
                # Resumed where it was: the count starts from what was copied,
                # less at most what the last checkpoints' second saw (2 MB/s a disk),
                # as soon as the copies report (their first report says where they resumed).
                self.wait_vm("vm1", lambda vm: self.bytes_copied("vm1") > 0, "the copies to report", timeout=5)
                self.assertGreaterEqual(self.bytes_copied("vm1"), copied - 2 * self.RATE, fraction)
        st = self.wait_end()
        self.assertEqual(st["phase"], "Succeeded", self.reason("vm1"))
        for i, raw in enumerate(raws):
            self.assertEqual(read(raw), read(os.path.join(self.target, "prod", "vm1", f"disk-{i}.img")))
        # The last copy of each disk went on from a checkpoint: it read less than the disk.
        for task in self.vm("vm1")["pipeline"][1]["tasks"]:
            self.assertLess(int(task["annotations"]["bytesRead"]), 6 << 20, task)
        self.assertIn("VM vm1: resuming the copy: ", self.log())
        self.assertEqual(os.listdir(os.path.join(self.sb.state_dir, "checkpoints")), [])


class HelpersKilled(Migrations):
    """The disk server killed under a copy (mtv-transfer and qemu-img
    killed: test_faults): started again and the copy resumed, a few times,
    then the VM fails saying what happened."""
    RATE = 2000000

    def kill_server(self, not_these=()):
        """Kills the disk server (another than @not_these) once it has served
        for a moment."""
        deadline = time.monotonic() + 60
        first_seen = {}
        while time.monotonic() < deadline:
            for pid in self.pids("qemu-nbd.*" + self.ovas):
                if pid not in not_these:
                    first_seen.setdefault(pid, time.monotonic())
            ready = [p for p, t in first_seen.items() if time.monotonic() - t > 0.7]
            if ready:
                for pid in ready:
                    os.kill(pid, signal.SIGKILL)
                return ready
            time.sleep(0.05)
        self.fail("no disk server to kill")

    def test_disk_server_killed_mid_copy_is_started_again(self):
        _, raws = make_ova(self.ovas, "vm1", disks=((8, "a", "dense"),))
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]})
        self.start()
        self.wait_copying("vm1")
        self.kill_server()
        st = self.wait_end()
        self.assertEqual(st["phase"], "Succeeded", self.reason("vm1"))
        self.assertEqual(read(raws[0]), read(os.path.join(self.target, "prod", "vm1", "disk-0.img")))
        self.assertIn("VM vm1: the disk's server qemu-nbd was killed by signal 9 (Killed) while copying disk "
                      "vm1-disk1.vmdk; starting it again and resuming from the checkpoint (attempt 2 of 4)", self.log())
        task = self.vm("vm1")["pipeline"][1]["tasks"][0]
        self.assertLess(int(task["annotations"]["bytesRead"]), 8 << 20)   # resumed, not started over
        self.assertTrue(self.wait_gone("(mtv-transfer|qemu-nbd).*" + self.dir))

    def test_disk_server_killed_again_and_again_fails_the_vm(self):
        make_ova(self.ovas, "vm1", disks=((32, "a", "dense"),))   # more than the kills' time copies
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]})
        self.start()
        self.wait_copying("vm1")
        killed = []
        for attempt in range(4):
            killed += self.kill_server(not_these=killed)
        st = self.wait_end()
        self.assertEqual(st["phase"], "Failed")
        reason = self.reason("vm1")
        self.assertTrue(reason.startswith("copying disk vm1-disk1.vmdk: the disk's server failed: qemu-nbd was killed "
                                          "by signal 9 (Killed)"), reason)
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))
        self.assertTrue(self.wait_gone("(mtv-transfer|qemu-nbd).*" + self.dir))
        self.assertIn(object_path("plans", "p"), self.sb.objects())


if __name__ == "__main__":
    unittest.main(verbosity=2)

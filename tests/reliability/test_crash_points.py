"""mtvd killed (SIGKILL) at every point where a migration stores its state,
just before and just after the write, and at fractions of its copies; each
time it is started again and the migration must end Succeeded with disks
equal to the source, with nothing left running or lying about. The points
come from a first run, so a new phase or store is in the matrix by itself.

The state writes are found with gdb: a breakpoint on the store's run and VM
writes, counted, and the Nth one kills mtvd (before it, or once it returned).
That is the real mtvd, killed exactly where a crash hurts most."""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

from faults import Migrations, make_ova, read
from mtvtest import CallError, object_path, v

STORE_WRITES = ("mtv_store_put_run_vm", "mtv_store_put_run", "mtv_store_delete_run")
GDB_TIMEOUT = 60


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


class CrashPoints(Migrations):
    DISKS = ((6, "a"), (4, "b"))

    def setUp(self):
        super().setUp()
        _, self.raws = make_ova(self.ovas, "vm1", disks=self.DISKS)
        self.CLASSES = {"vm1-disk2.vmdk": "qcow2"}   # one disk converted, one raw
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk", "vm1-disk2.vmdk"]})

    # ---- looking at the result ------------------------------------------------------
    def assert_migrated(self, point):
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
        phases = re.findall(r"VM vm1: (\w+)$", self.log()[log_from:], re.M)
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
            self.assert_migrated(point)
            self.reset()
            target += 1
        # The matrix is as large as the migration: a change that stops storing
        # its state (or stores it without the store) shows here.
        self.assertGreaterEqual(len(points), 5, points)
        print(f"\n{len(points)} crash points, each resumed to success:\n  " + "\n  ".join(points), file=sys.stderr)
        return points

    def reset(self):
        """The same plan, run again from scratch: its target and history gone."""
        self.sb.call(object_path("plans", "p"), "org.mtvd.Mtv1.Resource", "Delete", "(a{sv})", ({},))
        subprocess.run(["rm", "-rf", os.path.join(self.target, "prod")], check=True)
        self.setup_plan_again()

    def setup_plan_again(self):
        S = lambda x: v("s", x)  # noqa: E731
        self.sb.create("CreatePlan", "p", {"sourceProvider": S("ova"), "targetProvider": S("host"),
                                           "networkMap": S("net"), "storageMap": S("st"),
                                           "vms": v("aa{sv}", [{"name": S("vm1")}]),
                                           "skipGuestConversion": v("b", True), "targetNamespace": S("prod")})
        self.wait_plan("p", lambda st: st["phase"] == "Ready", "Ready")

    def test_killed_just_before_each_state_write(self):
        self.sweep(after=False)

    def test_killed_just_after_each_state_write(self):
        self.sweep(after=True)


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
                # less at most what the last checkpoint's seconds saw (2 MB/s).
                self.wait_vm("vm1", lambda vm: vm.get("phase") != "Started", "the VM to resume")
                self.assertGreaterEqual(self.bytes_copied("vm1"), copied - 3 * self.RATE, fraction)
        st = self.wait_end()
        self.assertEqual(st["phase"], "Succeeded", self.reason("vm1"))
        for i, raw in enumerate(raws):
            self.assertEqual(read(raw), read(os.path.join(self.target, "prod", "vm1", f"disk-{i}.img")))
        self.assertIn("VM vm1: resuming at disk 1", self.log())
        self.assertEqual(os.listdir(os.path.join(self.sb.state_dir, "checkpoints")), [])


class HelpersKilled(Migrations):
    """The disk server killed under a copy (mtv-transfer and qemu-img
    killed: test_faults): started again and the copy resumed, a few times,
    then the VM fails saying what happened."""
    RATE = 2000000

    def kill_server(self, not_these=()):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            servers = [p for p in self.pids("qemu-nbd.*" + self.ovas) if p not in not_these]
            if servers and self.bytes_copied("vm1") > (1 << 20) * (len(not_these) + 1):
                for pid in servers:
                    os.kill(pid, signal.SIGKILL)
                return servers
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
        make_ova(self.ovas, "vm1", disks=((8, "a", "dense"),))
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

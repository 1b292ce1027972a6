"""Faults a migration meets, each ending in a VM that succeeded with disks
equal to the source or failed with a reason that names the cause and left
nothing behind: helpers killed, a disk server that cannot read, a full
destination, mtvd killed while a copy fails."""
import os
import signal
import subprocess
import time
import unittest

from faults import Migrations, make_ova, read
from mtvtest import CallError, object_path, v


class Faults(Migrations):
    def one_vm(self, size=96, classes=None):
        _, raws = make_ova(self.ovas, "vm1", disks=((size, "a"),))
        if classes:
            self.CLASSES = classes
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]})
        return raws[0]

    def target_disk(self, name="vm1", index=0, ext="img"):
        return os.path.join(self.target, "prod", name, f"disk-{index}.{ext}")

    def transfer_pid(self, not_this=None, timeout=30):
        """The running mtv-transfer (another than @not_this), once it is copying."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [p for p in self.pids("mtv-transfer.*" + self.target) if p != not_this]
            if pids and self.vm("vm1").get("phase") == "CopyDisks":
                return pids[0]
            time.sleep(0.05)
        self.fail("no mtv-transfer started")

    def test_killed_transfer_resumes_from_its_checkpoint(self):
        raw = self.one_vm()
        self.start()
        pid = None
        for attempt in range(2):
            pid = self.transfer_pid(not_this=pid)
            time.sleep(1)
            os.kill(pid, signal.SIGKILL)
        st = self.wait_end()
        self.assertEqual(st["phase"], "Succeeded", self.reason("vm1"))
        self.assertEqual(read(raw), read(self.target_disk()))
        task = self.vm("vm1")["pipeline"][1]["tasks"][0]
        self.assertEqual(task["annotations"]["readFrom"], "the OVA file, unchanged from before to after the copy")
        log = self.log()
        self.assertIn("mtv-transfer was killed by signal 9 (Killed) while copying disk vm1-disk1.vmdk; "
                      "resuming from its checkpoint (attempt 2 of 4)", log)
        self.assertIn("(attempt 3 of 4)", log)

    def test_transfer_killed_again_and_again_fails_the_vm(self):
        self.one_vm()
        self.start()
        pid = None
        for attempt in range(4):
            pid = self.transfer_pid(not_this=pid)
            time.sleep(0.3)
            os.kill(pid, signal.SIGKILL)
        st = self.wait_end()
        self.assertEqual(st["phase"], "Failed")
        self.assertEqual("copying disk vm1-disk1.vmdk: mtv-transfer was killed by signal 9 (Killed) again, after 3 retries",
                         self.reason("vm1"))
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))

    def test_killed_conversion_says_so(self):
        self.wrap("qemu-img", 'if [ "$1" = convert ]; then kill -KILL $$; fi\nexec "$REAL" "$@"')
        self.one_vm(classes={"vm1-disk1.vmdk": "qcow2"})
        self.start()
        st = self.wait_end()
        self.assertEqual(st["phase"], "Failed")
        self.assertIn("converting disk 0 to qcow2: qemu-img was killed by signal 9 (Killed)", self.reason("vm1"))
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))

    def test_disk_server_failure_leads_the_reason(self):
        self.wrap("qemu-nbd", 'echo "qemu-nbd: Failed to blk_new_open: Permission denied" >&2\nexit 1')
        self.one_vm()
        self.start()
        st = self.wait_end()
        self.assertEqual(st["phase"], "Failed")
        self.assertIn("copying disk vm1-disk1.vmdk: the disk's server failed: qemu-nbd: Failed to blk_new_open: "
                      "Permission denied", self.reason("vm1"))
        self.assertIn("VM vm1: disk vm1-disk1.vmdk: qemu-nbd: qemu-nbd: Failed to blk_new_open: Permission denied", self.log())
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))

    def test_transient_read_errors_are_retried(self):
        # nbdkit's error filter in front of the disk server fails a fifth of
        # the reads: each is tried again, and the disk arrives whole.
        self.interpose(["--filter=error"], ["error=EIO", "error-pread-rate=20%"])
        raw = self.one_vm(size=24)
        self.start()
        st = self.wait_end()
        self.assertEqual(st["phase"], "Succeeded", self.reason("vm1"))
        self.assertEqual(read(raw), read(self.target_disk()))

    def test_persistent_read_errors_fail_with_the_cause(self):
        self.interpose(["--filter=error"], ["error=EIO", "error-pread-rate=100%"])
        self.one_vm(size=24)
        self.start()
        st = self.wait_end()
        self.assertEqual(st["phase"], "Failed")
        # The server's words lead, then what the copy saw.
        self.assertRegex(self.reason("vm1"), r"copying disk vm1-disk1.vmdk: the disk's server failed: nbdkit: .*"
                                             r"injecting EIO error into pread \(then: reading \d+ bytes at offset \d+ "
                                             r"failed 5 times: .*Input/output error\)")
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))
        self.assertTrue(self.wait_gone("(nbdkit|qemu-nbd|mtv-transfer).*" + self.dir))

    def test_slow_disk_server_still_copies(self):
        self.interpose(["--filter=delay"], ["rdelay=50ms"])
        raw = self.one_vm(size=24)
        self.start()
        st = self.wait_end()
        self.assertEqual(st["phase"], "Succeeded", self.reason("vm1"))
        self.assertEqual(read(raw), read(self.target_disk()))

    def test_hung_disk_server_fails_after_the_stall_timeout(self):
        # A server that stops answering (every read held for an hour) used to
        # hold the migration for ever: the setting bounds the wait.
        self.sb.call("/org/mtvd/Mtv1", "org.mtvd.Mtv1.Manager", "SetSettings", "(a{sv}a{sv})",
                     ({"controller_transfer_stall_timeout": v("u", 10)}, {}))
        self.interpose(["--filter=delay"], ["rdelay=3600"])
        self.one_vm(size=24)
        started = time.monotonic()
        self.start()
        st = self.wait_end(timeout=90)
        self.assertLess(time.monotonic() - started, 60)
        self.assertEqual(st["phase"], "Failed")
        self.assertRegex(self.reason("vm1"), r"copying disk vm1-disk1.vmdk: no request finished for 10 seconds at \d+ "
                                             r"of \d+ bytes: the source or the destination stopped answering")
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))
        self.assertTrue(self.wait_gone("(nbdkit|qemu-nbd|mtv-transfer).*" + self.dir))

    def test_source_gone_after_its_first_disk(self):
        _, raws = make_ova(self.ovas, "vm1", disks=((48, "a"), (4, "b")))
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk", "vm1-disk2.vmdk"]})
        self.start()
        self.transfer_pid()
        os.rename(os.path.join(self.ovas, "vm1.ova"), os.path.join(self.dir, "moved.ova"))
        st = self.wait_end()
        self.assertEqual(st["phase"], "Failed")
        self.assertRegex(self.reason("vm1"), r"after the copy: the file of disk vm1-disk[12].vmdk is gone \(.*vm1.ova: "
                                             r"No such file or directory\)")
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))

    def changed_mid_copy(self, change):
        """The OVA changes while its first disk is copied: another OVA of the
        same layout and other data takes its place (@change does it). The
        plan used to succeed, both disks "verified", the first matching
        neither file."""
        self.one_vm()
        other = os.path.join(self.dir, "other")
        make_ova(other, "vm1", disks=((96, "z"),))
        self.start()
        self.transfer_pid()
        time.sleep(1)
        change(os.path.join(other, "vm1.ova"), os.path.join(self.ovas, "vm1.ova"))
        st = self.wait_end()
        self.assertEqual(st["phase"], "Failed")
        reason = self.reason("vm1")
        self.assertIn("after the copy: ", reason)
        self.assertIn("vm1.ova, the file of disk vm1-disk1.vmdk, changed since the inventory read it", reason)
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))

    def test_source_written_over_mid_copy_fails(self):
        def write_over(new, old):
            with open(new, "rb") as f, open(old, "r+b") as g:
                g.write(f.read())
        self.changed_mid_copy(write_over)

    def test_source_replaced_mid_copy_fails(self):
        self.changed_mid_copy(os.rename)

    def test_source_changed_before_the_start_fails_before_any_copy(self):
        self.one_vm()
        other = os.path.join(self.dir, "other")
        make_ova(other, "vm1", disks=((96, "z"),))
        # The next scan far away (once the one the change starts is done): the
        # inventory keeps the version it read.
        self.sb.call(object_path("providers", "ova"), "org.mtvd.Mtv1.Resource", "Update", "(a{sv}a{sv})",
                     ({"settings": v("a{ss}", {"refreshInterval": "3600", "transferMaxRate": str(self.RATE)})}, {}))
        time.sleep(1)
        os.rename(os.path.join(other, "vm1.ova"), os.path.join(self.ovas, "vm1.ova"))
        self.start()
        st = self.wait_end()
        self.assertEqual(st["phase"], "Failed")
        self.assertIn("before the copy: ", self.reason("vm1"))
        self.assertEqual(self.vm("vm1")["phase"], "Started")
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))

    def mount_small_target(self, size="1m"):
        os.makedirs(self.target, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", self.target], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.target])

    def test_unwritable_local_target_is_refused_before_the_start(self):
        # A target where mtvd cannot write (a read-only file system, as every
        # place outside ReadWritePaths= is under mtvd.service) keeps the plan
        # from starting, with the reason, instead of failing its first copy.
        os.makedirs(self.target)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", self.target], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", self.target])
        make_ova(self.ovas, "vm1", disks=((4, "a"),))
        self.setup_plan(["vm1"], {"vm1": ["vm1-disk1.vmdk"]}, ready=False)
        st = self.wait_plan("p", lambda s: "DestinationProviderNotReady" in {c["type"] for c in s["conditions"]},
                            "the plan to see its target is not ready")
        conditions = {c["type"]: c for c in st["conditions"]}
        self.assertEqual(conditions["DestinationProviderNotReady"]["category"], "Critical")
        provider = self.sb.export(object_path("providers", "host"))["status"]
        message = {c["type"]: c for c in provider["conditions"]}["ConnectionTestFailed"]["message"]
        self.assertIn(f"cannot write to {self.target}: Read-only file system", message)
        self.assertIn("Read-only file system (mtvd.service lets mtvd write under /var/lib/mtv and /var/tmp", message)
        with self.assertRaises(CallError) as cm:
            self.start()
        self.assertIn("DestinationProviderNotReady", cm.exception.message)

    def test_full_destination_names_the_cause(self):
        self.mount_small_target()
        self.one_vm()
        self.start()
        st = self.wait_end()
        self.assertEqual(st["phase"], "Failed")
        self.assertIn("No space left on device", self.reason("vm1"))
        self.assertEqual(os.listdir(self.target), ["prod"] if os.path.exists(os.path.join(self.target, "prod"))
                         else [])
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))

    def test_killed_while_a_copy_fails_keeps_the_reason(self):
        # mtvd killed while the copy into a full destination fails: after the
        # restart the VM fails with that cause, not with what its cleanup left.
        self.mount_small_target()
        self.one_vm()
        self.start()
        self.transfer_pid()
        time.sleep(1.5)
        self.sb.kill_mtvd(signal.SIGKILL)
        self.start_mtvd()
        st = self.wait_end()
        self.assertEqual(st["phase"], "Failed")
        self.assertIn("No space left on device", self.reason("vm1"))
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))


if __name__ == "__main__":
    unittest.main(verbosity=2)

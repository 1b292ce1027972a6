"""State survives mtvd being killed: objects, specs, generations and
credentials come back exactly, and the files holding them are root's only."""
import os
import signal
import sqlite3
import stat
import unittest

from mtvtest import CallError, ROOT_PATH, Sandbox, object_path, v


def snapshot(sb):
    """Every object's properties plus its exported manifest, once the
    providers with a backend (local here) have reported their inventory."""
    import time
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        objects = sb.objects()
        if all(p["org.mtvd.Mtv1.Provider"]["InventoryRevision"] > 0 for path, p in objects.items()
               if "/providers/" in path and p["org.mtvd.Mtv1.Provider"]["Type"] == "local"):
            break
        time.sleep(0.05)
    manifests = {path: sb.export(path) for path in objects}
    return objects, manifests


class Restart(unittest.TestCase):
    def setUp(self):
        self.sb = Sandbox().start()

    def tearDown(self):
        self.sb.stop()

    def populate(self):
        sb = self.sb
        sb.create("CreateProvider", "vc", {"type": v("s", "vsphere"), "url": v("s", "https://vc.example.com/sdk"),
                                           "settings": v("a{ss}", {"vddkInitImage": "quay.io/x/vddk:8"}),
                                           "credentials": v("a{ss}", {"user": "admin", "password": "hunter2-secret"})})
        sb.create("CreateProvider", "host", {"type": v("s", "local"), "url": v("s", "file:///var/tmp/mtv")})
        sb.create("CreateNetworkMap", "net", {"sourceProvider": v("s", "vc"), "targetProvider": v("s", "host"),
                                              "pairs": v("aa{sv}", [{"source": v("a{sv}", {"name": v("s", "VM Network")}),
                                                                     "destination": v("a{sv}", {"type": v("s", "pod")})}])})
        sb.create("CreateStorageMap", "st", {"sourceProvider": v("s", "vc"), "targetProvider": v("s", "host"),
                                             "pairs": v("aa{sv}", [])})
        sb.create("CreateHook", "pre", {"image": v("s", "quay.io/konveyor/hook-runner"), "deadline": v("x", 30)})
        sb.create("CreatePlan", "web", {"sourceProvider": v("s", "vc"), "targetProvider": v("s", "host"),
                                        "networkMap": v("s", "net"), "storageMap": v("s", "st"),
                                        "vms": v("aa{sv}", [{"name": v("s", "web1")}, {"id": v("s", "vm-42")}]),
                                        "targetLabels": v("a{ss}", {"app": "web"})})
        # An update after creation: generation 2 must survive too.
        sb.call(object_path("plans", "web"), "org.mtvd.Mtv1.Resource", "Update", "(a{sv}a{sv})",
                ({"targetNamespace": v("s", "prod")}, {}))

    def test_sigkill_right_after_replies_loses_nothing(self):
        self.populate()
        before = snapshot(self.sb)
        self.assertEqual(before[1][object_path("plans", "web")]["metadata"]["generation"], 2)
        self.sb.kill_mtvd(signal.SIGKILL)
        self.sb.start_mtvd()
        after = snapshot(self.sb)
        self.assertEqual(sorted(after[0]), sorted(before[0]))
        self.assertEqual(after, before)

    def test_every_reply_is_durable(self):
        # Kill after each single create: whatever was confirmed is there.
        sb = self.sb
        for i in range(5):
            name = f"h{i}"
            sb.create("CreateHook", name, {"image": v("s", f"img{i}")})
            sb.kill_mtvd(signal.SIGKILL)
            sb.start_mtvd()
            got = sorted(p.rsplit("/", 1)[1] for p in sb.objects() if "/hooks/" in p)
            self.assertEqual(got, [f"h{j}" for j in range(i + 1)])

    def test_delete_is_durable(self):
        self.populate()
        self.sb.call(object_path("plans", "web"), "org.mtvd.Mtv1.Resource", "Delete", "(a{sv})", ({},))
        self.sb.kill_mtvd(signal.SIGKILL)
        self.sb.start_mtvd()
        self.assertNotIn(object_path("plans", "web"), self.sb.objects())
        self.assertIn(object_path("providers", "vc"), self.sb.objects())

    def test_credentials_kept_private(self):
        self.populate()
        db = os.path.join(self.sb.state_dir, "mtvd.db")
        self.assertEqual(stat.S_IMODE(os.stat(self.sb.state_dir).st_mode), 0o700)
        for path in (db, db + "-wal"):
            if os.path.exists(path):
                self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)
        # Stored: the credentials are in the database ...
        with sqlite3.connect(db) as conn:
            rows = dict(conn.execute("SELECT provider, data FROM credentials"))
        self.assertIn("hunter2-secret", rows["vc"])
        # ... and nowhere a client can read them.
        objects, manifests = snapshot(self.sb)
        self.assertNotIn("hunter2-secret", repr(objects) + repr(manifests))
        props = objects[object_path("providers", "vc")]["org.mtvd.Mtv1.Provider"]
        self.assertTrue(props["HasCredentials"])
        self.assertEqual(props["CredentialKeys"], ["password", "user"])
        with open(self.sb.mtvd_log.name) as f:
            self.assertNotIn("hunter2-secret", f.read())
        # A restart keeps them.
        self.sb.kill_mtvd(signal.SIGKILL)
        self.sb.start_mtvd()
        props = self.sb.objects()[object_path("providers", "vc")]["org.mtvd.Mtv1.Provider"]
        self.assertEqual(props["CredentialKeys"], ["password", "user"])

    def test_settings_survive(self):
        self.sb.call(ROOT_PATH, "org.mtvd.Mtv1.Manager", "SetSettings", "(a{sv}a{sv})",
                     ({"controller_max_vm_inflight": v("u", 7)}, {}))
        self.sb.kill_mtvd(signal.SIGKILL)
        self.sb.start_mtvd()
        settings = self.sb.call(ROOT_PATH, "org.freedesktop.DBus.Properties", "Get", "(ss)",
                                ("org.mtvd.Mtv1.Manager", "Settings"))[0]
        self.assertEqual(settings, {"controller_max_vm_inflight": 7, "controller_transfer_stall_timeout": 300,
                                    "controller_precopy_interval": "1h",
                                    "controller_snapshot_removal_timeout_minutes": "2h",
                                    "controller_vsphere_incremental_backup": True})
        with self.assertRaises(CallError) as cm:
            self.sb.call(ROOT_PATH, "org.mtvd.Mtv1.Manager", "SetSettings", "(a{sv}a{sv})",
                         ({"controller_max_vm_inflight": v("s", "many")}, {}))
        self.assertEqual(cm.exception.name, "org.mtvd.Mtv1.Error.Invalid")

    def test_precopy_interval_takes_minutes_or_a_unit(self):
        def shown():
            return self.sb.call(ROOT_PATH, "org.freedesktop.DBus.Properties", "Get", "(ss)",
                                ("org.mtvd.Mtv1.Manager", "Settings"))[0]["controller_precopy_interval"]
        for given, want in (("5s", "5s"), ("30m", "30m"), ("2h", "2h"), ("90", "90m"), ("120", "2h")):
            r = self.sb.mtvctl("settings", "set", "--setting", "controller_precopy_interval", "--value", given)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(shown(), want, given)
        for bad in ("5x", "0s", "-1m", "8000h", "m"):
            r = self.sb.mtvctl("settings", "set", "--setting", "controller_precopy_interval", "--value", bad)
            self.assertNotEqual(r.returncode, 0, bad)
            self.assertIn("controller_precopy_interval: expected a number of minutes (or a time with a unit", r.stderr)
        self.assertEqual(shown(), "2h")
        r = self.sb.mtvctl("settings", "unset", "--setting", "controller_precopy_interval")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(shown(), "1h")

    def test_snapshot_settings(self):
        def get(key):
            return self.sb.call(ROOT_PATH, "org.freedesktop.DBus.Properties", "Get", "(ss)",
                                ("org.mtvd.Mtv1.Manager", "Settings"))[0][key]
        # Forklift's name for the removal timeout has a typo; both are taken.
        for key, value, want in (("controller_snapshot_removal_timeout_minutes", "240", "4h"),
                                 ("controller_snapshot_removal_timeout_minuts", "90", "90m")):
            r = self.sb.mtvctl("settings", "set", "--setting", key, "--value", value)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(get("controller_snapshot_removal_timeout_minutes"), want)
        r = self.sb.mtvctl("settings", "set", "--setting", "controller_vsphere_incremental_backup", "--value", "true")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.sb.mtvctl("settings", "set", "--setting", "controller_vsphere_incremental_backup", "--value", "false")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("removing the previous snapshot before making the next", r.stderr)
        self.assertIs(get("controller_vsphere_incremental_backup"), True)

    def test_state_directory_from_systemd(self):
        # mtvd.service has StateDirectory=mtvd mtv: systemd gives both, the
        # state's first, separated by a colon.
        self.populate()
        self.sb.kill_mtvd(signal.SIGTERM)
        targets = os.path.join(self.sb.tmp, "mtv")
        os.makedirs(targets)
        self.sb.start_mtvd(env={"STATE_DIRECTORY": f"{self.sb.state_dir}:{targets}"})
        self.assertIn(object_path("plans", "web"), self.sb.objects())
        self.assertEqual(os.listdir(targets), [])

    def test_runtime_directory_is_emptied_at_start(self):
        # What a killed mtvd leaves in its runtime directory (sockets, scripts,
        # hooks' files) is gone when it starts again; nothing goes to /tmp.
        run = os.path.join(self.sb.state_dir, "run")
        self.assertEqual(stat.S_IMODE(os.stat(run).st_mode), 0o700)
        before = {d for d in os.listdir("/tmp") if d.startswith("mtvd-")}
        self.sb.kill_mtvd(signal.SIGKILL)
        os.makedirs(os.path.join(run, "hook-abc123"))
        for name in ("4f2a9c1e-0-0.sock", "hook-abc123/plan.yml", "export-header.sh"):
            with open(os.path.join(run, name), "w") as f:
                f.write("left by a killed mtvd")
        self.sb.start_mtvd()
        self.assertEqual(os.listdir(run), [])
        self.assertEqual({d for d in os.listdir("/tmp") if d.startswith("mtvd-")}, before)
        # Under systemd it is the unit's RuntimeDirectory=.
        self.sb.kill_mtvd(signal.SIGTERM)
        elsewhere = os.path.join(self.sb.tmp, "runtime")
        os.makedirs(elsewhere)
        with open(os.path.join(elsewhere, "stale.sock"), "w"):
            pass
        self.sb.start_mtvd(env={"RUNTIME_DIRECTORY": elsewhere})
        self.assertEqual(os.listdir(elsewhere), [])

    def test_sigterm_is_a_clean_exit(self):
        self.populate()
        self.assertEqual(self.sb.kill_mtvd(signal.SIGTERM), 0)

    def test_root_object(self):
        version = self.sb.call(ROOT_PATH, "org.freedesktop.DBus.Properties", "Get", "(ss)",
                               ("org.mtvd.Mtv1.Manager", "Version"))[0]
        self.assertRegex(version, r"^\d+\.\d+\.\d+$")


if __name__ == "__main__":
    unittest.main(verbosity=2)

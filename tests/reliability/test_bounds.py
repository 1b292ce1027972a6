"""Oversized input is refused with the bound it broke, and nothing can knock
mtvd off the bus: every field is bounded, large fields stay out of
properties, the objects together stay under what one GetManagedObjects reply
may carry, and a reply that would be too large anyway becomes an error."""
import json
import os
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from mtvtest import CallError, Sandbox, object_path, v  # noqa: E402

INVALID = "org.mtvd.Mtv1.Error.Invalid"
S = lambda x: v("s", x)  # noqa: E731
MiB = 1 << 20


def maps(src="src", dst="dst"):
    return {"sourceProvider": S(src), "targetProvider": S(dst), "pairs": v("aa{sv}", [])}


def plan(vms, **kw):
    spec = {"sourceProvider": S("src"), "targetProvider": S("dst"), "networkMap": S("net"), "storageMap": S("st"),
            "vms": v("aa{sv}", [{"name": S(n)} for n in vms])}
    spec.update(kw)
    return spec


def pair(name):
    return {"source": v("a{sv}", {"name": S(name)}), "destination": v("a{sv}", {"type": S("pod")})}


class Bounds(unittest.TestCase):
    def setUp(self):
        self.sb = Sandbox().start()
        self.sb.create("CreateProvider", "src", {"type": S("ova"), "url": S("file:///nonexistent/ova")})
        self.sb.create("CreateProvider", "dst", {"type": S("local"), "url": S("file:///var/tmp/mtv-bounds")})
        self.sb.create("CreateNetworkMap", "net", maps())
        self.sb.create("CreateStorageMap", "st", maps())

    def tearDown(self):
        self.sb.stop()

    def refused(self, method, name, spec, words):
        before = self.sb.objects()
        with self.assertRaises(CallError) as cm:
            self.sb.create(method, name, spec)
        self.assertEqual(cm.exception.name, INVALID, cm.exception.message)
        for w in words:
            self.assertIn(w, cm.exception.message)
        self.assertEqual(self.sb.objects(), before, "a refused call changed state")

    def answers(self):
        """mtvd is on the bus and lists its objects."""
        self.assertTrue(self.sb.name_has_owner("org.mtvd.Mtv1"))
        self.assertIsNone(self.sb.mtvd.poll(), "mtvd exited")
        return self.sb.objects()

    def test_every_kind_of_field_is_bounded(self):
        cases = [
            ("CreateProvider", "p", {"type": S("local"), "url": S("file:///" + "d" * 5000)}, ["url: 5008 bytes; at most 4 KiB"]),
            ("CreateProvider", "p", {"type": S("ova"), "url": S("file:///x"),
                                     "settings": v("a{ss}", {f"k{i}": "v" for i in range(65)})}, ["settings: 65 entries; at most 64"]),
            ("CreateProvider", "p", {"type": S("ova"), "url": S("file:///x"),
                                     "settings": v("a{ss}", {"k" * 300: "v"})}, ["settings: a key: 300 bytes"]),
            ("CreateProvider", "p", {"type": S("ova"), "url": S("file:///x"),
                                     "settings": v("a{ss}", {"refreshInterval": "1" * 5000})}, ["settings.refreshInterval: 5000 bytes"]),
            ("CreateProvider", "p", {"type": S("openshift"), "credentials": v("a{ss}", {"cacert": "x" * (MiB + 1)})},
             ["credentials.cacert: 1048577 bytes; at most 1 MiB"]),
            ("CreateHook", "h", {"image": S("i" * 4097)}, ["image: 4097 bytes"]),
            ("CreateHook", "h", {"image": S("i"), "playbook": S("A" * (MiB + 4))}, ["playbook: 1048580 bytes; at most 1 MiB"]),
            ("CreateNetworkMap", "m", {**maps(), "pairs": v("aa{sv}", [pair(f"n{i}") for i in range(1001)])},
             ["pairs: 1001 items; at most 1000"]),
            ("CreatePlan", "pl", plan([f"vm{i}" for i in range(5001)]), ["vms: 5001 items; at most 5000"]),
            ("CreatePlan", "pl", plan(["a"], description=S("d" * 5000)), ["description: 5000 bytes"]),
            ("CreatePlan", "pl", plan(["a"], targetAffinity=S(json.dumps({"nodeAffinity": {"x": "y" * 70000}}))),
             ["targetAffinity", "at most 64 KiB"]),
            ("CreatePlan", "pl", {**plan([]), "vms": v("aa{sv}", [{"name": S("a"), "targetName": S("t" * 70000)}])},
             ["vms[0]", "at most 64 KiB"]),
        ]
        for method, name, spec, words in cases:
            with self.subTest(method=method, words=words):
                self.refused(method, name, spec, words)
        with self.assertRaises(CallError) as cm:
            self.sb.call(object_path("providers", "src"), "org.mtvd.Mtv1.Provider", "QueryInventory", "(ssa{sv})",
                         ("vms", "name = 'x' or " * 6000 + "true", {}))
        self.assertIn("query: 84004 bytes; at most 64 KiB", cm.exception.message)
        self.answers()

    def test_large_playbooks_stay_out_of_properties(self):
        playbook = "A" * MiB   # the largest a hook may have
        for i in range(9):
            self.sb.create("CreateHook", f"h{i}", {"image": S("quay.io/konveyor/hook-runner"), "playbook": S(playbook)})
        objects = self.answers()
        hook = objects[object_path("hooks", "h0")]["org.mtvd.Mtv1.Hook"]
        self.assertNotIn("Playbook", hook)
        self.assertEqual(self.sb.export(object_path("hooks", "h0"))["spec"]["playbook"], playbook)
        for what in ("hooks", "plans", "providers"):
            r = self.sb.mtvctl("get", what)
            self.assertEqual(r.returncode, 0, r.stderr)
        self.answers()

    def test_objects_stay_under_what_one_reply_carries(self):
        # Plans of 5000 VMs with long names: ~1.3 MiB of properties each.
        names = [f"{i:04d}-" + "v" * 240 for i in range(5000)]
        created, refusal = 0, None
        for i in range(40):
            try:
                self.sb.create("CreatePlan", f"big{i}", plan([n[:250] for n in names]))
                created += 1
            except CallError as e:
                refusal = e
                break
        self.assertIsNotNone(refusal, "40 plans of 5000 VMs were all taken")
        self.assertGreater(created, 5)
        self.assertEqual(refusal.name, INVALID)
        self.assertIn("more than the 24 MiB that one reply listing them all (GetManagedObjects) may carry",
                      refusal.message)
        objects = self.answers()
        self.assertEqual(sum(1 for p in objects if "/plans/" in p), created)
        r = self.sb.mtvctl("get", "plans")
        self.assertEqual(r.returncode, 0, r.stderr)
        # Deleting makes room again.
        self.sb.call(object_path("plans", "big0"), "org.mtvd.Mtv1.Resource", "Delete", "(a{sv})", ({},))
        self.sb.create("CreatePlan", "again", plan([n[:250] for n in names]))

    def stored(self, rows):
        """Writes objects into the state database behind mtvd's back (stopped),
        as an older mtvd without bounds could have stored them."""
        self.sb.kill_mtvd()
        with sqlite3.connect(os.path.join(self.sb.state_dir, "mtvd.db")) as db:
            for kind, name, spec in rows:
                db.execute("INSERT INTO objects (kind, name, uid, created, generation, spec, status) "
                           "VALUES (?, ?, ?, '2026-01-01T00:00:00Z', 1, ?, '{}')",
                           (kind, name, f"uid-{kind}-{name}", json.dumps(spec)))

    def test_restart_with_oversized_hooks_comes_up(self):
        # The case that knocked mtvd off the bus: nine hooks of 15 MiB playbooks.
        self.stored([("hooks", f"h{i}", {"image": "i", "playbook": "A" * (15 * MiB)}) for i in range(9)])
        self.sb.start_mtvd()
        self.answers()
        r = self.sb.mtvctl("get", "hooks")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("h8", r.stdout)
        self.assertEqual(self.sb.mtvctl("delete", "hook", "h0").returncode, 0)
        self.answers()

    def test_a_reply_too_large_for_the_bus_becomes_an_error(self):
        # More than 32 MiB of plans, stored behind mtvd's back: GetManagedObjects
        # cannot be answered, and mtvd says so instead of falling off the bus.
        vms = [{"name": f"{i:04d}-" + "v" * 245} for i in range(5000)]
        self.stored([("plans", f"big{i}", {"provider": {"source": {"name": "src"}, "destination": {"name": "dst"}},
                                           "map": {"network": {"name": "net"}, "storage": {"name": "st"}},
                                           "targetNamespace": "default", "type": "cold", "vms": vms})
                     for i in range(30)])
        self.sb.start_mtvd()
        with self.assertRaises(CallError) as cm:
            self.sb.objects()
        self.assertEqual(cm.exception.name, "org.mtvd.Mtv1.Error.Failed")
        self.assertIn("more than the bus carries in one message", cm.exception.message)
        time.sleep(0.5)
        self.assertTrue(self.sb.name_has_owner("org.mtvd.Mtv1"))
        r = self.sb.mtvctl("get", "plans")
        self.assertEqual(r.returncode, 1)
        self.assertIn("more than the bus carries", r.stderr)
        # Other calls go on; deleting plans makes the list answerable again.
        self.assertEqual(self.sb.export(object_path("plans", "big1"))["metadata"]["name"], "big1")
        for i in range(10):
            self.sb.call(object_path("plans", f"big{i}"), "org.mtvd.Mtv1.Resource", "Delete", "(a{sv})", ({},))
        self.assertEqual(sum(1 for p in self.answers() if "/plans/" in p), 20)


if __name__ == "__main__":
    unittest.main(verbosity=2)

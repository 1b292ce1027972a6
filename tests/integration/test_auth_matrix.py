"""Every D-Bus method, called as root, as a member of the mtv group and as a
user outside it, through the real polkitd.

The table below must name every method of dbus/org.mtvd.Mtv1.xml: a method
added without a row fails test_table_covers_every_method. Outsiders must be
refused every method (NotAuthorized, nothing changed); the group member and
root must be let through."""
import os
import time
import unittest
import xml.etree.ElementTree as ET

from mtvtest import MEMBER, OUTSIDER, ROOT_PATH, SOURCE_ROOT, Sandbox, object_path, v

XML = os.path.join(SOURCE_ROOT, "dbus", "org.mtvd.Mtv1.xml")
OVA_DIR = "/var/tmp/mtvtest-auth-matrix-ova"  # an empty OVA directory, readable by mtvd
MIGRATION = {}  # the path of a real migration, made in setUpClass
KINDS = {  # collection -> (Create method, manage action)
    "providers": "CreateProvider",
    "networkmaps": "CreateNetworkMap",
    "storagemaps": "CreateStorageMap",
    "hooks": "CreateHook",
    "plans": "CreatePlan",
}


def spec_text(collection, tag):
    """A valid spec (GVariant text for gdbus) for a new item of @collection."""
    return {
        "providers": "{'type': <'ova'>, 'url': <'file://%s'>, 'credentials': <{'user': 'u', 'password': 'p'}>}" % OVA_DIR,
        "networkmaps": "{'sourceProvider': <'fx-src'>, 'targetProvider': <'fx-dst'>, 'pairs': <[{'source': <{'name': <'VM Network'>}>, 'destination': <{'type': <'pod'>}>}]>}",
        "storagemaps": "{'sourceProvider': <'fx-src'>, 'targetProvider': <'fx-dst'>, 'pairs': <@aa{sv} []>}",
        "hooks": "{'image': <'quay.io/konveyor/hook-runner'>}",
        "plans": "{'sourceProvider': <'fx-src'>, 'targetProvider': <'fx-dst'>, 'networkMap': <'fx-net'>, 'storageMap': <'fx-st'>, 'vms': <[{'name': <'vm-%s'>}]>}" % tag,
    }[collection]


def update_text(collection):
    return {
        "providers": "{'settings': <{'sdkEndpoint': 'esxi'}>}",
        "networkmaps": "{'pairs': <@aa{sv} []>}",
        "storagemaps": "{'pairs': <[{'source': <{'name': <'ds1'>}>, 'destination': <{'storageClass': <'standard'>}>}]>}",
        "hooks": "{'deadline': <int64 60>}",
        "plans": "{'targetNamespace': <'prod'>}",
    }[collection]


# (interface.method, per-kind?) -> how to call it for a caller tag, in order.
def calls_for(tag):
    calls = []
    for coll, create in KINDS.items():
        name = f"{tag}-{coll[:-1]}"
        calls.append((f"org.mtvd.Mtv1.Manager.{create}", ROOT_PATH,
                      [name, spec_text(coll, tag), "{}"], coll))
    for coll in KINDS:
        path = object_path(coll, f"{tag}-{coll[:-1]}")
        calls.append(("org.mtvd.Mtv1.Resource.Update", path, [update_text(coll), "{}"], coll))
        calls.append(("org.mtvd.Mtv1.Resource.Export", path, ["{}"], coll))
        if coll == "providers":
            calls.append(("org.mtvd.Mtv1.Provider.GetInventory", path, ["vms", "{}"], coll))
            calls.append(("org.mtvd.Mtv1.Provider.QueryInventory", path, ["vms", "'cpuCount > 1'", "{}"], coll))
        if coll == "plans":
            # The plan is not ready (its VM is in no inventory): an allowed
            # caller gets past polkit to Invalid.
            calls.append(("org.mtvd.Mtv1.Plan.Start", path, ["{}"], coll))
    calls.append(("org.mtvd.Mtv1.Migration.Cancel", MIGRATION.get("path", "/"), ["@as []", "{}"], "migrations"))
    # A cold migration: an allowed caller gets past polkit to Invalid.
    calls.append(("org.mtvd.Mtv1.Migration.Cutover", MIGRATION.get("path", "/"), ["'2030-01-01T00:00:00Z'", "{}"],
                  "migrations"))
    calls.append(("org.mtvd.Mtv1.Manager.SetSettings", ROOT_PATH, ["{'controller_max_vm_inflight': <uint32 20>}", "{}"],
                  "settings"))
    # Delete in reverse dependency order so nothing is still in use.
    for coll in reversed(list(KINDS)):
        path = object_path(coll, f"{tag}-{coll[:-1]}")
        calls.append(("org.mtvd.Mtv1.Resource.Delete", path, ["{}"], coll))
    return calls


SECRET = "matrix-S3cret-never-shown"


def properties_in_xml():
    return {f"{iface.get('name')}.{p.get('name')}"
            for iface in ET.parse(XML).getroot().findall("interface") for p in iface.findall("property")}


def methods_in_xml():
    ns_methods = set()
    for iface in ET.parse(XML).getroot().findall("interface"):
        for m in iface.findall("method"):
            ns_methods.add(f"{iface.get('name')}.{m.get('name')}")
    return ns_methods


class AuthMatrix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(OVA_DIR, exist_ok=True)
        cls.sb = Sandbox().start()
        sb = cls.sb
        sb.create("CreateProvider", "fx-src", {"type": v("s", "ova"), "url": v("s", "file:///srv/ova")})
        sb.create("CreateProvider", "fx-dst", {"type": v("s", "local"), "url": v("s", "file:///var/tmp/t")})
        pairs = v("aa{sv}", [])
        for method, name in (("CreateNetworkMap", "fx-net"), ("CreateStorageMap", "fx-st")):
            sb.create(method, name, {"sourceProvider": v("s", "fx-src"), "targetProvider": v("s", "fx-dst"),
                                     "pairs": pairs})
        # A real migration for Migration.Cancel: one small OVA VM into a local target.
        import tempfile
        from ovabuilder import make_ova
        cls.tmp = tempfile.mkdtemp(prefix="mtv-matrix-")
        make_ova(cls.tmp + "/ovas", "vm1", nics=())
        S = lambda x: v("s", x)  # noqa: E731
        sb.create("CreateProvider", "m-src", {"type": S("ova"), "url": S("file://" + cls.tmp + "/ovas")})
        sb.create("CreateProvider", "m-dst", {"type": S("local"), "url": S("file://" + cls.tmp + "/target")})
        sb.create("CreateNetworkMap", "m-net", {"sourceProvider": S("m-src"), "targetProvider": S("m-dst"),
                                                "pairs": v("aa{sv}", [])})
        sb.create("CreateStorageMap", "m-st", {"sourceProvider": S("m-src"), "targetProvider": S("m-dst"), "pairs": v(
            "aa{sv}", [{"source": v("a{sv}", {"name": S("vm1/vm1-disk1.vmdk")}),
                        "destination": v("a{sv}", {"storageClass": S("standard")})}])})
        sb.create("CreatePlan", "m-plan", {"sourceProvider": S("m-src"), "targetProvider": S("m-dst"),
                                           "networkMap": S("m-net"), "storageMap": S("m-st"),
                                           "vms": v("aa{sv}", [{"name": S("vm1")}]), "skipGuestConversion": v("b", True)})
        deadline = time.monotonic() + 20
        while sb.export(object_path("plans", "m-plan"))["status"]["phase"] != "Ready":
            assert time.monotonic() < deadline, "the matrix's plan did not become Ready"
            time.sleep(0.1)
        MIGRATION["path"] = sb.call(object_path("plans", "m-plan"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))[0]
        # Credentials no property may show, to anyone.
        sb.create("CreateProvider", "secret-holder", {
            "type": v("s", "ova"), "url": v("s", "file://" + OVA_DIR),
            "credentials": v("a{ss}", {"user": "admin", "password": SECRET, "token": SECRET + "-token"})})
        # The outsider acts on objects that exist (made by root here), so a
        # refusal is never a NotFound in disguise.
        for method, path, args, _ in calls_for("victim"):
            if ".Create" in method:
                ok, err, out = sb.gdbus_call(None, path, method, *args)
                assert ok, out

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()
        import shutil
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_table_covers_every_method(self):
        covered = {c[0] for c in calls_for("x")}
        missing = methods_in_xml() - covered
        self.assertFalse(missing, f"methods without a row in the authorization matrix: {sorted(missing)}")

    def test_outsider_is_refused_everything_and_changes_nothing(self):
        before = self.sb.objects()
        for method, path, args, coll in calls_for("victim"):
            with self.subTest(method=method, kind=coll):
                ok, err, out = self.sb.gdbus_call(OUTSIDER, path, method, *args)
                self.assertFalse(ok, f"{method} on {coll} was allowed to an outsider")
                self.assertEqual(err, "org.mtvd.Mtv1.Error.NotAuthorized", out)
                self.assertIn("polkit action org.mtvd.mtv1.", out)
                self.assertEqual(self.sb.objects(), before, f"{method} changed state although refused")

    def _allowed(self, user, tag):
        for method, path, args, coll in calls_for(tag):
            with self.subTest(user=user or "root", method=method, kind=coll):
                ok, err, out = self.sb.gdbus_call(user, path, method, *args)
                deadline = time.monotonic() + 10
                while err == "org.mtvd.Mtv1.Error.Busy" and time.monotonic() < deadline:
                    time.sleep(0.1)  # the first inventory is still being collected
                    ok, err, out = self.sb.gdbus_call(user, path, method, *args)
                if method.endswith(".Start"):
                    self.assertEqual(err, "org.mtvd.Mtv1.Error.Invalid", out)
                    self.assertIn("not ready", out)
                    continue
                if method.endswith(".Cutover"):
                    self.assertEqual(err, "org.mtvd.Mtv1.Error.Invalid", out)
                    self.assertIn("only warm migrations have a cutover", out)
                    continue
                self.assertTrue(ok, f"{method} on {coll} refused to {user or 'root'}: {out}")
                if method.endswith(".Export"):
                    self.assertIn("forklift.konveyor.io/v1beta1", out)
        # Everything the caller made was deleted again by the last calls.
        leftover = [p for p in self.sb.objects() if f"/{tag}_2d" in p]
        self.assertEqual(leftover, [])

    def test_group_member_is_allowed_everything(self):
        self._allowed(MEMBER, "member")

    def test_root_is_allowed_everything(self):
        self._allowed(None, "root")

    def test_no_user_interaction_is_honoured(self):
        # With interaction forbidden polkit must not even try an agent; the
        # outsider still gets a clean NotAuthorized.
        ok, err, out = self.sb.gdbus_call(
            OUTSIDER, ROOT_PATH, "org.mtvd.Mtv1.Manager.CreateHook", "h-nui",
            "{'image': <'x'>}", "{'auth.no_user_interaction': <true>}")
        self.assertFalse(ok)
        self.assertEqual(err, "org.mtvd.Mtv1.Error.NotAuthorized")

    def with_manager(self, objects):
        """@objects and the object manager itself (not among them)."""
        props = self.sb.call(ROOT_PATH, "org.freedesktop.DBus.Properties", "GetAll", "(s)", ("org.mtvd.Mtv1.Manager",))[0]
        return dict(objects, **{ROOT_PATH: {"org.mtvd.Mtv1.Manager": props}})

    def test_every_property_is_readable_by_outsiders_without_secrets(self):
        # Properties are for watching (as udisks' are): anyone may read them,
        # so none may hold a credential; every property of the XML is seen.
        seen = set()
        for path, interfaces in self.with_manager(self.sb.objects()).items():
            for iface, props in interfaces.items():
                with self.subTest(path=path, interface=iface):
                    ok, err, out = self.sb.gdbus_call(OUTSIDER, path, "org.freedesktop.DBus.Properties.GetAll", iface)
                    self.assertTrue(ok, out)
                    self.assertNotIn(SECRET, out)
                    seen.update(f"{iface}.{name}" for name in props)
        self.assertFalse(properties_in_xml() - seen, "properties no object of the matrix has")
        ok, err, out = self.sb.gdbus_call(OUTSIDER, ROOT_PATH, "org.freedesktop.DBus.ObjectManager.GetManagedObjects")
        self.assertTrue(ok, out)
        self.assertNotIn(SECRET, out)
        self.assertNotIn(SECRET, self.sb.call(object_path("providers", "secret-holder"), "org.mtvd.Mtv1.Resource",
                                              "Export", "(a{sv})", ({},))[0])

    def test_no_property_can_be_set_by_anyone(self):
        before = self.sb.objects()
        examples = {}
        for path, interfaces in self.with_manager(before).items():
            for iface, props in interfaces.items():
                for name, value in props.items():
                    examples.setdefault(f"{iface}.{name}", (path, iface, name))
        for prop, (path, iface, name) in sorted(examples.items()):
            for user in (OUTSIDER, MEMBER, None):
                with self.subTest(property=prop, user=user or "root"):
                    ok, err, out = self.sb.gdbus_call(user, path, "org.freedesktop.DBus.Properties.Set", iface, name,
                                                      "<'x'>")
                    self.assertFalse(ok, f"{prop} was set by {user or 'root'}")
                    # The bus refuses others; to root, mtvd says it is read-only.
                    self.assertIn(err, ("org.freedesktop.DBus.Error.AccessDenied",
                                        "org.freedesktop.DBus.Error.PropertyReadOnly",
                                        "org.freedesktop.DBus.Error.InvalidArgs"), out)
        self.assertEqual(self.sb.objects(), before)

    def test_actions_match_kinds(self):
        # Providers need manage-providers, everything else manage-plans; the
        # refusal names the action, so a mix-up shows here.
        for method, path, args, coll in calls_for("victim"):
            if ".Export" in method or "Inventory" in method:
                want = "org.mtvd.mtv1.read"
            elif ".Start" in method or ".Cancel" in method or ".Cutover" in method:
                want = "org.mtvd.mtv1.run-migrations"
            elif ".SetSettings" in method:
                want = "org.mtvd.mtv1.manage-settings"
            elif coll == "providers":
                want = "org.mtvd.mtv1.manage-providers"
            else:
                want = "org.mtvd.mtv1.manage-plans"
            with self.subTest(method=method, kind=coll):
                ok, err, out = self.sb.gdbus_call(OUTSIDER, path, method, *args)
                self.assertIn(f"polkit action {want})", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""Bad input to every create (and update) method gets a clear error naming the
problem, of the right D-Bus error name, and changes nothing."""
import unittest

from mtvtest import CallError, Sandbox, object_path, v

INVALID = "org.mtvd.Mtv1.Error.Invalid"
EXISTS = "org.mtvd.Mtv1.Error.AlreadyExists"
BUSY = "org.mtvd.Mtv1.Error.Busy"
NOT_AUTH = "org.mtvd.Mtv1.Error.NotAuthorized"

S = lambda x: v("s", x)  # noqa: E731


def net_spec(**kw):
    spec = {"sourceProvider": S("src"), "targetProvider": S("dst"), "pairs": v("aa{sv}", [])}
    spec.update(kw)
    return spec


def plan_spec(**kw):
    spec = {"sourceProvider": S("src"), "targetProvider": S("dst"), "networkMap": S("net"),
            "storageMap": S("st"), "vms": v("aa{sv}", [{"name": S("vm1")}])}
    spec.update(kw)
    return {k: val for k, val in spec.items() if val is not None}


def dest(**kw):
    return v("a{sv}", {k: S(x) for k, x in kw.items()})


def pair(source, destination):
    return {"source": v("a{sv}", {"name": S(source)}), "destination": destination}


CASES = [
    # (method, name, spec, error, words the message must hold)
    ("CreateProvider", "Bad_Name", {"type": S("ova"), "url": S("file:///x")}, INVALID, ["Bad_Name", "DNS-1123"]),
    ("CreateProvider", "-lead", {"type": S("ova"), "url": S("file:///x")}, INVALID, ["start and end"]),
    ("CreateProvider", "a" * 64, {"type": S("ova"), "url": S("file:///x")}, INVALID, ["at most 63"]),
    ("CreateProvider", "", {"type": S("ova"), "url": S("file:///x")}, INVALID, ["name is required"]),
    # Shortened on a character boundary (cut at a byte, the reply was "[Invalid UTF-8]").
    ("CreateProvider", "a" * 69 + "é" * 5, {"type": S("ova"), "url": S("file:///x")}, INVALID,
     ["\"" + "a" * 69 + "…\" is 74 characters long", "at most 63"]),
    ("CreateProvider", "src", {"type": S("ova"), "url": S("file:///x")}, EXISTS, ["already exists"]),
    ("CreateProvider", "p", {}, INVALID, ["type", "required"]),
    ("CreateProvider", "p", {"type": S("hyperv2")}, INVALID, ["unknown provider type", "hyperv2"]),
    ("CreateProvider", "p", {"type": v("i", 3)}, INVALID, ["type", "expected", "got i"]),
    ("CreateProvider", "p", {"type": S("vsphere")}, INVALID, ["url", "needs a URL"]),
    ("CreateProvider", "p", {"type": S("vsphere"), "url": S("ftp://x/sdk")}, INVALID, ["url", "ftp"]),
    ("CreateProvider", "p", {"type": S("vsphere"), "url": S("not a url")}, INVALID, ["url", "not a URL"]),
    ("CreateProvider", "p", {"type": S("local"), "url": S("file://relative")}, INVALID, ["url"]),
    # Credentials in a URL would be readable by every local user in the Url property.
    ("CreateProvider", "p", {"type": S("vsphere"), "url": S("https://admin:pw@vc.example.com/sdk")}, INVALID,
     ["url", "does not belong in the URL", "--password-file"]),
    ("CreateProvider", "p", {"type": S("vsphere"), "url": S("https://admin@vc.example.com/sdk")}, INVALID,
     ["url", "user name or password"]),
    ("CreateProvider", "p", {"type": S("ova"), "url": S("file:///srv/%ff%fe")}, INVALID, ["url", "UTF-8"]),
    ("CreateProvider", "p", {"type": S("ova"), "url": S("file:///x"), "colour": S("red")}, INVALID, ["colour", "not a field"]),
    ("CreateProvider", "p", {"type": S("ova"), "url": S("file:///x"), "credentials": v("a{ss}", {"pin": "1"})}, INVALID, ["credentials", "pin"]),
    ("CreateProvider", "p", {"type": S("ova"), "url": S("file:///x"), "credentials": S("x")}, INVALID, ["credentials", "a{ss}"]),
    ("CreateProvider", "p", {"type": S("ova"), "url": S("file:///x"), "settings": v("as", ["a"])}, INVALID, ["settings", "a{ss}"]),
    ("CreateNetworkMap", "m", net_spec(sourceProvider=S("nope")), INVALID, ["sourceProvider", "nope", "does not exist"]),
    ("CreateNetworkMap", "m", net_spec(targetProvider=S("nope")), INVALID, ["targetProvider", "nope", "does not exist"]),
    ("CreateNetworkMap", "m", net_spec(targetProvider=S("src")), INVALID, ["targetProvider", "ova", "target"]),
    ("CreateNetworkMap", "m", net_spec(sourceProvider=S("dst")), INVALID, ["sourceProvider", "local", "source"]),
    ("CreateNetworkMap", "m", {"sourceProvider": S("src"), "targetProvider": S("dst")}, INVALID, ["pairs", "required"]),
    ("CreateNetworkMap", "m", net_spec(pairs=v("aa{sv}", [pair("a", dest(type="bridge"))])), INVALID, ["pairs[0]", "bridge"]),
    ("CreateNetworkMap", "m", net_spec(pairs=v("aa{sv}", [pair("a", dest(type="multus"))])), INVALID, ["pairs[0]", "destination.name"]),
    ("CreateNetworkMap", "m", net_spec(pairs=v("aa{sv}", [pair("a", dest(type="pod", name="x"))])), INVALID, ["pairs[0]", "no name"]),
    ("CreateNetworkMap", "m", net_spec(pairs=v("aa{sv}", [{"destination": dest(type="pod")}])), INVALID, ["pairs[0]", "source"]),
    ("CreateNetworkMap", "m", net_spec(pairs=v("aa{sv}", [{"source": v("a{sv}", {}), "destination": dest(type="pod")}])), INVALID, ["pairs[0]", "id", "name"]),
    ("CreateNetworkMap", "m", net_spec(pairs=v("aa{sv}", [{"source": v("a{sv}", {"name": S("a")}), "destination": dest(type="pod"), "x": S("y")}])), INVALID, ["pairs[0]", "\"x\""]),
    ("CreateStorageMap", "s", net_spec(pairs=v("aa{sv}", [pair("ds", dest())])), INVALID, ["pairs[0]", "storageClass"]),
    ("CreateStorageMap", "s", net_spec(pairs=v("aa{sv}", [pair("ds", dest(storageClass="std", volumeMode="Raw"))])), INVALID, ["volumeMode", "Raw"]),
    ("CreateStorageMap", "s", net_spec(pairs=v("aa{sv}", [pair("ds", dest(storageClass="std", accessMode="RWX"))])), INVALID, ["accessMode", "RWX"]),
    ("CreateStorageMap", "s", net_spec(pairs=v("aa{sv}", [pair("ds", dest(storageClass="Bad Class"))])), INVALID, ["storageClass"]),
    ("CreateHook", "h", {}, INVALID, ["image", "required"]),
    ("CreateHook", "h", {"image": S("")}, INVALID, ["image", "empty"]),
    ("CreateHook", "h", {"image": S("i"), "playbook": S("not base64!")}, INVALID, ["playbook", "base64"]),
    ("CreateHook", "h", {"image": S("i"), "deadline": v("x", -5)}, INVALID, ["deadline", "negative"]),
    ("CreateHook", "h", {"image": S("i"), "deadline": S("5")}, INVALID, ["deadline", "expected"]),
    ("CreatePlan", "pl", plan_spec(vms=v("aa{sv}", [])), INVALID, ["vms", "at least one"]),
    ("CreatePlan", "pl", plan_spec(vms=None), INVALID, ["vms", "required"]),
    ("CreatePlan", "pl", plan_spec(vms=v("aa{sv}", [{"targetName": S("x")}])), INVALID, ["vms[0]", "id", "name"]),
    ("CreatePlan", "pl", plan_spec(vms=v("aa{sv}", [{"name": S("a")}, {"name": S("a")}])), INVALID, ["vms[1]", "twice"]),
    ("CreatePlan", "pl", plan_spec(vms=v("aa{sv}", [{"name": S("a"), "targetName": S("Bad")}])), INVALID, ["vms[0]", "targetName"]),
    ("CreatePlan", "pl", plan_spec(vms=v("aa{sv}", [{"name": S("a"), "targetName": S("t")}, {"name": S("b"), "targetName": S("t")}])), INVALID, ["vms[1].targetName", "another VM"]),
    ("CreatePlan", "pl", plan_spec(vms=v("aa{sv}", [{"name": S("a"), "hooks": v("aa{sv}", [{"hook": S("nohook"), "step": S("PreHook")}])}])), INVALID, ["vms[0].hooks[0]", "nohook", "does not exist"]),
    ("CreatePlan", "pl", plan_spec(vms=v("aa{sv}", [{"name": S("a"), "hooks": v("aa{sv}", [{"hook": S("hk"), "step": S("Mid")}])}])), INVALID, ["hooks[0].step", "Mid"]),
    ("CreatePlan", "pl", plan_spec(vms=v("aa{sv}", [{"name": S("a"), "cpu": S("4")}])), INVALID, ["vms[0]", "cpu"]),
    ("CreatePlan", "pl", plan_spec(type=S("hot")), INVALID, ["type", "hot", "cold"]),
    ("CreatePlan", "pl", plan_spec(targetNamespace=S("Prod NS")), INVALID, ["targetNamespace"]),
    ("CreatePlan", "pl", plan_spec(targetAffinity=S("{not json")), INVALID, ["targetAffinity", "not a JSON object"]),
    ("CreatePlan", "pl", plan_spec(targetAffinity=S("[1, 2]")), INVALID, ["targetAffinity", "not a JSON object"]),
    ("CreatePlan", "pl", plan_spec(targetPowerState=S("maybe")), INVALID, ["targetPowerState", "maybe"]),
    ("CreatePlan", "pl", plan_spec(transferNetwork=S("justname")), INVALID, ["transferNetwork", "namespace/name"]),
    ("CreatePlan", "pl", plan_spec(networkMap=S("nomap")), INVALID, ["networkMap", "nomap", "does not exist"]),
    ("CreatePlan", "pl", plan_spec(storageMap=S("net")), INVALID, ["storageMap", "net", "does not exist"]),
    ("CreatePlan", "pl", plan_spec(sourceProvider=S("src2")), INVALID, ["networkMap", "maps from provider"]),
    ("CreatePlan", "pl", plan_spec(archived=S("yes")), INVALID, ["archived", "expected"]),
    ("CreatePlan", "pl", plan_spec(targetLabels=v("a{sv}", {})), INVALID, ["targetLabels", "a{ss}"]),
]


class BadInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sb = cls.sb = Sandbox().start()
        sb.create("CreateProvider", "src", {"type": S("ova"), "url": S("file:///srv/ova")})
        sb.create("CreateProvider", "src2", {"type": S("ova"), "url": S("file:///srv/ova2")})
        sb.create("CreateProvider", "dst", {"type": S("local"), "url": S("file:///var/tmp/mtv")})
        sb.create("CreateNetworkMap", "net", net_spec())
        sb.create("CreateStorageMap", "st", net_spec())
        sb.create("CreateHook", "hk", {"image": S("quay.io/konveyor/hook-runner")})

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()

    def assert_refused(self, call, error, words):
        before = self.sb.objects()
        with self.assertRaises(CallError) as cm:
            call()
        self.assertEqual(cm.exception.name, error, cm.exception.message)
        for w in words:
            self.assertIn(w, cm.exception.message)
        self.assertEqual(self.sb.objects(), before, "a refused call changed state")

    def test_create_methods(self):
        for method, name, spec, error, words in CASES:
            with self.subTest(method=method, name=name, spec=str(spec)[:120]):
                self.assert_refused(lambda: self.sb.create(method, name, spec), error, words)

    def test_every_create_method_has_cases(self):
        methods = {c[0] for c in CASES}
        self.assertEqual(methods, {"CreateProvider", "CreateNetworkMap", "CreateStorageMap", "CreateHook", "CreatePlan"})

    def update(self, coll, name, spec, options=None):
        return self.sb.call(object_path(coll, name), "org.mtvd.Mtv1.Resource", "Update", "(a{sv}a{sv})",
                            (spec, options or {}))

    def test_updates(self):
        cases = [
            ("providers", "src", {"type": S("vsphere")}, {}, INVALID, ["type", "cannot be changed"]),
            ("providers", "src", {"url": S("http://x")}, {}, INVALID, ["url"]),
            ("providers", "src", {"url": S("file://root:secret@/srv/ova")}, {}, INVALID, ["url", "does not belong"]),
            ("providers", "src", {}, {"unset": v("as", ["type"])}, INVALID, ["unset", "type"]),
            ("providers", "src", {}, {"unset": v("as", ["bogus"])}, INVALID, ["unset", "bogus"]),
            ("providers", "src", {}, {"unset": S("url")}, INVALID, ["unset", "as"]),
            ("networkmaps", "net", {"targetProvider": S("src")}, {}, INVALID, ["targetProvider", "target"]),
            ("hooks", "hk", {"image": S("")}, {}, INVALID, ["image"]),
        ]
        for coll, name, spec, options, error, words in cases:
            with self.subTest(coll=coll, spec=str(spec), options=str(options)):
                self.assert_refused(lambda: self.update(coll, name, spec, options), error, words)

    def test_url_credentials_are_not_echoed(self):
        with self.assertRaises(CallError) as cm:
            self.sb.create("CreateProvider", "p", {"type": S("vsphere"), "url": S("https://admin:s3cr3t@vc/sdk")})
        self.assertNotIn("s3cr3t", cm.exception.message)
        r = self.sb.mtvctl("create", "provider", "p", "-t", "vsphere", "-U", "https://admin:s3cr3t@vc/sdk")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--username", r.stderr)
        self.assertNotIn("s3cr3t", r.stderr + r.stdout)
        self.assertNotIn("s3cr3t", open(self.sb.mtvd_log.name, errors="replace").read())

    def test_delete_in_use_is_busy(self):
        self.assert_refused(lambda: self.sb.call(object_path("providers", "src"), "org.mtvd.Mtv1.Resource",
                                                 "Delete", "(a{sv})", ({},)),
                            BUSY, ["NetworkMap \"net\"", "in use"])

    def test_unknown_object(self):
        with self.assertRaises(CallError) as cm:
            self.sb.call(object_path("plans", "nope"), "org.mtvd.Mtv1.Resource", "Delete", "(a{sv})", ({},))
        self.assertEqual(cm.exception.name, "org.mtvd.Mtv1.Error.NotFound")
        self.assertIn('Plan "nope" does not exist', cm.exception.message)
        r = self.sb.mtvctl("delete", "plan", "nope")
        self.assertEqual(r.returncode, 1)
        self.assertIn('Plan "nope" does not exist', r.stderr)

    def test_valid_update_changes_generation_once(self):
        path = object_path("hooks", "hk")
        gen = self.sb.export(path)["metadata"]["generation"]
        self.update("hooks", "hk", {"deadline": v("x", 10)})
        self.assertEqual(self.sb.export(path)["metadata"]["generation"], gen + 1)
        # The same value again is no change.
        self.update("hooks", "hk", {"deadline": v("x", 10)})
        self.assertEqual(self.sb.export(path)["metadata"]["generation"], gen + 1)
        self.update("hooks", "hk", {}, {"unset": v("as", ["deadline"])})
        self.assertNotIn("deadline", self.sb.export(path)["spec"])


if __name__ == "__main__":
    unittest.main(verbosity=2)

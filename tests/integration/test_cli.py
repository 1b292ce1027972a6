"""mtvctl against a real mtvd on the private system bus: the kubectl-mtv verbs,
output formats, secrets from files and stdin, errors on stderr with exit 1."""
import json
import time
import os
import tempfile
import unittest

import yaml

from mtvtest import MEMBER, OUTSIDER, Sandbox

SECRET = "s3cr3t-Pa55word"


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox().start()

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()

    def ok(self, *args, user=None, input=None):
        r = self.sb.mtvctl(*args, user=user, input=input)
        self.assertEqual(r.returncode, 0, f"mtvctl {' '.join(args)}: {r.stderr}")
        return r.stdout

    def fails(self, *args, user=None, words=()):
        r = self.sb.mtvctl(*args, user=user)
        self.assertNotEqual(r.returncode, 0, f"mtvctl {' '.join(args)} should have failed")
        self.assertEqual(r.stdout, "")
        self.assertTrue(r.stderr.startswith("Error: "), r.stderr)
        for w in words:
            self.assertIn(w, r.stderr)
        return r.stderr

    def test_01_full_workflow(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as pw:
            pw.write(SECRET + "\n")
            pw.flush()
            os.chmod(pw.name, 0o644)
            self.ok("create", "provider", "vcenter", "--type", "vsphere", "--url", "https://vc.example.com/sdk",
                    "--username", "admin@vsphere.local", "--password-file", pw.name,
                    "--vddk-init-image", "quay.io/x/vddk:8", "--insecure-skip-tls")
        self.ok("create", "provider", "ova", "-t", "ova", "-U", "file:///srv/ova")
        self.ok("create", "provider", "host", "-t", "local", "-U", "file:///var/lib/mtvd/local")
        self.ok("create", "mapping", "network", "vc-net", "-S", "vcenter", "-T", "host",
                "--network-pairs", "VM Network:default,Mgmt:openshift-mtv/mgmt,Backup:ignored")
        self.ok("create", "mapping", "storage", "vc-st", "-S", "vcenter", "-T", "host",
                "--storage-pairs", "datastore1:standard;volumeMode=Block;accessMode=RWX,ds2:fast")
        self.ok("create", "hook", "prep", "--image", "quay.io/konveyor/hook-runner",
                "--playbook", "- hosts: localhost\n  tasks: []\n", "--deadline", "300")
        self.ok("create", "plan", "web", "-S", "vcenter", "--vms", "web1,web2",
                "--network-mapping", "vc-net", "--storage-mapping", "vc-st", "--migration-type", "warm",
                "--target-namespace", "web", "--skip-guest-conversion", "--use-compatibility-mode",
                "--preserve-static-ips", "--target-power-state", "on", "--pre-hook", "prep",
                "-L", "app=web,tier=front")

        plan = json.loads(self.ok("get", "plan", "web", "-o", "json"))
        self.assertEqual(plan["apiVersion"], "forklift.konveyor.io/v1beta1")
        self.assertEqual(plan["kind"], "Plan")
        self.assertEqual(plan["metadata"]["name"], "web")
        spec = plan["spec"]
        self.assertEqual(spec["provider"], {"source": {"name": "vcenter"}, "destination": {"name": "host"}})
        self.assertEqual(spec["map"], {"network": {"name": "vc-net"}, "storage": {"name": "vc-st"}})
        self.assertEqual(spec["type"], "warm")
        self.assertEqual(spec["targetNamespace"], "web")
        self.assertTrue(spec["skipGuestConversion"] and spec["useCompatibilityMode"] and spec["preserveStaticIPs"])
        self.assertEqual(spec["targetPowerState"], "on")
        self.assertEqual(spec["targetLabels"], {"app": "web", "tier": "front"})
        self.assertEqual(spec["vms"], [
            {"name": "web1", "hooks": [{"hook": {"name": "prep"}, "step": "PreHook"}]},
            {"name": "web2", "hooks": [{"hook": {"name": "prep"}, "step": "PreHook"}]}])
        self.assertEqual(plan["status"]["phase"], "NotReady")
        types = [c["type"] for c in plan["status"]["conditions"]]
        self.assertIn("SourceProviderNotReady", types)
        for c in plan["status"]["conditions"]:
            self.assertEqual(set(c), {"type", "status", "category", "reason", "message", "lastTransitionTime"})

        net = json.loads(self.ok("get", "mappings", "network", "vc-net", "-o", "json"))
        self.assertEqual(net["kind"], "NetworkMap")
        self.assertEqual(net["spec"]["map"], [
            {"source": {"name": "VM Network"}, "destination": {"type": "pod"}},
            {"source": {"name": "Mgmt"}, "destination": {"type": "multus", "namespace": "openshift-mtv", "name": "mgmt"}},
            {"source": {"name": "Backup"}, "destination": {"type": "ignored"}}])
        st = yaml.safe_load(self.ok("get", "mappings", "storage", "vc-st", "-o", "yaml"))
        self.assertEqual(st["spec"]["map"][0]["destination"],
                         {"storageClass": "standard", "volumeMode": "Block", "accessMode": "ReadWriteMany"})
        self.assertEqual(st["spec"]["map"][1]["destination"], {"storageClass": "fast"})

        hook = json.loads(self.ok("get", "hook", "prep", "-o", "json"))
        self.assertEqual(hook["spec"]["deadline"], 300)
        import base64
        self.assertEqual(base64.b64decode(hook["spec"]["playbook"]).decode(), "- hosts: localhost\n  tasks: []\n")

        # Tables line up: every row's columns start where the header's do.
        table = self.ok("get", "providers").splitlines()
        self.assertEqual(table[0].split(), ["NAME", "TYPE", "URL", "STATUS", "CREDENTIALS", "AGE"])
        starts = [table[0].index(h) for h in ("TYPE", "URL", "STATUS")]
        for row in table[1:]:
            for s in starts:
                self.assertEqual(row[s - 1], " ")
                self.assertNotEqual(row[s], " ", row)
        self.assertEqual([r.split()[0] for r in table[1:]], ["host", "ova", "vcenter"])
        mappings = self.ok("get", "mappings").splitlines()
        self.assertEqual([r.split()[:2] for r in mappings[1:]], [["vc-net", "network"], ["vc-st", "storage"]])

        listing = json.loads(self.ok("get", "providers", "-o", "json"))
        self.assertEqual(listing["kind"], "List")
        self.assertEqual([i["metadata"]["name"] for i in listing["items"]], ["host", "ova", "vcenter"])
        vc = [i for i in listing["items"] if i["metadata"]["name"] == "vcenter"][0]
        self.assertEqual(vc["spec"]["secret"], {"name": "vcenter"})
        self.assertEqual(vc["spec"]["settings"], {"vddkInitImage": "quay.io/x/vddk:8"})

        described = self.ok("describe", "plan", "web")
        self.assertIn("Name:        web", described)
        self.assertIn("SourceProviderNotReady", described)
        # vc.example.com does not resolve: the connection test says so.
        for _ in range(300):
            described = self.ok("describe", "provider", "vcenter")
            if "ConnectionTestFailed" in described:
                break
            time.sleep(0.1)
        self.assertIn("ConnectionTestFailed", described)
        self.assertIn("vc.example.com", described)

        # The secret never comes back, in any format.
        for fmt in ("table", "json", "yaml"):
            self.assertNotIn(SECRET, self.ok("get", "providers", "-o", fmt))
        self.assertNotIn(SECRET, self.ok("describe", "provider", "vcenter"))

        # patch: only what is named changes; settings merge.
        self.ok("patch", "provider", "vcenter", "--sdk-endpoint", "esxi", "--password-file", "-", input="new-pass\n")
        vc = json.loads(self.ok("get", "provider", "vcenter", "-o", "json"))
        self.assertEqual(vc["spec"]["settings"], {"vddkInitImage": "quay.io/x/vddk:8", "sdkEndpoint": "esxi"})
        self.assertEqual(vc["metadata"]["generation"], 2)
        self.ok("patch", "plan", "web", "--target-namespace", "web2", "--skip-guest-conversion=false")
        spec = json.loads(self.ok("get", "plan", "web", "-o", "json"))["spec"]
        self.assertEqual(spec["targetNamespace"], "web2")
        self.assertFalse(spec["skipGuestConversion"])
        self.assertEqual(spec["type"], "warm")
        # A Kubernetes affinity, given as YAML.
        self.ok("patch", "plan", "web", "--target-affinity",
                "nodeAffinity:\n  requiredDuringSchedulingIgnoredDuringExecution:\n    nodeSelectorTerms:\n"
                "    - matchExpressions: [{key: zone, operator: In, values: [a]}]\n")
        spec = json.loads(self.ok("get", "plan", "web", "-o", "json"))["spec"]
        self.assertEqual(spec["targetAffinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                         ["nodeSelectorTerms"][0]["matchExpressions"][0]["key"], "zone")
        self.fails("patch", "plan", "web", "--target-affinity", "- a list", words=["--target-affinity", "not an object"])

        # delete: in-use objects are refused, with who uses them.
        self.fails("delete", "provider", "vcenter", words=["in use", "Plan \"web\""])
        self.ok("delete", "plan", "web")
        self.ok("delete", "mapping", "network", "vc-net")
        self.ok("delete", "mapping", "storage", "--all")
        self.ok("delete", "providers", "vcenter,ova")
        self.assertEqual([r.split()[0] for r in self.ok("get", "providers").splitlines()[1:]], ["host"])

    def test_02_plan_from_pairs_and_vm_file(self):
        self.ok("create", "provider", "src2", "-t", "ova", "-U", "file:///srv/ova2")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write("- name: db1\n  targetName: database-one\n- id: vm-7\n  targetPowerState: \"off\"\n")
            f.flush()
            os.chmod(f.name, 0o644)
            self.ok("create", "plan", "db", "-S", "src2", "--vms", "@" + f.name,
                    "--network-pairs", "VM Network:default", "--storage-pairs", "ds:standard")
        plan = json.loads(self.ok("get", "plan", "db", "-o", "json"))
        self.assertEqual(plan["spec"]["vms"], [{"name": "db1", "targetName": "database-one"},
                                               {"id": "vm-7", "targetPowerState": "off"}])
        self.assertEqual(plan["spec"]["map"], {"network": {"name": "db-network"}, "storage": {"name": "db-storage"}})
        self.assertEqual(plan["spec"]["provider"]["destination"], {"name": "host"})

    def test_03_failed_plan_leaves_nothing_behind(self):
        # Compared as resources, not as a table: the AGE column ticks.
        before = json.loads(self.ok("get", "mappings", "-o", "json"))["items"]
        self.fails("create", "plan", "bad", "-S", "src2", "--vms", "a,a", "--network-pairs", "x:default",
                   words=["twice"])
        self.assertEqual(json.loads(self.ok("get", "mappings", "-o", "json"))["items"], before)

    def test_04_errors(self):
        self.fails("create", "provider", "x", words=["--type is required"])
        self.fails("create", "provider", "x", "-t", "bogus", words=["unknown provider type"])
        self.fails("create", "provider", "X", "-t", "ova", "-U", "file:///a", words=["DNS-1123"])
        self.fails("create", "mapping", "network", "n", "-S", "src2", "-T", "host", "--network-pairs", "nocolon",
                   words=["source:target"])
        self.fails("create", "mapping", "storage", "n", "-S", "src2", "-T", "host", "--storage-pairs", "a:b;speed=9",
                   words=["speed"])
        self.fails("create", "plan", "p", "-S", "src2", "--vms", "@/nonexistent.yaml", words=["--vms"])
        self.fails("create", "plan", "p", "-S", "src2", words=["--vms is required"])
        self.fails("create", "plan", "p", "-S", "src2", "--vms", "a", "--skip-guest-conversion=maybe", words=["true or false"])
        self.fails("get", "plans", "-o", "xml", words=["unknown output format"])
        self.fails("get", "plan", "nope", words=['Plan "nope" does not exist'])
        self.fails("describe", "provider", "nope", words=['Provider "nope" does not exist'])
        self.fails("delete", "hook", words=["names or --all"])
        r = self.sb.mtvctl("frobnicate", "plan")
        self.assertEqual(r.returncode, 2)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write("- name: a\n  bad: [unclosed\n")
            f.flush()
            self.fails("create", "plan", "p", "-S", "src2", "--vms", "@" + f.name, words=["line", "YAML"])

    def test_05_users(self):
        # The mtv group may manage; an outsider is told it is not authorized.
        self.ok("create", "hook", "by-member", "--image", "img", user=MEMBER)
        self.ok("get", "hooks", "-o", "json", user=MEMBER)
        err = self.fails("create", "hook", "by-outsider", "--image", "img", user=OUTSIDER,
                         words=["Not authorized", "org.mtvd.mtv1.manage-plans"])
        self.assertNotIn("GDBus.Error", err)
        self.assertNotIn("by-outsider", self.ok("get", "hooks"))

    def test_06_help(self):
        out = self.ok("--help")
        for cmd in ("create provider", "create mapping network", "get mappings", "describe plan",
                    "patch plan", "delete provider"):
            self.assertIn(cmd, out)
        out = self.ok("create", "plan", "--help")
        for flag in ("--source", "--vms", "--network-pairs", "--migration-type", "--target-namespace",
                     "--skip-guest-conversion", "--use-compatibility-mode", "--preserve-static-ips",
                     "--target-power-state", "--network-mapping", "--storage-mapping"):
            self.assertIn(flag, out)
        out = self.ok("create", "provider", "--help")
        for flag in ("--type", "--url", "--username", "--password", "--password-file", "--cacert",
                     "--insecure-skip-tls", "--vddk-init-image"):
            self.assertIn(flag, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)

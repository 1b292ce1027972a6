"""The openshift (kubevirt) provider against the Kubernetes API stand-in:
connection health with the cluster's versions, its inventory (namespaces,
storage classes, NetworkAttachmentDefinitions, VMs) kept current, and the
errors a user must see: a wrong token (401), RBAC that says no (403), a
cluster without KubeVirt, an unreachable server."""
import json
import shutil
import tempfile
import threading
import time
import unittest

import os

import base64

import yaml

import kube_standin
from mtvtest import CallError, Sandbox, object_path, v
from openapi import openapi3_schemas, validate
from ovabuilder import make_ova

S = lambda x: v("s", x)  # noqa: E731


class Cluster(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mtv-cluster-")
        cls.server, cls.url = kube_standin.start(cls.tmp)
        cls.cluster = cls.server.cluster
        cls.sb = Sandbox().start()

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()
        cls.server.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def provider(self, name, token="admin-token", url=None, **settings):
        spec = {"type": S("openshift"), "url": S(url or self.url),
                "settings": v("a{ss}", {"refreshInterval": "1", **settings})}
        if token is not None:
            spec["credentials"] = v("a{ss}", {"token": token})
        self.sb.create("CreateProvider", name, spec)

    def status(self, name, phase, timeout=20):
        """Waits for @phase: Ready, or NotReady with the connection tested (not still collecting)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.sb.export(object_path("providers", name))["status"]
            conditions = {c["type"]: c for c in status.get("conditions", [])}
            settled = phase == "Ready" or "ConnectionTestFailed" in conditions
            if (status.get("phase") == phase and settled) or time.monotonic() > deadline:
                return status, conditions
            time.sleep(0.2)

    def inventory(self, name, kind, query=None):
        path = object_path("providers", name)
        if query:
            text, _ = self.sb.call(path, "org.mtvd.Mtv1.Provider", "QueryInventory", "(ssa{sv})", (kind, query, {}))
        else:
            text, _ = self.sb.call(path, "org.mtvd.Mtv1.Provider", "GetInventory", "(sa{sv})", (kind, {}))
        return json.loads(text)

    def test_ready_with_versions_and_inventory(self):
        self.provider("host")
        status, c = self.status("host", "Ready")
        self.assertEqual(status["phase"], "Ready", status)
        self.assertIn("Kubernetes v1.31.0-standin, KubeVirt v1.6.0, CDI v1.61.0", c["ConnectionTestSucceeded"]["message"])
        self.assertIn("mtv-test", [n["name"] for n in self.inventory("host", "namespaces")])
        self.assertEqual(sorted(s["name"] for s in self.inventory("host", "storages")), ["fast", "standard"])
        # The inventory follows the cluster.
        with self.cluster.lock:
            self.cluster.put_object(("k8s.cni.cncf.io", "v1", "network-attachment-definitions"), "mtv-test",
                                    {"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
                                     "metadata": {"name": "mgmt"}, "spec": {"config": "{}"}}, "ADDED")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not self.inventory("host", "networks"):
            time.sleep(0.3)
        self.assertEqual(self.inventory("host", "networks")[0]["namespace"], "mtv-test")
        # Queries work on it like on any inventory.
        rows = self.inventory("host", "namespaces", "SELECT name WHERE name ~= '^mtv'")
        self.assertEqual(rows, [{"name": "mtv-test"}])
        # mtvctl shows the health.
        r = self.sb.mtvctl("describe", "provider", "host")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("KubeVirt v1.6.0", r.stdout)

    def test_wrong_token_reaches_the_user(self):
        self.provider("badtoken", token="expired")
        status, c = self.status("badtoken", "NotReady")
        self.assertIn("401 Unauthorized", c["ConnectionTestFailed"]["message"])
        with self.assertRaises(CallError) as cm:
            self.inventory("badtoken", "namespaces")
        self.assertIn("401", cm.exception.message)

    def test_rbac_refusal_reaches_the_user(self):
        self.cluster.tokens["viewer-token"] = "viewer"
        self.cluster.forbidden.add(("viewer", "list", "storageclasses"))
        self.provider("viewer", token="viewer-token")
        status, c = self.status("viewer", "NotReady")
        message = c["ConnectionTestFailed"]["message"]
        self.assertIn("403 Forbidden", message)
        self.assertIn('User "viewer" cannot list resource "storageclasses"', message)
        # RBAC fixed: the next poll recovers.
        self.cluster.forbidden.discard(("viewer", "list", "storageclasses"))
        self.assertEqual(self.status("viewer", "Ready")[0]["phase"], "Ready")

    def test_missing_token_and_unreachable_server(self):
        self.provider("notoken", token=None)
        _, c = self.status("notoken", "NotReady")
        self.assertIn("no token", c["ConnectionTestFailed"]["message"])
        self.provider("nowhere", url="http://127.0.0.1:9")
        _, c = self.status("nowhere", "NotReady", timeout=40)
        self.assertIn("127.0.0.1:9", c["ConnectionTestFailed"]["message"])

    def test_plan_checked_against_the_target_cluster(self):
        ovas = os.path.join(self.tmp, "ovas")
        make_ova(ovas, "web1", disks=((2, "a"),), nics=(("nic1", "00:50:56:aa:bb:01", "VM Network"),
                                                        ("nic2", "00:50:56:aa:bb:02", "Mgmt")))
        self.sb.create("CreateProvider", "ova", {"type": S("ova"), "url": S("file://" + ovas)})
        self.provider("target")
        self.status("target", "Ready")
        pair = lambda src, dst: {"source": v("a{sv}", {"name": S(src)}),  # noqa: E731
                                 "destination": v("a{sv}", {k: S(x) for k, x in dst.items()})}
        self.sb.create("CreateNetworkMap", "net", {"sourceProvider": S("ova"), "targetProvider": S("target"),
                                                   "pairs": v("aa{sv}", [pair("VM Network", {"type": "pod"}),
                                                                         pair("Mgmt", {"type": "multus",
                                                                                       "namespace": "mtv-test",
                                                                                       "name": "nope"})])})
        self.sb.create("CreateStorageMap", "st", {"sourceProvider": S("ova"), "targetProvider": S("target"),
                                                  "pairs": v("aa{sv}", [pair("web1/web1-disk1.vmdk",
                                                                             {"storageClass": "gold"})])})
        self.sb.create("CreatePlan", "p", {"sourceProvider": S("ova"), "targetProvider": S("target"),
                                           "networkMap": S("net"), "storageMap": S("st"), "targetNamespace": S("prod"),
                                           "skipGuestConversion": v("b", True), "vms": v("aa{sv}", [{"name": S("web1")}])})
        deadline = time.monotonic() + 20
        while True:
            status = self.sb.export(object_path("plans", "p"))["status"]
            c = {x["type"]: x for x in status["conditions"]}
            if "DestinationStorageNotValid" in c or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(status["phase"], "NotReady")
        self.assertIn('"prod" does not exist', c["TargetNamespaceNotValid"]["message"])
        self.assertIn("gold", c["DestinationStorageNotValid"]["message"])
        self.assertIn("mtv-test/nope", c["DestinationNetworkNotValid"]["message"])
        # Fixing the cluster side clears those conditions (the inventory is polled).
        with self.cluster.lock:
            self.cluster.put_object(("", "v1", "namespaces"), None,
                                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}, "ADDED")
        deadline = time.monotonic() + 20
        while "TargetNamespaceNotValid" in c and time.monotonic() < deadline:
            time.sleep(0.3)
            c = {x["type"]: x for x in self.sb.export(object_path("plans", "p"))["status"]["conditions"]}
        self.assertNotIn("TargetNamespaceNotValid", c)

    def wait_plan(self, name, phases, timeout=180):
        deadline = time.monotonic() + timeout
        while True:
            status = self.sb.export(object_path("plans", name))["status"]
            if status["phase"] in phases or time.monotonic() > deadline:
                return status
            time.sleep(0.3)

    def run_plan(self, name):
        """Starts a plan once it is Ready; its status when the migration has ended."""
        self.assertEqual(self.wait_plan(name, ("Ready",), timeout=30)["phase"], "Ready")
        self.sb.call(object_path("plans", name), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))
        return self.wait_plan(name, ("Succeeded", "Failed", "Canceled"))

    def migration_plan(self, plan, vm, target, disks, source="ova2"):
        pair = lambda src, dst: {"source": v("a{sv}", {"name": S(src)}),  # noqa: E731
                                 "destination": v("a{sv}", {k: S(x) for k, x in dst.items()})}
        self.sb.create("CreateNetworkMap", plan + "-net", {
            "sourceProvider": S(source), "targetProvider": S(target),
            "pairs": v("aa{sv}", [pair("VM Network", {"type": "pod"})])})
        self.sb.create("CreateStorageMap", plan + "-st", {
            "sourceProvider": S(source), "targetProvider": S(target),
            "pairs": v("aa{sv}", [pair(f"{vm}/{vm}-disk{i}.vmdk", {"storageClass": "standard"})
                                  for i in range(1, disks + 1)])})
        self.sb.create("CreatePlan", plan, {
            "sourceProvider": S(source), "targetProvider": S(target), "networkMap": S(plan + "-net"),
            "storageMap": S(plan + "-st"), "targetNamespace": S("mtv-test"), "skipGuestConversion": v("b", True),
            "vms": v("aa{sv}", [{"name": S(vm)}])})

    def kubevirt_vm(self, ns, name):
        """A running VM in @ns whose root disk is a DataVolume with data."""
        data = os.path.join(self.tmp, f"{name}-root.img")
        with open(data, "wb") as f:
            f.write(os.urandom(1 << 20) * 2 + b"\0" * (2 << 20))
        cluster = self.cluster
        with cluster.lock:
            if ("", "v1", "namespaces", None, ns) not in cluster.objects:
                cluster.put_object(("", "v1", "namespaces"), None,
                                   {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, "ADDED")
            cluster.create(("cdi.kubevirt.io", "v1beta1", "datavolumes"), ns, {
                "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume", "metadata": {"name": name + "-root"},
                "spec": {"source": {"blank": {}},
                         "storage": {"storageClassName": "fast", "resources": {"requests": {"storage": "4Mi"}}}}})
            cluster.create(("kubevirt.io", "v1", "virtualmachines"), ns, {
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": name},
                "spec": {"runStrategy": "Always", "template": {"metadata": {"labels": {"app": name}}, "spec": {
                    "domain": {"devices": {"disks": [{"name": "root", "disk": {"bus": "virtio"}}],
                                           "interfaces": [{"name": "default", "masquerade": {}}]},
                               "resources": {"requests": {"memory": "1Gi"}}},
                    "networks": [{"name": "default", "pod": {}}],
                    "volumes": [{"name": "root", "dataVolume": {"name": name + "-root"}}]}}}})
            cluster.volumes[(ns, name + "-root")] = data
        return data

    def test_hooks_run_as_jobs(self):
        self.kubevirt_vm("hooksrc", "hk1")
        self.kubevirt_vm("hooksrc", "hk2")
        self.provider("hksrc")
        self.provider("hkdst")
        self.status("hksrc", "Ready")
        self.status("hkdst", "Ready")
        playbook = "- hosts: localhost\n  tasks:\n  - debug: msg=hello\n"
        hook = lambda name, **spec: self.sb.create("CreateHook", name, {  # noqa: E731
            k: v("x", x) if isinstance(x, int) else S(x) for k, x in spec.items()})
        hook("prep", image="quay.io/konveyor/hook-runner", playbook=base64.b64encode(playbook.encode()).decode(),
             serviceAccount="mtv-hooks", deadline=30)
        hook("notify", image="example.com/notify:1")
        hook("broken", image="example.com/broken:1")
        hook("slow", image="example.com/slow:1", deadline=1)
        self.cluster.job_behaviour["example.com/broken:1"] = (0.2, False, "ansible: task 'quiesce' failed")
        self.cluster.job_behaviour["example.com/slow:1"] = (30, True, "")
        pair = lambda src, dst: {"source": v("a{sv}", {"name": S(src)}),  # noqa: E731
                                 "destination": v("a{sv}", {k: S(x) for k, x in dst.items()})}
        self.sb.create("CreateNetworkMap", "hk-net", {"sourceProvider": S("hksrc"), "targetProvider": S("hkdst"),
                                                      "pairs": v("aa{sv}", [pair("pod", {"type": "pod"})])})
        self.sb.create("CreateStorageMap", "hk-st", {"sourceProvider": S("hksrc"), "targetProvider": S("hkdst"),
                                                     "pairs": v("aa{sv}", [pair(f"{vm}/{vm}-root", {"storageClass": "standard"})
                                                                           for vm in ("hk1", "hk2")])})

        def plan(name, vm, hooks):
            self.sb.create("CreatePlan", name, {
                "sourceProvider": S("hksrc"), "targetProvider": S("hkdst"), "networkMap": S("hk-net"),
                "storageMap": S("hk-st"), "targetNamespace": S("mtv-test"),
                "vms": v("aa{sv}", [{"name": S(vm), "hooks": v("aa{sv}", [{"hook": S(h), "step": S(step)}
                                                                           for h, step in hooks])}])})

        # Both hooks run as Jobs in the target namespace, as Forklift makes them.
        plan("hk-ok", "hk1", [("prep", "PreHook"), ("notify", "PostHook")])
        status = self.run_plan("hk-ok")
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status["migration"], indent=1))
        vm = status["migration"]["vms"][0]
        self.assertEqual([s["name"] for s in vm["pipeline"]],
                         ["Initialize", "PreHook", "DiskTransfer", "VirtualMachineCreation", "PostHook"])
        runs = {r["image"]: r for r in self.cluster.hook_runs}
        prep, notify = runs["quay.io/konveyor/hook-runner"], runs["example.com/notify:1"]
        self.assertEqual(prep["files"]["playbook.yml"], playbook)
        self.assertEqual(yaml.safe_load(prep["files"]["plan.yml"])["targetNamespace"], "mtv-test")
        self.assertEqual(yaml.safe_load(prep["files"]["workload.yml"])["name"], "hk1")
        self.assertEqual(prep["serviceAccountName"], "mtv-hooks")
        self.assertEqual(prep["command"][-2:], ["-p", "/tmp/hook/playbook.yml"])
        self.assertIsNone(notify["command"])          # no playbook: the image's own entrypoint
        self.assertEqual(notify["files"]["playbook.yml"], "")
        plan_uid = self.sb.export(object_path("plans", "hk-ok"))["metadata"]["uid"]
        with self.cluster.lock:
            jobs = [o for k, o in self.cluster.objects.items() if k[2] == "jobs" and k[3] == "mtv-test"
                    and o["metadata"]["labels"].get("app") == "hk1"]
            cms = [o for k, o in self.cluster.objects.items() if k[2] == "configmaps" and k[3] == "mtv-test"
                   and o["metadata"]["labels"].get("app") == "hk1"]
            source = self.cluster.objects[("kubevirt.io", "v1", "virtualmachines", "hooksrc", "hk1")]
        self.assertEqual(sorted(j["metadata"]["labels"]["step"] for j in jobs), ["PostHook", "PreHook"])
        self.assertEqual(len(cms), 2)
        schemas = openapi3_schemas("kubernetes/batch-v1-openapi.json")
        for job in jobs:
            labels = job["metadata"]["labels"]
            self.assertEqual((labels["plan"], labels["resource"]), (plan_uid, "hook-config"))
            self.assertEqual(labels["vmID"], source["metadata"]["uid"])
            self.assertEqual(validate(job, {"$ref": "#/components/schemas/io.k8s.api.batch.v1.Job"}, schemas), [])
            self.assertEqual(job["spec"]["template"]["spec"]["restartPolicy"], "Never")
            self.assertEqual(job["spec"]["activeDeadlineSeconds"],
                             30 if labels["step"] == "PreHook" else 3600)
        self.assertEqual(source["spec"]["runStrategy"], "Halted")     # migrated cold: stopped after PreHook

        # A failing PreHook fails the VM before its source is touched.
        plan("hk-bad", "hk2", [("broken", "PreHook")])
        status = self.run_plan("hk-bad")
        self.assertEqual(status["phase"], "Failed")
        error = status["migration"]["vms"][0]["error"]["reasons"][0]
        self.assertIn("PreHook broken failed", error)
        self.assertIn("BackoffLimitExceeded: ansible: task 'quiesce' failed", error)
        with self.cluster.lock:
            source = self.cluster.objects[("kubevirt.io", "v1", "virtualmachines", "hooksrc", "hk2")]
            running = ("kubevirt.io", "v1", "virtualmachineinstances", "hooksrc", "hk2") in self.cluster.objects
            exports = [k for k in self.cluster.objects if k[2] == "virtualmachineexports" and k[3] == "hooksrc"]
        self.assertEqual(source["spec"]["runStrategy"], "Always")
        self.assertTrue(running, "the source VM was stopped although its PreHook failed")
        self.assertEqual(exports, [])
        # ... and its Job and ConfigMap go, as its other objects would.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with self.cluster.lock:
                left = [k for k, o in self.cluster.objects.items() if k[2] in ("jobs", "configmaps", "virtualmachines",
                                                                                "datavolumes")
                        and k[3] == "mtv-test" and o["metadata"].get("labels", {}).get("app") == "hk2"]
            if not left:
                break
            time.sleep(0.3)
        self.assertEqual(left, [])

        # A hook past its deadline: the Job's DeadlineExceeded fails the VM.
        plan("hk-slow", "hk2", [("slow", "PreHook")])
        started = time.monotonic()
        status = self.run_plan("hk-slow")
        self.assertEqual(status["phase"], "Failed")
        self.assertIn("DeadlineExceeded", status["migration"]["vms"][0]["error"]["reasons"][0])
        self.assertLess(time.monotonic() - started, 30)
        # A hook without an image cannot run in a cluster: the plan says so.
        hook("local-only", command="/bin/true")
        plan("hk-local", "hk2", [("local-only", "PostHook")])
        st = self.wait_plan("hk-local", ("NotReady",), timeout=30)
        self.assertIn("local-only: it has no image", {c["type"]: c for c in st["conditions"]}["HookNotValid"]["message"])

    def test_migrate_an_ova_vm_into_the_cluster(self):
        ovas = os.path.join(self.tmp, "ovas2")
        _, raws = make_ova(ovas, "db1", disks=((6, "q"), (3, "r")))
        make_ova(ovas, "app1", disks=((2, "s"),))
        self.sb.create("CreateProvider", "ova2", {"type": S("ova"), "url": S("file://" + ovas)})
        self.provider("kv")
        self.status("kv", "Ready")
        self.migration_plan("mig", "db1", "kv", 2)
        status = self.run_plan("mig")
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status["migration"], indent=1))
        # Each disk arrived through CDI's upload proxy, byte for byte.
        uploads = sorted((name, path) for (ns, name), path in self.cluster.uploads.items() if name.startswith("db1-"))
        self.assertEqual(len(uploads), 2, uploads)
        for (name, path), raw in zip(uploads, raws):
            with open(path, "rb") as a, open(raw, "rb") as b:
                self.assertTrue(a.read() == b.read(), f"{name} differs from the source disk")
        # The DataVolumes succeeded and the VirtualMachine (validated by the
        # stand-in against KubeVirt's schema) carries the ownership labels.
        with self.cluster.lock:
            vm = self.cluster.objects[("kubevirt.io", "v1", "virtualmachines", "mtv-test", "db1")]
            dvs = [o for k, o in self.cluster.objects.items() if k[2] == "datavolumes" and k[4].startswith("db1-")]
        self.assertEqual(len(dvs), 2)
        self.assertTrue(all(dv["status"]["phase"] == "Succeeded" for dv in dvs))
        self.assertEqual(vm["metadata"]["labels"]["migration"], status["migration"]["vms"][0].get("migration",
                         vm["metadata"]["labels"]["migration"]))
        self.assertEqual(vm["metadata"]["labels"]["app"], "db1")
        volumes = [vol["dataVolume"]["name"] for vol in vm["spec"]["template"]["spec"]["volumes"] if "dataVolume" in vol]
        self.assertEqual(sorted(volumes), sorted(dv["metadata"]["name"] for dv in dvs))

        # RBAC refuses DataVolumes to another user: the VM fails with the
        # API server's words, and what was created for it is removed.
        self.cluster.tokens["nodv-token"] = "nodv"
        self.cluster.forbidden.add(("nodv", "patch", "datavolumes"))
        self.provider("kv-limited", token="nodv-token")
        self.status("kv-limited", "Ready")
        self.migration_plan("mig2", "app1", "kv-limited", 1)
        status = self.run_plan("mig2")
        self.assertEqual(status["phase"], "Failed")
        vm_status = status["migration"]["vms"][0]
        self.assertIn("403 Forbidden", json.dumps(vm_status))
        self.assertIn('cannot patch resource \\"datavolumes\\"', json.dumps(vm_status))

        # The upload proxy drops the stream mid-disk: the VM fails saying so,
        # and its DataVolume (created before the copy) is removed again.
        self.cluster.fail_uploads_after = 4096
        try:
            self.migration_plan("mig3", "app1", "kv", 1)
            status = self.run_plan("mig3")
        finally:
            self.cluster.fail_uploads_after = None
        self.assertEqual(status["phase"], "Failed")
        self.assertIn("copying disk", json.dumps(status["migration"]["vms"][0]))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with self.cluster.lock:
                left = [k for k in self.cluster.objects if k[2] == "datavolumes" and k[4].startswith("app1-")]
            if not left:
                break
            time.sleep(0.3)
        self.assertEqual(left, [])

        # An expired upload token: the proxy's 401 reaches the user.
        self.cluster.expire_upload_tokens = True
        try:
            self.migration_plan("mig4", "app1", "kv", 1)
            status = self.run_plan("mig4")
        finally:
            self.cluster.expire_upload_tokens = False
        self.assertEqual(status["phase"], "Failed")
        self.assertIn("401", json.dumps(status["migration"]["vms"][0]))

    def test_cancel_and_restart_mid_upload(self):
        ovas = os.path.join(self.tmp, "ovas3")
        _, raws = make_ova(ovas, "vm1", disks=((4, "k"),))
        self.sb.create("CreateProvider", "ova3", {"type": S("ova"), "url": S("file://" + ovas)})
        self.provider("kv3")
        self.status("kv3", "Ready")
        self.migration_plan("mig5", "vm1", "kv3", 1, source="ova3")
        self.assertEqual(self.wait_plan("mig5", ("Ready",), timeout=30)["phase"], "Ready")

        def upload_waiting():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and self.cluster.uploads_waiting == 0:
                time.sleep(0.1)
            self.assertEqual(self.cluster.uploads_waiting, 1)

        # Cancelled mid-upload: the VM is Canceled and its DataVolume removed.
        self.cluster.upload_gate = threading.Event()
        try:
            migration = self.sb.call(object_path("plans", "mig5"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))[0]
            upload_waiting()
            self.sb.call(migration, "org.mtvd.Mtv1.Migration", "Cancel", "(asa{sv})", ([], {}))
            status = self.wait_plan("mig5", ("Succeeded", "Failed", "Canceled"))
        finally:
            self.cluster.upload_gate.set()
            self.cluster.upload_gate = None
        self.assertEqual(status["phase"], "Canceled", json.dumps(status["migration"]))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(k[2] == "datavolumes" and k[4].startswith("vm1-")
                                                  for k in list(self.cluster.objects)):
            time.sleep(0.3)
        self.assertFalse(any(k[2] == "datavolumes" and k[4].startswith("vm1-") for k in list(self.cluster.objects)))

        # mtvd killed mid-upload: after the restart the VM starts its disk over and succeeds.
        self.sb.call(object_path("plans", "mig5"), "org.mtvd.Mtv1.Resource", "Delete", "(a{sv})", ({},))
        self.migration_plan("mig6", "vm1", "kv3", 1, source="ova3")
        self.assertEqual(self.wait_plan("mig6", ("Ready",), timeout=30)["phase"], "Ready")
        self.cluster.upload_gate = threading.Event()
        try:
            self.sb.call(object_path("plans", "mig6"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))
            upload_waiting()
            self.sb.kill_mtvd()
        finally:
            self.cluster.upload_gate.set()
            self.cluster.upload_gate = None
        self.sb.start_mtvd()
        status = self.wait_plan("mig6", ("Succeeded", "Failed", "Canceled"))
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status["migration"]))
        with open(self.sb.mtvd_log.name) as f:
            self.assertIn("VM vm1: resuming the copy: 0 of 1 disks done", f.read())
        with open(self.cluster.uploads[("mtv-test", "vm1-disk-0")], "rb") as a, open(raws[0], "rb") as b:
            self.assertTrue(a.read() == b.read())

    def test_kubevirt_to_kubevirt_cold(self):
        # A running VM in namespace apps, its root disk a DataVolume with data.
        data = os.path.join(self.tmp, "src1-root.img")
        with open(data, "wb") as f:
            f.write(os.urandom(1 << 20) * 2 + b"\0" * (2 << 20))
        cluster = self.cluster
        with cluster.lock:
            cluster.put_object(("", "v1", "namespaces"), None,
                               {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}, "ADDED")
            cluster.create(("cdi.kubevirt.io", "v1beta1", "datavolumes"), "apps", {
                "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume", "metadata": {"name": "src1-root"},
                "spec": {"source": {"blank": {}},
                         "storage": {"storageClassName": "fast", "resources": {"requests": {"storage": "4Mi"}}}}})
            cluster.create(("kubevirt.io", "v1", "virtualmachines"), "apps", {
                "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "src1"},
                "spec": {"runStrategy": "Always",
                         "preference": {"name": "fedora", "kind": "VirtualMachineClusterPreference"},
                         "template": {"metadata": {"labels": {"app": "src1"}}, "spec": {
                    "domain": {"devices": {"disks": [{"name": "root", "disk": {"bus": "virtio"}}],
                                           "interfaces": [{"name": "default", "masquerade": {},
                                                           "macAddress": "02:00:00:00:00:01"}]},
                               "resources": {"requests": {"memory": "1Gi"}}},
                    "networks": [{"name": "default", "pod": {}}],
                    "volumes": [{"name": "root", "dataVolume": {"name": "src1-root"}}]}}}})
            cluster.volumes[("apps", "src1-root")] = data
        self.provider("kvsrc")
        self.provider("kvdst")
        self.status("kvsrc", "Ready")
        self.status("kvdst", "Ready")
        dvs = self.inventory("kvsrc", "datavolumes", "namespace = 'apps'")
        self.assertEqual([(d["name"], d["capacity"]) for d in dvs], [("src1-root", 4 << 20)])
        vms = self.inventory("kvsrc", "vms", "name = 'src1'")
        self.assertEqual(vms[0]["disks"][0]["capacity"], 4 << 20)
        self.assertEqual(vms[0]["networks"], [{"id": "pod", "name": "pod"}])
        pair = lambda src, dst: {"source": v("a{sv}", {"name": S(src)}),  # noqa: E731
                                 "destination": v("a{sv}", {k: S(x) for k, x in dst.items()})}
        self.sb.create("CreateNetworkMap", "kk-net", {"sourceProvider": S("kvsrc"), "targetProvider": S("kvdst"),
                                                      "pairs": v("aa{sv}", [pair("pod", {"type": "pod"})])})
        self.sb.create("CreateStorageMap", "kk-st", {"sourceProvider": S("kvsrc"), "targetProvider": S("kvdst"),
                                                     "pairs": v("aa{sv}", [pair("src1/src1-root",
                                                                                {"storageClass": "standard"})])})
        self.sb.create("CreatePlan", "kk", {"sourceProvider": S("kvsrc"), "targetProvider": S("kvdst"),
                                            "networkMap": S("kk-net"), "storageMap": S("kk-st"),
                                            "targetNamespace": S("mtv-test"), "vms": v("aa{sv}", [{"name": S("src1")}])})
        status = self.run_plan("kk")
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status["migration"], indent=1))
        # The disk went from the source's export to the target's upload proxy, byte for byte.
        with open(cluster.uploads[("mtv-test", "src1-disk-0")], "rb") as a, open(data, "rb") as b:
            self.assertTrue(a.read() == b.read())
        with cluster.lock:
            source_vm = cluster.objects[("kubevirt.io", "v1", "virtualmachines", "apps", "src1")]
            exports = [k for k in cluster.objects if k[2] == "virtualmachineexports"]
            target_vm = cluster.objects.get(("kubevirt.io", "v1", "virtualmachines", "mtv-test", "src1"))
        self.assertEqual(source_vm["spec"]["runStrategy"], "Halted")     # stopped for the copy, left off
        self.assertEqual(exports, [])                                      # the export was removed
        self.assertIsNotNone(target_vm)
        self.assertEqual(target_vm["spec"]["template"]["spec"]["domain"]["devices"]["interfaces"][0]["macAddress"],
                         "02:00:00:00:00:01")
        self.assertEqual(vms[0]["memoryMB"], 1024)
        # The source's own template is kept (its memory request), with the mapped disks and networks.
        domain = target_vm["spec"]["template"]["spec"]["domain"]
        self.assertEqual(domain["resources"], {"requests": {"memory": "1Gi"}})
        self.assertEqual([d["name"] for d in domain["devices"]["disks"]],
                         [vol["name"] for vol in target_vm["spec"]["template"]["spec"]["volumes"]])
        self.assertEqual(target_vm["spec"]["runStrategy"], "Always")   # auto: the source was running
        self.assertEqual(vms[0]["preference"], "fedora")
        self.assertEqual(target_vm["spec"]["preference"], {"name": "fedora", "kind": "VirtualMachineClusterPreference"})

    def test_live_migration(self):
        cluster = self.cluster
        vm_spec = lambda name, strategy: {  # noqa: E731
            "apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": name},
            "spec": {"runStrategy": strategy, "template": {"metadata": {"labels": {"app": name}}, "spec": {
                "domain": {"devices": {"disks": [{"name": "root", "disk": {"bus": "virtio"}}],
                                       "interfaces": [{"name": "default", "masquerade": {}}]},
                           "resources": {"requests": {"memory": "1Gi"}}},
                "networks": [{"name": "default", "pod": {}}],
                "volumes": [{"name": "root", "dataVolume": {"name": name + "-root"}}]}}}}
        with cluster.lock:
            cluster.put_object(("", "v1", "namespaces"), None,
                               {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps2"}}, "ADDED")
            for name, strategy in (("lm1", "Always"), ("lm2", "Halted")):
                cluster.create(("cdi.kubevirt.io", "v1beta1", "datavolumes"), "apps2", {
                    "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume", "metadata": {"name": name + "-root"},
                    "spec": {"source": {"blank": {}},
                             "storage": {"storageClassName": "fast", "resources": {"requests": {"storage": "4Mi"}}}}})
                cluster.create(("kubevirt.io", "v1", "virtualmachines"), "apps2", vm_spec(name, strategy))
        self.provider("lmsrc")
        self.provider("lmdst")
        self.status("lmsrc", "Ready")
        self.status("lmdst", "Ready")
        pair = lambda src, dst: {"source": v("a{sv}", {"name": S(src)}),  # noqa: E731
                                 "destination": v("a{sv}", {k: S(x) for k, x in dst.items()})}
        self.sb.create("CreateNetworkMap", "lm-net", {"sourceProvider": S("lmsrc"), "targetProvider": S("lmdst"),
                                                      "pairs": v("aa{sv}", [pair("pod", {"type": "pod"})])})
        self.sb.create("CreateStorageMap", "lm-st", {"sourceProvider": S("lmsrc"), "targetProvider": S("lmdst"),
                                                     "pairs": v("aa{sv}", [pair("lm1/lm1-root", {"storageClass": "standard"}),
                                                                           pair("lm2/lm2-root", {"storageClass": "standard"})])})
        # A stopped VM cannot live-migrate: the plan says so.
        self.sb.create("CreatePlan", "lm-bad", {"sourceProvider": S("lmsrc"), "targetProvider": S("lmdst"),
                                                "networkMap": S("lm-net"), "storageMap": S("lm-st"), "type": S("live"),
                                                "targetNamespace": S("mtv-test"), "vms": v("aa{sv}", [{"name": S("lm2")}])})
        status = self.wait_plan("lm-bad", ("NotReady",), timeout=30)
        self.assertIn("lm2", {c["type"]: c for c in status["conditions"]}["VMNotLiveMigratable"]["message"])

        self.sb.create("CreatePlan", "lm", {"sourceProvider": S("lmsrc"), "targetProvider": S("lmdst"),
                                            "networkMap": S("lm-net"), "storageMap": S("lm-st"), "type": S("live"),
                                            "targetNamespace": S("mtv-test"), "vms": v("aa{sv}", [{"name": S("lm1")}])})
        status = self.run_plan("lm")
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status["migration"], indent=1))
        with cluster.lock:
            target_vm = cluster.objects[("kubevirt.io", "v1", "virtualmachines", "mtv-test", "lm1")]
            target_vmi = cluster.objects.get(("kubevirt.io", "v1", "virtualmachineinstances", "mtv-test", "lm1"))
            source_vmi = cluster.objects.get(("kubevirt.io", "v1", "virtualmachineinstances", "apps2", "lm1"))
            migrations = [o for k, o in cluster.objects.items() if k[2] == "virtualmachineinstancemigrations"]
            dv = cluster.objects[("cdi.kubevirt.io", "v1beta1", "datavolumes", "mtv-test", "lm1-root")]
        self.assertEqual(target_vm["spec"]["runStrategy"], "Always")          # restored after WaitAsReceiver
        self.assertEqual(target_vm["metadata"]["annotations"]["forklift.konveyor.io/runStrategy"], "Always")
        self.assertEqual(target_vmi["status"]["phase"], "Running")
        self.assertIsNone(source_vmi)                                         # the VM left the source
        self.assertEqual(sorted(m["status"]["phase"] for m in migrations), ["Succeeded", "Succeeded"])
        self.assertEqual({m["spec"].get("receive", m["spec"].get("sendTo"))["migrationID"] for m in migrations}.__len__(), 1)
        self.assertEqual(dv["spec"]["storage"]["storageClassName"], "standard")
        self.assertIn("blank", dv["spec"]["source"])
        pipeline = [p["name"] for p in status["migration"]["vms"][0]["pipeline"]]
        self.assertIn("DiskTransfer", pipeline)

        # Without KubeVirt's feature gate on the target, live plans are refused.
        key = ("kubevirt.io", "v1", "kubevirts", "kubevirt", "kubevirt")
        with cluster.lock:
            old = cluster.objects[key]
            new = json.loads(json.dumps(old))
            new["spec"]["configuration"]["developerConfiguration"]["featureGates"] = []
            cluster.store_update(key[:3], key[3], key[4], old, new, None)
        try:
            self.sb.create("CreatePlan", "lm-gate", {"sourceProvider": S("lmsrc"), "targetProvider": S("lmdst"),
                                                     "networkMap": S("lm-net"), "storageMap": S("lm-st"),
                                                     "type": S("live"), "targetNamespace": S("prod2"),
                                                     "vms": v("aa{sv}", [{"name": S("lm2")}])})
            deadline = time.monotonic() + 20
            while True:
                c = {x["type"]: x for x in self.sb.export(object_path("plans", "lm-gate"))["status"]["conditions"]}
                if "LiveMigrationNotEnabled" in c or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            self.assertIn("DecentralizedLiveMigration", c["LiveMigrationNotEnabled"]["message"])
        finally:
            with cluster.lock:
                cur = cluster.objects[key]
                back = json.loads(json.dumps(cur))
                back["spec"]["configuration"]["developerConfiguration"]["featureGates"] = ["DecentralizedLiveMigration"]
                cluster.store_update(key[:3], key[3], key[4], cur, back, None)

    def test_cluster_transfer_mode(self):
        # CDI's importer pulls the disk from mtvd over HTTP instead of mtvd
        # uploading it; progress comes from the DataVolume's status.
        ovas = os.path.join(self.tmp, "ovas4")
        _, raws = make_ova(ovas, "pull1", disks=((5, "p"),))
        self.sb.create("CreateProvider", "ova4", {"type": S("ova"), "url": S("file://" + ovas)})
        self.provider("kvpull", transferMode="cluster", diskServerAddress="127.0.0.1:0")
        self.status("kvpull", "Ready")
        self.migration_plan("pull", "pull1", "kvpull", 1, source="ova4")
        status = self.run_plan("pull")
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status["migration"], indent=1))
        with open(self.cluster.uploads[("mtv-test", "pull1-disk-0")], "rb") as a, open(raws[0], "rb") as b:
            self.assertTrue(a.read() == b.read())
        url = [u for u in self.cluster.imported_from if "/disks/" in u][-1]
        self.assertRegex(url, r"^http://127\.0\.0\.1:\d+/disks/[0-9a-f]{32}/disk\.img$")
        with self.cluster.lock:
            dv = self.cluster.objects[("cdi.kubevirt.io", "v1beta1", "datavolumes", "mtv-test", "pull1-disk-0")]
        self.assertEqual(dv["spec"]["source"], {"http": {"url": url}})
        # The capability URL is withdrawn once the disk is in.
        import urllib.error
        import urllib.request
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(url, timeout=10)
        self.assertEqual(cm.exception.code, 404)

    def test_api_server_killed_mid_upload(self):
        # A cluster of its own, killed while the disk is on its way: the VM
        # fails naming the copy, and mtvd goes on serving.
        tmp = tempfile.mkdtemp(prefix="mtv-killed-", dir=self.tmp)
        server, url = kube_standin.start(tmp)
        try:
            ovas = os.path.join(self.tmp, "ovas5")
            make_ova(ovas, "gone1", disks=((3, "g"),))
            self.sb.create("CreateProvider", "ova5", {"type": S("ova"), "url": S("file://" + ovas)})
            self.provider("doomed", url=url)
            self.status("doomed", "Ready")
            self.migration_plan("doom", "gone1", "doomed", 1, source="ova5")
            self.assertEqual(self.wait_plan("doom", ("Ready",), timeout=30)["phase"], "Ready")
            server.cluster.upload_gate = threading.Event()
            self.sb.call(object_path("plans", "doom"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and server.cluster.uploads_waiting == 0:
                time.sleep(0.1)
            self.assertEqual(server.cluster.uploads_waiting, 1)
            server.cluster.fail_uploads_after = 0       # the in-flight upload dies with the server
            server.shutdown()
            server.server_close()
            server.cluster.upload_gate.set()
            status = self.wait_plan("doom", ("Succeeded", "Failed", "Canceled"), timeout=120)
            self.assertEqual(status["phase"], "Failed")
            self.assertIn("copying disk", json.dumps(status["migration"]["vms"][0]))
            self.assertEqual(self.sb.export(object_path("plans", "doom"))["status"]["phase"], "Failed")
        finally:
            server.server_close()


if __name__ == "__main__":
    unittest.main(verbosity=2)

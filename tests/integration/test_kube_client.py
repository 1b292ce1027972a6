"""mtvd's Kubernetes client (daemon/kube/) against the API stand-in: CRUD,
Status errors, conflicts, apply, the status subresource, lists with
selectors and pagination, watches across closed streams and 410 Gone,
kubeconfig parsing (token, tokenFile, exec plugin), 401 and 403, and
manifests that the real schemas refuse."""
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import kube_standin
from mtvtest import BUILD_ROOT

TOOL = os.path.join(BUILD_ROOT, "tests", "kube-tool")
DV = "cdi.kubevirt.io/v1beta1/datavolumes"
VM = "kubevirt.io/v1/virtualmachines"
NS = "/v1/namespaces"


def kubeconfig(path, server, user):
    with open(path, "w") as f:
        json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "test",
                   "clusters": [{"name": "standin", "cluster": {"server": server}}],
                   "users": [{"name": "me", "user": user}],
                   "contexts": [{"name": "test", "context": {"cluster": "standin", "user": "me",
                                                             "namespace": "mtv-test"}}]}, f)
    return path


def datavolume(name, size="64Mi", **extra):
    dv = {"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
          "metadata": {"name": name, "labels": {"app": "mtv", "vm": name.split("-")[0]}},
          "spec": {"source": {"upload": {}},
                   "storage": {"storageClassName": "standard", "resources": {"requests": {"storage": size}}}}}
    dv.update(extra)
    return dv


class KubeClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mtv-kube-")
        cls.server, cls.url = kube_standin.start(cls.tmp)
        cls.cluster = cls.server.cluster
        cls.config = kubeconfig(os.path.join(cls.tmp, "kubeconfig"), cls.url, {"token": "admin-token"})

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tool(self, *args, input=None, config=None, check=True, timeout=60):
        r = subprocess.run([TOOL, config or self.config] + list(args), input=input, capture_output=True, text=True,
                           timeout=timeout)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
            return [json.loads(line) for line in r.stdout.splitlines() if line.startswith(("{", "["))]
        return r

    def test_create_get_conflict_and_status_errors(self):
        created = self.tool("create", DV, "mtv-test", "-", input=json.dumps(datavolume("web-disk0")))[0]
        self.assertEqual(created["status"]["phase"], "UploadReady")          # CDI's behaviour
        self.assertTrue(created["metadata"]["uid"])
        got = self.tool("get", DV, "mtv-test", "web-disk0")[0]
        self.assertEqual(got["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"])
        # AlreadyExists and NotFound come back as the Status says them.
        r = self.tool("create", DV, "mtv-test", "-", input=json.dumps(datavolume("web-disk0")), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("error 409", r.stderr)
        self.assertIn("AlreadyExists", r.stderr)
        r = self.tool("get", DV, "mtv-test", "nope", check=False)
        self.assertIn("error 404", r.stderr)
        self.assertIn('"nope" not found', r.stderr)
        # A stale resourceVersion is a Conflict; update() re-reads and retries.
        stale = dict(got)
        self.tool("patch", DV, "mtv-test", "web-disk0", "-", input='{"metadata": {"labels": {"touched": "yes"}}}')
        r = self.tool("replace", DV, "mtv-test", "-", input=json.dumps(stale), check=False)
        self.assertIn("error 409", r.stderr)
        self.assertIn("the object has been modified", r.stderr)
        updated = self.tool("update-label", DV, "mtv-test", "web-disk0", "owner", "mtvd")[0]
        self.assertEqual(updated["metadata"]["labels"]["owner"], "mtvd")
        self.assertEqual(updated["metadata"]["labels"]["touched"], "yes")
        # Writes to the object leave .status alone (status subresource).
        self.assertEqual(updated["status"]["phase"], "UploadReady")
        self.assertEqual(self.tool("delete", DV, "mtv-test", "web-disk0", check=False).stdout.strip(), "deleted")
        self.assertEqual(self.tool("delete", DV, "mtv-test", "web-disk0", check=False).returncode, 0)  # gone is fine

    def test_schemas_refuse_bad_manifests(self):
        bad = datavolume("bad-disk0")
        bad["spec"]["storage"]["sizee"] = "1Gi"                               # unknown field
        r = self.tool("create", DV, "mtv-test", "-", input=json.dumps(bad), check=False)
        self.assertIn("error 422", r.stderr)
        self.assertIn("spec.storage.sizee: unknown field", r.stderr)
        vm = {"apiVersion": "kubevirt.io/v1", "kind": "VirtualMachine", "metadata": {"name": "v"},
              "spec": {"runStrategy": "Always", "template": {"spec": {"domain": {"devices": {}, "cpu": {"cores": "2"}}}}}}
        r = self.tool("create", VM, "mtv-test", "-", input=json.dumps(vm), check=False)
        self.assertIn("error 422", r.stderr)
        r = self.tool("create", DV, "nowhere", "-", input=json.dumps(datavolume("x-disk0")), check=False)
        self.assertIn('namespaces \\"nowhere\\" not found', r.stderr.replace('"', '\\"'))

    def test_apply_is_create_or_update_and_needs_the_field_manager(self):
        dv = datavolume("app-disk0")
        self.tool("apply", DV, "mtv-test", "-", input=json.dumps(dv))
        dv["metadata"]["labels"]["tier"] = "db"
        applied = self.tool("apply", DV, "mtv-test", "-", input=json.dumps(dv))[0]
        self.assertEqual(applied["metadata"]["labels"]["tier"], "db")
        self.assertIn(("PATCH", "/apis/cdi.kubevirt.io/v1beta1/namespaces/mtv-test/datavolumes/app-disk0"),
                      self.cluster.requests)

    def test_list_selectors_and_pages(self):
        for i in range(7):
            self.tool("create", DV, "mtv-test", "-", input=json.dumps(datavolume(f"pg{i % 2}-disk{i}")))
        items = self.tool("list", DV, "mtv-test", "vm=pg1", "2")[0]
        self.assertEqual(sorted(i["metadata"]["name"] for i in items), ["pg1-disk1", "pg1-disk3", "pg1-disk5"])
        items = self.tool("list", DV, "mtv-test", "app=mtv,vm!=pg1", "3")[0]
        self.assertEqual(len([i for i in items if i["metadata"]["name"].startswith("pg0")]), 4)
        # Cluster-scoped resources and the core group.
        namespaces = self.tool("list", "/v1/namespaces", "-", "", "0")[0]
        self.assertIn("mtv-test", [n["metadata"]["name"] for n in namespaces])

    def test_watch_survives_closed_streams_and_410(self):
        events = []
        lists_before = self.cluster.lists.get("datavolumes", 0)
        proc = subprocess.Popen([TOOL, self.config, "watch", DV, "mtv-test", "vm=w", "60", "w-disk9", "DELETED"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        reader = threading.Thread(target=lambda: events.extend(json.loads(l) for l in proc.stdout))
        reader.start()
        self.tool("create", DV, "mtv-test", "-", input=json.dumps(datavolume("w-disk1")))
        time.sleep(1.0)
        self.cluster.watch_close.set()            # the server drops the stream: resume from the last version
        time.sleep(0.5)
        self.tool("create", DV, "mtv-test", "-", input=json.dumps(datavolume("w-disk2")))
        time.sleep(1.0)
        # w-disk1 goes and the history with it before the watcher hears of it:
        # it gets 410, lists again and reports w-disk1 DELETED itself.
        with self.cluster.lock:
            self.cluster.delete(("cdi.kubevirt.io", "v1beta1", "datavolumes"), "mtv-test", "w-disk1")
            self.cluster.compact()
        self.tool("create", DV, "mtv-test", "-", input=json.dumps(datavolume("w-disk9")))
        time.sleep(1.0)
        self.tool("delete", DV, "mtv-test", "w-disk9")
        proc.wait(timeout=60)
        reader.join(timeout=10)
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        self.assertEqual(proc.returncode, 0, stderr)
        # One list to start, one after the 410; the closed stream resumed without one.
        self.assertEqual(self.cluster.lists["datavolumes"] - lists_before, 2)
        seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
        for want in [("ADDED", "w-disk1"), ("ADDED", "w-disk2"), ("DELETED", "w-disk1"), ("ADDED", "w-disk9"),
                     ("DELETED", "w-disk9")]:
            self.assertIn(want, seen)
        self.assertEqual(seen.count(("ADDED", "w-disk1")), 1, seen)         # nothing reported twice
        self.assertLess(seen.index(("ADDED", "w-disk1")), seen.index(("DELETED", "w-disk1")))

    def test_watch_times_out(self):
        r = self.tool("watch", DV, "mtv-test", "vm=never", "2", "never", "ADDED", check=False, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("error 408", r.stderr)

    def test_tokens_rbac_and_exec_plugin(self):
        # An unknown or expired token: 401 with the server's words.
        bad = kubeconfig(os.path.join(self.tmp, "bad"), self.url, {"token": "expired"})
        r = self.tool("get", NS, "-", "default", config=bad, check=False)
        self.assertIn("error 401", r.stderr)
        self.assertIn("Unauthorized", r.stderr)
        # RBAC says no: 403 naming the verb and resource.
        self.cluster.tokens["limited-token"] = "limited"
        self.cluster.forbidden.add(("limited", "create", "datavolumes"))
        limited = kubeconfig(os.path.join(self.tmp, "limited"), self.url, {"token": "limited-token"})
        r = self.tool("create", DV, "mtv-test", "-", input=json.dumps(datavolume("rbac-disk0")), config=limited,
                      check=False)
        self.assertIn("error 403", r.stderr)
        self.assertIn('cannot create resource \\"datavolumes\\"'.replace('\\"', '"'), r.stderr)
        # tokenFile is read at every request (rotating service-account tokens).
        token_file = os.path.join(self.tmp, "token")
        with open(token_file, "w") as f:
            f.write("expired\n")
        rotating = kubeconfig(os.path.join(self.tmp, "rotating"), self.url, {"tokenFile": "token"})
        self.assertEqual(self.tool("get", NS, "-", "default", config=rotating, check=False).returncode, 1)
        with open(token_file, "w") as f:
            f.write("admin-token\n")
        self.tool("get", NS, "-", "default", config=rotating)
        # An exec credential plugin.
        plugin = os.path.join(self.tmp, "plugin.sh")
        with open(plugin, "w") as f:
            f.write('#!/bin/sh\ntest -n "$KUBERNETES_EXEC_INFO" || exit 3\n'
                    'echo "{\\"apiVersion\\":\\"client.authentication.k8s.io/v1\\",\\"kind\\":\\"ExecCredential\\",'
                    '\\"status\\":{\\"token\\":\\"$TOKEN\\"}}"\n')
        os.chmod(plugin, 0o755)
        exec_cfg = kubeconfig(os.path.join(self.tmp, "exec"), self.url,
                              {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": plugin,
                                        "env": [{"name": "TOKEN", "value": "admin-token"}]}})
        self.tool("get", NS, "-", "default", config=exec_cfg)

    def test_bad_kubeconfigs_name_the_problem(self):
        cases = [
            ({"apiVersion": "v1", "kind": "Config"}, "no current-context"),
            ({"current-context": "x", "contexts": []}, 'no contexts named "x"'),
            ({"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
              "clusters": [{"name": "k", "cluster": {"server": "ftp://x"}}]}, "has no http(s) server"),
            ({"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
              "clusters": [{"name": "k", "cluster": {"server": "https://x"}}],
              "users": [{"name": "u", "user": {"auth-provider": {"name": "gcp"}}}]}, "auth-provider"),
            ({"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
              "clusters": [{"name": "k", "cluster": {"server": "https://x", "certificate-authority-data": "!!"}}],
              "users": [{"name": "u", "user": {}}]}, "certificate-authority-data is not base64"),
        ]
        for doc, want in cases:
            path = os.path.join(self.tmp, "broken")
            with open(path, "w") as f:
                json.dump(doc, f)
            r = self.tool("get", NS, "-", "default", config=path, check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn(want, r.stderr)
        with open(os.path.join(self.tmp, "garbage"), "w") as f:
            f.write("{[: not yaml")
        r = self.tool("get", NS, "-", "default", config=os.path.join(self.tmp, "garbage"), check=False)
        self.assertEqual(r.returncode, 1)

    def test_server_gone(self):
        dead = kubeconfig(os.path.join(self.tmp, "dead"), "http://127.0.0.1:9", {"token": "admin-token"})
        r = self.tool("get", NS, "-", "default", config=dead, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("error 0", r.stderr)
        self.assertIn("127.0.0.1:9", r.stderr)


class KubeClientTls(unittest.TestCase):
    """TLS: the cluster's CA from a kubeconfig or the pod's service-account
    files, a wrong CA refused, insecure-skip-tls-verify."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mtv-kube-tls-")
        cls.server, cls.url = kube_standin.start(cls.tmp, tls=True)

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tool(self, config, env=None):
        return subprocess.run([TOOL, config, "get", NS, "-", "default"], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, **(env or {})))

    def test_ca_from_kubeconfig_and_refusals(self):
        with open(self.server.ca_file) as f:
            ca = f.read()
        import base64
        good = kubeconfig(os.path.join(self.tmp, "good"), self.url, {"token": "admin-token"})
        with open(good) as f:
            doc = json.load(f)
        doc["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(ca.encode()).decode()
        with open(good, "w") as f:
            json.dump(doc, f)
        r = self.tool(good)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["metadata"]["name"], "default")
        # Another CA: the server is not trusted.
        other_ca, _, _ = kube_standin.make_tls(self.tmp, "other")
        doc["clusters"][0]["cluster"]["certificate-authority"] = other_ca
        del doc["clusters"][0]["cluster"]["certificate-authority-data"]
        with open(good, "w") as f:
            json.dump(doc, f)
        r = self.tool(good)
        self.assertEqual(r.returncode, 1)
        self.assertIn("certificate", r.stderr.lower())
        # insecure-skip-tls-verify accepts it anyway.
        doc["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
        with open(good, "w") as f:
            json.dump(doc, f)
        self.assertEqual(self.tool(good).returncode, 0)

    def test_in_cluster_service_account(self):
        root = os.path.join(self.tmp, "pod")
        sa = os.path.join(root, "var/run/secrets/kubernetes.io/serviceaccount")
        os.makedirs(sa)
        shutil.copy(self.server.ca_file, os.path.join(sa, "ca.crt"))
        with open(os.path.join(sa, "token"), "w") as f:
            f.write("admin-token\n")
        with open(os.path.join(sa, "namespace"), "w") as f:
            f.write("mtv-test\n")
        env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(self.server.server_address[1])}
        r = self.tool("in-cluster:" + root, env)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.tool("in-cluster:" + root, {"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": ""})
        self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""Hooks on a local target, run by mtvd on this host: a Hook's command (with
the plan and VM as JSON on stdin and MTV_* in its environment) and a Hook's
playbook (ansible-playbook, beside plan.yml and workload.yml); a failed
PreHook fails the VM before anything is made, a failed PostHook keeps the
target VM; deadlines and cancel end a hook; a hook that cannot run on the
target makes the plan NotReady; the exported Hook fits Forklift's CRD."""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import yaml

from kube_standin import validate_structural
from mtvtest import CallError, Sandbox, object_path, v
from openapi import REFERENCE
from ovabuilder import make_ova

S = lambda x: v("s", x)  # noqa: E731

PLAYBOOK = """- hosts: localhost
  gather_facts: false
  tasks:
  - include_vars:
      file: plan.yml
      name: plan
  - include_vars:
      file: workload.yml
      name: workload
  - copy:
      dest: "{{ out }}"
      content: "{{ workload.name }} {{ plan.targetNamespace }} {{ plan.vms[0].name }}"
"""


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def pair(source, dest):
    return {"source": v("a{sv}", {"name": S(source)}), "destination": v("a{sv}", {k: S(x) for k, x in dest.items()})}


class Hooks(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mtv-hooks-")
        os.chmod(self.dir, 0o755)
        self.ovas = os.path.join(self.dir, "ovas")
        self.target = os.path.join(self.dir, "target")
        _, self.raws = make_ova(self.ovas, "vm1", disks=((4, "h"),))
        self.sb = Sandbox().start()
        self.sb.create("CreateProvider", "ova", {"type": S("ova"), "url": S("file://" + self.ovas)})
        self.sb.create("CreateProvider", "host", {"type": S("local"), "url": S("file://" + self.target)})
        self.sb.create("CreateNetworkMap", "net", {"sourceProvider": S("ova"), "targetProvider": S("host"),
                                                   "pairs": v("aa{sv}", [pair("VM Network", {"type": "pod"})])})
        self.sb.create("CreateStorageMap", "st", {"sourceProvider": S("ova"), "targetProvider": S("host"), "pairs": v(
            "aa{sv}", [pair("vm1/vm1-disk1.vmdk", {"storageClass": "standard"})])})

    def tearDown(self):
        self.sb.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def script(self, name, body):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o755)
        return path

    def hook(self, name, **spec):
        self.sb.create("CreateHook", name, {k: (v("x", x) if isinstance(x, int) else S(x)) for k, x in spec.items()})

    def plan(self, hooks, name="p"):
        self.sb.create("CreatePlan", name, {
            "sourceProvider": S("ova"), "targetProvider": S("host"), "networkMap": S("net"), "storageMap": S("st"),
            "targetNamespace": S("prod"), "skipGuestConversion": v("b", True),
            "vms": v("aa{sv}", [{"name": S("vm1"), "hooks": v("aa{sv}", [
                {"hook": S(h), "step": S(step)} for h, step in hooks])}])})

    def status(self, name="p"):
        return self.sb.export(object_path("plans", name))["status"]

    def wait(self, phases, name="p", timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            st = self.status(name)
            if st["phase"] in phases:
                return st
            if time.monotonic() > deadline:
                self.fail(f"plan {name} stayed {st['phase']}: {json.dumps(st)[:2000]}")
            time.sleep(0.1)

    def run_plan(self, name="p"):
        self.wait(("Ready",), name, timeout=30)
        path = self.sb.call(object_path("plans", name), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))[0]
        return path, self.wait(("Succeeded", "Failed", "Canceled"), name)

    def log(self):
        with open(self.sb.mtvd_log.name, errors="replace") as f:
            return f.read()

    def test_command_hooks_run_with_the_plan_and_vm(self):
        seen = os.path.join(self.dir, "seen")
        os.makedirs(seen)
        cmd = self.script("hook.sh", f'echo "hello from $MTV_STEP of $MTV_VM in $MTV_PLAN"\n'
                                     f'cat > {seen}/$MTV_STEP.json\n'
                                     f'env | grep ^MTV_ | sort > {seen}/$MTV_STEP.env\n'
                                     f'echo "$1" > {seen}/$MTV_STEP.arg\n'
                                     f'ls {self.target}/prod/vm1 > {seen}/$MTV_STEP.target 2>&1 || true\n')
        self.hook("pre", command=f"{cmd} 'one arg'", deadline=60)
        self.hook("post", command=cmd)
        self.plan([("pre", "PreHook"), ("post", "PostHook")])
        _, st = self.run_plan()
        self.assertEqual(st["phase"], "Succeeded", json.dumps(st["migration"], indent=1))
        vm = st["migration"]["vms"][0]
        # Forklift's pipeline, with a step for each hook, in itinerary order.
        self.assertEqual([s["name"] for s in vm["pipeline"]],
                         ["Initialize", "PreHook", "DiskTransfer", "VirtualMachineCreation", "PostHook"])
        self.assertTrue(all(s["phase"] == "Completed" for s in vm["pipeline"]), vm["pipeline"])
        for step in ("PreHook", "PostHook"):
            with open(f"{seen}/{step}.json") as f:
                data = json.load(f)
            self.assertEqual(data["plan"]["name"], "p")
            self.assertEqual(data["plan"]["spec"]["targetNamespace"], "prod")
            self.assertEqual(data["vm"]["name"], "vm1")
            self.assertEqual(data["step"], step)
            self.assertEqual(data["targetName"], "vm1")
            with open(f"{seen}/{step}.env") as f:
                env = dict(line.strip().split("=", 1) for line in f)
            self.assertEqual((env["MTV_PLAN"], env["MTV_VM"], env["MTV_STEP"]), ("p", "vm1", step))
        self.assertEqual(read(f"{seen}/PreHook.arg").strip(), "one arg")
        # PreHook ran before anything was made on the target, PostHook after the VM.
        self.assertIn("No such file", read(f"{seen}/PreHook.target"))
        self.assertIn("vm1.yaml", read(f"{seen}/PostHook.target"))
        # Its output is in the journal (here mtvd's stderr) with the VM's name.
        self.assertIn("VM vm1: PreHook pre: hello from PreHook of vm1 in p", self.log())

    def test_playbook_hook_runs_with_ansible(self):
        out = os.path.join(self.dir, "played.txt")
        text = PLAYBOOK.replace("{{ out }}", out)
        self.hook("play", image="quay.io/konveyor/hook-runner", playbook=base64.b64encode(text.encode()).decode())
        self.plan([("play", "PostHook")])
        _, st = self.run_plan()
        self.assertEqual(st["phase"], "Succeeded", json.dumps(st["migration"], indent=1))
        self.assertEqual(read(out), "vm1 prod vm1")
        self.assertIn("PostHook play: PLAY RECAP", self.log())

    def test_failed_prehook_fails_the_vm_before_anything_is_made(self):
        cmd = self.script("fail.sh", 'echo "checking the application"\necho "the database is not quiesced" >&2\nexit 3\n')
        self.hook("pre", command=cmd)
        self.plan([("pre", "PreHook")])
        _, st = self.run_plan()
        self.assertEqual(st["phase"], "Failed")
        vm = st["migration"]["vms"][0]
        self.assertEqual(vm["phase"], "PreHook")
        error = vm["error"]["reasons"][0]
        self.assertIn("PreHook pre failed", error)
        self.assertIn("exited with status 3", error)
        self.assertIn("the database is not quiesced", error)
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))
        self.assertEqual([s["phase"] for s in vm["pipeline"] if s["name"] == "PreHook"], ["Failed"])
        # describe plan tells each VM's phase and error.
        r = self.sb.mtvctl("describe", "plan", "p")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"vm1 +vm1 +Failed +PreHook +PreHook pre failed")

    def test_failed_posthook_keeps_the_target_vm(self):
        cmd = self.script("fail.sh", 'echo "cannot register the VM in the CMDB"\nexit 1\n')
        self.hook("post", command=cmd)
        self.plan([("post", "PostHook")])
        _, st = self.run_plan()
        self.assertEqual(st["phase"], "Failed")
        vm = st["migration"]["vms"][0]
        self.assertEqual(vm["phase"], "PostHook")
        self.assertIn("PostHook post failed", vm["error"]["reasons"][0])
        self.assertIn("cannot register the VM in the CMDB", vm["error"]["reasons"][0])
        vm_dir = os.path.join(self.target, "prod", "vm1")
        self.assertTrue(os.path.exists(os.path.join(vm_dir, "vm1.yaml")), "the target VM was removed")
        self.assertEqual(read(self.raws[0], "rb"), read(os.path.join(vm_dir, "disk-0.img"), "rb"))

    def test_deadline_kills_the_hook_and_what_it_started(self):
        marker = os.path.join(self.dir, "child-alive")
        cmd = self.script("slow.sh", f'(sleep 30; touch {marker}) &\necho started\nsleep 30\n')
        self.hook("slow", command=cmd, deadline=1)
        self.plan([("slow", "PreHook")])
        started = time.monotonic()
        _, st = self.run_plan()
        self.assertLess(time.monotonic() - started, 25)
        self.assertEqual(st["phase"], "Failed")
        error = st["migration"]["vms"][0]["error"]["reasons"][0]
        self.assertIn("did not finish within 1 seconds", error)
        self.assertIn("started", error)
        time.sleep(1)
        self.assertFalse(os.path.exists(marker))

    def test_cancel_ends_a_running_hook(self):
        cmd = self.script("slow.sh", "sleep 60\n")
        self.hook("slow", command=cmd)
        self.plan([("slow", "PreHook")])
        self.wait(("Ready",), timeout=30)
        path = self.sb.call(object_path("plans", "p"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))[0]
        deadline = time.monotonic() + 20
        while self.status()["migration"]["vms"][0]["phase"] != "PreHook" and time.monotonic() < deadline:
            time.sleep(0.1)
        started = time.monotonic()
        self.sb.call(path, "org.mtvd.Mtv1.Migration", "Cancel", "(asa{sv})", ([], {}))
        st = self.wait(("Succeeded", "Failed", "Canceled"))
        self.assertLess(time.monotonic() - started, 10)
        self.assertEqual(st["phase"], "Canceled")
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))

    def test_killed_during_a_hook_fails_the_vm(self):
        # A hook does not resume (running it twice may do harm): mtvd killed
        # while it runs fails the VM with the reason when it starts again; the
        # hook dies with mtvd, and nothing was made on the target.
        marker = os.path.join(self.dir, "hook-alive")
        cmd = self.script("slow.sh", f"sleep 30\ntouch {marker}\n")
        self.hook("slow", command=cmd)
        self.plan([("slow", "PreHook")])
        self.wait(("Ready",), timeout=30)
        self.sb.call(object_path("plans", "p"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))
        deadline = time.monotonic() + 20
        while self.status()["migration"]["vms"][0]["phase"] != "PreHook" and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)
        self.sb.kill_mtvd(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while subprocess.run(["pgrep", "-f", cmd], capture_output=True).returncode == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertNotEqual(subprocess.run(["pgrep", "-f", cmd], capture_output=True).returncode, 0,
                            "the hook outlived mtvd")
        self.sb.start_mtvd()
        st = self.wait(("Succeeded", "Failed", "Canceled"))
        self.assertEqual(st["phase"], "Failed")
        vm = st["migration"]["vms"][0]
        self.assertIn("mtvd stopped while the VM was in phase PreHook, which does not resume", vm["error"]["reasons"][0])
        self.assertFalse(os.path.exists(os.path.join(self.target, "prod", "vm1")))
        self.assertFalse(os.path.exists(marker))

    def test_hook_that_cannot_run_here_blocks_the_plan(self):
        self.hook("imageonly", image="quay.io/konveyor/hook-runner")
        self.plan([("imageonly", "PreHook")])
        st = self.wait(("NotReady",), timeout=30)
        c = {x["type"]: x for x in st["conditions"]}
        self.assertEqual(c["HookNotValid"]["category"], "Critical")
        self.assertIn("imageonly: it has neither a command nor a playbook", c["HookNotValid"]["message"])
        with self.assertRaises(CallError) as cm:
            self.sb.call(object_path("plans", "p"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))
        self.assertIn("HookNotValid", cm.exception.message)

    def test_patch_plan_sets_a_hook_on_every_vm(self):
        self.hook("pre", command="/bin/true")
        self.hook("post", command="/bin/true")
        self.hook("post2", command="/bin/true")
        self.plan([("pre", "PreHook"), ("post", "PostHook")])
        r = self.sb.mtvctl("patch", "plan", "p", "--post-hook", "post2")
        self.assertEqual(r.returncode, 0, r.stderr)
        vms = self.sb.export(object_path("plans", "p"))["spec"]["vms"]
        self.assertEqual([(h["hook"]["name"], h["step"]) for h in vms[0]["hooks"]],
                         [("pre", "PreHook"), ("post2", "PostHook")])
        self.assertEqual(vms[0]["name"], "vm1")
        # A hook that does not exist is refused, and the plan keeps its hooks.
        r = self.sb.mtvctl("patch", "plan", "p", "--pre-hook", "nosuch")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nosuch", r.stderr)
        vms = self.sb.export(object_path("plans", "p"))["spec"]["vms"]
        self.assertEqual([h["hook"]["name"] for h in vms[0]["hooks"]], ["pre", "post2"])

    def test_command_hook_export_fits_forklifts_crd(self):
        r = self.sb.mtvctl("create", "hook", "h1", "--command", "/usr/bin/logger -t mtv 'VM moved'", "--deadline", "30")
        self.assertEqual(r.returncode, 0, r.stderr)
        manifest = self.sb.export(object_path("hooks", "h1"))
        self.assertEqual(manifest["metadata"]["annotations"]["mtvd.org/command"], "/usr/bin/logger -t mtv 'VM moved'")
        self.assertNotIn("command", manifest["spec"])
        with open(os.path.join(REFERENCE, "forklift", "crds", "hooks.yaml")) as f:
            schema = yaml.safe_load(f)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        del manifest["status"]  # what mtvd adds to Forklift's status is checked elsewhere
        self.assertEqual(validate_structural(manifest, schema), [])
        self.assertEqual(self.sb.objects()[object_path("hooks", "h1")]["org.mtvd.Mtv1.Hook"]["Command"],
                         "/usr/bin/logger -t mtv 'VM moved'")
        # A command line that is not shell words is refused.
        with self.assertRaises(CallError) as cm:
            self.hook("h2", command="echo 'unterminated")
        self.assertEqual(cm.exception.name, "org.mtvd.Mtv1.Error.Invalid")
        self.assertIn("command", cm.exception.message)


if __name__ == "__main__":
    unittest.main(verbosity=2)

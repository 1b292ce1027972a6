"""The vsphere provider through mtvd, against govmomi's vcsim: the inventory
of every kind with Forklift's names, changes in vSphere arriving within a
second (rename, power, reconfigure, snapshots, removal) with the rules'
concerns following them, a session ended under mtvd, the errors a user must
act on (wrong password, untrusted certificate, the wrong sdkEndpoint), an
ESXi host's own SDK, and cold raw-copy migrations into the local target and
the cluster stand-in: disks byte for byte, guests that refuse to shut down
powered off hard, and the source powered on again when its VM fails."""
import hashlib
import json
import os
import shutil
import ssl
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import kube_standin  # noqa: E402
import vsphere_soap  # noqa: E402
from mtvtest import Sandbox, object_path, v  # noqa: E402
from vcsim import Vcsim  # noqa: E402

BUILD_ROOT = os.environ.get("MTV_BUILD_ROOT") or os.path.join(HERE, "..", "..", "build")
S = lambda x: v("s", x)  # noqa: E731
MiB = 1 << 20


def wait_for(what, pred, timeout=30, step=0.05):
    """The first true value of @pred(), and the seconds it took."""
    start = time.monotonic()
    while True:
        value = pred()
        if value:
            return value, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


class VsphereProvider(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mtv-vsphere-")
        cls.sim = Vcsim(BUILD_ROOT, vms=5, tmp=cls.tmp)
        cls.admin = vsphere_soap.Admin(cls.sim)
        cls.kube, cls.kube_url = kube_standin.start(cls.tmp)
        cls.sb = Sandbox().start()
        cls.provider("vc")
        cls.sb.mtvctl("create", "provider", "host", "-t", "local", "-U", "file://" + os.path.join(cls.tmp, "target"))
        cls.sb.create("CreateProvider", "kv", {"type": S("openshift"), "url": S(cls.kube_url),
                                               "credentials": v("a{ss}", {"token": "admin-token"})})
        cls.ready("vc")

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()
        cls.kube.shutdown()
        cls.sim.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def provider(cls, name, password=None, cacert=None, url=None, *flags):
        r = cls.sb.mtvctl("create", "provider", name, "-t", "vsphere", "-U", url or cls.sim.url, "-u", cls.sim.user,
                          "--password-file", "-", "--cacert", "@" + (cacert or cls.sim.cafile),
                          "--setting", "refreshInterval=1", *flags,
                          input=(password or cls.sim.password) + "\n")
        assert r.returncode == 0, r.stderr

    @classmethod
    def status(cls, name):
        return cls.sb.export(object_path("providers", name))["status"]

    @classmethod
    def ready(cls, name):
        return wait_for(f"{name} Ready", lambda: cls.status(name) if cls.status(name).get("phase") == "Ready" else None,
                        timeout=60)[0]

    def failed(self, name):
        def check():
            c = {c["type"]: c for c in self.status(name).get("conditions", [])}
            return c.get("ConnectionTestFailed")
        return wait_for(f"{name} ConnectionTestFailed", check, timeout=60)[0]

    def inventory(self, kind, name="vc"):
        text, _ = self.sb.call(object_path("providers", name), "org.mtvd.Mtv1.Provider", "GetInventory", "(sa{sv})",
                               (kind, {}))
        return json.loads(text)

    def vm(self, name, provider="vc"):
        found = [x for x in self.inventory("vms", provider) if x["name"] == name]
        return found[0] if found else None

    def log(self):
        with open(os.path.join(self.sb.tmp, "mtvd.log"), errors="replace") as f:
            return f.read()

    # ---- inventory ----------------------------------------------------------------

    def test_inventory_of_every_kind(self):
        status = self.ready("vc")
        with open(self.sim.cafile) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        thumbprint = ":".join(f"{b:02X}" for b in hashlib.sha1(der).digest())
        self.assertEqual(status["fingerprint"], thumbprint)
        tested = [c for c in status["conditions"] if c["type"] == "ConnectionTestSucceeded"][0]
        self.assertIn("VMware vCenter Server", tested["message"])
        self.assertIn(thumbprint, tested["message"])

        self.assertEqual([d["name"] for d in self.inventory("datacenters")], ["DC0"])
        self.assertEqual(sorted(h["name"] for h in self.inventory("hosts")),
                         ["DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2", "DC0_H0"])
        clusters = {c["name"]: c for c in self.inventory("clusters")}
        self.assertEqual(set(clusters), {"DC0_C0", "DC0_H0"})
        self.assertEqual(clusters["DC0_C0"]["variant"], "ClusterComputeResource")
        self.assertEqual(len(clusters["DC0_C0"]["hosts"]), 3)
        datastores = self.inventory("datastores")
        self.assertEqual([d["name"] for d in datastores], ["LocalDS_0"])
        self.assertIn("@", datastores[0]["id"])   # vcsim's morefs hold "/" and "@": opaque
        self.assertGreater(datastores[0]["capacity"], 0)
        networks = {n["name"]: n for n in self.inventory("networks")}
        self.assertEqual(networks["VM Network"]["variant"], "Network")
        self.assertEqual(networks["DC0_DVPG0"]["variant"], "DistributedVirtualPortgroup")
        self.assertTrue(networks["DC0_DVPG0"]["dvSwitch"]["id"])
        folders = {f["path"] for f in self.inventory("folders")}
        self.assertIn("/DC0/vm", folders)

        vms = self.inventory("vms")
        # 5 in the cluster's resource pool, 5 on the standalone host (other
        # tests rename and remove some).
        self.assertTrue({"DC0_H0_VM2", "DC0_C0_RP0_VM0"} <= {x["name"] for x in vms}, [x["name"] for x in vms])
        vm = self.vm("DC0_C0_RP0_VM0")
        self.assertTrue(vm["id"].startswith("vm-"))
        self.assertEqual(vm["path"], "/DC0/vm/DC0_C0_RP0_VM0")
        self.assertEqual(vm["host"]["cluster"]["name"], "DC0_C0")
        self.assertEqual(vm["cluster"]["name"], "DC0_C0")
        self.assertEqual(vm["datacenterPath"], "DC0")
        self.assertIn(vm["powerState"], ("poweredOn", "poweredOff"))
        for key in ("uuid", "guestId", "cpuCount", "coresPerSocket", "memoryMB", "firmware", "secureBoot",
                    "tpmEnabled", "cpuHotAddEnabled", "memoryHotAddEnabled", "changeTrackingEnabled", "isTemplate",
                    "devices", "guestNetworks", "numaNodeAffinity"):
            self.assertIn(key, vm)
        disk = vm["disks"][0]
        self.assertEqual(disk["storage"]["name"], "LocalDS_0")
        self.assertEqual(disk["bus"], "scsi")
        self.assertEqual(disk["capacity"], 1 * MiB)   # capacityInKB x 1024: vcsim sends no capacityInBytes
        self.assertEqual(vm["nics"][0]["network"]["kind"], "DistributedVirtualPortgroup")
        self.assertEqual(vm["networks"][0]["name"], "DC0_DVPG0")
        macs = [n["mac"] for x in vms for n in x["nics"]]
        self.assertEqual(len(macs), len(set(macs)), "every NIC has its own MAC")
        self.assertEqual(vm["guestNetworks"][0]["mac"], vm["nics"][0]["mac"])
        self.assertRegex(vm["guestNetworks"][0]["ip"][0], r"^10\.\d+\.\d+\.\d+$")
        # The rules read what the inventory fills: the name is not DNS-1123.
        self.assertIn("vmware.vm.name.invalid", [c["id"] for c in vm["concerns"]])

        # A page of it (what 10,000 VMs need: they do not fit one D-Bus reply),
        # compared with all of it at the same revision.
        path = object_path("providers", "vc")
        for _ in range(20):
            whole, r1 = self.sb.call(path, "org.mtvd.Mtv1.Provider", "GetInventory", "(sa{sv})", ("vms", {}))
            page, r2 = self.sb.call(path, "org.mtvd.Mtv1.Provider", "GetInventory", "(sa{sv})",
                                    ("vms", {"offset": v("u", 2), "limit": v("u", 3)}))
            if r1 == r2:
                break
        self.assertEqual(json.loads(page), json.loads(whole)[2:5])
        r = self.sb.mtvctl("get", "inventory", "vms", "vc")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("DC0_C0_RP0_VM0", r.stdout)
        for kind in ("hosts", "clusters", "datastores", "networks", "folders", "datacenters"):
            r = self.sb.mtvctl("get", "inventory", kind, "vc", "-o", "json")
            self.assertEqual(r.returncode, 0, (kind, r.stderr))
            self.assertTrue(json.loads(r.stdout), kind)
        self.assertNotIn(self.sim.password, self.log())

    def test_changes_arrive_within_a_second(self):
        self.ready("vc")
        vm = self.vm("DC0_C0_RP0_VM1")
        vid = vm["id"]
        latencies = {}

        def change(what, act, pred):
            act()
            latencies[what] = wait_for(what, lambda: pred(self.vm_by_id(vid)), timeout=10)[1]

        def concerns(x):
            return {c["id"] for c in (x or {}).get("concerns", [])}

        change("rename", lambda: self.admin.rename(vid, "web-01"), lambda x: x and x["name"] == "web-01")
        self.admin.power(vid, True) if vm["powerState"] != "poweredOn" else None
        change("power off", lambda: self.admin.power(vid, False), lambda x: x and x["powerState"] == "poweredOff")
        change("power on", lambda: self.admin.power(vid, True), lambda x: x and x["powerState"] == "poweredOn")
        change("disk added", lambda: self.admin.add_disk(vid, vm["disks"][0]["controllerKey"], 1, 2 * MiB, "LocalDS_0"),
               lambda x: x and len(x["disks"]) == 2)
        # Concerns appear and clear with the changes (rules/vsphere.rules).
        change("CPU hot add on", lambda: self.admin.reconfigure(vid, "<cpuHotAddEnabled>true</cpuHotAddEnabled>"),
               lambda x: "vmware.cpu_memory.hotplug.enabled" in concerns(x))
        change("CPU hot add off", lambda: self.admin.reconfigure(vid, "<cpuHotAddEnabled>false</cpuHotAddEnabled>"),
               lambda x: "vmware.cpu_memory.hotplug.enabled" not in concerns(x))
        change("CBT on", lambda: self.admin.reconfigure(vid, "<changeTrackingEnabled>true</changeTrackingEnabled>"),
               lambda x: "vmware.changed_block_tracking.disabled" not in concerns(x))
        change("snapshot", lambda: self.admin.snapshot(vid, "before"),
               lambda x: "vmware.snapshot.detected" in concerns(x))
        change("snapshots removed", lambda: self.admin.remove_snapshots(vid),
               lambda x: "vmware.snapshot.detected" not in concerns(x))
        change("renamed DNS-1123", lambda: self.admin.rename(vid, "web-01b"),
               lambda x: x and "vmware.vm.name.invalid" not in concerns(x))
        # The session ends under mtvd (expired, or ended by an administrator):
        # it logs in again and changes keep arriving.
        self.assertGreater(vsphere_soap.end_other_sessions(self.admin), 0)
        change("after the session ended", lambda: self.admin.rename(vid, "web-02"),
               lambda x: x and x["name"] == "web-02")
        self.assertEqual(self.status("vc")["phase"], "Ready")
        self.admin.power(vid, False)
        change("removed", lambda: self.admin.destroy(vid), lambda x: x is None)
        print("change-to-inventory latency (s):", {k: round(t, 3) for k, t in latencies.items()}, file=sys.stderr)
        for what, seconds in latencies.items():
            self.assertLess(seconds, 1.5, what)

    def vm_by_id(self, vid):
        found = [x for x in self.inventory("vms") if x["id"] == vid]
        return found[0] if found else None

    def test_target_names(self):
        """Names that are no DNS-1123 label are made one (Forklift's rule),
        unique in the plan; targetName overrides."""
        a, b = self.vm("DC0_H0_VM3"), self.vm("DC0_C0_RP0_VM3")
        self.admin.rename(a["id"], "Web Server 01")
        self.admin.rename(b["id"], "web_server_01")
        wait_for("renames", lambda: self.vm("Web Server 01") and self.vm("web_server_01"))
        self.sb.mtvctl("create", "mapping", "network", "names-net", "-S", "vc", "-T", "host",
                       "--network-pairs", "DC0_DVPG0:default")
        self.sb.mtvctl("create", "mapping", "storage", "names-st", "-S", "vc", "-T", "host",
                       "--storage-pairs", "LocalDS_0:standard")
        self.sb.create("CreatePlan", "names", {
            "sourceProvider": S("vc"), "targetProvider": S("host"), "networkMap": S("names-net"),
            "storageMap": S("names-st"), "skipGuestConversion": v("b", True),
            "vms": v("aa{sv}", [{"id": S(a["id"])}, {"id": S(b["id"])},
                                {"name": S("DC0_H0_VM2"), "targetName": S("chosen")}])})

        def conditions():
            status = self.sb.export(object_path("plans", "names"))["status"]
            c = {c["type"]: c for c in status.get("conditions", [])}
            return c if "VMNameNotValid" in c else None
        c = wait_for("plan conditions", conditions)[0]
        self.assertNotIn("VMTargetNameNotUnique", c)
        message = c["VMNameNotValid"]["message"]
        self.assertIn("Web Server 01 -> web-server-01", message)
        self.assertRegex(message, r"web_server_01 -> web-server-01-[0-9a-f]{4}")
        self.assertNotIn("chosen", message)
        self.sb.mtvctl("delete", "plan", "names")

    # ---- what users must be able to act on -------------------------------------------

    def test_wrong_password_and_wrong_ca(self):
        self.provider("vc-badpw", "not-the-password-42")
        message = self.failed("vc-badpw")["message"]
        self.assertIn("InvalidLogin", message)
        self.assertNotIn("not-the-password-42", message)
        other = os.path.join(self.tmp, "other-ca.pem")
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", other)
        self.provider("vc-badca", None, other)
        message = self.failed("vc-badca")["message"]
        self.assertRegex(message, "(?i)certificate")
        # Pinned to another thumbprint: refused, with the one the server has,
        # before the (wrong) password is sent.
        self.sb.create("CreateProvider", "vc-pin", {
            "type": S("vsphere"), "url": S(self.sim.url), "settings": v("a{ss}", {"refreshInterval": "1"}),
            "credentials": v("a{ss}", {"user": self.sim.user, "password": "wrong-too-7",
                                       "insecureSkipVerify": "true", "thumbprint": "00:" * 19 + "00"})})
        message = self.failed("vc-pin")["message"]
        # Refused before the password went out: not an InvalidLogin.
        self.assertIn("credentials.thumbprint", message)
        self.assertNotIn("InvalidLogin", message)
        self.assertIn(self.status("vc")["fingerprint"], message)
        log = self.log()
        self.assertNotIn("not-the-password-42", log)
        self.assertNotIn(self.sim.password, log)
        self.assertNotIn("vmware_soap_session=", log)
        for name in ("vc-badpw", "vc-badca", "vc-pin"):
            self.sb.mtvctl("delete", "provider", name)

    def test_sdk_endpoint(self):
        self.provider("vc-as-esxi", None, None, None, "--sdk-endpoint", "esxi")
        message = self.failed("vc-as-esxi")["message"]
        self.assertIn("sdkEndpoint is esxi", message)
        self.sb.mtvctl("delete", "provider", "vc-as-esxi")
        esx = Vcsim(BUILD_ROOT, vms=2, tmp=self.tmp, esx=True)
        try:
            r = self.sb.mtvctl("create", "provider", "esx", "-t", "vsphere", "-U", esx.url, "-u", esx.user,
                               "--password-file", "-", "--cacert", "@" + esx.cafile, "--sdk-endpoint", "esxi",
                               input=esx.password + "\n")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.ready("esx")
            self.assertEqual(len(self.inventory("hosts", "esx")), 1)
            self.assertEqual([d["name"] for d in self.inventory("datacenters", "esx")], ["ha-datacenter"])
            self.assertEqual(len(self.inventory("vms", "esx")), 2)
            self.sb.mtvctl("delete", "provider", "esx")
        finally:
            esx.stop()

    # ---- cold migrations -----------------------------------------------------------

    def give_disks(self, name, sizes):
        """VM @name with disks of @sizes (bytes), each holding random data; their files."""
        vm = self.vm(name)
        first = vm["disks"][0]
        self.admin.disk_capacity(vm["id"], first, sizes[0])
        for unit, size in enumerate(sizes[1:], start=1):
            self.admin.add_disk(vm["id"], first["controllerKey"], unit, size, "LocalDS_0")
        vm, _ = wait_for("disks", lambda: (lambda x: x if len(x["disks"]) == len(sizes) and
                                           [d["capacity"] for d in x["disks"]] == sizes else None)(self.vm(name)))
        files = []
        for disk, size in zip(vm["disks"], sizes):
            path = self.sim.flat_file(disk["file"])
            with open(path, "wb") as f:
                f.write(os.urandom(size // 2) + b"\0" * (size // 4) + os.urandom(size - size // 2 - size // 4))
            files.append(path)
        return vm, files

    def plan(self, plan, vm_name, target, **extra):
        self.sb.mtvctl("create", "mapping", "network", plan + "-net", "-S", "vc", "-T", target,
                       "--network-pairs", "DC0_DVPG0:default")
        self.sb.mtvctl("create", "mapping", "storage", plan + "-st", "-S", "vc", "-T", target,
                       "--storage-pairs", "LocalDS_0:standard")
        spec = {"sourceProvider": S("vc"), "targetProvider": S(target), "networkMap": S(plan + "-net"),
                "storageMap": S(plan + "-st"), "targetNamespace": S("mtv-test"), "skipGuestConversion": v("b", True),
                "vms": v("aa{sv}", [{"name": S(vm_name)}])}
        spec.update(extra)
        self.sb.create("CreatePlan", plan, spec)

    def run_plan(self, plan):
        def phase():
            return self.sb.export(object_path("plans", plan))["status"]
        wait_for(f"plan {plan} Ready", lambda: phase()["phase"] == "Ready", timeout=30)
        self.sb.call(object_path("plans", plan), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))
        return wait_for(f"plan {plan} done", lambda: (lambda s: s if s["phase"] in ("Succeeded", "Failed") else None)(
            phase()), timeout=180)[0]

    def test_cold_migration_of_three_disks_into_the_local_target(self):
        vm, files = self.give_disks("DC0_H0_VM0", [4 * MiB, 2 * MiB, 3 * MiB])
        if vm["powerState"] != "poweredOn":
            self.admin.power(vm["id"], True)
        vsphere_soap.guest_mode(self.sim, vm["id"], "normal")   # VMware Tools shut it down
        self.plan("local3", "DC0_H0_VM0", "host")
        before = vsphere_soap.logins(self.sim)
        status = self.run_plan("local3")
        # One control session and one for the disks, not a login per call
        # (power checks come every second while it powers off).
        self.assertLessEqual(vsphere_soap.logins(self.sim) - before, 2)
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status.get("migration"), indent=1))
        vm_status = status["migration"]["vms"][0]
        self.assertEqual(vm_status["targetName"], "dc0-h0-vm0")
        out = os.path.join(self.tmp, "target", "mtv-test", "dc0-h0-vm0")
        for i, path in enumerate(files):
            with open(os.path.join(out, f"disk-{i}.img"), "rb") as a, open(path, "rb") as b:
                self.assertTrue(a.read() == b.read(), f"disk {i} differs")
        with open(os.path.join(out, "dc0-h0-vm0.yaml")) as f:
            self.assertIn("runStrategy: Always", f.read())   # it ran before: auto keeps it on
        # Shut down through its guest, and left off after success (Forklift's
        # rule), found by its moref.
        self.assertEqual(self.vm_by_id(vm["id"])["powerState"], "poweredOff")
        self.assertNotIn("VM DC0_H0_VM0 (%s) is powered off hard" % vm["id"], self.log())

    def test_guest_refusing_shutdown_is_powered_off_and_restored_on_failure(self):
        vm, files = self.give_disks("DC0_H0_VM1", [2 * MiB])
        if vm["powerState"] != "poweredOn":
            self.admin.power(vm["id"], True)
        vsphere_soap.guest_mode(self.sim, vm["id"], "refuse")
        # The disk's file is gone: the copy fails after the power-off, and
        # the VM gets its power back.
        os.rename(files[0], files[0] + ".away")
        try:
            self.plan("refuse", "DC0_H0_VM1", "host")
            status = self.run_plan("refuse")
        finally:
            os.rename(files[0] + ".away", files[0])
        self.assertEqual(status["phase"], "Failed")
        self.assertIn("powered off hard: the guest refused to shut down", self.log())
        wait_for("power restored", lambda: self.vm_by_id(vm["id"])["powerState"] == "poweredOn", timeout=30)
        # A VM with snapshots: its disks are delta chains, refused with why.
        self.admin.snapshot(vm["id"], "before")
        wait_for("the snapshot", lambda: self.vm_by_id(vm["id"]).get("snapshot"))
        self.sb.mtvctl("delete", "plan", "refuse")
        self.plan("snap", "DC0_H0_VM1", "host")
        status = self.run_plan("snap")
        self.assertEqual(status["phase"], "Failed")
        self.assertIn("has snapshots: its disks are chains of delta files", json.dumps(status["migration"]))
        wait_for("power restored", lambda: self.vm_by_id(vm["id"])["powerState"] == "poweredOn", timeout=30)
        self.admin.remove_snapshots(vm["id"])
        wait_for("no snapshot", lambda: not self.vm_by_id(vm["id"]).get("snapshot"))
        self.sb.mtvctl("delete", "plan", "snap")
        # With the file back and no snapshots the same VM migrates, powered off hard again.
        self.plan("refuse2", "DC0_H0_VM1", "host")
        status = self.run_plan("refuse2")
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status.get("migration"), indent=1))
        with open(os.path.join(self.tmp, "target", "mtv-test", "dc0-h0-vm1", "disk-0.img"), "rb") as a, \
                open(files[0], "rb") as b:
            self.assertTrue(a.read() == b.read())

    def test_cluster_transfer_mode(self):
        """CDI's importer pulls each disk from mtvd's HTTP disk server, which
        serves it from the datastore through nbdkit, as for OVA."""
        vm, files = self.give_disks("DC0_H0_VM4", [2 * MiB, 1 * MiB])
        self.sb.create("CreateProvider", "kvpull", {
            "type": S("openshift"), "url": S(self.kube_url), "credentials": v("a{ss}", {"token": "admin-token"}),
            "settings": v("a{ss}", {"transferMode": "cluster", "diskServerAddress": "127.0.0.1:0"})})
        self.ready("kvpull")
        self.plan("pull", "DC0_H0_VM4", "kvpull")
        status = self.run_plan("pull")
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status.get("migration"), indent=1))
        cluster = self.kube.cluster
        for i, raw in enumerate(files):
            with open(cluster.uploads[("mtv-test", f"dc0-h0-vm4-disk-{i}")], "rb") as a, open(raw, "rb") as b:
                self.assertTrue(a.read() == b.read(), f"disk {i} differs")
            with cluster.lock:
                dv = cluster.objects[("cdi.kubevirt.io", "v1beta1", "datavolumes", "mtv-test", f"dc0-h0-vm4-disk-{i}")]
            self.assertRegex(dv["spec"]["source"]["http"]["url"], r"^http://127\.0\.0\.1:\d+/disks/[0-9a-f]{32}/disk\.img$")

    def test_cluster_transfer_mode_with_vddk(self):
        """With a VDDK image, CDI's importer reads each disk from vSphere
        itself (a DataVolume vddk source, the credentials in a Secret made
        for it and deleted after); a VM whose BIOS UUID another VM shares
        has its disks served by mtvd instead (CDI finds VMs by UUID)."""
        vm, files = self.give_disks("DC0_C0_RP0_VM4", [2 * MiB, 1 * MiB])
        self.provider("vc-vddk", None, None, None, "--vddk-init-image", "registry.example/vddk:8.0")
        self.ready("vc-vddk")
        self.sb.create("CreateProvider", "kvvddk", {
            "type": S("openshift"), "url": S(self.kube_url), "credentials": v("a{ss}", {"token": "admin-token"}),
            "settings": v("a{ss}", {"transferMode": "cluster", "diskServerAddress": "127.0.0.1:0"})})
        self.ready("kvvddk")

        def plan(name, vm_name):
            self.sb.mtvctl("create", "mapping", "network", name + "-net", "-S", "vc-vddk", "-T", "kvvddk",
                           "--network-pairs", "DC0_DVPG0:default")
            self.sb.mtvctl("create", "mapping", "storage", name + "-st", "-S", "vc-vddk", "-T", "kvvddk",
                           "--storage-pairs", "LocalDS_0:standard")
            self.sb.create("CreatePlan", name, {
                "sourceProvider": S("vc-vddk"), "targetProvider": S("kvvddk"), "networkMap": S(name + "-net"),
                "storageMap": S(name + "-st"), "targetNamespace": S("mtv-test"), "skipGuestConversion": v("b", True),
                "vms": v("aa{sv}", [{"name": S(vm_name)}])})
            return self.run_plan(name)

        status = plan("vddk", "DC0_C0_RP0_VM4")
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status.get("migration"), indent=1))
        cluster = self.kube.cluster
        thumbprint = self.status("vc-vddk")["fingerprint"]
        for i, raw in enumerate(files):
            name = f"dc0-c0-rp0-vm4-disk-{i}"
            with open(cluster.uploads[("mtv-test", name)], "rb") as a, open(raw, "rb") as b:
                self.assertTrue(a.read() == b.read(), f"disk {i} differs")
            with cluster.lock:
                dv = cluster.objects[("cdi.kubevirt.io", "v1beta1", "datavolumes", "mtv-test", name)]
                secret = cluster.objects.get(("", "v1", "secrets", "mtv-test", name + "-source"))
            self.assertEqual(dv["spec"]["source"], {"vddk": {
                "url": self.sim.url, "uuid": vm["uuid"], "backingFile": vm["disks"][i]["file"],
                "thumbprint": thumbprint, "initImageURL": "registry.example/vddk:8.0", "secretRef": name + "-source"}})
            self.assertIsNone(secret, "the Secret with the vCenter password outlived the import")
        self.assertNotIn(self.sim.password, self.log())
        # A clone with the same BIOS UUID: mtvd serves the disks, read by moref.
        other, other_files = self.give_disks("DC0_H0_VM3", [1 * MiB])
        self.admin.reconfigure(other["id"], f"<uuid>{vm['uuid']}</uuid>")
        wait_for("the UUID in the inventory", lambda: self.vm("DC0_H0_VM3", "vc-vddk")["uuid"] == vm["uuid"])
        status = plan("vddk-clone", "DC0_H0_VM3")
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status.get("migration"), indent=1))
        with cluster.lock:
            dv = cluster.objects[("cdi.kubevirt.io", "v1beta1", "datavolumes", "mtv-test", "dc0-h0-vm3-disk-0")]
        self.assertIn("http", dv["spec"]["source"])
        with open(cluster.uploads[("mtv-test", "dc0-h0-vm3-disk-0")], "rb") as a, open(other_files[0], "rb") as b:
            self.assertTrue(a.read() == b.read())
        self.assertIn("VM DC0_H0_VM3 (%s): its disks are served by mtvd, not read by CDI through VDDK: 2 VMs "
                      "have its BIOS UUID" % other["id"], self.log())
        # An import that fails: CDI's reason in the VM's, the Secret gone, the VM on again.
        broken, broken_files = self.give_disks("DC0_H0_VM2", [1 * MiB])
        os.rename(broken_files[0], broken_files[0] + ".away")
        try:
            status = plan("vddk-broken", "DC0_H0_VM2")
        finally:
            os.rename(broken_files[0] + ".away", broken_files[0])
        self.assertEqual(status["phase"], "Failed")
        reason = json.dumps(status["migration"])
        self.assertIn("DataVolume mtv-test/dc0-h0-vm2-disk-0 failed: HTTPError: HTTP Error 404", reason)
        with cluster.lock:
            left = [k for k in cluster.objects if k[2] in ("secrets", "datavolumes") and k[4].startswith("dc0-h0-vm2")]
        self.assertEqual(left, [])
        wait_for("power restored", lambda: self.vm_by_id(broken["id"])["powerState"] == "poweredOn", timeout=30)

    def test_guest_that_never_shuts_down_is_powered_off(self):
        vm, files = self.give_disks("DC0_C0_RP0_VM3", [1 * MiB])
        if vm["powerState"] != "poweredOn":
            self.admin.power(vm["id"], True)
        vsphere_soap.guest_mode(self.sim, vm["id"], "ignore")   # accepts ShutdownGuest, stays on
        self.provider("vc-quick", None, None, None, "--setting", "guestShutdownTimeout=2")
        self.ready("vc-quick")
        self.sb.mtvctl("create", "mapping", "network", "quick-net", "-S", "vc-quick", "-T", "host",
                       "--network-pairs", "DC0_DVPG0:default")
        self.sb.mtvctl("create", "mapping", "storage", "quick-st", "-S", "vc-quick", "-T", "host",
                       "--storage-pairs", "LocalDS_0:standard")
        self.sb.create("CreatePlan", "quick", {
            "sourceProvider": S("vc-quick"), "targetProvider": S("host"), "networkMap": S("quick-net"),
            "storageMap": S("quick-st"), "targetNamespace": S("mtv-test"), "skipGuestConversion": v("b", True),
            "vms": v("aa{sv}", [{"id": S(vm["id"])}])})
        started = time.monotonic()
        status = self.run_plan("quick")
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status.get("migration"), indent=1))
        self.assertIn("powered off hard: the guest did not shut down within 2 seconds", self.log())
        self.assertLess(time.monotonic() - started, 60)

    def test_cold_migration_into_the_cluster(self):
        vm, files = self.give_disks("DC0_C0_RP0_VM2", [3 * MiB, 1 * MiB])
        self.plan("tokv", "DC0_C0_RP0_VM2", "kv")
        status = self.run_plan("tokv")
        self.assertEqual(status["phase"], "Succeeded", json.dumps(status.get("migration"), indent=1))
        cluster = self.kube.cluster
        uploads = sorted((name, path) for (ns, name), path in cluster.uploads.items()
                         if name.startswith("dc0-c0-rp0-vm2-"))
        self.assertEqual(len(uploads), 2, uploads)
        for (name, path), raw in zip(uploads, files):
            with open(path, "rb") as a, open(raw, "rb") as b:
                self.assertTrue(a.read() == b.read(), f"{name} differs from the source disk")
        with cluster.lock:
            kvm = cluster.objects[("kubevirt.io", "v1", "virtualmachines", "mtv-test", "dc0-c0-rp0-vm2")]
        self.assertEqual(kvm["metadata"]["labels"]["vmID"], vm["id"])


class SessionEndsMidInventory(unittest.TestCase):
    """A session that ends while the inventory is paged in: mtvd logs in
    again and reads it all anew (the old session's page token went with it),
    without reporting a failure."""

    def test_full_read_starts_over(self):
        tmp = tempfile.mkdtemp(prefix="mtv-vsphere-expire-")
        sim = Vcsim(BUILD_ROOT, vms=150, tmp=tmp)   # 300 VMs: three pages of 100
        sb = Sandbox().start()
        try:
            vsphere_soap.expire_on_continue(sim, 1)
            r = sb.mtvctl("create", "provider", "vc", "-t", "vsphere", "-U", sim.url, "-u", sim.user,
                          "--password-file", "-", "--cacert", "@" + sim.cafile, input=sim.password + "\n")
            self.assertEqual(r.returncode, 0, r.stderr)

            def served():
                try:
                    text, _ = sb.call(object_path("providers", "vc"), "org.mtvd.Mtv1.Provider", "GetInventory",
                                      "(sa{sv})", ("vms", {}))
                    return len(json.loads(text)) == 300
                except Exception:
                    return False
            wait_for("300 VMs", served, timeout=90)
            status = sb.export(object_path("providers", "vc"))["status"]
            self.assertEqual(status["phase"], "Ready")
            # The first read was cut at its first continuation and read again in full.
            self.assertGreater(vsphere_soap.continues(sim), 2)
            # No failure was published between: the first inventory is revision 1.
            revision = sb.objects()[object_path("providers", "vc")]["org.mtvd.Mtv1.Provider"]["InventoryRevision"]
            self.assertEqual(revision, 1)
        finally:
            sb.stop()
            sim.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()

"""mtvd's vSphere client (daemon/providers/vsphere) against govmomi's vcsim,
through tests/vsphere/vsphere-tool: the ServiceContent, login and logout, the
server's thumbprint, and the errors a user must be able to act on (a wrong
password, an untrusted certificate, nothing listening) without the password
in any of them."""
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import unittest

from vcsim import Vcsim

BUILD_ROOT = os.environ.get("MTV_BUILD_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
TOOL = os.path.join(BUILD_ROOT, "tests", "vsphere-tool")


class VsphereClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mtv-vsphere-")
        cls.sim = Vcsim(BUILD_ROOT, tmp=cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def about(self, password=None, url=None, *flags):
        pw = os.path.join(self.tmp, "password")
        with open(pw, "w") as f:
            f.write((password if password is not None else self.sim.password) + "\n")
        os.chmod(pw, 0o600)
        return subprocess.run([TOOL, "about", url or self.sim.url, self.sim.user, pw] + list(flags),
                              capture_output=True, text=True, timeout=60)

    def test_login_with_the_ca_shows_the_service_and_thumbprint(self):
        r = self.about(None, None, "--cacert", self.sim.cafile)
        self.assertEqual(r.returncode, 0, r.stderr)
        about = json.loads(r.stdout)
        self.assertEqual(about["apiType"], "VirtualCenter")
        self.assertRegex(about["apiVersion"], r"^\d+\.\d+")
        self.assertEqual(about["rootFolder"], "group-d1")
        self.assertTrue(about["instanceUuid"])
        # The thumbprint is the SHA-1 of the certificate, as vSphere shows it.
        with open(self.sim.cafile) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        import hashlib
        want = ":".join(f"{b:02X}" for b in hashlib.sha1(der).digest())
        self.assertEqual(about["thumbprint"], want)

    def test_insecure_login(self):
        r = self.about(None, None, "--insecure")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(json.loads(r.stdout)["thumbprint"])

    def test_wrong_password_is_named_and_not_shown(self):
        r = self.about("not-the-password-42", None, "--insecure")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"logging in as {self.sim.user}: InvalidLogin: Login failure", r.stderr)
        self.assertNotIn("not-the-password-42", r.stderr + r.stdout)

    def test_untrusted_certificate(self):
        # The simulator's certificate is its own: without its CA the
        # connection is refused, with curl's reason.
        r = self.about(None, None)
        self.assertEqual(r.returncode, 1)
        self.assertIn("certificate", r.stderr.lower())
        self.assertNotIn(self.sim.password, r.stderr)

    def retrieve(self, kind, *paths, page=0):
        pw = os.path.join(self.tmp, "password")
        with open(pw, "w") as f:
            f.write(self.sim.password)
        r = subprocess.run([TOOL, "retrieve", self.sim.url, self.sim.user, pw, kind] + list(paths)
                           + ["--insecure", "--page", str(page)], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_retrieve_virtual_machines(self):
        vms = self.retrieve("VirtualMachine", "name", "runtime.powerState", "runtime.host", "config.hardware.device")
        # The default model: two VMs on a standalone host, two in a cluster's pool.
        self.assertEqual(sorted(vm["props"]["name"] for vm in vms),
                         ["DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1", "DC0_H0_VM0", "DC0_H0_VM1"])
        vm = vms[0]
        self.assertRegex(vm["id"], r"^vm-\d+$")
        self.assertEqual(vm["type"], "VirtualMachine")
        self.assertIn(vm["props"]["runtime.powerState"], ("poweredOn", "poweredOff"))
        self.assertEqual(vm["props"]["runtime.host"]["type"], "HostSystem")
        devices = vm["props"]["config.hardware.device"]
        self.assertIsInstance(devices, list)
        disks = [d for d in devices if d.get("_type") == "VirtualDisk"]
        self.assertTrue(disks)
        self.assertIn("capacityInKB", disks[0])
        self.assertEqual(disks[0]["backing"]["_type"], "VirtualDiskFlatVer2BackingInfo")

    def test_pages_are_followed(self):
        # One object a page: ContinueRetrievePropertiesEx brings the rest.
        one = self.retrieve("VirtualMachine", "name", page=1)
        self.assertEqual(sorted(o["id"] for o in one), sorted(o["id"] for o in self.retrieve("VirtualMachine", "name")))
        self.assertEqual(len(one), 4)
        hosts = self.retrieve("HostSystem", "name", "parent", page=1)
        self.assertEqual(len(hosts), 4)   # one standalone, three in the cluster
        # Page by page, each object handed on and none kept.
        pw = os.path.join(self.tmp, "password")
        r = subprocess.run([TOOL, "retrieve", self.sim.url, self.sim.user, pw, "VirtualMachine", "name", "--insecure",
                            "--page", "1", "--count"], capture_output=True, text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "4"), r.stderr)

    def test_vm_models(self):
        pw = os.path.join(self.tmp, "password")
        with open(pw, "w") as f:
            f.write(self.sim.password)
        r = subprocess.run([TOOL, "vms", self.sim.url, self.sim.user, pw, "--insecure"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        vms = {vm["name"]: vm for vm in json.loads(r.stdout)}
        vm = vms["DC0_H0_VM0"]
        self.assertRegex(vm["id"], r"^vm-\d+$")
        self.assertRegex(vm["uuid"], r"^[0-9a-f-]{36}$")
        self.assertEqual(vm["powerState"], "poweredOn")
        self.assertEqual((vm["cpuCount"], vm["memoryMB"]), (1, 32))
        self.assertEqual(vm["firmware"], "bios")
        self.assertEqual(vm["host"]["kind"], "Host")
        # The simulator's disk: capacityInKB only (1024), so the bytes come from it.
        self.assertEqual(len(vm["disks"]), 1)
        disk = vm["disks"][0]
        self.assertEqual(disk["capacity"], 1 << 20)
        self.assertEqual(disk["bus"], "scsi")
        self.assertEqual(disk["file"], "[LocalDS_0] DC0_H0_VM0/disk1.vmdk")
        self.assertTrue(disk["datastore"]["id"])   # a moref with '/' and '@' in it here
        self.assertEqual((disk["shared"], disk["rdm"], disk["mode"]), (False, False, "persistent"))
        nic = vm["nics"][0]
        self.assertRegex(nic["mac"], r"^00:50:56(:[0-9a-f]{2}){3}$")
        self.assertEqual(nic["network"]["kind"], "DistributedVirtualPortgroup")
        self.assertEqual(nic["deviceType"], "E1000")
        self.assertIn("VirtualE1000", [d["kind"] for d in vm["devices"]])
        self.assertFalse(vm["cpuHotAddEnabled"])
        self.assertFalse(vm["isTemplate"])
        self.assertEqual(len(vms), 4)

    def test_nothing_listening(self):
        r = self.about(None, "https://127.0.0.1:9/sdk", "--insecure")
        self.assertEqual(r.returncode, 1)
        self.assertIn("https://127.0.0.1:9/sdk", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)

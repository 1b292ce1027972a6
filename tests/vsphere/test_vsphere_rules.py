"""Every rule of rules/vsphere.rules against the vSphere inventory mtvd
makes of vcsim: a simulator VM is changed the way an administrator would
(ReconfigVM, snapshots, renames, a cluster's VM-host rules) until the
rule's concern appears, then back until it clears, each change arriving
through WaitForUpdatesEx. The rules vcsim cannot trigger are listed with
why; their fields are filled by the model (tests/unit/test-vsphere-model.c)
and the rules themselves are tested on fixtures (tests/rules/vsphere.json).
A new rule fails this test until it is in one list or the other."""
import configparser
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import vsphere_soap  # noqa: E402
from mtvtest import SOURCE_ROOT, Sandbox, object_path  # noqa: E402
from test_vsphere_provider import BUILD_ROOT, wait_for  # noqa: E402
from vcsim import Vcsim  # noqa: E402

MiB = 1 << 20

# Rules whose fields vcsim 0.24 cannot be made to show, and why.
NOT_IN_VCSIM = {
    "vmware.changed_block_tracking.disk.disabled": "vcsim gives disks no changeId, CBT on or off",
    "vmware.consolidation_needed": "vcsim never needs consolidation",
    "vmware.datastore.missing": "every vcsim disk is on a datastore",
    "vmware.disk.count.exceeds.limit": "166 disks exceed what one vcsim VM's controllers take",
    "vmware.disk.capacity.invalid": "vcsim refuses a capacity of 0",
    "vmware.dpm.enabled": "vcsim's cluster reconfigure ignores dpmConfig",
    "vmware.fault_tolerance.enabled": "vcsim has no fault tolerance",
    "vmware.guestDisks.freespace": "vcsim reports no guest disks",
    "vmware.guestDisks.key.not_found": "vcsim reports no guest disks",
    "vmware.vm_missing_ip.detected": "vcsim always reports a guest NIC",
    "vmware.tpm.detected": "vcsim's summary never says tpmPresent",
    "vmware.disk.rdm.detected": "vcsim's ReconfigVM fails on a raw device mapping backing (its handler panics)",
}


def rule_ids():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(os.path.join(SOURCE_ROOT, "rules", "vsphere.rules"))
    return {parser[s]["id"] for s in parser.sections() if "id" in parser[s]}


class VsphereRules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mtv-vsphere-rules-")
        cls.sim = Vcsim(BUILD_ROOT, vms=2, tmp=cls.tmp)
        cls.admin = vsphere_soap.Admin(cls.sim)
        cls.sb = Sandbox().start()
        r = cls.sb.mtvctl("create", "provider", "vc", "-t", "vsphere", "-U", cls.sim.url, "-u", cls.sim.user,
                          "--password-file", "-", "--cacert", "@" + cls.sim.cafile, input=cls.sim.password + "\n")
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        cls.sb.stop()
        cls.sim.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def vms(self):
        try:
            text, _ = self.sb.call(object_path("providers", "vc"), "org.mtvd.Mtv1.Provider", "GetInventory",
                                   "(sa{sv})", ("vms", {}))
        except Exception:
            return []
        return json.loads(text)

    def vm(self, vid):
        found = [x for x in self.vms() if x["id"] == vid]
        return found[0] if found else None

    def concerns(self, vid):
        vm = self.vm(vid)
        return {c["id"] for c in (vm or {}).get("concerns", [])}

    def appears_and_clears(self, rule, vid, appear, clear):
        appear()
        wait_for(f"{rule} to appear", lambda: rule in self.concerns(vid), timeout=15)
        clear()
        wait_for(f"{rule} to clear", lambda: rule not in self.concerns(vid), timeout=15)
        self.covered.add(rule)

    def device_key(self, vid, kind):
        return [d["key"] for d in self.vm(vid)["devices"] if d["kind"] == kind][0]

    def test_every_rule(self):
        wait_for("the inventory", lambda: len(self.vms()) == 4, timeout=60)
        self.covered = set()
        by_name = {x["name"]: x for x in self.vms()}
        vm = by_name["DC0_H0_VM0"]            # on the standalone host
        vid, disk = vm["id"], vm["disks"][0]
        a = self.admin
        rc = a.reconfigure
        cap = disk["capacity"]

        self.appears_and_clears("vmware.changed_block_tracking.disabled", vid,
                                lambda: rc(vid, "<changeTrackingEnabled>false</changeTrackingEnabled>"),
                                lambda: rc(vid, "<changeTrackingEnabled>true</changeTrackingEnabled>"))
        self.appears_and_clears("vmware.cpu_affinity.detected", vid,
                                lambda: rc(vid, "<cpuAffinity><affinitySet>0</affinitySet></cpuAffinity>"),
                                lambda: rc(vid, "<cpuAffinity></cpuAffinity>"))
        self.appears_and_clears("vmware.cpu_memory.hotplug.enabled", vid,
                                lambda: rc(vid, "<memoryHotAddEnabled>true</memoryHotAddEnabled>"),
                                lambda: rc(vid, "<memoryHotAddEnabled>false</memoryHotAddEnabled>"))
        self.appears_and_clears("vmware.disk_mode.independent", vid,
                                lambda: a.disk_capacity(vid, disk, cap, mode="independent_persistent"),
                                lambda: a.disk_capacity(vid, disk, cap))
        self.appears_and_clears("vmware.disk.shared.detected", vid,
                                lambda: a.disk_capacity(vid, disk, cap, sharing="sharingMultiWriter"),
                                lambda: a.disk_capacity(vid, disk, cap, sharing="sharingNone"))
        self.appears_and_clears("vmware.disk_serial.truncated", vid,
                                lambda: a.extra_config(vid, "disk.EnableUUID", "TRUE"),
                                lambda: a.extra_config(vid, "disk.EnableUUID", "FALSE"))
        self.appears_and_clears("vmware.numa_affinity.detected", vid,
                                lambda: a.extra_config(vid, "numa.nodeAffinity", "0,1"),
                                lambda: a.extra_config(vid, "numa.nodeAffinity", ""))
        self.appears_and_clears("vmware.hostname.empty", vid,
                                lambda: a.extra_config(vid, "SET.guest.hostName", ""),
                                lambda: a.extra_config(vid, "SET.guest.hostName", "web01"))
        self.appears_and_clears("vmware.hostname.default", vid,
                                lambda: a.extra_config(vid, "SET.guest.hostName", "localhost.localdomain"),
                                lambda: a.extra_config(vid, "SET.guest.hostName", "web01"))
        self.appears_and_clears("vmware.vm.name.invalid", vid,
                                lambda: a.rename(vid, "Bad_Name"), lambda: a.rename(vid, "good-name"))
        self.appears_and_clears("vmware.os.unsupported", vid,
                                lambda: rc(vid, "<guestId>otherGuest</guestId>"),
                                lambda: rc(vid, "<guestId>rhel7_64Guest</guestId>"))
        self.appears_and_clears("vmware.snapshot.detected", vid,
                                lambda: a.snapshot(vid, "s1"), lambda: a.remove_snapshots(vid))
        for kind, rule, device in (
                ("VirtualUSBController", "vmware.usb_controller.detected",
                 '<device xsi:type="VirtualUSBController"><key>-300</key></device>'),
                ("VirtualPCIPassthrough", "vmware.passthrough_device.detected",
                 '<device xsi:type="VirtualPCIPassthrough"><key>-301</key>'
                 '<backing xsi:type="VirtualPCIPassthroughDeviceBackingInfo"><deviceName>gpu</deviceName>'
                 '<id>0000:03:00.0</id><deviceId>1eb8</deviceId><systemId>x</systemId><vendorId>4318</vendorId>'
                 '</backing></device>'),
                ("VirtualSriovEthernetCard", "vmware.device.sriov.detected",
                 '<device xsi:type="VirtualSriovEthernetCard"><key>-302</key>'
                 '<backing xsi:type="VirtualEthernetCardNetworkBackingInfo"><deviceName>VM Network</deviceName>'
                 '</backing></device>')):
            self.appears_and_clears(rule, vid, lambda: a.add_device(vid, device),
                                    lambda: a.remove_device(vid, kind, self.device_key(vid, kind)))

        # The cluster: DRS on in vcsim's cluster (its VMs have the concern,
        # the standalone host's do not); a VM-host affinity rule.
        in_cluster = by_name["DC0_C0_RP0_VM0"]
        self.assertIn("vmware.drs.enabled", self.concerns(in_cluster["id"]))
        self.assertNotIn("vmware.drs.enabled", self.concerns(vid))
        self.covered.add("vmware.drs.enabled")
        cluster = in_cluster["host"]["cluster"]["id"]
        host = in_cluster["host"]["id"]

        def groups(vms):
            return ('<groupSpec><operation>{op}</operation><info xsi:type="ClusterVmGroup"><name>pinned</name>'
                    + "".join(f'<vm type="VirtualMachine">{x}</vm>' for x in vms) + '</info></groupSpec>')
        affine = (groups([in_cluster["id"]]).format(op="add") +
                  '<groupSpec><operation>add</operation><info xsi:type="ClusterHostGroup"><name>hosts</name>'
                  f'<host type="HostSystem">{host}</host></info></groupSpec>'
                  '<rulesSpec><operation>add</operation><info xsi:type="ClusterVmHostRuleInfo"><enabled>true</enabled>'
                  '<name>pin</name><vmGroupName>pinned</vmGroupName><affineHostGroupName>hosts</affineHostGroupName>'
                  '</info></rulesSpec>')
        self.appears_and_clears("vmware.host_affinity.detected", in_cluster["id"],
                                lambda: a.reconfigure_cluster(cluster, affine),
                                lambda: a.reconfigure_cluster(cluster, groups([]).format(op="edit")))

        self.assertEqual(set(), rule_ids() - self.covered - set(NOT_IN_VCSIM),
                         "rules neither triggered here nor listed as impossible in vcsim")
        self.assertEqual(set(), set(NOT_IN_VCSIM) - rule_ids(), "listed rules that no longer exist")


if __name__ == "__main__":
    unittest.main()

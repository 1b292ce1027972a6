"""What the tests do to the simulator as a vSphere admin would (govc's
calls, written out as SOAP): power, rename, reconfigure disks and flags,
snapshots, destroy. Test code only."""
import re
import ssl
import urllib.parse
import urllib.request
from xml.sax.saxutils import escape

ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:vim25" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
            '<soapenv:Body>{}</soapenv:Body></soapenv:Envelope>')


class Fault(Exception):
    pass


class Admin:
    def __init__(self, sim, context=None):
        self.url = sim.url
        self.ctx = context or ssl.create_default_context(cafile=sim.cafile)
        self.cookie = None
        self.call(f'<Login><_this type="SessionManager">SessionManager</_this><userName>{escape(sim.user)}'
                  f'</userName><password>{escape(sim.password)}</password></Login>')

    def call(self, body):
        req = urllib.request.Request(self.url, data=ENVELOPE.format(body).encode(), method="POST",
                                     headers={"Content-Type": "text/xml", "SOAPAction": "urn:vim25/6.5"})
        if self.cookie:
            req.add_header("Cookie", self.cookie)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=60) as r:
                text = r.read().decode()
                set_cookie = r.headers.get("Set-Cookie")
                if set_cookie:
                    self.cookie = set_cookie.split(";")[0]
                return text
        except urllib.error.HTTPError as e:
            raise Fault(e.read().decode()[:2000])

    def task(self, body):
        """Runs a method that returns a task, to its end."""
        import time
        text = self.call(body)
        task = re.search(r"<returnval[^>]*>([^<]+)</returnval>", text).group(1)
        for _ in range(200):
            info = self.call(f'<RetrievePropertiesEx><_this type="PropertyCollector">propertyCollector</_this><specSet>'
                             f'<propSet><type>Task</type><pathSet>info.state</pathSet><pathSet>info.error</pathSet>'
                             f'</propSet><objectSet><obj type="Task">{task}</obj></objectSet></specSet><options/>'
                             f'</RetrievePropertiesEx>')
            if ">success<" in info:
                return info
            if ">error<" in info:
                raise Fault(info)
            time.sleep(0.1)
        raise Fault("task did not finish")

    def power(self, vm, on):
        method = "PowerOnVM_Task" if on else "PowerOffVM_Task"
        return self.task(f'<{method}><_this type="VirtualMachine">{vm}</_this></{method}>')

    def rename(self, vm, name):
        return self.task(f'<Rename_Task><_this type="VirtualMachine">{vm}</_this><newName>{escape(name)}</newName>'
                         f'</Rename_Task>')

    def reconfigure(self, vm, spec):
        return self.task(f'<ReconfigVM_Task><_this type="VirtualMachine">{vm}</_this><spec>{spec}</spec>'
                         f'</ReconfigVM_Task>')

    def destroy(self, vm):
        return self.task(f'<Destroy_Task><_this type="VirtualMachine">{vm}</_this></Destroy_Task>')

    def snapshot(self, vm, name):
        return self.task(f'<CreateSnapshot_Task><_this type="VirtualMachine">{vm}</_this><name>{escape(name)}</name>'
                         f'<memory>false</memory><quiesce>false</quiesce></CreateSnapshot_Task>')

    def remove_snapshots(self, vm):
        return self.task(f'<RemoveAllSnapshots_Task><_this type="VirtualMachine">{vm}</_this>'
                         f'</RemoveAllSnapshots_Task>')

    def disk_capacity(self, vm, disk, capacity, **backing):
        """Sets the capacity of @disk (its model: key, controllerKey, unitNumber, file, datastore),
        and with @backing its mode or sharing (disk_device)."""
        return self.reconfigure(vm, '<deviceChange><operation>edit</operation>' + disk_device(disk, capacity, **backing)
                                + '</deviceChange>')

    def extra_config(self, vm, key, value):
        return self.reconfigure(vm, f'<extraConfig><key>{escape(key)}</key><value xsi:type="xsd:string">'
                                f'{escape(value)}</value></extraConfig>')

    def add_device(self, vm, device_xml):
        return self.reconfigure(vm, f'<deviceChange><operation>add</operation>{device_xml}</deviceChange>')

    def remove_device(self, vm, kind, key):
        return self.reconfigure(vm, f'<deviceChange><operation>remove</operation><device xsi:type="{kind}">'
                                f'<key>{key}</key></device></deviceChange>')

    def reconfigure_cluster(self, cluster, spec):
        return self.task(f'<ReconfigureComputeResource_Task><_this type="ClusterComputeResource">{cluster}</_this>'
                         f'<spec xsi:type="ClusterConfigSpecEx">{spec}</spec><modify>true</modify>'
                         f'</ReconfigureComputeResource_Task>')

    def add_disk(self, vm, controller_key, unit, capacity, datastore_name):
        """A new flat disk on @controller_key; vcsim names it and creates its file."""
        return self.reconfigure(vm, '<deviceChange><operation>add</operation><fileOperation>create</fileOperation>'
                                f'<device xsi:type="VirtualDisk"><key>-1</key><deviceInfo><label>disk</label>'
                                f'<summary>new</summary></deviceInfo>'
                                f'<backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[{escape(datastore_name)}]'
                                f'</fileName><diskMode>persistent</diskMode><thinProvisioned>true</thinProvisioned>'
                                f'</backing><controllerKey>{controller_key}</controllerKey><unitNumber>{unit}'
                                f'</unitNumber><capacityInKB>{capacity // 1024}</capacityInKB>'
                                f'<capacityInBytes>{capacity}</capacityInBytes></device></deviceChange>')

    def datacenter_of(self, ref, kind="VirtualMachine"):
        """The name of the datacenter @ref is in, up its parents."""
        for _ in range(64):
            text = self.call(f'<RetrievePropertiesEx><_this type="PropertyCollector">propertyCollector</_this>'
                             f'<specSet><propSet><type>{kind}</type><pathSet>parent</pathSet><pathSet>name</pathSet>'
                             f'</propSet><objectSet><obj type="{kind}">{escape(ref)}</obj></objectSet></specSet>'
                             f'<options/></RetrievePropertiesEx>')
            if kind == "Datacenter":
                return re.search(r"<name>name</name><val[^>]*>([^<]*)</val>", text).group(1)
            m = re.search(r'<name>parent</name><val[^>]*type="(\w+)"[^>]*>([^<]+)</val>', text)
            if m is None:
                raise Fault(f"no parent for {ref}: {text[:500]}")
            kind, ref = m.group(1), m.group(2)
        raise Fault("no datacenter above " + ref)

    def logout(self):
        self.call('<Logout><_this type="SessionManager">SessionManager</_this></Logout>')


def disk_device(disk, capacity, mode="persistent", sharing=None):
    backing = "VirtualDiskFlatVer2BackingInfo"
    extra = f"<sharing>{sharing}</sharing>" if sharing else ""
    return (f'<device xsi:type="VirtualDisk"><key>{disk["key"]}</key><deviceInfo><label>disk</label>'
            f'<summary>disk</summary></deviceInfo><backing xsi:type="{backing}">'
            f'<fileName>{escape(disk["file"])}</fileName><diskMode>{mode}</diskMode>{extra}</backing>'
            f'<controllerKey>{disk["controllerKey"]}</controllerKey><unitNumber>{disk["unitNumber"]}</unitNumber>'
            f'<capacityInKB>{capacity // 1024}</capacityInKB><capacityInBytes>{capacity}</capacityInBytes></device>')


def written(sim, path, offsets, length):
    """Tells the simulator's change tracking the guest wrote @length bytes at
    each of @offsets of the flat file @path (vcsim_cbt.go), as a hypervisor
    records it."""
    ctx = ssl.create_default_context(cafile=sim.cafile)
    q = urllib.parse.urlencode({"file": path, "offset": ",".join(str(o) for o in offsets), "length": length})
    req = urllib.request.Request(sim.url.replace("/sdk", "") + "/mtv-test/written?" + q, method="POST")
    urllib.request.urlopen(req, context=ctx, timeout=30).close()


def guest_mode(sim, vm, mode):
    """The simulated guest of @vm: "refuse" ShutdownGuest (no VMware Tools),
    "ignore" it (never shuts down) or "normal"."""
    base = sim.url.rsplit("/sdk", 1)[0]
    req = urllib.request.Request(f"{base}/mtv-test/guest?vm={vm}&mode={mode}", method="POST", data=b"")
    urllib.request.urlopen(req, context=ssl.create_default_context(cafile=sim.cafile), timeout=30).close()


def end_other_sessions(admin):
    """Ends every session but the admin's own, as a vCenter does when they
    expire or an administrator terminates them."""
    text = admin.call('<RetrievePropertiesEx><_this type="PropertyCollector">propertyCollector</_this><specSet>'
                      '<propSet><type>SessionManager</type><pathSet>sessionList</pathSet>'
                      '<pathSet>currentSession</pathSet></propSet><objectSet><obj type="SessionManager">'
                      'SessionManager</obj></objectSet></specSet><options/></RetrievePropertiesEx>')
    current = re.search(r"currentSession</name><val[^>]*><key>([^<]+)</key>", text).group(1)
    keys = [k for k in re.findall(r"<UserSession[^>]*><key>([^<]+)</key>", text) if k != current]
    if not keys:
        keys = [k for k in re.findall(r"<key>([^<]+)</key>", text) if k != current]
    ids = "".join(f"<sessionId>{k}</sessionId>" for k in sorted(set(keys)))
    if ids:
        admin.call(f'<TerminateSession><_this type="SessionManager">SessionManager</_this>{ids}</TerminateSession>')
    return len(set(keys))


def expire_on_continue(sim, n):
    """The session that sends the @n-th ContinueRetrievePropertiesEx from now
    on ends there (NotAuthenticated), as an expiring one does mid-inventory."""
    base = sim.url.rsplit("/sdk", 1)[0]
    req = urllib.request.Request(f"{base}/mtv-test/expire-on-continue?n={n}", method="POST", data=b"")
    urllib.request.urlopen(req, context=ssl.create_default_context(cafile=sim.cafile), timeout=30).close()


def continues(sim):
    """How many ContinueRetrievePropertiesEx calls the simulator answered since."""
    import json
    base = sim.url.rsplit("/sdk", 1)[0]
    with urllib.request.urlopen(f"{base}/mtv-test/expire-on-continue",
                                context=ssl.create_default_context(cafile=sim.cafile), timeout=30) as r:
        return json.load(r)["continues"]


def logins(sim):
    """How many Login calls the simulator has answered."""
    import json
    base = sim.url.rsplit("/sdk", 1)[0]
    with urllib.request.urlopen(f"{base}/mtv-test/logins", context=ssl.create_default_context(cafile=sim.cafile),
                                timeout=30) as r:
        return json.load(r)["logins"]

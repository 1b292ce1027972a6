"""Builds real OVAs for tests: streamOptimized VMDKs made by qemu-img from raw
images with known content, an OVF 1.x descriptor, a SHA256 manifest, and a
ustar archive, the way VMware's exporters lay them out."""
import hashlib
import os
import subprocess
import tarfile

OVF = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="build-1" xmlns="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
  xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
  xmlns:vmw="http://www.vmware.com/schema/ovf"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
{files}
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
{disks}
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
{networks}
  </NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>A virtual machine</Info>
    <Name>{name}</Name>
    <OperatingSystemSection ovf:id="96" vmw:osType="debian11_64Guest">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemType>vmx-19</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:ElementName>{cpus} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{cpus}</rasd:VirtualQuantity>
        <vmw:CoresPerSocket ovf:required="false">{cores}</vmw:CoresPerSocket>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:ElementName>{memory}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{memory}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
{disk_items}
{nic_items}
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="{firmware}"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def make_disk(workdir, name, size_mib, seed, dense=False):
    """A raw image with some data and holes (@dense: data in every byte),
    and its streamOptimized VMDK."""
    raw = os.path.join(workdir, name + ".raw")
    with open(raw, "wb") as f:
        f.truncate(size_mib << 20)
        for i in range(0, size_mib, 1 if dense else 3):  # else data every third MiB, the rest holes
            f.seek(i << 20)
            f.write(hashlib.sha256(f"{seed}-{i}".encode()).digest() * (32768 if dense else 2048))
    vmdk = os.path.join(workdir, name + ".vmdk")
    subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized",
                    raw, vmdk], check=True)
    return raw, vmdk


def make_ova(workdir, name, disks=((8, "a"),), nics=(("Network adapter 1", "00:50:56:aa:bb:01", "VM Network"),),
             cpus=2, cores=1, memory=1024, firmware="bios", manifest=True, tamper=None, ovf_text=None,
             capacity_override=None, pack=True, ovf_version=1):
    """Writes WORKDIR/NAME.ova (or, with pack=False, NAME.ovf, NAME.mf and the
    VMDKs unpacked in WORKDIR); returns (path, [raw images])."""
    os.makedirs(workdir, exist_ok=True)
    raws, members = [], []
    files, disk_xml, disk_items = [], [], []
    for i, (size, seed, *dense) in enumerate(disks, 1):
        raw, vmdk = make_disk(workdir, f"{name}-disk{i}", size, seed, dense=bool(dense and dense[0]))
        raws.append(raw)
        href = f"{name}-disk{i}.vmdk"
        members.append((href, vmdk))
        files.append(f'    <File ovf:href="{href}" ovf:id="file{i}" ovf:size="{os.path.getsize(vmdk)}"/>')
        capacity = capacity_override if capacity_override is not None else size
        disk_xml.append(f'    <Disk ovf:capacity="{capacity}" ovf:capacityAllocationUnits="byte * 2^20" '
                        f'ovf:diskId="vmdisk{i}" ovf:fileRef="file{i}" '
                        f'ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized" '
                        f'ovf:populatedSize="{size << 19}"/>')
        disk_items.append(f"""      <Item>
        <rasd:AddressOnParent>{i - 1}</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk {i}</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk{i}</rasd:HostResource>
        <rasd:InstanceID>{10 + i}</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>""")
    networks = sorted({n[2] for n in nics})
    net_xml = [f'    <Network ovf:name="{n}">\n      <Description>The {n} network</Description>\n    </Network>'
               for n in networks]
    nic_items = [f"""      <Item>
        <rasd:AddressOnParent>{7 + i}</rasd:AddressOnParent>
        <rasd:Address>{mac}</rasd:Address>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>{net}</rasd:Connection>
        <rasd:ElementName>{nic}</rasd:ElementName>
        <rasd:InstanceID>{20 + i}</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>""" for i, (nic, mac, net) in enumerate(nics)]
    ovf = ovf_text if ovf_text is not None else OVF.format(
        name=name, files="\n".join(files), disks="\n".join(disk_xml), networks="\n".join(net_xml),
        cpus=cpus, cores=cores, memory=memory, disk_items="\n".join(disk_items),
        nic_items="\n".join(nic_items), firmware=firmware)
    if ovf_version == 2:
        ovf = ovf.replace("http://schemas.dmtf.org/ovf/envelope/1", "http://schemas.dmtf.org/ovf/envelope/2")
    ovf_path = os.path.join(workdir, name + ".ovf")
    with open(ovf_path, "w") as f:
        f.write(ovf)
    entries = [(name + ".ovf", ovf_path)]
    if manifest:
        mf_path = os.path.join(workdir, name + ".mf")
        with open(mf_path, "w") as f:
            for member, path in [(name + ".ovf", ovf_path)] + members:
                with open(path, "rb") as data:
                    digest = hashlib.sha256(data.read()).hexdigest()
                if tamper == member:
                    digest = "0" * 64
                f.write(f"SHA256({member})= {digest}\n")
        entries.append((name + ".mf", mf_path))
    if not pack:
        for member, path in members:
            os.rename(path, os.path.join(workdir, member))
        return ovf_path, raws
    entries += members
    ova = os.path.join(workdir, name + ".ova")
    with tarfile.open(ova, "w", format=tarfile.USTAR_FORMAT) as tar:
        for member, path in entries:
            tar.add(path, arcname=member)
    for _, path in entries:
        os.unlink(path)
    return ova, raws

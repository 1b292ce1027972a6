// Changed block tracking for the simulator (test code): this vcsim keeps one
// flat file per disk and knows nothing of change ids. Here a snapshot
// records a checksum of every 64 KiB block of each disk's file under a new
// change id, which the snapshot's disk backings then carry, and
// QueryChangedDiskAreas answers the blocks that differ between the state of
// a change id and the snapshot's, a window of the disk per call (so that a
// client has to page, as on a real vCenter). "The guest writes" is the test
// writing into the flat file between snapshots. A hypervisor records writes
// as they happen, so a snapshot costs it nothing per byte of disk: a test
// that says what it wrote (POST /mtv-test/written?file=PATH&offset=O[,O...]&length=L)
// gets that too, each snapshot after the first reading only the blocks
// written since; a disk whose writes are not said is read whole.
package main

import (
	"encoding/xml"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

const cbtBlock = 64 << 10

// A disk's state at a change id: a checksum per block, 0 for a block of zeroes.
type diskState struct {
	size int64
	sums []uint64
}

type tracker struct {
	window int64 // bytes of disk one QueryChangedDiskAreas call covers (-cbt-window)
	mu     sync.Mutex
	seq    int
	states map[string]diskState
	last   map[string]diskState      // a flat file's state at its last snapshot
	dirty  map[string]map[int64]bool // its blocks written since, as said
	said   map[string]bool           // files whose writes are said
	// POST /mtv-test/fail-snapshot-removal?n=N&skip=K: after K more that
	// succeed, the next N RemoveSnapshot_Task fail.
	failRemovals, skipRemovals int
}

var crcTable = crc32.MakeTable(crc32.Castagnoli) // in hardware: the snapshot's read of the disk is its cost

var cbt = &tracker{window: 4 << 20, states: map[string]diskState{}, last: map[string]diskState{},
	dirty: map[string]map[int64]bool{}, said: map[string]bool{}}

// POST /mtv-test/written: the guest wrote @length bytes at @offset of @file.
func (t *tracker) written(file string, offset, length int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.said[file] = true
	if t.dirty[file] == nil {
		t.dirty[file] = map[int64]bool{}
	}
	for b := offset / cbtBlock; b*cbtBlock < offset+length; b++ {
		t.dirty[file][b] = true
	}
}

func blockSum(buf []byte) uint64 {
	for _, c := range buf {
		if c != 0 {
			return uint64(crc32.Checksum(buf, crcTable)) | 1<<32
		}
	}
	return 0
}

// The state of @file, a disk of @capacity bytes, now: from its last one and
// the blocks said written since when it can, else read whole; what the file
// does not hold (this vcsim makes disks as empty files) reads as zeroes, as
// a vCenter's thin disk does. Called with t.mu held.
func (t *tracker) stateNow(file string, capacity int64) diskState {
	st := t.fileState(file)
	st.sums = append([]uint64(nil), st.sums...) // the file's own state stays as it is
	for int64(len(st.sums))*cbtBlock < capacity {
		st.sums = append(st.sums, 0)
	}
	if capacity > 0 {
		st.size = capacity
	}
	return st
}

func (t *tracker) fileState(file string) diskState {
	last, ok := t.last[file]
	info, err := os.Stat(file)
	var st diskState
	if ok && t.said[file] && err == nil && info.Size() == last.size {
		st = diskState{size: last.size, sums: append([]uint64(nil), last.sums...)}
		if f, err := os.Open(file); err == nil {
			buf := make([]byte, cbtBlock)
			for b := range t.dirty[file] {
				n, _ := f.ReadAt(buf, b*cbtBlock)
				if b < int64(len(st.sums)) {
					st.sums[b] = blockSum(buf[:n])
				}
			}
			f.Close()
		}
	} else {
		st = stateOf(file)
	}
	t.last[file] = st
	delete(t.dirty, file)
	return st
}

// The local file that holds a datastore path's flat disk data.
func flatFile(fileName string) string {
	m := regexp.MustCompile(`^\[([^\]]+)\] (.+)\.vmdk$`).FindStringSubmatch(fileName)
	if m == nil {
		return ""
	}
	for _, e := range simulator.Map.All("Datastore") {
		ds := e.(*simulator.Datastore)
		if ds.Name == m[1] {
			return path.Join(ds.Info.GetDatastoreInfo().Url, m[2]+"-flat.vmdk")
		}
	}
	return ""
}

func stateOf(file string) diskState {
	f, err := os.Open(file)
	if err != nil {
		return diskState{}
	}
	defer f.Close()
	var st diskState
	buf := make([]byte, cbtBlock)
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			st.size += int64(n)
			st.sums = append(st.sums, blockSum(buf[:n]))
		}
		if err != nil {
			return st
		}
	}
}

// The VM's current snapshot gets a change id on each disk, recorded with the
// disks' data as they are now. Its devices are copied first: a snapshot's
// config shares them with the VM's.
func (t *tracker) snapshotTaken(vm *simulator.VirtualMachine) {
	if vm.Snapshot == nil || vm.Snapshot.CurrentSnapshot == nil {
		return
	}
	snap, ok := simulator.Map.Get(*vm.Snapshot.CurrentSnapshot).(*simulator.VirtualMachineSnapshot)
	if !ok {
		return
	}
	simulator.Map.WithLock(snap, func() {
		var devices []types.BaseVirtualDevice
		for _, d := range snap.Config.Hardware.Device {
			disk, ok := d.(*types.VirtualDisk)
			var backing *types.VirtualDiskFlatVer2BackingInfo
			if ok {
				backing, ok = disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			}
			if !ok {
				devices = append(devices, d)
				continue
			}
			t.mu.Lock()
			t.seq++
			id := fmt.Sprintf("52 3d 7a mtv-test/%d", t.seq)
			capacity := disk.CapacityInBytes
			if capacity == 0 {
				capacity = disk.CapacityInKB * 1024
			}
			t.states[id] = t.stateNow(flatFile(backing.FileName), capacity)
			t.mu.Unlock()
			c, b := *disk, *backing
			b.ChangeId = id
			c.Backing = &b
			devices = append(devices, &c)
		}
		snap.Config.Hardware.Device = devices
	})
}

type changedDiskAreasRequest struct {
	Snapshot    string `xml:"Body>QueryChangedDiskAreas>snapshot"`
	DeviceKey   int32  `xml:"Body>QueryChangedDiskAreas>deviceKey"`
	StartOffset int64  `xml:"Body>QueryChangedDiskAreas>startOffset"`
	ChangeId    string `xml:"Body>QueryChangedDiskAreas>changeId"`
}

func soapFault(w http.ResponseWriter, kind, text string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, envelope, `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>`+text+
		`</faultstring><detail><`+kind+`Fault xmlns="urn:vim25" xsi:type="`+kind+`"></`+kind+`Fault></detail></soapenv:Fault>`)
}

func (t *tracker) queryChangedDiskAreas(w http.ResponseWriter, body []byte) {
	var q changedDiskAreasRequest
	if err := xml.Unmarshal(body, &q); err != nil {
		soapFault(w, "InvalidRequest", err.Error())
		return
	}
	snap, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: q.Snapshot}).(*simulator.VirtualMachineSnapshot)
	if !ok {
		soapFault(w, "ManagedObjectNotFound", "snapshot "+q.Snapshot+" not found")
		return
	}
	var now string
	for _, d := range snap.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok && disk.Key == q.DeviceKey {
			if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
				now = b.ChangeId
			}
		}
	}
	t.mu.Lock()
	at, known := t.states[now]
	base, baseKnown := t.states[q.ChangeId]
	t.mu.Unlock()
	if !known {
		soapFault(w, "FileFault", "the disk has no change tracking at this snapshot")
		return
	}
	if q.ChangeId != "*" && !baseKnown {
		soapFault(w, "InvalidArgument", "changeId "+q.ChangeId+" is not known")
		return
	}
	if q.StartOffset < 0 || q.StartOffset > at.size {
		soapFault(w, "InvalidArgument", "startOffset "+strconv.FormatInt(q.StartOffset, 10))
		return
	}
	end := q.StartOffset + t.window
	if end > at.size {
		end = at.size
	}
	var areas strings.Builder
	var runStart, runEnd int64 = -1, -1
	flush := func() {
		if runStart >= 0 {
			fmt.Fprintf(&areas, "<changedArea><start>%d</start><length>%d</length></changedArea>", runStart, runEnd-runStart)
		}
		runStart = -1
	}
	for off := q.StartOffset - q.StartOffset%cbtBlock; off < end; off += cbtBlock {
		i := off / cbtBlock
		changed := at.sums[i] != 0
		if q.ChangeId != "*" {
			changed = i >= int64(len(base.sums)) || base.sums[i] != at.sums[i]
		}
		if !changed {
			flush()
			continue
		}
		blockEnd := off + cbtBlock
		if blockEnd > at.size {
			blockEnd = at.size
		}
		if runStart < 0 {
			runStart = off
		}
		runEnd = blockEnd
	}
	flush()
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, envelope, fmt.Sprintf(`<QueryChangedDiskAreasResponse xmlns="urn:vim25"><returnval><startOffset>%d</startOffset><length>%d</length>%s</returnval></QueryChangedDiskAreasResponse>`,
		q.StartOffset, end-q.StartOffset, areas.String()))
}

// A change-tracked VM's disks carry a change id on a real vCenter (the
// inventory reads CBT per disk from it); this vcsim's never do.
func liveChangeIds(vm *simulator.VirtualMachine) {
	simulator.Map.WithLock(vm, func() {
		if vm.Config == nil || vm.Config.ChangeTrackingEnabled == nil || !*vm.Config.ChangeTrackingEnabled {
			return
		}
		for _, d := range vm.Config.Hardware.Device {
			if disk, ok := d.(*types.VirtualDisk); ok {
				if b, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok && b.ChangeId == "" {
					b.ChangeId = "52 3d 7a mtv-test/live"
				}
			}
		}
		simulator.Map.Update(vm, []types.PropertyChange{{Name: "config.hardware.device", Val: vm.Config.Hardware.Device}})
	})
}

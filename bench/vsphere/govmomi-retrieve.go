// govmomi's own client doing what mtvd's full vSphere read does: a
// ContainerView of the VMs and RetrievePropertiesEx (with
// ContinueRetrievePropertiesEx) of the same properties. Built offline by
// bench/vsphere-inventory from Debian's golang-github-vmware-govmomi-dev.
//
//	govmomi-retrieve URL USER PASSWORD PATH...
//
// prints {"vms": N, "seconds": S}. With GOVMOMI_WATCH=NAME it instead
// watches the VMs' PATHs (a ContainerView filter and WaitForUpdatesEx, as
// mtvd does), prints "ready", and prints the Unix time in seconds at which
// a VM named NAME is reported, then exits: the simulator's own latency.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

func watch(ctx context.Context, c *govmomi.Client, v *view.ContainerView, name string, paths []string) {
	pc := property.DefaultCollector(c.Client)
	filter := new(property.WaitFilter)
	filter.Add(v.Reference(), "VirtualMachine", paths, &types.TraversalSpec{
		Type: "ContainerView", Path: "view", Skip: types.NewBool(false)})
	first := true
	err := property.WaitForUpdates(ctx, pc, filter, func(updates []types.ObjectUpdate) bool {
		if first {
			first = false
			fmt.Println("ready")
			return false
		}
		for _, u := range updates {
			for _, c := range u.ChangeSet {
				if c.Name == "name" && c.Val == name {
					fmt.Printf("%.6f\n", float64(time.Now().UnixNano())/1e9)
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) < 5 {
		fmt.Fprintln(os.Stderr, "usage: govmomi-retrieve URL USER PASSWORD PATH...")
		os.Exit(2)
	}
	u, err := url.Parse(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	u.User = url.UserPassword(os.Args[2], os.Args[3])
	ctx := context.Background()
	start := time.Now()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	m := view.NewManager(c.Client)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"VirtualMachine"}, true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if name := os.Getenv("GOVMOMI_WATCH"); name != "" {
		watch(ctx, c, v, name, os.Args[4:])
		return
	}
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, os.Args[4:], &vms); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]interface{}{"vms": len(vms), "seconds": time.Since(start).Seconds()})
	fmt.Println(string(out))
	_ = c.Logout(ctx)
}

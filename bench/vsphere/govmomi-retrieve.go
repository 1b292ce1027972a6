// govmomi's own client doing what mtvd's full vSphere read does: a
// ContainerView of the VMs and RetrievePropertiesEx (with
// ContinueRetrievePropertiesEx) of the same properties. Built offline by
// bench/vsphere-inventory from Debian's golang-github-vmware-govmomi-dev.
//
//	govmomi-retrieve URL USER PASSWORD PATH...
//
// prints {"vms": N, "seconds": S}.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25/mo"
)

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
	var vms []mo.VirtualMachine
	if err := v.Retrieve(ctx, []string{"VirtualMachine"}, os.Args[4:], &vms); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]interface{}{"vms": len(vms), "seconds": time.Since(start).Seconds()})
	fmt.Println(string(out))
	_ = c.Logout(ctx)
}

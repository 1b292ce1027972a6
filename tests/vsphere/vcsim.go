// The vSphere simulator the tests talk to: govmomi's vcsim (Debian's
// golang-github-vmware-govmomi-dev), built offline by tests/vsphere/vcsim.py.
// It serves a vCenter model over HTTPS on 127.0.0.1 and prints one JSON line
// (url, the CA file of its certificate, user, password), then runs until its
// standard input closes. Test code: what the simulator lacks is added here,
// never in mtvd.
package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

func main() {
	vms := flag.Int("vms", 2, "VMs per resource pool and per standalone host")
	clusters := flag.Int("clusters", 1, "clusters per datacenter")
	user := flag.String("user", "mtv@vsphere.local", "the only user that may log in")
	password := flag.String("password", "", "its password")
	esx := flag.Bool("esx", false, "an ESXi host's own SDK instead of a vCenter")
	flag.Int64Var(&cbt.window, "cbt-window", cbt.window, "bytes of disk one QueryChangedDiskAreas answer covers")
	flag.Parse()

	model := simulator.VPX()
	if *esx {
		model = simulator.ESX()
	}
	model.Machine = *vms
	model.Cluster = *clusters
	if err := model.Create(); err != nil {
		fmt.Fprintln(os.Stderr, "vcsim:", err)
		os.Exit(1)
	}
	defer model.Remove()
	uniqueNICs()
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(*user, *password)}
	cert, err := selfSigned()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vcsim:", err)
		os.Exit(1)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	server := model.Service.NewServer()
	defer server.Close()
	// Before the first request (the URL is not out yet): what this vcsim
	// lacks is answered in front of it.
	server.Config.Handler = &extras{sessions: map[string]time.Time{}, inner: &pager{inner: server.Config.Handler, pages: map[string]page{}},
		guest: map[string]string{}}
	ca, err := server.CertificateFile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vcsim:", err)
		os.Exit(1)
	}
	endpoint := *server.URL
	endpoint.User = nil
	line, _ := json.Marshal(map[string]string{"url": endpoint.String(), "cafile": ca, "user": *user,
		"password": *password})
	fmt.Println(string(line))
	// Until the test closes our standard input.
	bufio.NewReader(os.Stdin).ReadString(0)
}

// A certificate for 127.0.0.1 that is its own CA: govmomi's built-in one has
// a key Debian's OpenSSL refuses as too weak.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	template := x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "vcsim"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, &template, &template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// RetrievePropertiesEx pages as a real vCenter does (this vcsim ignores
// maxObjects and never answers a token): the objects beyond maxObjects are
// kept under a token that ContinueRetrievePropertiesEx hands out next.
type page struct {
	objects []string
	size    int
}

type pager struct {
	inner http.Handler
	mu    sync.Mutex
	pages map[string]page
	next  int
}

var (
	maxObjectsRe = regexp.MustCompile(`<(?:\w+:)?maxObjects>(\d+)</(?:\w+:)?maxObjects>`)
	objectsRe    = regexp.MustCompile(`(?s)<objects>.*?</objects>`)
	tokenRe      = regexp.MustCompile(`<(?:\w+:)?token>([^<]*)</(?:\w+:)?token>`)
)

const envelope = `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>`

func (p *pager) stash(objects []string, size int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	token := "mtv-page-" + strconv.Itoa(p.next)
	p.pages[token] = page{objects, size}
	return token
}

// The first @size objects and, when more are left, a token for them.
func (p *pager) cut(objects []string, size int) string {
	if len(objects) <= size {
		return strings.Join(objects, "")
	}
	return "<token>" + p.stash(objects[size:], size) + "</token>" + strings.Join(objects[:size], "")
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/sdk") {
		p.inner.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	text := string(body)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	if strings.Contains(text, "ContinueRetrievePropertiesEx>") {
		m := tokenRe.FindStringSubmatch(text)
		p.mu.Lock()
		left, ok := page{}, false
		if m != nil {
			left, ok = p.pages[m[1]]
			delete(p.pages, m[1])
		}
		p.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, envelope, `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>unknown token</faultstring><detail><InvalidArgumentFault xmlns="urn:vim25" xsi:type="InvalidArgument"><invalidProperty>token</invalidProperty></InvalidArgumentFault></detail></soapenv:Fault>`)
			return
		}
		fmt.Fprintf(w, envelope, `<ContinueRetrievePropertiesExResponse xmlns="urn:vim25"><returnval>`+
			p.cut(left.objects, left.size)+`</returnval></ContinueRetrievePropertiesExResponse>`)
		return
	}
	m := maxObjectsRe.FindStringSubmatch(text)
	if !strings.Contains(text, "RetrievePropertiesEx>") || m == nil {
		p.inner.ServeHTTP(w, r)
		return
	}
	size, _ := strconv.Atoi(m[1])
	rec := httptest.NewRecorder()
	p.inner.ServeHTTP(rec, r)
	out := rec.Body.String()
	objects := objectsRe.FindAllString(out, -1)
	if size > 0 && len(objects) > size {
		first := strings.Index(out, objects[0])
		last := strings.LastIndex(out, objects[len(objects)-1]) + len(objects[len(objects)-1])
		out = out[:first] + p.cut(objects, size) + out[last:]
	}
	w.WriteHeader(rec.Code)
	io.WriteString(w, out)
}

// What else a real vCenter does that this vcsim does not, and what the
// tests steer:
//   - /folder wants a logged-in session's cookie (vcsim serves it to anyone);
//   - a reconfigure changes config.changeVersion and says so to
//     WaitForUpdatesEx (this vcsim reports most ReconfigVM edits to no one),
//     and a cluster's reconfigure reports its configurationEx;
//   - POST /mtv-test/guest?vm=MOREF&mode=normal|refuse|ignore|none gives the
//     VM's guest running VMware Tools that shut it down, or that refuse
//     ShutdownGuest (ToolsUnavailable), or accept it and never shut down;
//     none: no Tools running (vcsim's default);
//   - changed block tracking (vcsim_cbt.go): change ids on snapshots'
//     disks, QueryChangedDiskAreas, and POST
//     /mtv-test/fail-snapshot-removal?n=N&skip=K failing N removals after
//     the next K;
//   - GET /mtv-test/logins says how many Login calls it answered;
//   - POST /mtv-test/expire-on-continue?n=N ends the session that sends the
//     Nth ContinueRetrievePropertiesEx from then on, as a vCenter whose
//     session expired mid-inventory does (NotAuthenticated, and the session
//     gone with what it held: the token too).
type extras struct {
	inner     http.Handler
	mu        sync.Mutex
	guest     map[string]string
	expireAt  int
	continues int
	logins    int
	sessions  map[string]time.Time // cookies last seen logged in
}

const logoutBody = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><Logout xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this></Logout></soapenv:Body></soapenv:Envelope>`

var thisRe = regexp.MustCompile(`<(?:\w+:)?_this[^>]*>([^<]*)</(?:\w+:)?_this>`)
var uuidRe = regexp.MustCompile(`<(?:\w+:)?uuid>([^<]*)</(?:\w+:)?uuid>`)

const sessionQuery = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>SessionManager</type><pathSet>currentSession</pathSet></propSet><objectSet><obj type="SessionManager">SessionManager</obj></objectSet></specSet><options></options></RetrievePropertiesEx></soapenv:Body></soapenv:Envelope>`

// Whether the request carries the cookie of a session that is logged in.
// Asking the session manager costs a SOAP call (more than the read it
// guards, for a 64 KiB Range): a session seen logged in is trusted for a
// second, as short as a session's end needs to show.
func (x *extras) loggedIn(r *http.Request) bool {
	cookie, err := r.Cookie("vmware_soap_session")
	if err != nil {
		return false
	}
	x.mu.Lock()
	seen, ok := x.sessions[cookie.Value]
	x.mu.Unlock()
	if ok && time.Since(seen) < time.Second {
		return true
	}
	q := httptest.NewRequest(http.MethodPost, "/sdk", strings.NewReader(sessionQuery))
	q.Header.Set("Content-Type", "text/xml")
	q.Header.Set("SOAPAction", "urn:vim25/6.5")
	q.AddCookie(cookie)
	rec := httptest.NewRecorder()
	x.inner.ServeHTTP(rec, q)
	in := rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "userName>")
	x.mu.Lock()
	if in {
		x.sessions[cookie.Value] = time.Now()
	} else {
		delete(x.sessions, cookie.Value)
	}
	x.mu.Unlock()
	return in
}

func (x *extras) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/mtv-test/guest":
		id, mode := r.URL.Query().Get("vm"), r.URL.Query().Get("mode")
		x.mu.Lock()
		x.guest[id] = mode
		x.mu.Unlock()
		status := types.VirtualMachineToolsRunningStatusGuestToolsRunning
		if mode == "none" {
			status = types.VirtualMachineToolsRunningStatusGuestToolsNotRunning
		}
		if vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: id}).(*simulator.VirtualMachine); ok {
			simulator.Map.WithLock(vm, func() { vm.Guest.ToolsRunningStatus = string(status) })
		}
		w.WriteHeader(http.StatusNoContent)
		return
	case r.URL.Path == "/mtv-test/logins":
		x.mu.Lock()
		fmt.Fprintf(w, `{"logins": %d}`, x.logins)
		x.mu.Unlock()
		return
	case r.URL.Path == "/mtv-test/expire-on-continue":
		x.mu.Lock()
		defer x.mu.Unlock()
		if r.Method == http.MethodGet {
			fmt.Fprintf(w, `{"continues": %d}`, x.continues)
			return
		}
		x.expireAt, x.continues = 0, 0
		x.expireAt, _ = strconv.Atoi(r.URL.Query().Get("n"))
		w.WriteHeader(http.StatusNoContent)
		return
	case r.URL.Path == "/mtv-test/written":
		q := r.URL.Query()
		length, _ := strconv.ParseInt(q.Get("length"), 10, 64)
		for _, o := range strings.Split(q.Get("offset"), ",") { // several writes of @length at once
			offset, _ := strconv.ParseInt(o, 10, 64)
			cbt.written(q.Get("file"), offset, length)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	case r.URL.Path == "/mtv-test/fail-snapshot-removal":
		cbt.mu.Lock()
		cbt.failRemovals, _ = strconv.Atoi(r.URL.Query().Get("n"))
		cbt.skipRemovals, _ = strconv.Atoi(r.URL.Query().Get("skip"))
		cbt.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	case strings.HasPrefix(r.URL.Path, "/folder"):
		if !x.loggedIn(r) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/sdk"):
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		text := string(body)
		if strings.Contains(text, "Login>") && !strings.Contains(text, "Logout") {
			x.mu.Lock()
			x.logins++
			x.mu.Unlock()
		}
		if strings.Contains(text, "ContinueRetrievePropertiesEx>") {
			x.mu.Lock()
			x.continues++
			expire := x.expireAt > 0 && x.continues == x.expireAt
			x.mu.Unlock()
			if expire {
				q := httptest.NewRequest(http.MethodPost, "/sdk", strings.NewReader(logoutBody))
				q.Header.Set("Content-Type", "text/xml")
				q.Header.Set("SOAPAction", "urn:vim25/6.5")
				for _, c := range r.Cookies() {
					q.AddCookie(c)
				}
				x.inner.ServeHTTP(httptest.NewRecorder(), q)
				w.Header().Set("Content-Type", "text/xml; charset=utf-8")
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprintf(w, envelope, `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The session is not authenticated.</faultstring><detail><NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated"><privilegeId>System.View</privilegeId></NotAuthenticatedFault></detail></soapenv:Fault>`)
				return
			}
		}
		if strings.Contains(text, "QueryChangedDiskAreas>") {
			cbt.queryChangedDiskAreas(w, body)
			return
		}
		if m := thisRe.FindStringSubmatch(text); m != nil && strings.Contains(text, "CreateSnapshot_Task>") {
			x.inner.ServeHTTP(w, r)
			if vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: m[1]}).(*simulator.VirtualMachine); ok {
				cbt.snapshotTaken(vm)
			}
			return
		}
		if strings.Contains(text, "RemoveSnapshot_Task>") {
			cbt.mu.Lock()
			fail := cbt.failRemovals > 0 && cbt.skipRemovals == 0
			if fail {
				cbt.failRemovals--
			} else if cbt.skipRemovals > 0 {
				cbt.skipRemovals--
			}
			cbt.mu.Unlock()
			if fail {
				soapFault(w, "TaskInProgress", "The operation is not allowed in the current state.")
				return
			}
		}
		if m := thisRe.FindStringSubmatch(text); m != nil && strings.Contains(text, "ReconfigVM_Task>") {
			x.inner.ServeHTTP(w, r)
			if vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: m[1]}).(*simulator.VirtualMachine); ok {
				liveChangeIds(vm)
				version := time.Now().UTC().Format(time.RFC3339Nano)
				simulator.Map.WithLock(vm, func() { vm.Config.ChangeVersion = version })
				simulator.Map.Update(vm, []types.PropertyChange{{Name: "config.changeVersion", Val: version}})
			}
			return
		}
		if m := thisRe.FindStringSubmatch(text); m != nil && strings.Contains(text, "ReconfigureComputeResource_Task>") {
			x.inner.ServeHTTP(w, r)
			if c, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "ClusterComputeResource", Value: m[1]}).(*simulator.ClusterComputeResource); ok {
				simulator.Map.Update(c, []types.PropertyChange{{Name: "configurationEx", Val: c.ConfigurationEx}})
			}
			return
		}
		if strings.Contains(text, "FindAllByUuid>") {
			// Not in this vcsim: every VM whose BIOS UUID is the one asked.
			var refs strings.Builder
			if m := uuidRe.FindStringSubmatch(text); m != nil {
				for _, e := range simulator.Map.All("VirtualMachine") {
					vm := e.(*simulator.VirtualMachine)
					if vm.Config != nil && strings.EqualFold(vm.Config.Uuid, m[1]) {
						fmt.Fprintf(&refs, `<returnval type="VirtualMachine">%s</returnval>`, vm.Self.Value)
					}
				}
			}
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			fmt.Fprintf(w, envelope, `<FindAllByUuidResponse xmlns="urn:vim25">`+refs.String()+`</FindAllByUuidResponse>`)
			return
		}
		if m := thisRe.FindStringSubmatch(text); m != nil && strings.Contains(text, "ShutdownGuest>") {
			x.mu.Lock()
			mode := x.guest[m[1]]
			x.mu.Unlock()
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			switch mode {
			case "refuse":
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprintf(w, envelope, `<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>VMware Tools is not running.</faultstring><detail><ToolsUnavailableFault xmlns="urn:vim25" xsi:type="ToolsUnavailable"></ToolsUnavailableFault></detail></soapenv:Fault>`)
				return
			case "ignore":
				fmt.Fprintf(w, envelope, `<ShutdownGuestResponse xmlns="urn:vim25"></ShutdownGuestResponse>`)
				return
			}
		}
	}
	x.inner.ServeHTTP(w, r)
}

// Every NIC its own MAC address (this vcsim gives the model's VMs a few
// between them) and its guest an IP address on it, as VMware Tools report
// on a real vCenter: 00:50:56 and 10.N.N.N by the NIC's order.
func uniqueNICs() {
	n := 0
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		var macs []string
		// The model's VMs share their device values: each gets copies.
		devices := append([]types.BaseVirtualDevice(nil), vm.Config.Hardware.Device...)
		for i, d := range devices {
			if _, ok := d.(types.BaseVirtualEthernetCard); ok {
				n++
				copied := reflect.New(reflect.TypeOf(d).Elem())
				copied.Elem().Set(reflect.ValueOf(d).Elem())
				devices[i] = copied.Interface().(types.BaseVirtualDevice)
				card := devices[i].(types.BaseVirtualEthernetCard).GetVirtualEthernetCard()
				card.MacAddress = fmt.Sprintf("00:50:56:%02x:%02x:%02x", n>>16&0xff, n>>8&0xff, n&0xff)
				macs = append(macs, card.MacAddress)
			}
		}
		vm.Config.Hardware.Device = devices
		for i := range vm.Guest.Net {
			if i < len(macs) {
				ip := fmt.Sprintf("10.%d.%d.%d", (n-len(macs)+i+1)>>16&0xff, (n-len(macs)+i+1)>>8&0xff, (n-len(macs)+i+1)&0xff)
				vm.Guest.Net[i].MacAddress = macs[i]
				vm.Guest.Net[i].IpAddress = []string{ip}
				if i == 0 {
					vm.Guest.IpAddress = ip
				}
			}
		}
	}
}

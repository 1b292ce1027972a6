// The vSphere simulator the tests talk to: govmomi's vcsim (Debian's
// golang-github-vmware-govmomi-dev), built offline by tests/vsphere/vcsim.py.
// It serves a vCenter model over HTTPS on 127.0.0.1 and prints one JSON line
// (url, the CA file of its certificate, user, password), then runs until its
// standard input closes. Test code: what the simulator lacks is added here,
// never in mtvd.
package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	vms := flag.Int("vms", 2, "VMs per resource pool and per standalone host")
	clusters := flag.Int("clusters", 1, "clusters per datacenter")
	user := flag.String("user", "mtv@vsphere.local", "the only user that may log in")
	password := flag.String("password", "", "its password")
	flag.Parse()

	model := simulator.VPX()
	model.Machine = *vms
	model.Cluster = *clusters
	if err := model.Create(); err != nil {
		fmt.Fprintln(os.Stderr, "vcsim:", err)
		os.Exit(1)
	}
	defer model.Remove()
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(*user, *password)}
	cert, err := selfSigned()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vcsim:", err)
		os.Exit(1)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	server := model.Service.NewServer()
	defer server.Close()
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

package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TLSFiles are PEM files made for one test: a CA, a server certificate for
// 127.0.0.1 and localhost, and a client certificate, all signed by the CA.
type TLSFiles struct {
	Dir                   string
	CA                    string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
}

// NewTLSFiles makes a CA and certificates in a temp dir (valid one day).
func NewTLSFiles(tb testing.TB) TLSFiles {
	tb.Helper()
	dir := tb.TempDir()
	f := TLSFiles{Dir: dir, CA: filepath.Join(dir, "ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server.key"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client.key")}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redistest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	writePEM(tb, f.CA, "CERTIFICATE", caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, certPath, keyPath string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			tb.Fatal(err)
		}
		writePEM(tb, certPath, "CERTIFICATE", der)
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			tb.Fatal(err)
		}
		writePEM(tb, keyPath, "PRIVATE KEY", kder)
	}
	issue(2, "redistest server", x509.ExtKeyUsageServerAuth, f.ServerCert, f.ServerKey)
	issue(3, "redistest client", x509.ExtKeyUsageClientAuth, f.ClientCert, f.ClientKey)
	return f
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// ClientTLS is a client-side TLS config trusting the CA and presenting the
// client certificate.
func (f TLSFiles) ClientTLS(tb testing.TB) *tls.Config {
	tb.Helper()
	pemCA, err := os.ReadFile(f.CA)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	cert, err := tls.LoadX509KeyPair(f.ClientCert, f.ClientKey)
	if err != nil {
		tb.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// TLSServer is a server that also listens with TLS (client certificates
// required). Its plain port stays open on loopback for the test's own checks
// (Start waits on it); what is under test uses TLSURL.
type TLSServer struct {
	*Server
	TLSPort int
	TLSAddr string
}

// StartTLS starts a server with tls-port, the files' certificates and
// tls-auth-clients yes.
func StartTLS(tb testing.TB, name string, opts Options, files TLSFiles) *TLSServer {
	tb.Helper()
	port, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	o := opts
	o.Args = append(append([]string{}, opts.Args...), "tls-port", strconv.Itoa(port), "tls-cert-file", files.ServerCert,
		"tls-key-file", files.ServerKey, "tls-ca-cert-file", files.CA, "tls-auth-clients", "yes", "tls-replication", "yes")
	s := Start(tb, name, o)
	return &TLSServer{Server: s, TLSPort: port, TLSAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
}

// TLSURL is the rediss:// URL of the TLS port.
func (s *TLSServer) TLSURL() string {
	if s.opts.Password != "" {
		return "rediss://:" + s.opts.Password + "@" + s.TLSAddr
	}
	return "rediss://" + s.TLSAddr
}

// TLSClient connects over TLS with files' client certificate.
func (s *TLSServer) TLSClient(tb testing.TB, files TLSFiles) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.TLSAddr, Password: s.opts.Password, TLSConfig: files.ClientTLS(tb),
		Protocol: 2, MaxRetries: -1, DisableIdentity: true, ReadTimeout: 30 * time.Second})
}

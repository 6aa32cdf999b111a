package sentinel

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestMasterAddrOverTLS: a sentinel that takes TLS clients only (client
// certificates required) is asked over TLS, its certificate checked; asked
// without TLS it does not answer.
func TestMasterAddrOverTLS(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	files := redistest.NewTLSFiles(t)
	master := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("sentinel monitor m 127.0.0.1 %d 1\n", master.Port)), 0o600); err != nil {
		t.Fatal(err)
	}
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	redistest.Start(t, redistest.Redis70, redistest.Options{Dir: dir, ConfigFile: conf, Argv: []string{"--sentinel"},
		Args: []string{"tls-port", strconv.Itoa(port), "tls-cert-file", files.ServerCert, "tls-key-file", files.ServerKey,
			"tls-ca-cert-file", files.CA, "tls-auth-clients", "yes"}})
	tlsAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfg := Config{Addrs: []string{tlsAddr}, MasterName: "m", TLS: files.ClientTLS(t)}
	if addr, err := MasterAddr(ctx, cfg); err != nil || addr != master.Addr {
		t.Errorf("over TLS: %s, %v; want %s", addr, err, master.Addr)
	}
	cfg.TLS = nil
	if addr, err := MasterAddr(ctx, cfg); err == nil {
		t.Errorf("without TLS a TLS port answered %s", addr)
	}
}

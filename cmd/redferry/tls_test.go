package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestSyncOverTLS syncs rediss:// → rediss:// (CA, client certificate)
// between real servers, follows live writes, then verifies over TLS.
func TestSyncOverTLS(t *testing.T) {
	files := redistest.NewTLSFiles(t)
	src := redistest.StartTLS(t, redistest.Redis70, redistest.Options{Password: "tls-src-pw"}, files)
	dst := redistest.StartTLS(t, redistest.Valkey91, redistest.Options{}, files)
	if c := src.TLSClient(t, files); c.Ping(context.Background()).Err() != nil {
		c.Close()
		t.Skipf("%s does not answer TLS here: %s", src.Name, src.LogTail())
	} else {
		c.Close()
	}
	fill(t, src.Server, 300)
	tlsArgs := []string{
		"--source-tls-ca-file", files.CA, "--source-tls-cert-file", files.ClientCert, "--source-tls-key-file", files.ClientKey,
		"--target-tls-ca-file", files.CA, "--target-tls-cert-file", files.ClientCert, "--target-tls-key-file", files.ClientKey,
	}
	d := startDaemon(t, nil, append([]string{"--source", src.TLSURL(), "--target", dst.TLSURL(), "--state-dir", t.TempDir()}, tlsArgs...)...)
	// A write after the snapshot arrives through the TLS replication link.
	sc := src.TLSClient(t, files)
	defer sc.Close()
	if err := sc.Set(context.Background(), "written-live-over-tls", "yes", 0).Err(); err != nil {
		t.Fatal(err)
	}
	dc := dst.TLSClient(t, files)
	defer dc.Close()
	deadline := time.Now().Add(20 * time.Second)
	for dc.Get(context.Background(), "written-live-over-tls").Val() != "yes" {
		if time.Now().After(deadline) {
			t.Fatalf("a live write did not reach the target over TLS:\n%s", d.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.stop(t)
	if strings.Contains(d.out.String(), "tls-src-pw") {
		t.Fatal("the log shows the source password")
	}
	out, code := run(t, time.Minute, append([]string{"verify", "--source", src.TLSURL(), "--target", dst.TLSURL()}, tlsArgs...)...)
	if code != 0 || !strings.Contains(out, "equal") {
		t.Fatalf("verify over TLS exited %d:\n%s", code, out)
	}

	// Without the CA the server's certificate is refused, with a clear error.
	out, code = run(t, time.Minute, "verify", "--source", src.TLSURL(), "--target", dst.TLSURL())
	if code != 2 || !strings.Contains(out, "certificate") {
		t.Fatalf("verify without the CA exited %d (want 2 naming the certificate):\n%s", code, out)
	}
	out, code = run(t, time.Minute, "sync", "--source", src.TLSURL(), "--target", dst.TLSURL(), "--state-dir", t.TempDir(),
		"--once", "--target-tls-ca-file", files.CA, "--target-tls-cert-file", files.ClientCert, "--target-tls-key-file", files.ClientKey)
	if code == 0 || !strings.Contains(out, "certificate") {
		t.Fatalf("sync without the source CA exited %d (want an error naming the certificate):\n%s", code, out)
	}
}

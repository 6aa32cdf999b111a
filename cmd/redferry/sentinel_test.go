package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestSentinelURLs: sync --once, verify, scan and restore take redis+sentinel://
// URLs on either side: the data nodes' password in the URL, the source's
// sentinels' own password as a URL parameter; no password is logged.
func TestSentinelURLs(t *testing.T) {
	t.Parallel()
	src := redistest.StartSentinelSet(t, redistest.Redis70, redistest.Options{Password: "pw-src-data"})
	dst := redistest.StartSentinelSet(t, redistest.Valkey91, redistest.Options{Password: "pw-dst-data"})
	ctx := context.Background()
	// The source's sentinels require a password of their own from now on.
	for _, sn := range src.Sentinels {
		c := sn.Client()
		err := c.Do(ctx, "ACL", "SETUSER", "default", "resetpass", ">pw-sentinel").Err()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	fill(t, src.Nodes[0], 300)
	srcURL := src.URL() + "?sentinel-password=pw-sentinel"
	secrets := []string{"pw-src-data", "pw-dst-data", "pw-sentinel"}
	noSecrets := func(what, out string) {
		t.Helper()
		for _, pw := range secrets {
			if strings.Contains(out, pw) {
				t.Fatalf("%s logs a password:\n%s", what, out)
			}
		}
	}

	out, code := run(t, 2*time.Minute, "sync", "--source", srcURL, "--target", dst.URL(), "--state-dir", t.TempDir(), "--once")
	if code != 0 {
		t.Fatalf("sync --once between sentinel URLs exited %d:\n%s", code, out)
	}
	noSecrets("sync", out)
	out, code = run(t, time.Minute, "verify", "--source", srcURL, "--target", dst.URL())
	if code != 0 || !strings.Contains(out, "equal") {
		t.Fatalf("verify between sentinel URLs exited %d:\n%s", code, out)
	}
	noSecrets("verify", out)

	out, code = run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL())
	if code == 0 || !strings.Contains(out, "sentinel-password") {
		t.Fatalf("verify without the sentinels' password exited %d without saying what to give:\n%s", code, out)
	}

	out, code = run(t, 2*time.Minute, "scan", "--source", srcURL, "--target", dst.URL(), "--flush-target")
	if code != 0 {
		t.Fatalf("scan between sentinel URLs exited %d:\n%s", code, out)
	}
	noSecrets("scan", out)
	out, code = run(t, time.Minute, "verify", "--source", srcURL, "--target", dst.URL())
	if code != 0 || !strings.Contains(out, "equal") {
		t.Fatalf("verify after scan between sentinel URLs exited %d:\n%s", code, out)
	}

	rdb := saveRDB(t, src.Nodes[0])
	out, code = run(t, 2*time.Minute, "restore", "--target", dst.URL(), "--flush-target", rdb)
	if code != 0 {
		t.Fatalf("restore into a sentinel URL exited %d:\n%s", code, out)
	}
	noSecrets("restore", out)
	assertEqual(t, src.Nodes[0], dst.Master(t))
}

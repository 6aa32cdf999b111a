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
	// runClean runs redferry, which must succeed and log no password.
	runClean := func(what string, timeout time.Duration, args ...string) string {
		t.Helper()
		out, code := run(t, timeout, args...)
		if code != 0 {
			t.Fatalf("%s exited %d:\n%s", what, code, out)
		}
		for _, pw := range secrets {
			if strings.Contains(out, pw) {
				t.Fatalf("%s logs a password:\n%s", what, out)
			}
		}
		return out
	}
	// verified: redferry verify between the sentinel URLs finds the two sides equal.
	verified := func(after string) {
		t.Helper()
		if out := runClean("verify after "+after, time.Minute, "verify", "--source", srcURL, "--target", dst.URL()); !strings.Contains(out, "equal") {
			t.Fatalf("verify after %s between sentinel URLs did not find the two sides equal:\n%s", after, out)
		}
	}

	runClean("sync --once between sentinel URLs", 2*time.Minute, "sync", "--source", srcURL, "--target", dst.URL(), "--state-dir", t.TempDir(), "--once")
	verified("sync --once")

	out, code := run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL())
	if code == 0 || !strings.Contains(out, "sentinel-password") {
		t.Fatalf("verify without the sentinels' password exited %d without saying what to give:\n%s", code, out)
	}

	runClean("scan between sentinel URLs", 2*time.Minute, "scan", "--source", srcURL, "--target", dst.URL(), "--flush-target")
	verified("scan")

	rdb := saveRDB(t, src.Nodes[0])
	runClean("restore into a sentinel URL", 2*time.Minute, "restore", "--target", dst.URL(), "--flush-target", rdb)
	assertEqual(t, src.Nodes[0], dst.Master(t))
}

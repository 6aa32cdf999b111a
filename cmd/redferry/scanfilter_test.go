package main

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/status"
)

// TestScanFilterFlags runs `redferry scan --live` with the sync's filter
// flags: source db 1 goes into target db 0, db 0 is left out, and a deny
// list leaves 10 keys out, which /status and /metrics count.
func TestScanFilterFlags(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fillStrings(t, src, 2, 200) // s:<db>:<i> in dbs 0 and 1
	d := startScanDaemon(t, "--source", src.URL(), "--target", dst.URL(), "--live",
		"--filter-dbs", "1", "--db-map", "1:0", "--filter-keys-deny", "regex:^s:1:1[0-9]$")
	r := d.waitFor(t, "the scan to go live", func(r status.Report) bool { return r.Scan.PassPhase == "live" })
	if r.Scan.KeysFiltered != 10 || r.Filtered == nil || r.Filtered.Keys["key"] != 10 {
		t.Errorf("/status: keys_filtered %d, filtered %+v; want 10 left out by key", r.Scan.KeysFiltered, r.Filtered)
	}
	_, metrics := d.get("/metrics")
	if got := metric(t, metrics, `redferry_filtered_keys_total{reason="key"}`); got != 10 {
		t.Errorf("redferry_filtered_keys_total{reason=\"key\"} = %v, want 10", got)
	}
	ctx := context.Background()
	denied := regexp.MustCompile(`^s:1:1[0-9]$`)
	for db, want := range map[int]int{0: 190, 1: 0} {
		c := dst.ClientDB(db)
		keys, err := c.Keys(ctx, "s:*").Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != want {
			t.Errorf("target db %d holds %d keys s:*, want %d", db, len(keys), want)
		}
		for _, k := range keys {
			if !strings.HasPrefix(k, "s:1:") || denied.MatchString(k) {
				t.Errorf("target db %d holds %q: the filter leaves it out", db, k)
			}
		}
	}
}

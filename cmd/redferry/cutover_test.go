package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestCutoverUnderLoad: a sync streams while a workload writes; `redferry
// cutover --pause` says the target is current, and while the pause lasts the
// target equals the source and its offset is the source's.
func TestCutoverUnderLoad(t *testing.T) {
	for _, tc := range []struct{ source, target, mode string }{
		{redistest.Redis70, redistest.Valkey91, "WRITE"},
		{redistest.Redis60, redistest.Redis80, "ALL"},
	} {
		t.Run(tc.source+"_to_"+tc.target, func(t *testing.T) {
			src := redistest.Start(t, tc.source, redistest.Options{})
			dst := redistest.Start(t, tc.target, redistest.Options{})
			fill(t, src, 300)
			d := startDaemon(t, nil, "--source", src.URL(), "--target", dst.URL(), "--state-dir", t.TempDir())
			ctx, cancel := context.WithCancel(context.Background())
			load := writeLoad(ctx, t, src)
			time.Sleep(time.Second)

			out, code := run(t, time.Minute, "status", "--status-addr", d.addr)
			if code != 0 || !strings.Contains(out, "phase:") || !strings.Contains(out, "streaming") || !strings.Contains(out, "offset applied:") {
				t.Fatalf("redferry status exited %d:\n%s\nsync log:\n%s", code, out, d.out.String())
			}

			start := time.Now()
			out, code = run(t, time.Minute, "cutover", "--status-addr", d.addr, "--pause", "4s", "--timeout", "30s")
			if code != 0 {
				t.Fatalf("cutover exited %d:\n%s\nsync log:\n%s", code, out, d.out.String())
			}
			m := regexp.MustCompile(`target is current at offset (\d+); switch clients now`).FindStringSubmatch(out)
			if m == nil || !strings.Contains(out, "paused ("+tc.mode+")") {
				t.Fatalf("cutover output lacks the offset line or the pause mode %s:\n%s", tc.mode, out)
			}
			if tc.mode == "ALL" && !strings.Contains(out, "note:") {
				t.Fatalf("a 6.0 cutover does not say readers are paused too:\n%s", out)
			}
			t.Logf("cutover took %s:\n%s", time.Since(start), out)
			offset, _ := strconv.ParseInt(m[1], 10, 64)

			// While paused: the target holds exactly the source's data.
			if tc.mode == "WRITE" {
				if srcOff := src.InfoField(t, "replication", "master_repl_offset"); srcOff != m[1] {
					t.Fatalf("source offset %s during the pause, cutover said %d", srcOff, offset)
				}
				vout, vcode := run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL())
				if vcode != 0 {
					t.Fatalf("verify during the cutover pause exited %d:\n%s", vcode, vout)
				}
			}
			code2, metrics := d.get("/metrics")
			if code2 != 200 || !strings.Contains(metrics, "redferry_offset_applied ") || !strings.Contains(metrics, `redferry_commands_applied_total{command=`) {
				t.Fatalf("/metrics: %d\n%.2000s", code2, metrics)
			}
			if _, st := d.get("/status"); !strings.Contains(st, `"offset_applied": `) {
				t.Fatalf("/status: %s", st)
			}
			cancel()
			if err := <-load; err != nil {
				t.Fatal(err)
			}
			d.stop(t)
		})
	}
}

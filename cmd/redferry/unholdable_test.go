package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/status"
)

// TestSyncUnholdableSettings: from Redis 8.0 into Redis 6.0 (no functions,
// no hash field TTLs, no vector sets) the sync stops by default, naming
// the setting; with on-unholdable-functions = skip, -field-ttl = convert and
// -module = skip it syncs the snapshot and the stream, counts each skip and
// conversion in /status and /metrics and logs them, and verify with the same
// settings exits 0 listing the expected differences (1 without them).
func TestSyncUnholdableSettings(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Redis80, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis60, redistest.Options{})
	sc := src.Client()
	defer sc.Close()
	hour := time.Now().Add(time.Hour).UnixMilli()
	for _, cmd := range [][]any{
		{"FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('f', function() return 1 end)"},
		{"HSET", "hf", "a", "1", "b", "2"}, {"HPEXPIREAT", "hf", hour, "FIELDS", 1, "a"},
		{"VADD", "vs", "VALUES", 2, 1, 2, "e"}, {"SET", "plain", "x"},
	} {
		if err := sc.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}

	out, code := run(t, time.Minute, "sync", "--source", src.URL(), "--target", dst.URL(), "--state-dir", t.TempDir(), "--once")
	if code == 0 || !strings.Contains(out, "on-unholdable-functions") || !strings.Contains(out, `function library \"lib\"`) {
		t.Fatalf("default: exit %d, want a stop naming the library and on-unholdable-functions:\n%s", code, out)
	}

	settings := []string{"--on-unholdable-functions", "skip", "--on-unholdable-field-ttl", "convert", "--on-unholdable-module", "skip"}
	d := startDaemon(t, nil, append([]string{"--source", src.URL(), "--target", dst.URL(), "--state-dir", t.TempDir(),
		"--flush-target"}, settings...)...)
	// The stream: one more of each.
	for _, cmd := range [][]any{
		{"FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('g', function() return 2 end)"},
		{"HSET", "h2", "x", "1"}, {"HPEXPIRE", "h2", 100000, "FIELDS", 1, "x"},
		{"VADD", "vs2", "VALUES", 2, 3, 4, "e"}, {"SET", "done", "1"},
	} {
		if err := sc.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	dc := dst.Client()
	defer dc.Close()
	deadline := time.Now().Add(30 * time.Second)
	for dc.Get(ctx, "done").Val() != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("the stream never arrived:\n%s", d.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h := dc.HGetAll(ctx, "hf").Val(); h["a"] != "1" || h["b"] != "2" || dc.HGet(ctx, "h2", "x").Val() != "1" ||
		dc.Exists(ctx, "vs", "vs2").Val() != 0 || dc.Get(ctx, "plain").Val() != "x" {
		t.Errorf("target: hf %v, h2 x %q, vector sets %d, plain %q", h, dc.HGet(ctx, "h2", "x").Val(),
			dc.Exists(ctx, "vs", "vs2").Val(), dc.Get(ctx, "plain").Val())
	}

	_, body := d.get("/status")
	var rep status.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatalf("/status: %v: %s", err, body)
	}
	u := rep.Unholdable
	if u["functions"]["skip"] != 2 || u["field-ttl"]["convert"] != 2 || u["module"]["skip"] < 2 || u["field-ttl"]["skip"] != 0 {
		t.Errorf("/status unholdable = %v: want functions skip 2 (snapshot, stream), field-ttl convert 2, module skip >= 2", u)
	}
	out, code = runEnv(t, nil, "status", "--status-addr", d.addr)
	if code != 0 || !strings.Contains(out, "functions skipped 2, field-ttl converted 2, module skipped") {
		t.Errorf("redferry status: exit %d, want the skips and conversions:\n%s", code, out)
	}
	_, metrics := d.get("/metrics")
	for _, want := range []string{`redferry_unholdable_total{action="skip",kind="functions"} 2`,
		`redferry_unholdable_total{action="convert",kind="field-ttl"} 2`, `redferry_unholdable_total{action="skip",kind="idmp"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if log := d.out.String(); !strings.Contains(log, "data the target cannot hold") || !strings.Contains(log, `"key":"hf"`) {
		t.Errorf("the log does not report the conversion of hf:\n%s", log)
	}

	out, code = run(t, time.Minute, append([]string{"verify", "--source", src.URL(), "--target", dst.URL()}, settings...)...)
	if code != 0 || !strings.Contains(out, "expected differences") || !strings.Contains(out, `"lib2"`) ||
		!strings.Contains(out, "on-unholdable-field-ttl = convert") || !strings.Contains(out, `"vs2"`) {
		t.Errorf("verify with the settings: exit %d, want 0 listing the expected differences:\n%s", code, out)
	}
	t.Logf("verify with the settings:\n%s", out)
	out, code = run(t, time.Minute, "verify", "--source", src.URL(), "--target", dst.URL())
	if code != 1 {
		t.Errorf("verify without the settings: exit %d, want 1:\n%s", code, out)
	}
	d.stop(t)
}

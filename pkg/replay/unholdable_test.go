package replay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/replay"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/pkg/verify"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// TestSnapshotUnholdable: a snapshot holding what the target cannot hold
// (functions, hash field TTLs and a vector set into Redis 6.0; a Redis 8.6
// stream's idempotent ids into Valkey 9.1) stops by default with an error
// naming the key and the setting; with the on-unholdable-* settings at
// skip or convert it loads, counting what was skipped or converted, the
// target holds what the action says, and verify with the same settings
// finds only expected differences.
func TestSnapshotUnholdable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hour := time.Now().Add(time.Hour).UnixMilli()

	type check func(t *testing.T, dst *redistest.Server)
	cases := []struct {
		name, source, target string
		fill                 [][]any
		stopsAt              unholdable.Kind // the first kind the default stops on
		stopKey              string          // the key the stop names ("": none)
		policies             []unholdable.Policy
		checks               []check // per policy
	}{{
		name: "functions, field TTLs, vector set", source: redistest.Redis80, target: redistest.Redis60,
		fill: [][]any{
			{"FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('f', function(k, a) return 1 end)"},
			{"HSET", "hf", "a", "1", "b", "2"}, {"HPEXPIREAT", "hf", hour, "FIELDS", 1, "a"},
			{"HSET", "hall", "x", "1"}, {"HPEXPIREAT", "hall", hour, "FIELDS", 1, "x"},
			{"VADD", "vs", "VALUES", 2, 1, 2, "e"}, {"SET", "plain", "x"},
		},
		stopsAt: unholdable.Functions,
		policies: []unholdable.Policy{
			{Functions: unholdable.Skip, FieldTTL: unholdable.Convert, Module: unholdable.Skip},
			{Functions: unholdable.Skip, FieldTTL: unholdable.Skip, Module: unholdable.Skip},
		},
		checks: []check{
			func(t *testing.T, dst *redistest.Server) {
				c := dst.Client()
				defer c.Close()
				if h := c.HGetAll(ctx, "hf").Val(); h["a"] != "1" || h["b"] != "2" || c.HGet(ctx, "hall", "x").Val() != "1" {
					t.Errorf("convert: hf = %v, hall x = %q: want the fields kept", h, c.HGet(ctx, "hall", "x").Val())
				}
			},
			func(t *testing.T, dst *redistest.Server) {
				c := dst.Client()
				defer c.Close()
				if h := c.HGetAll(ctx, "hf").Val(); len(h) != 1 || h["b"] != "2" || c.Exists(ctx, "hall").Val() != 0 {
					t.Errorf("skip: hf = %v, hall exists %d: want the fields with a TTL left out", h, c.Exists(ctx, "hall").Val())
				}
			},
		},
	}, {
		name: "stream idempotent ids", source: redistest.Redis86, target: redistest.Valkey91,
		fill: [][]any{
			{"XADD", "s", "1-1", "a", "1"}, {"XADD", "s", "IDMP", "p", "i1", "*", "f", "v"},
			{"XADD", "s", "IDMP", "p", "i2", "*", "f", "w"}, {"SET", "plain", "x"},
		},
		stopsAt: unholdable.IDMP, stopKey: "s",
		policies: []unholdable.Policy{{IDMP: unholdable.Convert}, {IDMP: unholdable.Skip}},
		checks: []check{
			func(t *testing.T, dst *redistest.Server) {
				c := dst.Client()
				defer c.Close()
				if n := c.XLen(ctx, "s").Val(); n != 3 {
					t.Errorf("convert: XLEN s = %d, want 3 (the entries kept)", n)
				}
			},
			func(t *testing.T, dst *redistest.Server) {
				c := dst.Client()
				defer c.Close()
				if es := c.XRange(ctx, "s", "-", "+").Val(); len(es) != 1 || es[0].ID != "1-1" {
					t.Errorf("skip: stream s = %v, want only 1-1 (the entries added with IDMP left out)", es)
				}
			},
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := redistest.Start(t, tc.source, redistest.Options{})
			sc := src.Client()
			defer sc.Close()
			for _, cmd := range tc.fill {
				if err := sc.Do(ctx, cmd...).Err(); err != nil {
					t.Fatalf("%v: %v", cmd, err)
				}
			}
			data := dumpRDB(t, src)
			dst := redistest.Start(t, tc.target, redistest.Options{})

			err := loadErr(t, data, dst, replay.SnapshotOptions{})
			if !errors.Is(err, transform.ErrUnsupported) || !strings.Contains(err.Error(), tc.stopsAt.Setting()) ||
				!strings.Contains(err.Error(), "offset") || tc.stopKey != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.stopKey)) {
				t.Fatalf("default: %v; want a stop naming %s, the offset and key %q", err, tc.stopsAt.Setting(), tc.stopKey)
			}
			t.Logf("default: %v", err)

			for i, p := range tc.policies {
				dc := dst.Client()
				must(t, dc.FlushAll(ctx).Err())
				dc.Close()
				rec := unholdable.NewRecorder(nil, nil)
				loadInto(t, data, dst, replay.SnapshotOptions{Unholdable: transform.Unholdable{Policy: p, Recorder: rec}})
				var counted int64
				for _, k := range unholdable.Kinds {
					if a := p.Action(k); a != unholdable.Stop {
						counted += rec.Count(k, a)
					}
				}
				if counted == 0 {
					t.Errorf("%+v: nothing counted", p)
				}
				tc.checks[i](t, dst)
				dc = dst.Client()
				if v := dc.Get(ctx, "plain").Val(); v != "x" {
					t.Errorf("%+v: plain = %q", p, v)
				}
				dc.Close()
				rep, err := verify.Compare(ctx, src.Client(), dst.Client(), verify.Options{Unholdable: p})
				if err != nil {
					t.Fatal(err)
				}
				if !rep.Equal() || rep.ExpectedCount == 0 {
					t.Errorf("%+v: verify finds %v, expected %v: want only expected differences", p, rep.Diffs, rep.Expected)
				}
				t.Logf("%+v: %d counted; verify expects %v", p, counted, rep.Expected)
			}
		})
	}
}

// loadErr replays the snapshot into target and returns the error.
func loadErr(t *testing.T, data []byte, target *redistest.Server, opt replay.SnapshotOptions) error {
	t.Helper()
	ctx := context.Background()
	st, err := sink.NewStandalone(ctx, sink.Config{Addr: target.Addr})
	must(t, err)
	defer st.Close()
	opt.ProbeRestore, opt.BatchCommands, opt.BatchBytes = st.ProbeRestore, 100, 1<<20
	noFlush := func(context.Context, *sink.Batch, int64, int) error { return nil }
	_, err = replay.Snapshot(ctx, bytes.NewReader(data), st.Server(), opt, &sink.Batch{}, noFlush, nil)
	return err
}

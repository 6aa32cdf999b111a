package verify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/verify"
)

// Vector sets (Redis 8.0: VRANDMEMBER lists the elements; 8.6: VRANGE
// pages them) and the idempotent-add state of streams (8.6).
func TestCompareVectorSetsAndIDMP(t *testing.T) {
	seed := [][]any{
		{"VADD", "vs", "VALUES", "3", "1", "0", "0", "e1", "SETATTR", `{"a":1}`},
		{"VADD", "vs", "VALUES", "3", "0", "1", "0", "e2"},
	}
	// XADD IDMP takes only auto-generated ids, which differ between two
	// servers: the settings stand for the state.
	idmpSeed := [][]any{{"XADD", "st", "1-1", "f", "v"}, {"XCFGSET", "st", "IDMP-MAXSIZE", "5"}}
	cases := []struct {
		name     string
		mutate   [][]any // run on the target
		key      string
		kind     string
		needIDMP bool
	}{
		{name: "identical"},
		{name: "vector", mutate: [][]any{{"VADD", "vs", "VALUES", "3", "0", "0", "1", "e1"}}, key: "vs", kind: verify.KindValue},
		{name: "attributes", mutate: [][]any{{"VSETATTR", "vs", "e2", `{"b":2}`}}, key: "vs", kind: verify.KindValue},
		{name: "element", mutate: [][]any{{"VREM", "vs", "e2"}, {"VADD", "vs", "VALUES", "3", "0", "1", "0", "e3"}}, key: "vs", kind: verify.KindValue},
		{name: "idmp settings", mutate: [][]any{{"XCFGSET", "st", "IDMP-MAXSIZE", "7"}}, key: "st", kind: verify.KindStreamMeta, needIDMP: true},
	}
	for _, server := range []string{redistest.Redis80, redistest.Redis86} {
		t.Run(server, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			src, dst := redistest.Start(t, server, redistest.Options{}), redistest.Start(t, server, redistest.Options{})
			sc, dc := src.Client(), dst.Client()
			defer sc.Close()
			defer dc.Close()
			hasIDMP := server == redistest.Redis86
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					if tc.needIDMP && !hasIDMP {
						t.Skip("no IDMP before Redis 8.6")
					}
					for name, c := range map[string]*redis.Client{"source": sc, "target": dc} {
						if err := c.FlushAll(ctx).Err(); err != nil {
							t.Fatal(err)
						}
						cmds := seed
						if hasIDMP {
							cmds = append(cmds[:len(cmds):len(cmds)], idmpSeed...)
						}
						for _, cmd := range cmds {
							if err := c.Do(ctx, cmd...).Err(); err != nil {
								t.Fatalf("%s %v: %v", name, cmd, err)
							}
						}
					}
					for _, cmd := range tc.mutate {
						if err := dc.Do(ctx, cmd...).Err(); err != nil {
							t.Fatalf("mutate %v: %v", cmd, err)
						}
					}
					rep, err := verify.Compare(ctx, sc, dc, verify.Options{BatchSize: 1})
					if err != nil {
						t.Fatal(err)
					}
					if tc.kind == "" {
						if !rep.Equal() {
							t.Fatalf("want equal, got %v", rep.Diffs)
						}
						return
					}
					if len(rep.Diffs) != 1 || rep.Diffs[0].Kind != tc.kind || rep.Diffs[0].Key != tc.key {
						t.Fatalf("want one %s diff on %q, got %v", tc.kind, tc.key, rep.Diffs)
					}
					if strings.TrimSpace(rep.Diffs[0].Detail) == "" {
						t.Fatal("the diff says nothing")
					}
					t.Logf("%v", rep.Diffs[0])
				})
			}
		})
	}
}

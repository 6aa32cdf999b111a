package clustersource

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/syncer"
)

// TestImportRecordsInTarget: the key migration records written into a
// standalone or a cluster target (one hash per slot, in the key's slot, or
// the one hash of older releases) are all read back, in a cluster also the one whose slot is migrating (ASK) or
// has just moved (MOVED), and all removed once forgotten.
func TestImportRecordsInTarget(t *testing.T) {
	const base = "redferry:checkpoint:rec"
	for _, kind := range []string{"standalone", "cluster"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			var cmd interface {
				Do(ctx context.Context, args ...any) *redis.Cmd
			}
			var addr string
			var dst *redistest.Cluster
			if kind == "cluster" {
				dst = redistest.StartClusterWithReplicas(t, redistest.Valkey91, 3, 0, fast)
				cc := dst.Client()
				defer cc.Close()
				cmd, addr = cc, dst.Masters[0].Addr
			} else {
				s := redistest.Start(t, redistest.Redis70, redistest.Options{})
				c := s.Client()
				defer c.Close()
				cmd, addr = c, s.Addr
			}
			m := newMigrations(zap.NewNop(), base, linkHooks{})
			ts := newTargetSide(syncer.Options{Target: server.ClientOptions{Addr: addr}, CheckpointKey: base, TargetName: kind})
			defer ts.close()
			want := map[importKey]string{}
			for i := range 40 {
				k := importKey{0, fmt.Sprintf("key:%d", i)}
				want[k] = []string{"A", "B"}[i%2]
				args := m.recordCommand(k.db, []byte(k.key), want[k])
				if err := cmd.Do(ctx, toAny(args)...).Err(); err != nil {
					t.Fatal(err)
				}
			}
			// Records of releases before the hash per slot, in one hash.
			for i := range 6 {
				k := importKey{0, fmt.Sprintf("legacy:%d", i)}
				want[k] = "C"
				if err := cmd.Do(ctx, "HSET", importsPrefix(base), recordField(k.db, []byte(k.key)), "C").Err(); err != nil {
					t.Fatal(err)
				}
			}
			check := func(what string) {
				t.Helper()
				got, err := ts.loadImports(ctx, m.tags)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if len(got) != len(want) {
					t.Fatalf("%s: read back %d records, want %d", what, len(got), len(want))
				}
				for k, s := range want {
					if got[k] != s {
						t.Fatalf("%s: the record of %v says %q, want %q", what, k, got[k], s)
					}
				}
			}
			check("at rest")
			if dst != nil {
				// The hash of key:7's slot moves to another master: first
				// only the hash (the slot migrating: ASK), then the slot.
				hash := importsKeyFor(base, m.tags, []byte("key:7"))
				slot := server.KeySlot(hash)
				from := dst.Owner(t, slot)
				to := (from + 1) % 3
				src, dstM := dst.Masters[from], dst.Masters[to]
				do := func(s *redistest.Server, args ...any) {
					t.Helper()
					c := s.Client()
					defer c.Close()
					if err := c.Do(ctx, args...).Err(); err != nil {
						t.Fatalf("%v on %s: %v", args, s.Addr, err)
					}
				}
				do(dstM, "CLUSTER", "SETSLOT", slot, "IMPORTING", redistest.NodeID(t, src))
				do(src, "CLUSTER", "SETSLOT", slot, "MIGRATING", redistest.NodeID(t, dstM))
				do(src, "MIGRATE", "127.0.0.1", dstM.Port, "", 0, 5000, "KEYS", hash)
				check("while its slot migrates")
				for _, s := range dst.Masters {
					do(s, "CLUSTER", "SETSLOT", slot, "NODE", redistest.NodeID(t, dstM))
				}
				// As read by a start that saw the old owner.
				hs, err := ts.readHashes(ctx, src.Addr, 0, []string{hash})
				if err != nil || hs[0][recordField(0, []byte("key:7"))] != want[importKey{0, "key:7"}] {
					t.Fatalf("reading the moved hash at its old master: %v, %v", hs, err)
				}
				check("after its slot moved")
			}
			var all []importKey
			for k := range want {
				all = append(all, k)
			}
			if err := ts.forgetImports(ctx, all, m.tags); err != nil {
				t.Fatal(err)
			}
			got, err := ts.loadImports(ctx, m.tags)
			if err != nil || len(got) != 0 {
				t.Fatalf("after forgetting every record: %d left (%v)", len(got), err)
			}
			if n, err := cmd.Do(ctx, "EXISTS", importsPrefix(base)).Int(); err != nil || n != 0 {
				t.Fatalf("the hash of older releases is still there (%d, %v)", n, err)
			}
		})
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

package sink

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/server"
)

// lowerTarget is a target kind for TestLowerStreamPositions.
type lowerTarget struct {
	name string
	open func(t *testing.T, key string) Writer
	// get reads a data key of the target ("" when it does not exist).
	get func(ctx context.Context, key string) string
	// positions reads every position w's checkpoint key records: the key
	// itself, or the marks of every slot.
	positions func(t *testing.T, w Writer) map[string][]byte
	// lowered checks that after is before lowered to fork: every stream
	// offset past fork at fork, all else as it was.
	lowered func(t *testing.T, key string, before, after []byte, fork int64)
	// pastFork: before records a stream offset at or past off.
	pastFork func(t *testing.T, before []byte, off int64) bool
}

// TestLowerStreamPositions: a batch holding data before a fork F of the
// source's history and a PING past it commits positions past F. Lowered
// to F, they let the new master's write at an offset in (F, old position]
// land (a cluster's marks skipped it as applied), and a restart resumes
// at F. Positions at or below F, snapshot positions and another sync's
// (a cluster source's other shard) are untouched; lowering twice changes
// nothing more.
func TestLowerStreamPositions(t *testing.T) {
	t.Parallel()
	for _, tc := range []func(t *testing.T) lowerTarget{standaloneLowerTarget, clusterLowerTarget} {
		target := tc(t)
		t.Run(target.name, func(t *testing.T) {
			lowerStreamPositions(t, target)
		})
	}
}

func lowerStreamPositions(t *testing.T, tg lowerTarget) {
	const (
		fork = int64(10_000)
		key  = "redferry:checkpoint:lower"
	)
	ctx := ctx(t)
	apply := func(w Writer, b *Batch) {
		t.Helper()
		if err := w.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	w := tg.open(t, key)
	// Applied up to below the fork, in a slot of its own.
	b := &Batch{Checkpoint: streamCP(fork - 100)}
	b.AddStrings(fork-100, "SET", "below", "b")
	apply(w, b)
	// The batch with data before the fork and a PING past it.
	b = &Batch{Checkpoint: streamCP(fork + 30)}
	b.AddStrings(fork-10, "SET", "k", "old")
	b.AddStrings(fork+30, "PING")
	apply(w, b)
	// Another shard's sync into the same target, past the fork too; and a
	// sync in its snapshot, whose positions are keys of the snapshot.
	other := tg.open(t, key+":other")
	b = &Batch{Checkpoint: streamCP(fork + 30)}
	b.AddStrings(fork-10, "SET", "other", "o")
	b.AddStrings(fork+30, "PING")
	apply(other, b)
	snap := tg.open(t, key+":snap")
	b = &Batch{Checkpoint: checkpoint.State{ReplID: testReplID, Offset: fork + 500, Phase: checkpoint.PhaseSnapshotReplay,
		SnapshotPos: fork + 901, UpdatedAt: time.Now()}.Marshal()}
	b.AddStrings(fork+900, "SET", "snap", "s")
	apply(snap, b)
	if c, ok := w.(*Cluster); ok {
		// A broadcast's mark past the fork, claiming slots of its master.
		slot := c.topo.firstSlot(0) + 1
		claim := fmt.Sprintf("%d-%d", slot+1, slot+50)
		v := appendMark(nil, &mark{Upto: position{Streaming: true, Off: fork + 20}, Slots: claim, Nonce: 1 << 40})
		if err := c.writeMark(ctx, c.markKey(slot), v); err != nil {
			t.Fatal(err)
		}
	}

	before, otherBefore, snapBefore := tg.positions(t, w), tg.positions(t, other), tg.positions(t, snap)
	past := 0
	for _, v := range before {
		if tg.pastFork(t, v, fork+20) {
			past++
		}
	}
	if past == 0 {
		t.Fatalf("no position covers offset %d before lowering: the test tests nothing (%q)", fork+20, before)
	}
	if err := w.LowerStreamPositions(ctx, fork); err != nil {
		t.Fatalf("LowerStreamPositions(%d): %v", fork, err)
	}
	after := tg.positions(t, w)
	if !reflect.DeepEqual(slicesKeys(after), slicesKeys(before)) {
		t.Fatalf("the positions recorded changed from %q to %q, want the same keys", slicesKeys(before), slicesKeys(after))
	}
	for k, v := range before {
		tg.lowered(t, k, v, after[k], fork)
	}
	if err := w.LowerStreamPositions(ctx, fork); err != nil {
		t.Fatalf("LowerStreamPositions(%d) again: %v", fork, err)
	}
	if again := tg.positions(t, w); !reflect.DeepEqual(again, after) {
		t.Errorf("lowering again rewrote positions: %q, then %q", after, again)
	}
	if got := tg.positions(t, other); !reflect.DeepEqual(got, otherBefore) {
		t.Errorf("another sync's positions changed: %q, want %q", got, otherBefore)
	}
	if got := tg.positions(t, snap); !reflect.DeepEqual(got, snapBefore) {
		t.Errorf("snapshot positions changed: %q, want %q", got, snapBefore)
	}

	// A restart resumes at the fork, and the new master's first write, at
	// an offset the old positions covered, lands.
	restarted := tg.open(t, key)
	cp, err := restarted.LoadCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := checkpoint.Unmarshal(cp); err != nil || st.Offset != fork || st.Phase != checkpoint.PhaseStreaming {
		t.Errorf("the checkpoint to resume from = %+v (%v), want stream offset %d (the fork)", st, err, fork)
	}
	b = &Batch{Checkpoint: streamCP(fork + 20)}
	b.AddStrings(fork+20, "SET", "k", "new")
	apply(restarted, b)
	for k, want := range map[string]string{"k": "new", "below": "b", "other": "o", "snap": "s"} {
		if got := tg.get(ctx, k); got != want {
			t.Errorf("after the restart GET %s = %q, want %q", k, got, want)
		}
	}
}

func standaloneLowerTarget(t *testing.T) lowerTarget {
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	c := srv.Client()
	t.Cleanup(func() { c.Close() })
	return lowerTarget{
		name: "standalone",
		open: func(t *testing.T, key string) Writer { return newSink(t, srv, Config{CheckpointKey: key}) },
		get: func(ctx context.Context, key string) string {
			v, _ := c.Get(ctx, key).Result()
			return v
		},
		positions: func(t *testing.T, w Writer) map[string][]byte {
			s := w.(*Standalone)
			v, err := c.Get(context.Background(), s.cfg.CheckpointKey).Bytes()
			if err != nil {
				t.Fatalf("GET %s: %v", s.cfg.CheckpointKey, err)
			}
			return map[string][]byte{s.cfg.CheckpointKey: v}
		},
		lowered: func(t *testing.T, key string, before, after []byte, fork int64) {
			t.Helper()
			checkStateLowered(t, key, before, after, fork)
		},
		pastFork: func(t *testing.T, before []byte, off int64) bool {
			_, o, _, err := checkpoint.Position(before)
			return err == nil && o >= off
		},
	}
}

func clusterLowerTarget(t *testing.T) lowerTarget {
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	cc := cl.Client()
	t.Cleanup(func() { cc.Close() })
	return lowerTarget{
		name: "cluster",
		open: func(t *testing.T, key string) Writer { return openCluster(t, cl, Config{CheckpointKey: key}) },
		get: func(ctx context.Context, key string) string {
			v, _ := cc.Get(ctx, key).Result()
			return v
		},
		positions: func(t *testing.T, w Writer) map[string][]byte {
			c := w.(*Cluster)
			c.mu.Lock()
			defer c.mu.Unlock()
			out := map[string][]byte{}
			for mi, addr := range c.topo.masters {
				var keys []string
				for s := range server.SlotCount {
					if c.topo.ownerOf(s) == mi {
						keys = append(keys, c.markKey(s))
					}
				}
				vals, err := c.getMany(context.Background(), addr, keys)
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					if v != nil {
						out[keys[i]] = v
					}
				}
			}
			return out
		},
		lowered: func(t *testing.T, key string, before, after []byte, fork int64) {
			t.Helper()
			mb, err := decodeMark(before)
			if err != nil {
				t.Fatal(err)
			}
			ma, err := decodeMark(after)
			if err != nil {
				t.Fatalf("the mark %s after lowering: %v", key, err)
			}
			if !streamPast(mb.Upto, fork) && !streamPast(doneAt(t, mb.Done), fork) {
				if !bytes.Equal(before, after) {
					t.Errorf("the mark %s at or below the fork changed: %q, then %q", key, before, after)
				}
				return
			}
			want := mb.Upto
			if want.Streaming && want.Off > fork {
				want.Off = fork
			}
			if ma.Upto != want || ma.Slots != mb.Slots || ma.Sent != mb.Sent {
				t.Errorf("the mark %s lowered to %+v (slots %q), want upto %+v (slots %q)", key, ma.Upto, ma.Slots, want, mb.Slots)
			}
			if (mb.Done == nil) != (ma.Done == nil) {
				t.Fatalf("the mark %s: done %q, then %q", key, mb.Done, ma.Done)
			}
			if mb.Done != nil {
				checkStateLowered(t, key+" (done)", mb.Done, ma.Done, fork)
			}
		},
		pastFork: func(t *testing.T, before []byte, off int64) bool {
			mk, err := decodeMark(before)
			if err != nil {
				t.Fatal(err)
			}
			return mk.Upto.Streaming && mk.Upto.Off >= off
		},
	}
}

// checkStateLowered checks that after is the encoded checkpoint.State
// before with its stream offset lowered to fork, when it was past it.
func checkStateLowered(t *testing.T, name string, before, after []byte, fork int64) {
	t.Helper()
	sb, err := checkpoint.Unmarshal(before)
	if err != nil {
		t.Fatalf("%s before: %v", name, err)
	}
	sa, err := checkpoint.Unmarshal(after)
	if err != nil {
		t.Fatalf("%s after lowering: %v", name, err)
	}
	want := sb
	if want.Phase == checkpoint.PhaseStreaming && want.Offset > fork {
		want.Offset = fork
	} else if !bytes.Equal(before, after) {
		t.Errorf("%s at or below the fork changed: %s, then %s", name, before, after)
	}
	if !sa.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("%s: time %v, want %v", name, sa.UpdatedAt, want.UpdatedAt)
	}
	sa.UpdatedAt = want.UpdatedAt
	if !reflect.DeepEqual(sa, want) {
		t.Errorf("%s lowered to %+v, want %+v", name, sa, want)
	}
}

func slicesKeys(m map[string][]byte) []string { return slices.Sorted(maps.Keys(m)) }

func streamPast(p position, fork int64) bool { return p.Streaming && p.Off > fork }

// doneAt is the position of a mark's Done; the zero position for none.
func doneAt(t *testing.T, done []byte) position {
	t.Helper()
	if done == nil {
		return position{}
	}
	p, err := positionOf(done)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

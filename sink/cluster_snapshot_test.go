package sink

import (
	"context"
	"errors"
	"math/rand"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
)

func snapCP(pos int64) []byte {
	return checkpoint.State{ReplID: testReplID, Phase: checkpoint.PhaseSnapshotReplay, SnapshotPos: pos, UpdatedAt: time.Now()}.Marshal()
}

// snapshotKeys is a snapshot of lists written with RPUSH (applied twice, a
// list shows it), one of them big enough to span batches.
type snapshotKeys struct{ n, big int }

func (s snapshotKeys) name(i int) string { return "snap:" + strconv.Itoa(i) }
func (s snapshotKeys) pos(i int) int64   { return int64(i+1) * 10 }

// commands returns key i's commands.
func (s snapshotKeys) commands(i int) [][]string {
	parts := 2
	if i == s.big {
		parts = 60
	}
	var out [][]string
	for p := range parts {
		out = append(out, []string{"RPUSH", s.name(i), "e" + strconv.Itoa(2*p), "e" + strconv.Itoa(2*p+1)})
	}
	return out
}

// TestClusterSnapshotRestarts applies a snapshot into a cluster and
// interrupts it again and again at random moments (the sink's context
// cancelled mid-batch, as when redferry is killed), each time resuming
// like a restart from what the marks say, with random batch boundaries.
// The lists must end exactly as written: nothing lost, nothing twice.
func TestClusterSnapshotRestarts(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	snap := snapshotKeys{n: 8000, big: 4000}
	r := rand.New(rand.NewSource(3))
	restarts, afterIntent := 0, 0
	for run := 0; ; run++ {
		if run > 400 {
			t.Fatalf("the snapshot did not complete in %d runs", run)
		}
		c := openCluster(t, cl, Config{CheckpointKey: "redferry:checkpoint:s"})
		base := ctx(t)
		cp, err := c.LoadCheckpoint(base)
		if err != nil {
			t.Fatal(err)
		}
		from := snap.pos(0)
		if cp != nil {
			p, err := positionOf(cp)
			if err != nil {
				t.Fatal(err)
			}
			if p.Streaming {
				c.Close()
				break
			}
			from = p.Off
			restarts++
			if c.marks != nil && c.marks.sent >= from {
				afterIntent++
			}
		}
		actx, cancel := context.WithTimeout(base, time.Duration(1+r.Intn(12))*time.Millisecond)
		if run > 300 {
			cancel() // enough interruptions: finish
			actx = base
		}
		err = applySnapshot(actx, c, snap, from, r)
		interrupted := actx.Err() != nil
		cancel()
		c.Close()
		if err != nil && !interrupted {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	t.Logf("%d restarts, %d of them after keys were sent without a mark", restarts, afterIntent)
	client := cl.Client()
	defer client.Close()
	for i := range snap.n {
		var want []string
		for _, cmd := range snap.commands(i) {
			want = append(want, cmd[2:]...)
		}
		got, err := client.LRange(context.Background(), snap.name(i), 0, -1).Result()
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("LRANGE %s = %q, %v; want %q (each element once)", snap.name(i), got, err, want)
		}
	}
	if afterIntent == 0 {
		t.Log("no restart landed after keys were sent without a mark this time")
	}
}

// applySnapshot applies the snapshot from position from in batches of
// random sizes, then a first stream checkpoint.
func applySnapshot(ctx context.Context, c *Cluster, snap snapshotKeys, from int64, r *rand.Rand) error {
	b := &Batch{}
	size := 20 + r.Intn(300)
	for i := range snap.n {
		if snap.pos(i) < from {
			continue
		}
		cmds := snap.commands(i)
		for j, cmd := range cmds {
			b.AddStrings(snap.pos(i), cmd...)
			if b.Len() < size {
				continue
			}
			next := snap.pos(i) // the key not complete
			if j == len(cmds)-1 {
				next = snap.pos(i + 1)
			}
			b.Checkpoint = snapCP(next)
			if err := c.Apply(ctx, b); err != nil {
				return err
			}
			b.Reset()
			size = 20 + r.Intn(300)
		}
	}
	b.Checkpoint = snapCP(snap.pos(snap.n))
	if err := c.Apply(ctx, b); err != nil {
		return err
	}
	b.Reset()
	b.Checkpoint = streamCP(1)
	return c.Apply(ctx, b)
}

// TestClusterSnapshotRejected: a command the target refuses in a snapshot
// batch is dealt with as in a transaction: at queue time (wrong number of
// arguments) it stops the batch unapplied (its checkpoint not written), or
// with on-target-error = log it is skipped and the rest of its key is
// written; inside EXEC (WRONGTYPE) the batch is applied and the command
// reported. After a restart that skips the command, every key is written
// once.
func TestClusterSnapshotRejected(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
	client := cl.Client()
	defer client.Close()
	cases := []struct {
		name, onError string
		bad           []string
		wantErr       bool
		wantApplied   bool // TargetError.Applied
	}{
		{name: "queue-stop", onError: OnErrorStop, bad: []string{"RPUSH"}, wantErr: true},
		{name: "queue-log", onError: OnErrorLog, bad: []string{"RPUSH"}},
		{name: "exec-stop", onError: OnErrorStop, bad: []string{"INCR"}, wantErr: true, wantApplied: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cpKey := "redferry:checkpoint:r" + tc.name
			key := func(i int) string { return tc.name + ":" + strconv.Itoa(i) }
			b := &Batch{}
			for i := range 50 {
				if i == 20 {
					b.AddStrings(int64(i+1), "RPUSH", key(i), "a")
					b.AddStrings(int64(i+1), append(tc.bad, key(i))...) // RPUSH without a value, or INCR of a list
					b.AddStrings(int64(i+1), "RPUSH", key(i), "b")
					continue
				}
				b.AddStrings(int64(i+1), "RPUSH", key(i), "x", "y")
			}
			b.Checkpoint = snapCP(51)
			c := openCluster(t, cl, Config{CheckpointKey: cpKey, OnError: tc.onError})
			err := c.Apply(ctx(t), b)
			var te *TargetError
			switch {
			case !tc.wantErr && err != nil:
				t.Fatalf("Apply: %v", err)
			case tc.wantErr && !errors.As(err, &te):
				t.Fatalf("Apply = %v; want a TargetError", err)
			case tc.wantErr && te.Applied != tc.wantApplied:
				t.Fatalf("Apply = %v with Applied %v; want %v", err, te.Applied, tc.wantApplied)
			}
			c.Close()
			// A restart from the checkpoint, the command now skipped.
			c = openCluster(t, cl, Config{CheckpointKey: cpKey, OnError: OnErrorLog})
			cp, err := c.LoadCheckpoint(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if (cp != nil) != tc.wantApplied && tc.wantErr {
				t.Fatalf("checkpoint after the stop = %q; want one only when the batch was applied", cp)
			}
			if cp == nil {
				if err := c.Apply(ctx(t), b); err != nil {
					t.Fatalf("Apply after the restart: %v", err)
				}
			}
			for i := range 50 {
				want := []string{"x", "y"}
				if i == 20 {
					want = []string{"a", "b"}
				}
				if got, _ := client.LRange(context.Background(), key(i), 0, -1).Result(); !slices.Equal(got, want) {
					t.Errorf("LRANGE %s = %q; want %q, once", key(i), got, want)
				}
			}
		})
	}
}

// TestClusterSnapshotDuringMigration: snapshot batches while a target slot
// migrates, the sink not told: keys of the slot are answered ASK in the
// pipelined step, then MOVED once the slot has moved, and are written
// again in transactions. Every list is written once.
func TestClusterSnapshotDuringMigration(t *testing.T) {
	m := startSlotMove(t, "redferry:checkpoint:sm")
	ctx, c := m.ctx, m.sink
	cc := m.cl.Client()
	defer cc.Close()
	batch := func(from, to int) *Batch {
		b := &Batch{}
		for i := from; i < to; i++ {
			for _, k := range []string{"{m}" + strconv.Itoa(i), "o" + strconv.Itoa(i)} {
				b.AddStrings(int64(i), "RPUSH", k, "x")
				b.AddStrings(int64(i), "RPUSH", k, "y")
			}
		}
		b.Checkpoint = snapCP(int64(to))
		return b
	}
	if err := c.Apply(ctx, batch(1, 10)); err != nil {
		t.Fatal(err)
	}
	m.begin("{m}1")
	done := make(chan error, 1)
	go func() { done <- c.Apply(ctx, batch(10, 20)) }()
	time.Sleep(500 * time.Millisecond)
	m.end()
	waitApplyAfterMove(t, done)
	if err := c.Apply(ctx, batch(20, 30)); err != nil { // the slot moved: MOVED
		t.Fatal(err)
	}
	for i := 1; i < 30; i++ {
		for _, k := range []string{"{m}" + strconv.Itoa(i), "o" + strconv.Itoa(i)} {
			if got, _ := cc.LRange(context.Background(), k, 0, -1).Result(); !slices.Equal(got, []string{"x", "y"}) {
				t.Errorf("LRANGE %s = %q; want [x y], once", k, got)
			}
		}
	}
}

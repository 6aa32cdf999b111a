package sink

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/faultproxy"
	"github.com/redferry/redferry/internal/redistest"
)

// windowOutcomes collects each batch's outcome in the order done runs.
type windowOutcomes struct {
	mu   sync.Mutex
	idx  []int
	errs []error
}

func (o *windowOutcomes) done(i int) func(error) {
	return func(err error) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.idx = append(o.idx, i)
		o.errs = append(o.errs, err)
	}
}

// Batches of one list, several in flight at once: every batch lands, in
// order (a key split over batches keeps its order), done runs in batch
// order, and the checkpoint is the last batch's.
func TestWindowAppliesInOrder(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	s := newSink(t, srv, Config{CheckpointKey: "cp"})
	w, err := s.NewWindow(ctx(t), 4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out windowOutcomes
	var b Batch
	const batches = 60
	for i := 0; i < batches; i++ {
		for j := 0; j < 100; j++ {
			b.AddStrings(int64(i*100+j), "RPUSH", "order", strconv.Itoa(i*100+j))
		}
		b.Checkpoint = []byte("cp-" + strconv.Itoa(i))
		if err := w.Send(ctx(t), &b, out.done(i)); err != nil {
			t.Fatalf("Send batch %d: %v", i, err)
		}
		if b.Len() != 0 {
			t.Fatalf("Send left %d commands in the caller's batch", b.Len())
		}
	}
	if err := w.Wait(ctx(t)); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := w.Close(ctx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	c := srv.Client()
	defer c.Close()
	got, err := c.LRange(ctx(t), "order", 0, -1).Result()
	if err != nil || len(got) != batches*100 {
		t.Fatalf("LRANGE: %d elements, %v; want %d", len(got), err, batches*100)
	}
	for i, v := range got {
		if v != strconv.Itoa(i) {
			t.Fatalf("element %d = %s: batches applied out of order", i, v)
		}
	}
	if cp, _ := s.LoadCheckpoint(ctx(t)); string(cp) != "cp-"+strconv.Itoa(batches-1) {
		t.Errorf("checkpoint %q, want the last batch's", cp)
	}
	for i, idx := range out.idx {
		if idx != i || out.errs[i] != nil {
			t.Fatalf("done #%d was for batch %d (error %v): want batch %d, no error", i, idx, out.errs[i], i)
		}
	}
	if st := s.Stats(); st.Batches != batches || st.Applied != batches*100 {
		t.Errorf("stats %+v, want %d batches, %d commands", st, batches, batches*100)
	}
}

// A batch refused at queue time fails (nothing of it applied), the window
// sends nothing more — but a batch already in flight behind it is applied:
// why only a replay that can redo from its low-water mark uses a Window.
// Runtime errors inside EXEC are skipped with OnError "log".
func TestWindowFailures(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	p, err := faultproxy.Start(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var skipped []string
	s, err := NewStandalone(ctx(t), Config{Addr: p.Addr(), CheckpointKey: "cp", OnError: OnErrorLog,
		OnSkipped: func(e *TargetError) { skipped = append(skipped, e.Command) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.NewWindow(ctx(t), 4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out windowOutcomes
	var b Batch
	send := func(i int, cmds ...[]string) {
		t.Helper()
		for _, c := range cmds {
			b.AddStrings(int64(i), c...)
		}
		b.Checkpoint = []byte("cp-" + strconv.Itoa(i))
		if err := w.Send(ctx(t), &b, out.done(i)); err != nil {
			t.Fatalf("Send batch %d: %v", i, err)
		}
	}
	// All four reach the target together: the stalled proxy holds them.
	p.Stall()
	send(0, []string{"SET", "k0", "v"}, []string{"LPUSH", "k0", "x"}) // runtime error: skipped
	send(1, []string{"SET", "k1", "v"}, []string{"NOSUCHCOMMAND", "k1"})
	send(2, []string{"SET", "k2", "v"})
	send(3, []string{"SET", "k3", "v"})
	// Send only queues a batch: wait until all four are on the wire.
	for deadline := time.Now().Add(10 * time.Second); w.sent.Load() < 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 4 batches written while the proxy stalls", w.sent.Load())
		}
	}
	p.Resume()
	werr := w.Wait(ctx(t))
	var te *TargetError
	if !errors.As(werr, &te) || te.Applied || te.Command != "NOSUCHCOMMAND" {
		t.Fatalf("Wait: %v; want batch 1's refusal (not applied)", werr)
	}
	b.AddStrings(4, "SET", "k4", "v")
	if err := w.Send(ctx(t), &b, out.done(4)); !errors.Is(err, ErrWindowFailed) {
		t.Errorf("Send after the failure: %v, want ErrWindowFailed", err)
	}
	if err := w.Close(ctx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(out.idx) != 4 || out.errs[0] != nil || !errors.As(out.errs[1], &te) {
		t.Fatalf("outcomes %v %v: want batch 0 applied, batch 1 refused, then 2 and 3", out.idx, out.errs)
	}
	if len(skipped) != 1 || skipped[0] != "LPUSH" {
		t.Errorf("skipped %v, want batch 0's LPUSH", skipped)
	}
	c := srv.Client()
	defer c.Close()
	for k, want := range map[string]int64{"k0": 1, "k1": 0, "k4": 0} {
		if n := c.Exists(ctx(t), k).Val(); n != want {
			t.Errorf("EXISTS %s = %d, want %d", k, n, want)
		}
	}
	// Batches 2 and 3 were on the wire before batch 1's refusal was read.
	if n := c.Exists(ctx(t), "k2", "k3").Val(); n != 2 || out.errs[2] != nil || out.errs[3] != nil {
		t.Errorf("batches behind the refused one: %d of 2 keys, outcomes %v %v; want both applied", n, out.errs[2], out.errs[3])
	}
}

// A connection that fails (here a read timeout while the link is stalled)
// fails its batches; Close has the target drop it, so that nothing it
// carried can land after the caller redoes its keys.
func TestWindowFencesBrokenConnection(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	p, err := faultproxy.Start(srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := NewStandalone(ctx(t), Config{Addr: p.Addr(), CheckpointKey: "cp", IOTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := s.NewWindow(ctx(t), 4, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out windowOutcomes
	var b Batch
	p.Stall()
	b.AddStrings(1, "SET", "k", "v")
	if err := w.Send(ctx(t), &b, out.done(0)); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(ctx(t)); err == nil {
		t.Fatal("Wait: no error with the link stalled past the I/O timeout")
	}
	p.Resume()
	if err := w.Close(ctx(t)); err != nil {
		t.Fatalf("Close (fencing): %v", err)
	}
	c := srv.Client()
	defer c.Close()
	clients := c.ClientList(ctx(t)).Val()
	if strings.Contains(clients, "id="+w.clientID+" ") {
		t.Errorf("the failed window connection (id %s) is still a client of the target:\n%s", w.clientID, clients)
	}
	if len(out.errs) != 1 || out.errs[0] == nil {
		t.Errorf("outcomes %v: want the batch failed", out.errs)
	}
}

// A user that may not kill clients gets no Window (ErrNoFence): the caller
// then applies one batch at a time.
func TestWindowNeedsClientKill(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	c := srv.Client()
	defer c.Close()
	if err := c.Do(ctx(t), "ACL", "SETUSER", "nokill", "on", ">pw", "~*", "+@all", "-client|kill").Err(); err != nil {
		t.Fatal(err)
	}
	s, err := NewStandalone(ctx(t), Config{Addr: srv.Addr, Username: "nokill", Password: "pw", CheckpointKey: "cp"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if w, err := s.NewWindow(ctx(t), 4, 1<<20); !errors.Is(err, ErrNoFence) {
		if w != nil {
			_ = w.Close(ctx(t))
		}
		t.Fatalf("NewWindow for a user without CLIENT KILL: %v, want ErrNoFence", err)
	}
}

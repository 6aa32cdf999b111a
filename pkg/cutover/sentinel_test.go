package cutover

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
)

// TestCutoverFollowsSentinelFailover: a cutover of a sync from a
// sentinel-managed source pauses the master the sentinels name at the time
// of the cutover, not the one the cutover's connections reached before a
// failover, and reports the new master's offset.
func TestCutoverFollowsSentinelFailover(t *testing.T) {
	set := redistest.StartSentinelSet(t, redistest.Redis70, redistest.Options{})
	cfg := config.Default()
	cfg.Source = set.URL()
	opts, err := cfg.SourceClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := status.NewTracker("src", "dst")
	tr.SetPhase(status.PhaseStreaming)
	// The sync stays current with whichever node is the master.
	mc := server.NewClient(opts)
	defer mc.Close()
	go func() {
		for ctx.Err() == nil {
			if info, err := mc.Info(ctx, "replication").Result(); err == nil {
				if off, err := server.ReplOffset(info); err == nil {
					tr.SetReceived(off)
					tr.SetApplied(off)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	co, err := New(cfg, tr, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()

	// A first cutover leaves connections to the first master in the pool.
	res, err := co.Run(ctx, Options{Pause: 300 * time.Millisecond, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("the cutover before the failover: %v", err)
	}
	time.Sleep(time.Until(res.PauseEnds) + 100*time.Millisecond)
	old := set.Master(t)
	next := set.Failover(t, redistest.FailoverOptions{PauseWrites: 2 * time.Second})
	time.Sleep(2 * time.Second) // the failover's own pause has ended

	res, err = co.Run(ctx, Options{Pause: 3 * time.Second, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("the cutover after the failover: %v", err)
	}
	nc := next.Client()
	defer nc.Close()
	off, err := server.Fetch(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Offset != off.MasterReplOffset {
		t.Errorf("the cutover reports offset %d, the new master %s is at %d", res.Offset, next.Addr, off.MasterReplOffset)
	}
	start := time.Now()
	if err := nc.Set(ctx, "after-cutover", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("a write to the new master %s went through %s after the cutover: the cutover paused %s (the old master) instead", next.Addr, waited, old.Addr)
	}
}

// TestCutoverRefusesAReplica: a cutover whose connection reaches a node
// that is a replica now (demoted by a failover that left its clients
// connected) stops with an error that says so, and leaves no pause behind.
func TestCutoverRefusesAReplica(t *testing.T) {
	master := redistest.Start(t, redistest.Redis70, redistest.Options{})
	replica := redistest.Start(t, redistest.Redis70, redistest.Options{})
	replica.ReplicateFrom(t, master)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := status.NewTracker("src", "dst")
	follow(t, ctx, replica, tr, false)
	co := NewWithClient(replica.Client(), tr, zaptest.NewLogger(t))
	defer co.Close()
	_, err := co.Run(ctx, Options{Pause: 30 * time.Second, Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "not the master, so a pause there would stop no writes") {
		t.Fatalf("err = %v, want a refusal naming the replica", err)
	}
	// The replica's clients are not left paused.
	c := replica.Client()
	defer c.Close()
	start := time.Now()
	if err := c.Get(ctx, "k").Err(); err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("a refused cutover left the replica paused")
	}
}

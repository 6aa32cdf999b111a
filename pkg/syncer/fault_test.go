package syncer

import (
	"context"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/faultproxy"
	"github.com/redferry/redferry/internal/redistest"
)

// Faults on the source link, through a proxy: the snapshot cut half way
// is taken again (a partial snapshot is worthless); a stream cut anywhere,
// even inside a command, continues with PSYNC.

func TestSourceLinkCutMidSnapshot(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fillSource(t, ctx, src, 5000)
	p := proxy(t, src)
	// The RDB of 5000 keys is well over 200 KB: the cut lands inside it.
	cut := p.DropAfter(faultproxy.Downstream, 200<<10)
	cfg := testConfig(t, src, dst)
	cfg.Source = viaProxy(p)
	r := startSyncer(t, ctx, cfg)
	stopLoad := load(t, ctx, src, 11)
	select {
	case <-cut:
	case <-time.After(30 * time.Second):
		t.Fatal("the cut never happened: the snapshot is smaller than 200 KB?")
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	assertSameData(t, ctx, src, dst)
	if n := syncStat(t, src, "sync_full"); n != 2 {
		t.Errorf("sync_full = %d, want 2 (the cut snapshot, then a whole one)", n)
	}
}

func TestSourceLinkCutMidStream(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Valkey91, redistest.Options{Args: sourceArgs(true)})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fillSource(t, ctx, src, 500)
	p := proxy(t, src)
	cfg := testConfig(t, src, dst)
	cfg.Source = viaProxy(p)
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	stopLoad := load(t, ctx, src, 12)
	const cuts = 4
	for i := range cuts {
		accepted := p.Accepted()
		time.Sleep(300 * time.Millisecond)
		if i%2 == 0 {
			p.Cut()
		} else {
			// Mid-command most likely: 777 bytes into the stream.
			<-p.DropAfter(faultproxy.Downstream, 777)
		}
		waitFor(t, 30*time.Second, "redferry did not reconnect to the source", func() bool { return p.Accepted() > accepted })
	}
	stopLoad()
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	assertSameData(t, ctx, src, dst)
	// Every PSYNC after the first is counted as a full sync, a refused
	// partial one, or a continued one. Not one per cut: a cut can land in
	// the handshake of the reconnection before it, and the last
	// reconnection may not have asked yet when nothing is left to receive.
	if n := syncStat(t, src, "sync_full"); n != 1 {
		t.Errorf("sync_full = %d, want 1: a cut stream must continue with PSYNC", n)
	}
	if n := syncStat(t, src, "sync_partial_err"); n != 0 {
		t.Errorf("sync_partial_err = %d, want 0: the source refused to continue redferry's offset", n)
	}
	if n := syncStat(t, src, "sync_partial_ok"); n < 1 {
		t.Errorf("sync_partial_ok = %d, want >= 1: no reconnection continued the stream", n)
	}
}

// Faults on the target link: a pipeline cut while being sent, a batch
// whose replies are lost after EXEC ran (the checkpoint says it applied),
// a target refusing connections for a while, a stalled target. Nothing is
// lost or applied twice under a non-idempotent load.
func TestTargetLinkFaults(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis80, redistest.Options{Args: sourceArgs(false)})
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	fillSource(t, ctx, src, 3000)
	p := proxy(t, dst)
	cfg := testConfig(t, src, dst)
	cfg.Target = viaProxy(p)
	// Mid-snapshot-replay: the first batches carry the snapshot's keys.
	snapCut := p.DropAfter(faultproxy.Upstream, 150<<10)
	r := startSyncer(t, ctx, cfg)
	stopLoad := load(t, ctx, src, 13)
	defer stopLoad()
	select {
	case <-snapCut:
	case <-time.After(30 * time.Second):
		t.Fatal("the cut during the snapshot replay never happened")
	}
	waitCaughtUp(t, ctx, r.s, src, r.errc)

	steps := []struct {
		name  string
		fault func()
	}{
		{"pipeline cut while sent", func() { <-p.DropAfter(faultproxy.Upstream, 3000) }},
		{"replies lost after EXEC", func() { <-p.DropAfter(faultproxy.Downstream, 40) }},
		{"target refuses connections for 2s", func() {
			p.Refuse(true)
			p.Cut()
			time.Sleep(2 * time.Second)
			p.Refuse(false)
		}},
		{"target stalls for 2s", func() { p.Stall(); time.Sleep(2 * time.Second); p.Resume() }},
	}
	for _, st := range steps {
		time.Sleep(300 * time.Millisecond)
		t.Log("fault:", st.name)
		st.fault()
	}
	time.Sleep(300 * time.Millisecond)
	stopLoad()
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	assertSameData(t, ctx, src, dst)
	if n := syncStat(t, src, "sync_full"); n != 1 {
		t.Errorf("sync_full = %d, want 1: target faults must not cost a new snapshot", n)
	}
	if rc := r.s.target.Stats().Reconnects; rc < 3 {
		t.Errorf("the sink reconnected %d times: the faults did not hit it", rc)
	}
}

// A target down when redferry starts is waited for, not an exit.
func TestTargetDownAtStartup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(true)})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	fillSource(t, ctx, src, 200)
	p := proxy(t, dst)
	p.Refuse(true)
	cfg := testConfig(t, src, dst)
	cfg.Target = viaProxy(p)

	// Until ctx ends: then New says why.
	shortCtx, cancelShort := context.WithTimeout(ctx, 700*time.Millisecond)
	_, err := newFromConfig(shortCtx, cfg, testLogger(t))
	cancelShort()
	if err == nil {
		t.Fatal("New succeeded with the target refusing every connection")
	}
	t.Logf("New with the target down until ctx ended: %v", err)

	go func() { time.Sleep(1500 * time.Millisecond); p.Refuse(false) }()
	start := time.Now()
	r := startSyncer(t, ctx, cfg)
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("New returned after %s, before the target accepted connections", waited)
	}
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	assertSameData(t, ctx, src, dst)
}

package syncer

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/verify"
)

// serverFeatures says what a server version can hold, so the workload uses
// only what both sides of a pair support.
func serverFeatures(name, version string) (functions, hashFieldTTL bool) {
	major, _ := strconv.Atoi(strings.SplitN(version, ".", 2)[0])
	valkey := strings.HasPrefix(name, "valkey")
	functions = valkey || major >= 7
	hashFieldTTL = valkey && major >= 9 || !valkey && major >= 8
	return
}

// syncPair is one end-to-end case: the snapshot and then the stream, with
// writes running on the source all along.
type syncPair struct {
	source, target string
	diskless       bool
}

func (p syncPair) name() string {
	mode := "disk"
	if p.diskless {
		mode = "diskless"
	}
	return p.source + "_to_" + p.target + "_" + mode
}

func TestSyncEveryVersionPair(t *testing.T) {
	pairs := []struct {
		source, target string
	}{
		{redistest.Redis60, redistest.Redis80},
		{redistest.Redis80, redistest.Redis60},
		{redistest.Redis70, redistest.Valkey91},
		{redistest.Valkey91, redistest.Redis70},
		{redistest.Valkey81, redistest.Redis80},
		{redistest.Redis80, redistest.Valkey81},
		{redistest.Redis70, redistest.Redis70},
		{redistest.Redis86, redistest.Valkey91},
		{redistest.Valkey91, redistest.Redis86},
	}
	for _, p := range pairs {
		for _, diskless := range []bool{false, true} {
			sp := syncPair{p.source, p.target, diskless}
			t.Run(sp.name(), func(t *testing.T) {
				t.Parallel()
				runSyncPair(t, sp)
			})
		}
	}
}

func sourceArgs(diskless bool) []string {
	args := []string{"repl-diskless-sync-delay", "0", "repl-backlog-size", "64mb"}
	if diskless {
		return append(args, "repl-diskless-sync", "yes")
	}
	return append(args, "repl-diskless-sync", "no")
}

func runSyncPair(t *testing.T, p syncPair) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	src := redistest.Start(t, p.source, redistest.Options{Args: sourceArgs(p.diskless)})
	dst := redistest.Start(t, p.target, redistest.Options{})
	srcFn, srcHFE := serverFeatures(src.Name, src.Version)
	dstFn, dstHFE := serverFeatures(dst.Name, dst.Version)
	// A 6.x source's claims of pending entries whose message is gone are
	// part of the load: the translation moves them on 7.0+ targets too.
	wl := &redistest.Workload{Seed: 42, Version: src.Version, Functions: srcFn && dstFn, HashFieldTTL: srcHFE && dstHFE}
	srcClient := src.Client()
	defer srcClient.Close()
	if err := wl.Fill(ctx, srcClient, 2000); err != nil {
		t.Fatalf("filling the source: %v", err)
	}

	cfg := testConfig(t, src, dst)
	s, err := newFromConfig(ctx, cfg, zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runCtx, stop := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(runCtx) }()

	// Writes during the snapshot and after it.
	if err := wl.Run(ctx, srcClient, 3000); err != nil {
		t.Fatalf("writing to the source: %v", err)
	}
	waitCaughtUp(t, ctx, s, src, runErr)
	if err := wl.Run(ctx, srcClient, 2000); err != nil {
		t.Fatalf("writing to the source: %v", err)
	}
	waitCaughtUp(t, ctx, s, src, runErr)

	assertSameData(t, ctx, src, dst)
	stop()
	if err := <-runErr; err != nil {
		t.Fatalf("Run after a clean stop: %v", err)
	}
}

func testConfig(t *testing.T, src, dst *redistest.Server) config.Config {
	cfg := config.Default()
	cfg.Source, cfg.Target = src.URL(), dst.URL()
	cfg.StateDir = t.TempDir()
	cfg.StatusAddr = ""
	cfg.Progress = "never"
	cfg.BatchCommands = 500
	return cfg
}

// waitCaughtUp waits until the target has applied everything the source has
// written so far.
func waitCaughtUp(t *testing.T, ctx context.Context, s *Syncer, src *redistest.Server, runErr chan error) {
	t.Helper()
	c := src.Client()
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		info, err := c.Info(ctx, "replication").Result()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := server.ReplOffset(info)
		if s.Tracker().Applied() >= want && s.Tracker().Phase() == "streaming" {
			return
		}
		select {
		case err := <-runErr:
			t.Fatalf("sync ended before catching up: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	r := s.Tracker().Report()
	t.Fatalf("not caught up after 30s: %+v\nsource log:\n%s", r, src.LogTail())
}

func assertSameData(t *testing.T, ctx context.Context, src, dst *redistest.Server) {
	t.Helper()
	sc, dc := src.Client(), dst.Client()
	defer sc.Close()
	defer dc.Close()
	rep, err := verify.Compare(ctx, sc, dc, verify.Options{IgnoreKeys: func(_ int, key string) bool {
		return strings.HasPrefix(key, "redferry:checkpoint:")
	}})
	if err != nil {
		t.Fatalf("comparing source and target: %v", err)
	}
	if !rep.Equal() {
		var b strings.Builder
		for _, d := range rep.Diffs {
			fmt.Fprintf(&b, "  db%d %q %s: %s\n", d.DB, d.Key, d.Kind, d.Detail)
		}
		t.Fatalf("target differs from source (%s → %s): %d of %d keys:\n%s", src.Name, dst.Name, rep.DiffCount, rep.KeysChecked, b.String())
	}
	if rep.KeysChecked == 0 {
		t.Fatal("compared no keys: the workload wrote nothing?")
	}
	t.Logf("%s → %s: %d keys equal", src.Name, dst.Name, rep.KeysChecked)
}

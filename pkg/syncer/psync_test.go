package syncer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/protocol"
)

// A source that renamed PSYNC (and disabled SYNC), as some managed services
// do: without source-psync-command the sync stops and says to set it; with
// it, the snapshot and the stream arrive. Redis and Valkey serve a renamed
// PSYNC as SYNC (a snapshot without +FULLRESYNC): the offsets come from the
// snapshot's AUX fields, and catching up with master_repl_offset proves them.
func TestSyncSourceWithRenamedPSync(t *testing.T) {
	for _, tc := range []struct {
		name     string
		diskless bool
	}{{redistest.Redis60, false}, {redistest.Redis70, false}, {redistest.Valkey91, true}} {
		name := tc.name
		t.Run(syncPair{source: name, target: name, diskless: tc.diskless}.name(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			const renamed = "psync-4d1e9c"
			src := redistest.Start(t, name, redistest.Options{Args: sourceArgs(tc.diskless),
				Argv: []string{"--rename-command", "PSYNC", renamed, "--rename-command", "SYNC", ""}})
			dst := redistest.Start(t, name, redistest.Options{})
			fillSource(t, ctx, src, 300)

			cfg := testConfig(t, src, dst)
			s, err := newFromConfig(ctx, cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Run(ctx)
			s.Close()
			if err == nil || !strings.Contains(err.Error(), "set source-psync-command") || !errors.Is(err, protocol.ErrSyncRefused) {
				t.Fatalf("sync from a source without PSYNC: got %v, want an error that says to set source-psync-command", err)
			}

			cfg.SourcePSyncCommand = renamed
			r := startSyncer(t, ctx, cfg)
			waitCaughtUp(t, ctx, r.s, src, r.errc)
			stop := load(t, ctx, src, 7)
			time.Sleep(300 * time.Millisecond)
			stop()
			waitCaughtUp(t, ctx, r.s, src, r.errc)
			assertSameData(t, ctx, src, dst)
			if err := r.stop(); err != nil {
				t.Fatalf("Run after a clean stop: %v", err)
			}
		})
	}
}

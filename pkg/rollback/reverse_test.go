package rollback

import (
	"testing"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/syncer"
)

// TestReverseOptions: the reverse link reads the target and writes the old
// source, starts at the cutover point, and can neither full-sync nor empty
// the old source, whatever the forward sync was told.
func TestReverseOptions(t *testing.T) {
	fwd := syncer.Options{Source: server.ClientOptions{Addr: "old:1"}, Target: server.ClientOptions{Addr: "new:2"},
		SourceName: "redis://old:1", TargetName: "redis://new:2", StateDir: "/var/lib/redferry",
		CheckpointKey: checkpoint.KeyPrefix + "m", LegacyCheckpointKey: checkpoint.KeyPrefix + "old:1",
		OnFullResync: "flush", FlushTarget: true, Merge: true, Once: true, SourcePSyncCommand: "psync-x", ListeningPort: 7000,
		RetryRejected: true, SkipRejected: []int64{5}}
	c := &Controller{opt: fwd}
	st := State{Phase: status.RollbackReverse, TargetReplID: "0123456789012345678901234567890123456789", TargetOffset: 4242}
	r := c.reverseOptions(st, status.NewTracker("a", "b"))
	for _, tc := range []struct {
		what      string
		got, want any
	}{
		{"source", r.Source.Addr, "new:2"},
		{"target", r.Target.Addr, "old:1"},
		{"source name", r.SourceName, "redis://new:2"},
		{"target name", r.TargetName, "redis://old:1"},
		{"state dir", r.StateDir, "/var/lib/redferry/reverse"},
		{"checkpoint key", r.CheckpointKey, checkpoint.KeyPrefix + "m:reverse"},
		{"legacy key", r.LegacyCheckpointKey, ""},
		{"on-full-resync", r.OnFullResync, "stop"},
		{"flush-target", r.FlushTarget, false},
		{"merge", r.Merge, false},
		{"once", r.Once, false},
		{"psync command", r.SourcePSyncCommand, ""},
		{"start replid", r.StartAt.ReplID, st.TargetReplID},
		{"start offset", r.StartAt.Offset, int64(4242)},
		{"start db", r.StartAt.DB, 0},
		{"retry rejected (answers the forward sync)", r.RetryRejected, false},
		{"skip rejected (answers the forward sync)", len(r.SkipRejected), 0},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if err := r.StartAt.Validate(); err != nil {
		t.Errorf("the start position is not a valid checkpoint: %v", err)
	}
}

// TestReverseOptionsTakeTheAnswer: a run that starts with the reverse link
// gives it the operator's answer to the commands the old source rejected.
func TestReverseOptionsTakeTheAnswer(t *testing.T) {
	fwd := syncer.Options{CheckpointKey: checkpoint.KeyPrefix + "m", RetryRejected: true, SkipRejected: []int64{5}}
	c := &Controller{opt: fwd, startPhase: status.RollbackReverse}
	r := c.reverseOptions(State{TargetReplID: "0123456789012345678901234567890123456789"}, status.NewTracker("a", "b"))
	if !r.RetryRejected || len(r.SkipRejected) != 1 || r.SkipRejected[0] != 5 {
		t.Fatalf("retry %v, skip %v: want the run's answer", r.RetryRejected, r.SkipRejected)
	}
}

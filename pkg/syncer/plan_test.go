package syncer

import (
	"errors"
	"strings"
	"testing"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/spool"
)

func TestDecide(t *testing.T) {
	const rid, newRid = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	streaming := checkpoint.State{ReplID: rid, Offset: 500, Phase: checkpoint.PhaseStreaming, DB: 3}
	replaying := checkpoint.State{ReplID: rid, Offset: 100, Phase: checkpoint.PhaseSnapshotReplay, SnapshotPos: 42}
	snap := spool.SnapshotInfo{ReplID: rid, Offset: 100, Size: 1000, Complete: true}
	tests := []struct {
		name    string
		in      planInputs
		want    plan
		wantErr error
		errText string
	}{
		{name: "first sync into an empty target",
			in:   planInputs{},
			want: plan{fullSync: true, snapshot: true, overlap: true, clearSpool: true, resetStreamAt: -1, repairTailAt: -1}},
		{name: "first sync into a non-empty target is refused",
			in: planInputs{targetKeys: 7, target: "10.0.0.2:6379"}, errText: "holds 7 keys"},
		{name: "first sync with flush-target empties it",
			in:   planInputs{targetKeys: 7, flushTarget: true},
			want: plan{fullSync: true, snapshot: true, overlap: true, flushTarget: true, clearSpool: true, resetStreamAt: -1, repairTailAt: -1}},
		{name: "first sync with merge keeps the keys and does not overlap",
			in:   planInputs{targetKeys: 7, merge: true},
			want: plan{fullSync: true, snapshot: true, clearSpool: true, resetStreamAt: -1, repairTailAt: -1}},
		{name: "streaming, the spool covers the checkpoint",
			in:   planInputs{checkpoint: streaming, haveCheckpoint: true, hasStream: true, spoolStart: 100, spoolEnd: 900},
			want: plan{replID: rid, streamFrom: 500, db: 3, resetStreamAt: -1, repairTailAt: 500}},
		{name: "streaming after a failover: PSYNC with the stream's new replid",
			in:   planInputs{checkpoint: streaming, haveCheckpoint: true, hasStream: true, spoolStart: 100, spoolEnd: 900, streamReplID: newRid},
			want: plan{replID: newRid, streamFrom: 500, db: 3, resetStreamAt: -1, repairTailAt: 500}},
		{name: "streaming, the spool is gone: continue from the source's backlog under the checkpoint's replid",
			in:   planInputs{checkpoint: streaming, haveCheckpoint: true, streamReplID: newRid},
			want: plan{replID: rid, streamFrom: 500, db: 3, resetStreamAt: 500, repairTailAt: -1}},
		{name: "streaming, the spool ends before the checkpoint",
			in:   planInputs{checkpoint: streaming, haveCheckpoint: true, hasStream: true, spoolStart: 100, spoolEnd: 400},
			want: plan{replID: rid, streamFrom: 500, db: 3, resetStreamAt: 500, repairTailAt: -1}},
		{name: "snapshot replay resumes at the saved key",
			in:   planInputs{checkpoint: replaying, haveCheckpoint: true, snapshot: snap, haveSnapshot: true, hasStream: true, spoolStart: 100, spoolEnd: 300},
			want: plan{replID: rid, snapshot: true, snapshotPos: 42, streamFrom: 100, resetStreamAt: -1, repairTailAt: 100}},
		{name: "snapshot replay whose snapshot left the spool needs a full sync",
			in:      planInputs{checkpoint: replaying, haveCheckpoint: true},
			wantErr: ErrResyncRequired},
		{name: "a partial snapshot that left the spool restarts the full sync",
			in: func() planInputs {
				p := replaying
				p.Partial = true
				return planInputs{checkpoint: p, haveCheckpoint: true}
			}(),
			wantErr: errRestartFullSync},
		{name: "snapshot replay whose stream does not start at the snapshot",
			in:      planInputs{checkpoint: replaying, haveCheckpoint: true, snapshot: snap, haveSnapshot: true, spoolStart: 150},
			wantErr: ErrResyncRequired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decide(tt.in)
			switch {
			case tt.wantErr != nil || tt.errText != "":
				if err == nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) || tt.errText != "" && !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("decide: err %v, want %v %q", err, tt.wantErr, tt.errText)
				}
			case err != nil:
				t.Fatalf("decide: %v", err)
			case got != tt.want:
				t.Fatalf("decide:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestCloseOfAHalfBuiltSyncer(t *testing.T) {
	if err := (&Syncer{}).Close(); err != nil {
		t.Fatalf("Close of a Syncer New gave up on: %v", err)
	}
}

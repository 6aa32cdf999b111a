package syncer

import (
	"errors"
	"testing"
	"time"

	"github.com/redferry/redferry/pkg/checkpoint"
)

// TestRollbackResume: where a forward sync resumes on an old source that a
// reverse link wrote into: past the reverse link's writes once rolled back,
// never over them.
func TestRollbackResume(t *testing.T) {
	const a, b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	t0 := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	fwd := checkpoint.State{ReplID: a, Offset: 1000, Phase: checkpoint.PhaseStreaming, DB: 3}
	at := func(replID string, off int64, when time.Time) []byte {
		return checkpoint.State{ReplID: replID, Offset: off, Phase: checkpoint.PhaseStreaming, UpdatedAt: when}.Marshal()
	}
	for _, tc := range []struct {
		name                string
		reverse, rolledBack []byte
		want                checkpoint.State
		outcome             resumeOutcome
		err                 error
	}{
		{name: "no rollback-ready cutover", want: fwd},
		{name: "reverse link, no rollback", reverse: at(b, 500, t0), err: ErrReverseLinkActive},
		{name: "rolled back", reverse: at(b, 500, t0), rolledBack: at(a, 4000, t0.Add(time.Minute)),
			want: checkpoint.State{ReplID: a, Offset: 4000, Phase: checkpoint.PhaseStreaming, UpdatedAt: t0.Add(time.Minute)}, outcome: resumeAfterRollback},
		{name: "resumed past the rollback already", reverse: at(b, 500, t0), rolledBack: at(a, 900, t0.Add(time.Minute)), want: fwd},
		{name: "reverse link wrote after the rollback", reverse: at(b, 700, t0.Add(2*time.Minute)), rolledBack: at(a, 4000, t0.Add(time.Minute)),
			err: ErrReverseLinkActive},
		{name: "the old source's history changed", reverse: at(b, 500, t0), rolledBack: at(b, 4000, t0.Add(time.Minute)),
			want: checkpoint.State{ReplID: b, Offset: 4000, Phase: checkpoint.PhaseStreaming, UpdatedAt: t0.Add(time.Minute)}, outcome: resumeReplIDChanged},
		{name: "damaged rollback record", rolledBack: []byte("{"), err: checkpoint.ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, outcome, err := rollbackResume(fwd, checkpoint.KeyPrefix+"m", tc.reverse, tc.rolledBack)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || outcome != tc.outcome || !got.UpdatedAt.Equal(tc.want.UpdatedAt) {
				t.Fatalf("got %+v, outcome %d, %v; want %+v, outcome %d", got, outcome, err, tc.want, tc.outcome)
			}
			got.UpdatedAt, tc.want.UpdatedAt = time.Time{}, time.Time{}
			if got.ReplID != tc.want.ReplID || got.Offset != tc.want.Offset || got.DB != tc.want.DB {
				t.Fatalf("resume at %+v, want %+v", got, tc.want)
			}
		})
	}
}

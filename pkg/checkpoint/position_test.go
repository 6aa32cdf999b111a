package checkpoint

import (
	"bytes"
	"errors"
	"testing"
)

// TestLowerStream: only a streaming State past the offset is lowered, and
// nothing else of it changes.
func TestLowerStream(t *testing.T) {
	streaming := valid() // offset 12345
	streaming.DB = 4
	streaming.Rejected = []Rejection{{Offset: 12000, From: 11900, Command: "SET", Key: "k", Answer: "OOM command not allowed"}}
	replay := valid()
	replay.Phase, replay.SnapshotPos = PhaseSnapshotReplay, 99999
	for _, tc := range []struct {
		name    string
		st      State
		to      int64
		lowered bool
		wantErr error
	}{
		{"streaming past the offset", streaming, 12300, true, nil},
		{"streaming at the offset", streaming, 12345, false, nil},
		{"streaming below the offset", streaming, 20000, false, nil},
		{"snapshot replay: a key position", replay, 100, false, nil},
		{"a negative offset", streaming, -1, false, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.st.Marshal()
			out, lowered, err := LowerStream(in, tc.to)
			if !errors.Is(err, tc.wantErr) || lowered != tc.lowered {
				t.Fatalf("LowerStream = lowered %v, %v; want %v, %v", lowered, err, tc.lowered, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !lowered {
				if !bytes.Equal(out, in) {
					t.Errorf("not lowered, yet changed: %s, then %s", in, out)
				}
				return
			}
			want := tc.st
			want.Offset = tc.to
			if !bytes.Equal(out, want.Marshal()) {
				t.Errorf("lowered to %s, want %s", out, want.Marshal())
			}
		})
	}
	if _, _, err := LowerStream([]byte("not a checkpoint"), 1); !errors.Is(err, ErrCorrupt) {
		t.Errorf("LowerStream of garbage: %v, want ErrCorrupt", err)
	}
}

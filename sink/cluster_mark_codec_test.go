package sink

import (
	"bytes"
	"testing"
)

// TestMarkCodec: a mark reads back as written, and a version 1 (JSON)
// mark left by an earlier redferry still reads, so a restart after an
// upgrade resumes from it.
func TestMarkCodec(t *testing.T) {
	cp := streamCP(1234) // a checkpoint's bytes, which may hold '|'
	cases := []struct {
		name string
		raw  []byte // nil: encode want
		want mark
	}{
		{name: "snapshot", want: mark{Upto: position{Off: 42}, Nonce: 7}},
		{name: "snapshot intent", want: mark{Nonce: 3, Sent: 4000}},
		{name: "stream with done", want: mark{Upto: position{Streaming: true, Off: 99}, Nonce: 8, Done: append(cp, "|x|"...)}},
		{name: "broadcast claim", want: mark{Upto: position{Streaming: true, Off: 5}, Nonce: 9, Slots: "0-5460,5462"}},
		{name: "version 1", raw: []byte(`{"v":1,"upto":{"s":true,"o":77},"done":"eyJ2IjoxfQ==","slots":"1-3","n":12}`),
			want: mark{Upto: position{Streaming: true, Off: 77}, Nonce: 12, Slots: "1-3", Done: []byte(`{"v":1}`)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw
			if raw == nil {
				raw = appendMark(nil, &tc.want)
			}
			got, err := decodeMark(raw)
			if err != nil {
				t.Fatalf("decodeMark(%q): %v", raw, err)
			}
			if got.Upto != tc.want.Upto || got.Nonce != tc.want.Nonce || got.Slots != tc.want.Slots || got.Sent != tc.want.Sent || !bytes.Equal(got.Done, tc.want.Done) {
				t.Errorf("decodeMark(%q) = %+v; want %+v", raw, got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "x", `{"v":3}`, "2|k|1|2||", "2|q|1|2|||", "3|k|1|2|||", "2|k|x|2|||", "2|k|1|2||x|"} {
		if _, err := decodeMark([]byte(bad)); err == nil {
			t.Errorf("decodeMark(%q) accepted a value that is no mark", bad)
		}
	}
}

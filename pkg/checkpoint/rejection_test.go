package checkpoint

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func withRejection() State {
	st := valid()
	r := NewRejection([][]byte{[]byte("incr"), []byte("counter")}, "WRONGTYPE Operation against a key holding the wrong kind of value")
	r.Offset, r.From, r.DB, r.Sum, r.At = 12300, 12000, 2, 0xdeadbeef, time.Date(2026, 11, 25, 9, 0, 1, 0, time.UTC)
	st.Rejected = []Rejection{r}
	return st
}

// A rejected command survives the checkpoint's round trip, in the value
// and in the file store, and is written as a version older builds refuse.
func TestRejectionRoundTrip(t *testing.T) {
	st := withRejection()
	b := st.Marshal()
	if !strings.Contains(string(b), `"v":2`) || !strings.Contains(string(b), `"command":"INCR"`) {
		t.Fatalf("marshalled %s: want version 2 and the command", b)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, st) {
		t.Fatalf("got %+v\nwant %+v", got, st)
	}
	fs := NewFileStore(t.TempDir())
	if err := fs.Save(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	got, ok, err := fs.Load(context.Background())
	if err != nil || !ok || !reflect.DeepEqual(got, st) {
		t.Fatalf("file store: %+v %v %v", got, ok, err)
	}
	// Without rejections, version 1 as before: an older build still reads it.
	if b := valid().Marshal(); !strings.Contains(string(b), `"v":1`) || strings.Contains(string(b), "rejected") {
		t.Fatalf("a checkpoint without rejections: %s", b)
	}
}

func TestRejectionUnmarshalErrors(t *testing.T) {
	good := string(withRejection().Marshal())
	tests := []struct {
		name, in string
		want     error
	}{
		{"version 1 with a rejection", strings.Replace(good, `"v":2`, `"v":1`, 1), ErrCorrupt},
		{"version 2 without", strings.Replace(string(valid().Marshal()), `"v":1`, `"v":2`, 1), ErrCorrupt},
		{"from after offset", strings.Replace(good, `"from":12000`, `"from":12301`, 1), ErrInvalid},
		{"no command", strings.Replace(good, `"command":"INCR"`, `"command":""`, 1), ErrInvalid},
		{"negative omitted", strings.Replace(good, `"v":2`, `"v":2,"rejected_omitted":-1`, 1), ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Unmarshal([]byte(tc.in)); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// What a rejection keeps of a command is bounded, whatever its size.
func TestNewRejectionIsBounded(t *testing.T) {
	big := []byte(strings.Repeat("x", 1<<20))
	args := [][]byte{[]byte("rpush"), big}
	for range 50 {
		args = append(args, big)
	}
	r := NewRejection(args, strings.Repeat("E", 10000))
	if !r.Truncated || len(r.Key) > MaxShown || len(r.Args) != MaxArgs || len(r.Answer) > MaxAnswer {
		t.Fatalf("not bounded: key %d, %d args, answer %d, truncated %v", len(r.Key), len(r.Args), len(r.Answer), r.Truncated)
	}
	st := valid()
	for range MaxRejections {
		st.Rejected = append(st.Rejected, r)
	}
	if n := len(st.Marshal()); n > MaxRejections*(MaxShown*(MaxArgs+2)+MaxAnswer+300) {
		t.Fatalf("a full checkpoint is %d bytes", n)
	}
	if r := NewRejection([][]byte{[]byte("SET"), []byte("k\x00\xff")}, "x"); r.Key != `"k\x00\xff"` || r.Truncated {
		t.Fatalf("binary key shown as %s (truncated %v)", r.Key, r.Truncated)
	}
}

// TestNewRejectionOfScript: a script's rejection shows its first key, not
// its code (redferry's translations are scripts).
func TestNewRejectionOfScript(t *testing.T) {
	for _, tc := range []struct {
		args []string
		key  string
	}{
		{[]string{"eval", "return redis.call('XCLAIM', KEYS[1])", "1", "s", "g"}, "s"},
		{[]string{"EVALSHA", "abc", "2", "a", "b"}, "a"},
		{[]string{"FCALL", "f", "0", "x"}, ""},
		{[]string{"EVAL", "return 1"}, ""},
	} {
		args := make([][]byte, len(tc.args))
		for i, a := range tc.args {
			args[i] = []byte(a)
		}
		if r := NewRejection(args, "ERR x"); r.Key != tc.key || r.Command != strings.ToUpper(tc.args[0]) {
			t.Errorf("%q: command %s key %s, want key %s", tc.args, r.Command, r.Key, tc.key)
		}
	}
}

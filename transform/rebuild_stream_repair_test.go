package transform

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

func TestScratchKey(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"s", "{s}__redferry_stream_copy__:"},
		{"a{tag}b", "{tag}__redferry_stream_copy__:a{tag}b"},
		{"{}x", "{" + sink.TagForSlot(sink.KeySlot([]byte("{}x"))) + "}__redferry_stream_copy__:{}x"},
		{"a}b", "{" + sink.TagForSlot(sink.KeySlot([]byte("a}b"))) + "}__redferry_stream_copy__:a}b"},
		{"a{b", "{" + sink.TagForSlot(sink.KeySlot([]byte("a{b"))) + "}__redferry_stream_copy__:a{b"},
	} {
		got := scratchKey([]byte(tc.key), scratchCopy)
		if string(got) != tc.want {
			t.Errorf("scratchKey(%q) = %q, want %q", tc.key, got, tc.want)
		}
		// A cluster target runs the repair script only within one slot.
		if sink.KeySlot(got) != sink.KeySlot([]byte(tc.key)) {
			t.Errorf("scratchKey(%q) = %q is in slot %d, the key in slot %d", tc.key, got, sink.KeySlot(got), sink.KeySlot([]byte(tc.key)))
		}
	}
}

// TestStreamRepairInSteps: a stream whose first 3000 pending entries lost
// their messages to trimming is copied by the bounded steps the rebuild
// plans, of at most 500 entries each; the final call finds nothing left.
func TestStreamRepairInSteps(t *testing.T) {
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: []string{"stream-node-max-entries", "4"}})
	c := src.Client()
	defer c.Close()
	cx := ctx(t)
	script := "for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do redis.call('XADD', KEYS[1], i .. '-0', 'f', string.rep('x', i % 200)) end"
	for i := 1; i <= 5000; i += 1000 {
		if err := c.Eval(cx, script, []string{"s"}, i, i+999).Err(); err != nil && err != redis.Nil {
			t.Fatal(err)
		}
	}
	for _, cmd := range [][]any{{"XGROUP", "CREATE", "s", "g", "0"}, {"XREADGROUP", "GROUP", "g", "a", "COUNT", 3500, "STREAMS", "s", ">"},
		{"XTRIM", "s", "MAXLEN", 2000}, {"SAVE"}} {
		if err := c.Do(cx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(src.Dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	dst := redistest.Start(t, redistest.Redis86, redistest.Options{})
	s := newSink(t, dst, sink.Config{})
	rb := NewRebuilder(s.Server(), RebuildOptions{})
	var b sink.Batch
	if err := rdbparse.NewDecoder(bytes.NewReader(data), rdbparse.Options{}).Decode(func(e *rdbparse.Event) error {
		return rb.Handle(e, &b)
	}); err != nil {
		t.Fatal(err)
	}
	dc := dst.Client()
	defer dc.Close()
	steps := 0
	for i := range b.Len() {
		args, _ := b.Command(i)
		cmd := make([]any, len(args))
		for j, a := range args {
			cmd[j] = string(a)
		}
		r, err := dc.Do(cx, cmd...).Result()
		if err != nil {
			t.Fatalf("%.80q: %v", cmd, err)
		}
		if len(args) > 4 && string(args[1]) == repairScript {
			switch mode := string(args[7]); {
			case mode == "step" && r == int64(1):
				steps++
			case mode == "finish" && r != int64(0):
				t.Errorf("the final call still had work to do after %d steps", steps)
			}
		}
	}
	// Stage 0, 3000 ghosts and 2000 entries in steps of 500, the 500
	// pending entries whose message is there, stage 3.
	if steps != 1+10+1+1 {
		t.Errorf("%d steps did work, want 13", steps)
	}
	if p := dc.XPending(cx, "s", "g").Val(); p == nil || p.Count != 3500 {
		t.Errorf("pending %+v, want 3500", p)
	}
	if keys := dc.Keys(cx, "*").Val(); len(keys) != 1 || !strings.HasPrefix(keys[0], "s") {
		t.Errorf("keys left: %v", keys)
	}
}

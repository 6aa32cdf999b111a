package transform

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/rdbparse"
)

// TestIDMPAutoIIDMatchesServer: the idempotent id that idmpAutoIID computes
// for XADD … IDMPAUTO is the one Redis 8.6 stores (read from its DUMP), for
// entries of one and several pairs, in any order, empty, integer-like and
// long (XXH3's long-input path) fields and values.
func TestIDMPAutoIIDMatchesServer(t *testing.T) {
	srv := redistest.Start(t, redistest.Redis86, redistest.Options{})
	c := srv.Client()
	defer c.Close()
	long := strings.Repeat("x", 300)
	entries := [][]string{
		{"f", "v"}, {"a", "b", "c", "d"}, {"ab", "c"}, {"a", "bc"}, {"", "v"}, {"f", ""},
		{"12345", "-7"}, {long, "v"}, {"f", long + "y"}, {"z", "1", "y", "2", "x", "3"},
		{strings.Repeat("k", 17), strings.Repeat("v", 129)},
	}
	for i, fv := range entries {
		args := []any{"XADD", "s", "IDMPAUTO", fmt.Sprint("p", i), "*"}
		for _, a := range fv {
			args = append(args, a)
		}
		if err := c.Do(ctx(t), args...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	payload, err := c.Dump(ctx(t), "s").Result()
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string][]byte{}
	err = rdbparse.DecodeDump([]byte("s"), []byte(payload), rdbparse.Options{}, func(e *rdbparse.Event) error {
		if e.Kind == rdbparse.KindStreamIDMPEntry {
			stored[string(e.Name)] = append([]byte(nil), e.Value...)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, fv := range entries {
		var args [][]byte
		for _, a := range fv {
			args = append(args, []byte(a))
		}
		want, ok := stored[fmt.Sprint("p", i)]
		if got := idmpAutoIID(args); !ok || !bytes.Equal(got, want) {
			t.Errorf("entry %d (%.40q): iid %x, the server stored %x", i, fv, got, want)
		}
	}
}

package transform

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/sink"
)

// TestXClaimOfDeletedFrom6: a Redis 6.0 source moves a pending entry whose
// message was deleted or trimmed to the claiming consumer (one propagated
// XCLAIM … FORCE JUSTID per id); a 7.0+ target would drop it from the PEL.
// The translation moves it there too, so every target equals the source
// (PEL owners, delivery counts and times, consumers, entries), and a 7.0+
// target keeps its own last-generated-id, entries-added and
// max-deleted-entry-id, which a 6.0 source does not have to compare.
func TestXClaimOfDeletedFrom6(t *testing.T) {
	many := make([]string, 0, 2600)
	for i := 1; i <= 2600; i++ {
		many = append(many, fmt.Sprintf("XADD m %d-1 a %d", i, i))
	}
	cases := []struct {
		name         string
		setup, claim []string
		// stops: a 7.0+ target stops at the XCLAIM, naming the entry, and
		// keeps its PEL as it was (id 0-1: no last id below it can be set).
		stops string
		// maxDeleted: a 7.0+ target's max-deleted-entry-id after the XCLAIM,
		// where the key came from a 6.0 snapshot (RESTORE of a 6.0 DUMP):
		// 0-0 then, which no command sets back, so the highest claimed id.
		maxDeleted string
	}{
		{name: "deleted between live entries", setup: []string{
			"XADD s 1-1 a 1", "XADD s 1-2 a 2", "XADD s 1-3 a 3", "XGROUP CREATE s g 0",
			"XREADGROUP GROUP g c1 STREAMS s >", "XDEL s 1-2",
		}, claim: []string{"XCLAIM s g c2 0 1-1 1-2 1-3"}},
		{name: "the last entry deleted", setup: []string{
			"XADD s 1-1 a 1", "XADD s 2-0 a 2", "XGROUP CREATE s g 0", "XREADGROUP GROUP g c1 STREAMS s >", "XDEL s 2-0",
			"XGROUP CREATE s h $",
		}, claim: []string{"XCLAIM s g c2 0 2-0 RETRYCOUNT 5", "XCLAIM s g c1 0 2-0 JUSTID"}},
		{name: "trimmed away, nothing left below", setup: []string{
			"XADD s 1-0 a 1", "XADD s 1-1 a 2", "XADD s 3-0 a 3 b 4", "XGROUP CREATE s g 0",
			"XREADGROUP GROUP g c1 COUNT 2 STREAMS s >", "XTRIM s MAXLEN 1",
		}, claim: []string{"XCLAIM s g c2 0 1-1 1-0"}},
		{name: "the only entry deleted", setup: []string{
			"XADD s 0-1 a 1", "XGROUP CREATE s g 0", "XREADGROUP GROUP g c1 STREAMS s >", "XDEL s 0-1",
		}, claim: []string{"XCLAIM s g c2 0 0-1"}, stops: "pending entry 0-1"},
		{name: "the only entry deleted, above 0-1", setup: []string{
			"XADD s 0-2 a 1", "XGROUP CREATE s g 0", "XREADGROUP GROUP g c1 STREAMS s >", "XDEL s 0-2",
		}, claim: []string{"XCLAIM s g c2 0 0-2"}},
		{name: "deleted between live entries, from a snapshot", setup: []string{
			"XADD t 1-1 a 1", "XADD t 1-2 a 2", "XADD t 1-3 a 3", "XADD t 1-4 a 4", "XADD t 1-5 a 5", "XGROUP CREATE t g 0",
			"XREADGROUP GROUP g c1 STREAMS t >", "XDEL t 1-2 1-4", "RESTORE s 0 {dump:t}", "DEL t",
		}, claim: []string{"XCLAIM s g c2 0 1-4 1-1 1-2"}, maxDeleted: "1-4"},
		{name: "the last entry deleted, from a snapshot", setup: []string{
			"XADD t 1-1 a 1", "XADD t 2-0 a 2", "XGROUP CREATE t g 0", "XREADGROUP GROUP g c1 STREAMS t >", "XDEL t 2-0",
			"RESTORE s 0 {dump:t}", "DEL t",
		}, claim: []string{"XCLAIM s g c2 0 2-0"}, maxDeleted: "2-0"},
		{name: "thousands of entries above", setup: append(many,
			"XGROUP CREATE m g 0", "XREADGROUP GROUP g c1 COUNT 3 STREAMS m >", "XDEL m 2-1", "XREADGROUP GROUP g c3 STREAMS m >",
		), claim: []string{"XCLAIM m g c2 0 2-1 3-1"}},
	}
	src := startSource(t, redistest.Redis60)
	for _, tc := range cases {
		setup, err := src.run(t, tc.setup)
		if err != nil {
			t.Fatal(err)
		}
		var claim []captured
		for _, cmd := range tc.claim {
			if err := src.c.Do(ctx(t), splitCommand(cmd)...).Err(); err != nil {
				t.Fatal(err)
			}
		}
		claim = src.read(t)
		for _, name := range []string{redistest.Redis60, redistest.Redis70, redistest.Redis86, redistest.Valkey91} {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				srv := redistest.Start(t, name, redistest.Options{})
				s := newSink(t, srv, sink.Config{})
				c := srv.Client()
				defer c.Close()
				tr := NewTranslator(s.Server(), TranslateOptions{Source: src.info})
				apply := func(cmds []captured, from int) {
					var b sink.Batch
					for i, cmd := range cmds {
						if err := tr.Translate(cmd.args, cmd.raw, int64(from+i), &b); err != nil {
							t.Fatal(err)
						}
					}
					if err := s.Apply(ctx(t), &b); err != nil {
						t.Fatalf("the target refused the translation: %v", err)
					}
				}
				apply(setup, 1)
				key := strings.Fields(tc.setup[0])[1]
				if tc.maxDeleted != "" {
					key = "s"
				}
				before := streamCounters(t, &rigNode{c: c}, key)
				want := before
				if tc.maxDeleted != "" && s.Server().StreamV2() {
					if !strings.Contains(before, "max-deleted-entry-id 0-0 ") {
						t.Fatalf("the rig did not build the key as a 6.0 snapshot does: %s", before)
					}
					want = strings.Replace(before, "max-deleted-entry-id 0-0 ", "max-deleted-entry-id "+tc.maxDeleted+" ", 1)
				}
				if tc.stops != "" && s.Server().StreamV2() {
					pel := c.Do(ctx(t), "XPENDING", key, "g").String()
					var b sink.Batch
					for i, cmd := range claim {
						if err := tr.Translate(cmd.args, cmd.raw, int64(len(setup)+1+i), &b); err != nil {
							t.Fatal(err)
						}
					}
					err := s.Apply(ctx(t), &b)
					var te *sink.TargetError
					if !errors.As(err, &te) || string(te.Key) != key || !strings.Contains(te.Message, tc.stops) {
						t.Fatalf("want a target error naming key %s and %q, got %v", key, tc.stops, err)
					}
					if after := c.Do(ctx(t), "XPENDING", key, "g").String(); after != pel {
						t.Errorf("the PEL changed: %s before, %s after", pel, after)
					}
					return
				}
				apply(claim, len(setup)+1)
				if diffs := equal(t, src, &rigNode{c: c}); len(diffs) > 0 {
					t.Fatalf("the target differs: %v", diffs)
				}
				if after := streamCounters(t, &rigNode{c: c}, key); after != want {
					t.Errorf("XINFO STREAM %s: %s before the XCLAIM, %s after, want %s", key, before, after, want)
				}
			})
		}
	}
}

// streamCounters is a stream's last-generated-id, entries-added,
// max-deleted-entry-id and first id, and its groups' last ids, entries-read
// and lag (7.0+), as one string.
func streamCounters(t *testing.T, n *rigNode, key string) string {
	t.Helper()
	info, err := n.c.Do(ctx(t), "XINFO", "STREAM", key).Result()
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]any{}
	switch v := info.(type) {
	case map[any]any: // RESP3
		for k, x := range v {
			fields[fmt.Sprint(k)] = x
		}
	case []any: // RESP2: name, value, …
		for i := 0; i+1 < len(v); i += 2 {
			fields[fmt.Sprint(v[i])] = v[i+1]
		}
	}
	groups, err := n.c.XInfoGroups(ctx(t), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := fmt.Sprintf("last-generated-id %v entries-added %v max-deleted-entry-id %v recorded-first-entry-id %v",
		fields["last-generated-id"], fields["entries-added"], fields["max-deleted-entry-id"], fields["recorded-first-entry-id"])
	for _, g := range groups {
		out += fmt.Sprintf("; group %s last-delivered-id %s entries-read %d lag %d", g.Name, g.LastDeliveredID, g.EntriesRead, g.Lag)
	}
	return out
}

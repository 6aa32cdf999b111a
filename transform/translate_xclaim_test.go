package transform

import (
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/sink"
)

// TestXClaimOfDeletedFrom6: a Redis 6.0 source moves a pending entry whose
// message was deleted to the claiming consumer; a 7.0+ target cannot (it
// would drop it from the PEL). The sync stops with an error naming the key
// and the id, and nothing of that XCLAIM applied (the source propagates
// one XCLAIM per id: the others are claimed); a 6.0 target takes the command as it is and equals the source.
func TestXClaimOfDeletedFrom6(t *testing.T) {
	src := startSource(t, redistest.Redis60)
	stream, err := src.run(t, []string{
		"XADD s 1-1 a 1", "XADD s 1-2 a 2", "XADD s 1-3 a 3", "XGROUP CREATE s g 0",
		"XREADGROUP GROUP g c1 STREAMS s >", "XDEL s 1-2", "XCLAIM s g c2 0 1-1 1-2 1-3",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{redistest.Redis60, redistest.Redis70, redistest.Redis86, redistest.Valkey91} {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t, name, redistest.Options{})
			s := newSink(t, srv, sink.Config{})
			tr := NewTranslator(s.Server(), TranslateOptions{Source: src.info})
			var b sink.Batch
			for i, c := range stream {
				if err := tr.Translate(c.args, c.raw, int64(i+1), &b); err != nil {
					t.Fatal(err)
				}
			}
			err := s.Apply(ctx(t), &b)
			c := srv.Client()
			defer c.Close()
			owners := map[string]string{}
			for _, p := range c.XPendingExt(ctx(t), &redis.XPendingExtArgs{Stream: "s", Group: "g", Start: "-", End: "+", Count: 10}).Val() {
				owners[p.ID] = p.Consumer
			}
			if !s.Server().StreamV2() {
				if err != nil {
					t.Fatal(err)
				}
				if diffs := equal(t, src, &rigNode{c: c}); len(diffs) > 0 {
					t.Fatalf("the target differs: %v", diffs)
				}
				return
			}
			var te *sink.TargetError
			if !errors.As(err, &te) || string(te.Key) != "s" || !strings.Contains(te.Message, "pending entry 1-2") ||
				!strings.Contains(te.Message, "6.x") {
				t.Fatalf("want a target error naming key s and entry 1-2, got %v", err)
			}
			if want := map[string]string{"1-1": "c2", "1-2": "c1", "1-3": "c2"}; len(owners) != 3 ||
				owners["1-1"] != want["1-1"] || owners["1-2"] != want["1-2"] || owners["1-3"] != want["1-3"] {
				t.Fatalf("PEL owners %v, want %v", owners, want)
			}
			t.Logf("%v", err)
		})
	}
}

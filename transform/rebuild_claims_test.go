package transform

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

// A consumer's pending entries go as few XCLAIMs (one per run of equal
// delivery time and count, at most MaxArgs ids each): every entry must still
// end up with its own consumer, time and count, a deleted one included, and
// so must one whose message is gone (trimmed away) inside a run, which the
// run's XCLAIM leaves out and the stream copy adds.
func TestRebuildStreamClaimRuns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		server  string
		maxArgs int
	}{
		{redistest.Redis60, 0},
		{redistest.Redis70, 2},
		{redistest.Valkey91, 0},
		{redistest.Valkey91, 1},
	} {
		t.Run(fmt.Sprintf("%s/max-args-%d", tc.server, tc.maxArgs), func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, tc.server, redistest.Options{})
			s := newSink(t, srv, sink.Config{})
			now := time.Now().UnixMilli()
			t1, t2 := now-90_000, now-10_000
			type pe struct {
				id       rdbparse.StreamID
				consumer string
				at       int64
				count    int64
				gone     bool // no message: trimmed away before the snapshot
			}
			// c1: a run of four (one without a message, one deleted from the
			// stream), one other, then the first run's time and count again;
			// c2: a run with a message gone in its middle, the same time with
			// another count, the same count at another time.
			want := []pe{
				{sid(0, 1), "c1", t1, 2, true}, {sid(1, 0), "c1", t1, 2, false}, {sid(2, 0), "c1", t1, 2, false}, {sid(3, 0), "c1", t1, 2, false},
				{sid(4, 0), "c1", t2, 1, false}, {sid(5, 0), "c1", t1, 2, false},
				{sid(6, 0), "c2", t2, 1, false}, {sid(7, 0), "c2", t2, 1, false}, {sid(7, 5), "c2", t2, 1, true}, {sid(7, 6), "c2", t2, 1, false},
				{sid(8, 0), "c2", t2, 4, false}, {sid(9, 0), "c2", t1, 4, false},
			}
			es := events{}.key(0, "st", rdbparse.TypeStream, 0)
			for _, p := range want {
				if p.gone {
					continue
				}
				kind := rdbparse.KindStreamEntry
				if p.id == sid(3, 0) {
					kind = rdbparse.KindStreamDeletedEntry
				}
				es = es.add(rdbparse.Event{Kind: kind, ID: p.id, Fields: [][]byte{[]byte("f"), []byte("v")}})
			}
			es = es.add(rdbparse.Event{Kind: rdbparse.KindStreamMeta, Stream: rdbparse.StreamMeta{Length: 9, LastID: sid(9, 0)}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamGroup, Group: rdbparse.StreamGroup{Name: []byte("g"), LastID: sid(9, 0)}})
			for _, p := range want {
				es = es.add(rdbparse.Event{Kind: rdbparse.KindStreamPending, ID: p.id, DeliveryTime: p.at, DeliveryCount: uint64(p.count)})
			}
			consumer := ""
			for _, p := range want {
				if p.consumer != consumer {
					consumer = p.consumer
					es = es.add(rdbparse.Event{Kind: rdbparse.KindStreamConsumer, Consumer: rdbparse.StreamConsumer{Name: []byte(consumer)}})
				}
				es = es.add(rdbparse.Event{Kind: rdbparse.KindStreamConsumerPending, ID: p.id})
			}
			b, err := rebuild(t, s.Server(), RebuildOptions{MaxArgs: tc.maxArgs}, es.end())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Apply(ctx(t), b); err != nil {
				t.Fatal(err)
			}
			c := srv.Client()
			defer c.Close()
			if n := c.XLen(ctx(t), "st").Val(); n != 9 {
				t.Errorf("XLEN = %d, want 9 (the deleted entry deleted again, no message of a gone one)", n)
			}
			var live, got []string
			for _, p := range want {
				if !p.gone && p.id != sid(3, 0) {
					live = append(live, p.id.String())
				}
			}
			for _, m := range c.XRange(ctx(t), "st", "-", "+").Val() {
				got = append(got, m.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(live) {
				t.Errorf("stream entries %v, want %v (no stand-ins left)", got, live)
			}
			pend := c.XPendingExt(ctx(t), &redis.XPendingExtArgs{Stream: "st", Group: "g", Start: "-", End: "+", Count: 100}).Val()
			if len(pend) != len(want) {
				t.Fatalf("PEL has %d entries, want %d: %+v", len(pend), len(want), pend)
			}
			for i, p := range pend {
				w := want[i]
				at := time.Now().Add(-p.Idle).UnixMilli()
				if p.ID != w.id.String() || p.Consumer != w.consumer || p.RetryCount != w.count || at < w.at-2000 || at > w.at+2000 {
					t.Errorf("PEL[%d] = %+v (delivered at %d), want %+v", i, p, at, w)
				}
			}
		})
	}
}

// An entry left out by on-unholdable-idmp = "skip" is deleted after the
// groups but before the last consumer's claims go: such a claim must not be
// taken for one that finds its message (a plain XCLAIM would drop it), and
// the pending entry stays with its consumer as for any message gone.
func TestRebuildStreamClaimAfterIDMPSkip(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	s := newSink(t, srv, sink.Config{})
	at := time.Now().UnixMilli() - 30_000
	es := events{}.key(0, "st", rdbparse.TypeStream, 0)
	for ms := uint64(1); ms <= 4; ms++ {
		es = es.add(rdbparse.Event{Kind: rdbparse.KindStreamEntry, ID: sid(ms, 0), Fields: [][]byte{[]byte("f"), []byte("v")}})
	}
	es = es.add(rdbparse.Event{Kind: rdbparse.KindStreamMeta, Stream: rdbparse.StreamMeta{Length: 4, LastID: sid(4, 0)}}).
		add(rdbparse.Event{Kind: rdbparse.KindStreamGroup, Group: rdbparse.StreamGroup{Name: []byte("g"), LastID: sid(4, 0)}})
	for ms := uint64(1); ms <= 4; ms++ {
		es = es.add(rdbparse.Event{Kind: rdbparse.KindStreamPending, ID: sid(ms, 0), DeliveryTime: at, DeliveryCount: 3})
	}
	owner := map[uint64]string{1: "c1", 2: "c1", 3: "c2", 4: "c2"}
	for _, c := range []string{"c1", "c2"} {
		es = es.add(rdbparse.Event{Kind: rdbparse.KindStreamConsumer, Consumer: rdbparse.StreamConsumer{Name: []byte(c)}})
		for ms := uint64(1); ms <= 4; ms++ {
			if owner[ms] == c {
				es = es.add(rdbparse.Event{Kind: rdbparse.KindStreamConsumerPending, ID: sid(ms, 0)})
			}
		}
	}
	es = es.add(rdbparse.Event{Kind: rdbparse.KindStreamIDMP, IDMP: rdbparse.StreamIDMP{Duration: 100, MaxSize: 100}}).
		add(rdbparse.Event{Kind: rdbparse.KindStreamIDMPEntry, Name: []byte("p"), Value: []byte("i"), ID: sid(4, 0)})
	opt := RebuildOptions{Unholdable: Unholdable{Policy: unholdable.Policy{IDMP: unholdable.Skip}}}
	b, err := rebuild(t, s.Server(), opt, es.end())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	defer c.Close()
	var ids []string
	for _, m := range c.XRange(ctx(t), "st", "-", "+").Val() {
		ids = append(ids, m.ID)
	}
	if fmt.Sprint(ids) != "[1-0 2-0 3-0]" {
		t.Errorf("stream entries %v, want [1-0 2-0 3-0] (4-0 left out)", ids)
	}
	pend := c.XPendingExt(ctx(t), &redis.XPendingExtArgs{Stream: "st", Group: "g", Start: "-", End: "+", Count: 10}).Val()
	if len(pend) != 4 {
		t.Fatalf("PEL %+v, want 4 entries (4-0's kept, as for any pending entry whose message is gone)", pend)
	}
	for i, p := range pend {
		if want := sid(uint64(i+1), 0).String(); p.ID != want || p.Consumer != owner[uint64(i+1)] || p.RetryCount != 3 {
			t.Errorf("PEL[%d] = %+v, want %s of %s delivered 3 times", i, p, want, owner[uint64(i+1)])
		}
	}
}

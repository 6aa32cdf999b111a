package transform

import (
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

func sid(ms, seq uint64) rdbparse.StreamID { return rdbparse.StreamID{Ms: ms, Seq: seq} }

func TestRebuildStreams(t *testing.T) {
	t.Parallel()
	for _, name := range redistest.All {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, name, redistest.Options{})
			s := newSink(t, srv, sink.Config{})
			now := time.Now().UnixMilli()
			t1, t2 := now-60_000, now-5_000
			var es events
			// A stream with a deleted entry (3-0) that is still pending, two
			// groups, a PEL split over two consumers, and a consumer without
			// pending entries.
			es = es.key(0, "st", rdbparse.TypeStream, 0).
				add(rdbparse.Event{Kind: rdbparse.KindStreamEntry, ID: sid(1, 1), Fields: [][]byte{[]byte("a"), []byte("1")}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamEntry, ID: sid(2, 0), Fields: [][]byte{[]byte("b"), []byte("2"), []byte("c"), []byte("\x00")}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamDeletedEntry, ID: sid(3, 0), Fields: [][]byte{[]byte("gone"), []byte("3")}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamEntry, ID: sid(4, 7), Fields: [][]byte{[]byte("d"), []byte("4")}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamMeta, Stream: rdbparse.StreamMeta{Length: 3, LastID: sid(5, 0),
					FirstID: sid(1, 1), MaxDeletedID: sid(5, 0), EntriesAdded: 5, HasV2Fields: true}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamGroup, Group: rdbparse.StreamGroup{Name: []byte("g1"), LastID: sid(4, 7), EntriesRead: 4, HasEntriesRead: true}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamPending, ID: sid(1, 1), DeliveryTime: t1, DeliveryCount: 3}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamPending, ID: sid(2, 0), DeliveryTime: t2, DeliveryCount: 1}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamPending, ID: sid(3, 0), DeliveryTime: t1, DeliveryCount: 2}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamPending, ID: sid(4, 7), DeliveryTime: t2, DeliveryCount: 9}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamConsumer, Consumer: rdbparse.StreamConsumer{Name: []byte("c1")}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamConsumerPending, ID: sid(1, 1)}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamConsumerPending, ID: sid(4, 7)}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamConsumer, Consumer: rdbparse.StreamConsumer{Name: []byte("idle")}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamConsumer, Consumer: rdbparse.StreamConsumer{Name: []byte("c2")}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamConsumerPending, ID: sid(2, 0)}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamConsumerPending, ID: sid(3, 0)}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamGroup, Group: rdbparse.StreamGroup{Name: []byte("g2"), LastID: sid(0, 0), EntriesRead: -1}}).
				end()
			// Empty streams: one with a last id, one never written (0-0), with a group.
			es = es.key(0, "empty", rdbparse.TypeStream, 0).
				add(rdbparse.Event{Kind: rdbparse.KindStreamMeta, Stream: rdbparse.StreamMeta{LastID: sid(9, 9), MaxDeletedID: sid(9, 9), EntriesAdded: 2, HasV2Fields: true}}).
				end()
			es = es.key(0, "empty0", rdbparse.TypeStream, 0).
				add(rdbparse.Event{Kind: rdbparse.KindStreamMeta}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamGroup, Group: rdbparse.StreamGroup{Name: []byte("g"), LastID: sid(0, 0)}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamConsumer, Consumer: rdbparse.StreamConsumer{Name: []byte("c")}}).
				end()
			// Trimmed (XTRIM), not XDELed: a deleted entry still stored,
			// and max-deleted-id below it, which the stand-in's XDEL must
			// not raise.
			es = es.key(0, "trimmed", rdbparse.TypeStream, 0).
				add(rdbparse.Event{Kind: rdbparse.KindStreamDeletedEntry, ID: sid(3, 0), Fields: [][]byte{[]byte("gone"), []byte("3")}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamEntry, ID: sid(4, 0), Fields: [][]byte{[]byte("d"), []byte("4")}}).
				add(rdbparse.Event{Kind: rdbparse.KindStreamMeta, Stream: rdbparse.StreamMeta{Length: 1, LastID: sid(4, 0),
					FirstID: sid(4, 0), EntriesAdded: 4, HasV2Fields: true}}).
				end()
			b, err := rebuild(t, s.Server(), RebuildOptions{}, es)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Apply(ctx(t), b); err != nil {
				t.Fatal(err)
			}
			c := srv.Client()
			defer c.Close()
			cx := ctx(t)
			msgs := c.XRange(cx, "st", "-", "+").Val()
			want := []redis.XMessage{{ID: "1-1", Values: map[string]any{"a": "1"}}, {ID: "2-0", Values: map[string]any{"b": "2", "c": "\x00"}}, {ID: "4-7", Values: map[string]any{"d": "4"}}}
			if !reflect.DeepEqual(msgs, want) {
				t.Errorf("entries = %v", msgs)
			}
			info := xinfo(t, c, "st")
			if info["last-generated-id"] != "5-0" || info["length"] != int64(3) || info["groups"] != int64(2) {
				t.Errorf("XINFO STREAM st = %v", info)
			}
			if s.Server().StreamV2() && (info["entries-added"] != int64(5) || info["max-deleted-entry-id"] != "5-0") {
				t.Errorf("v2 fields: %v", info)
			}
			if tr := xinfo(t, c, "trimmed"); tr["length"] != int64(1) ||
				s.Server().StreamV2() && (tr["max-deleted-entry-id"] != "0-0" || tr["entries-added"] != int64(4)) {
				t.Errorf("XINFO STREAM trimmed = %v, want length 1, max-deleted-entry-id 0-0, entries-added 4", tr)
			}
			groups := c.XInfoGroups(cx, "st").Val()
			if len(groups) != 2 || groups[0].Name != "g1" || groups[0].LastDeliveredID != "4-7" || groups[0].Pending != 4 || groups[0].Consumers != 3 {
				t.Errorf("groups = %+v", groups)
			}
			if s.Server().StreamV2() && groups[0].EntriesRead != 4 {
				t.Errorf("g1 entries-read = %d", groups[0].EntriesRead)
			}
			pend := c.XPendingExt(cx, &redis.XPendingExtArgs{Stream: "st", Group: "g1", Start: "-", End: "+", Count: 10}).Val()
			type pe struct {
				id, consumer string
				count        int64
				at           int64
			}
			wantPend := []pe{{"1-1", "c1", 3, t1}, {"2-0", "c2", 1, t2}, {"3-0", "c2", 2, t1}, {"4-7", "c1", 9, t2}}
			if len(pend) != len(wantPend) {
				t.Fatalf("PEL = %+v", pend)
			}
			for i, p := range pend {
				w := wantPend[i]
				at := time.Now().Add(-p.Idle).UnixMilli()
				if p.ID != w.id || p.Consumer != w.consumer || p.RetryCount != w.count || at < w.at-2000 || at > w.at+2000 {
					t.Errorf("PEL[%d] = %+v (delivered at %d), want %+v", i, p, at, w)
				}
			}
			cons := c.XInfoConsumers(cx, "st", "g1").Val()
			if len(cons) != 3 || cons[2].Name != "idle" || cons[2].Pending != 0 {
				t.Errorf("consumers = %+v", cons)
			}
			if info := xinfo(t, c, "empty"); info["length"] != int64(0) || info["last-generated-id"] != "9-9" || info["groups"] != int64(0) {
				t.Errorf("XINFO STREAM empty = %v", info)
			}
			if info := xinfo(t, c, "empty0"); info["length"] != int64(0) || info["last-generated-id"] != "0-0" || info["groups"] != int64(1) {
				t.Errorf("XINFO STREAM empty0 = %v", info)
			}
			if cons := c.XInfoConsumers(cx, "empty0", "g").Val(); len(cons) != 1 || cons[0].Name != "c" {
				t.Errorf("empty0 consumers = %+v", cons)
			}
		})
	}
}

// xinfo returns XINFO STREAM's flat fields.
func xinfo(t *testing.T, c *redis.Client, key string) map[string]any {
	t.Helper()
	v, err := c.Do(ctx(t), "XINFO", "STREAM", key).Slice()
	if err != nil {
		t.Fatalf("XINFO STREAM %s: %v", key, err)
	}
	m := map[string]any{}
	for i := 0; i+1 < len(v); i += 2 {
		m[v[i].(string)] = v[i+1]
	}
	return m
}

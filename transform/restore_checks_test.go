package transform

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

// keyEvents is one key as the decoder hands it over: the key's header
// fields stay set on its element events and on its end.
func keyEvents(db int, key string, typ rdbparse.ValueType, off int64, elems events, end rdbparse.Event) events {
	head := rdbparse.Event{Kind: rdbparse.KindKey, DB: db, Key: []byte(key), Type: typ, Offset: off, Idle: -1, Freq: -1, Len: -1}
	es := events{head}
	for _, e := range elems {
		e.DB, e.Key, e.Type, e.Offset, e.Idle, e.Freq, e.Len = db, head.Key, typ, off, -1, -1, -1
		es = append(es, e)
	}
	end.Kind, end.DB, end.Key, end.Type, end.Offset, end.Idle, end.Freq, end.Len = rdbparse.KindKeyEnd, db, head.Key, typ, off, -1, -1, -1
	return append(es, end)
}

func runRestorer(r *Restorer, version int, es events) (*sink.Batch, error) {
	b := &sink.Batch{}
	if err := r.Handle(&rdbparse.Event{Kind: rdbparse.KindHeader, Magic: "REDIS", Version: version}, b); err != nil {
		return b, err
	}
	for i := range es {
		if err := r.Handle(&es[i], b); err != nil {
			return b, err
		}
	}
	return b, nil
}

// commandNames lists the batch's commands as "NAME key".
func commandNames(b *sink.Batch) []string {
	var out []string
	for i := 0; i < b.Len(); i++ {
		args, _ := b.Command(i)
		s := string(args[0])
		if len(args) > 1 {
			s += " " + string(args[1])
		}
		out = append(out, s)
	}
	return out
}

var redis80Caps = named("redis-8.0.2")

// TestRestorerSkipsEmptyKeys: a collection with no element is left out in
// every mode (no RESTORE, which the target would refuse, no PEXPIREAT) and
// counted; the keys around it are written.
func TestRestorerSkipsEmptyKeys(t *testing.T) {
	empty := keyEvents(0, "e", rdbparse.TypeSet, 100, nil, rdbparse.Event{Empty: true, Raw: []byte{2, 0}})
	empty[0].ExpireAt, empty[1].ExpireAt = 4102444800000, 4102444800000
	full := keyEvents(0, "s", rdbparse.TypeSet, 200, items(rdbparse.KindSetMember, "x"), rdbparse.Event{Raw: []byte{2, 1, 1, 'x'}})
	for _, mode := range []string{ModeAuto, ModeCommands, ModeRestore} {
		r := NewRestorer(redis80Caps, RebuildOptions{}, RestoreOptions{Mode: mode})
		b, err := runRestorer(r, 11, append(append(events{}, empty...), full...))
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		got := strings.Join(commandNames(b), ", ")
		want := "SELECT 0, RESTORE s"
		if mode == ModeCommands {
			want = "SELECT 0, SADD s"
		}
		if got != want || r.Stats.SkippedEmpty != 1 {
			t.Errorf("%s: commands %q (want %q), stats %+v", mode, got, want, r.Stats)
		}
	}
}

// TestRestorerModuleAux: module aux data stops the restore, naming the
// module and offset, or with on-unholdable-module = skip is left out and counted.
func TestRestorerModuleAux(t *testing.T) {
	aux := events{{Kind: rdbparse.KindModuleAux, Name: []byte("graphdata"), Offset: 77}}
	_, err := runRestorer(NewRestorer(redis80Caps, RebuildOptions{}, RestoreOptions{}), 11, aux)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), `"graphdata"`) || !strings.Contains(err.Error(), "offset 77") ||
		!strings.Contains(err.Error(), "on-unholdable-module") {
		t.Fatalf("error %v: want one naming the module, the offset and the setting", err)
	}
	r := NewRestorer(redis80Caps, RebuildOptions{}, RestoreOptions{Unholdable: Unholdable{Policy: unholdable.Policy{Module: unholdable.Skip}}})
	if b, err := runRestorer(r, 11, aux); err != nil || b.Len() != 0 || r.Stats.SkippedModuleAux != 1 {
		t.Fatalf("skip: %v, %d commands, stats %+v", err, b.Len(), r.Stats)
	}
}

// TestRefuseDuplicates: a key stored twice in a db makes the
// target answer BUSYKEY at the second copy's offset, in both replay
// modes; the same name in another db is no duplicate; a key guarded by a
// false "maybe seen" is written as if unguarded. Redis 6.0 and Valkey 9.1
// read the guard's RDB 6 payload.
func TestRefuseDuplicates(t *testing.T) {
	t.Parallel()
	for _, name := range []string{redistest.Redis60, redistest.Valkey91} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, name, redistest.Options{})
			s := newSink(t, srv, sink.Config{})
			c := srv.Client()
			defer c.Close()
			str := func(db int, key, val string, off int64) events {
				return keyEvents(db, key, rdbparse.TypeString, off, events{{Kind: rdbparse.KindString, Value: []byte(val), Last: true}},
					rdbparse.Event{Raw: append([]byte{0, byte(len(val))}, val...)})
			}
			for _, mode := range []string{ModeAuto, ModeCommands} {
				if err := c.FlushAll(ctx(t)).Err(); err != nil {
					t.Fatal(err)
				}
				es := append(str(0, "a", "1", 100), str(1, "a", "other db", 200)...)
				es = append(es, keyEvents(0, "l", rdbparse.TypeList, 300, items(rdbparse.KindListItem, "x", "y"), rdbparse.Event{})...)
				es = append(es, str(0, "a", "2", 400)...)
				r := NewRestorer(s.Server(), RebuildOptions{}, RestoreOptions{Mode: mode, RefuseDuplicates: true})
				b, err := runRestorer(r, 9, es)
				if err != nil {
					t.Fatal(err)
				}
				err = s.Apply(ctx(t), b)
				var te *sink.TargetError
				if !errors.As(err, &te) || !strings.HasPrefix(te.Message, "BUSYKEY") || string(te.Key) != "a" || te.Offset != 400 {
					t.Fatalf("%s: %v: want BUSYKEY for key a at offset 400", mode, err)
				}
			}

			if err := c.FlushAll(ctx(t)).Err(); err != nil {
				t.Fatal(err)
			}
			r := NewRestorer(s.Server(), RebuildOptions{}, RestoreOptions{Mode: ModeCommands, RefuseDuplicates: true})
			r.seen = newKeyFilter()
			r.seen.testAndAdd(0, []byte("n")) // a false positive for n
			b, err := runRestorer(r, 9, keyEvents(0, "n", rdbparse.TypeList, 100, items(rdbparse.KindListItem, "x", "y"), rdbparse.Event{}))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Apply(ctx(t), b); err != nil {
				t.Fatal(err)
			}
			if got := c.LRange(ctx(t), "n", 0, -1).Val(); r.Stats.Guarded != 1 || fmt.Sprint(got) != "[x y]" || c.DBSize(ctx(t)).Val() != 1 {
				t.Fatalf("guarded list %v, stats %+v, %d keys", got, r.Stats, c.DBSize(ctx(t)).Val())
			}
		})
	}
}

// TestKeyFilter: every key added before is "maybe seen"; of keys never
// added, few are; the filter grows past its first stage.
func TestKeyFilter(t *testing.T) {
	f := newKeyFilter()
	const n = 200_000
	for i := 0; i < n; i++ {
		if f.testAndAdd(i%3, []byte(fmt.Sprintf("key:%d", i))) && i < 1000 {
			t.Fatalf("a new key seen in an almost empty filter")
		}
	}
	for i := 0; i < n; i++ {
		if !f.testAndAdd(i%3, []byte(fmt.Sprintf("key:%d", i))) {
			t.Fatalf("key:%d added before, not seen", i)
		}
	}
	fp := 0
	for i := 0; i < n; i++ {
		if f.testAndAdd(i%3, []byte(fmt.Sprintf("other:%d", i))) {
			fp++
		}
	}
	if fp > n*3/100 || len(f.stages) < 2 || f.bytes > filterMaxBytes {
		t.Fatalf("%d false positives in %d, %d stages, %d bytes", fp, n, len(f.stages), f.bytes)
	}
	if f.testAndAdd(7, []byte("key:1")) && f.testAndAdd(8, []byte("key:1")) && f.testAndAdd(9, []byte("key:1")) {
		t.Fatal("the db is not part of the key")
	}
}

// TestStreamLengthMismatch: a stream whose stored length is not its number
// of entries cannot be rebuilt by commands (an error naming the key and
// offset, ErrNeedsRestore); in auto mode its captured value is RESTOREd.
func TestStreamLengthMismatch(t *testing.T) {
	es := keyEvents(0, "trim", rdbparse.TypeStream, 500, events{
		{Kind: rdbparse.KindStreamEntry, ID: sid(1, 0), Fields: [][]byte{[]byte("f"), []byte("v")}},
		{Kind: rdbparse.KindStreamDeletedEntry, ID: sid(2, 0), Fields: [][]byte{[]byte("f"), []byte("v")}},
		{Kind: rdbparse.KindStreamMeta, Stream: rdbparse.StreamMeta{Length: 2, LastID: sid(2, 0), EntriesAdded: 2}},
	}, rdbparse.Event{Raw: []byte{15, 0}})
	_, err := runRestorer(NewRestorer(redis80Caps, RebuildOptions{}, RestoreOptions{Mode: ModeCommands}), 9, es)
	if !errors.Is(err, ErrNeedsRestore) || !strings.Contains(err.Error(), `"trim"`) || !strings.Contains(err.Error(), "offset 500") {
		t.Fatalf("commands: %v", err)
	}
	r := NewRestorer(redis80Caps, RebuildOptions{}, RestoreOptions{Mode: ModeAuto})
	b, err := runRestorer(r, 9, es)
	if err != nil || strings.Join(commandNames(b), ", ") != "SELECT 0, RESTORE trim" {
		t.Fatalf("auto: %v, %q", err, commandNames(b))
	}
}

// TestEstimateEntriesRead: the entries-read Redis 7.0+ gives the groups of
// a stream saved before RDB 10 (streamEstimateDistanceFromFirstEverEntry).
func TestEstimateEntriesRead(t *testing.T) {
	meta := rdbparse.StreamMeta{Length: 3, LastID: sid(9, 0), EntriesAdded: 3}
	cases := []struct {
		name  string
		meta  rdbparse.StreamMeta
		live  int
		first rdbparse.StreamID
		group rdbparse.StreamID
		want  int64
	}{
		{"never written", rdbparse.StreamMeta{}, 0, sid(0, 0), sid(0, 0), 0},
		{"emptied, at its end", rdbparse.StreamMeta{LastID: sid(5, 0), EntriesAdded: 4}, 0, sid(0, 0), sid(5, 0), 4},
		{"at the last entry", meta, 3, sid(2, 0), sid(9, 0), 3},
		{"past the last entry", meta, 3, sid(2, 0), sid(10, 0), -1},
		{"before the first", meta, 3, sid(2, 0), sid(0, 0), 0},
		{"at the first", meta, 3, sid(2, 0), sid(2, 0), 1},
		{"in between", meta, 3, sid(2, 0), sid(5, 0), -1},
		{"before a deletion", rdbparse.StreamMeta{Length: 3, LastID: sid(9, 0), EntriesAdded: 5, MaxDeletedID: sid(4, 0)}, 3, sid(2, 0), sid(3, 0), -1},
	}
	for _, c := range cases {
		s := streamState{meta: c.meta, live: c.live, first: c.first}
		if got := s.estimateEntriesRead(c.group); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

package transform

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

// events builds snapshot event sequences by hand.
type events []rdbparse.Event

var evOffset atomic.Int64

func (es events) key(db int, key string, typ rdbparse.ValueType, expireAt int64) events {
	return append(es, rdbparse.Event{Kind: rdbparse.KindKey, DB: db, Key: []byte(key), Type: typ, ExpireAt: expireAt, Offset: evOffset.Add(100), Len: -1})
}

func (es events) end() events { return append(es, rdbparse.Event{Kind: rdbparse.KindKeyEnd}) }

func (es events) add(e rdbparse.Event) events { return append(es, e) }

func (es events) str(key string, pieces ...string) events {
	es = es.key(0, key, rdbparse.TypeString, 0)
	for i, p := range pieces {
		es = es.add(rdbparse.Event{Kind: rdbparse.KindString, Value: []byte(p), Last: i == len(pieces)-1})
	}
	return es.end()
}

// sized is str with the length in the key event, as the decoder gives it
// for a string it streams in pieces.
func (es events) sized(key string, pieces ...string) events {
	n := len(es)
	es = es.str(key, pieces...)
	for _, p := range pieces {
		es[n].Len += int64(len(p))
	}
	es[n].Len++ // from -1
	return es
}

func items(kind rdbparse.Kind, vals ...string) events {
	var es events
	for _, v := range vals {
		es = append(es, rdbparse.Event{Kind: kind, Value: []byte(v)})
	}
	return es
}

func rebuild(t *testing.T, caps server.Info, opt RebuildOptions, es events) (*sink.Batch, error) {
	t.Helper()
	r := NewRebuilder(caps, opt)
	b := &sink.Batch{}
	for i := range es {
		// The decoder's buffers are reused: hand the Rebuilder copies that
		// are clobbered after the call, to catch retained slices.
		e := es[i]
		e.Key, e.Value, e.Name = clone(e.Key), clone(e.Value), clone(e.Name)
		if err := r.Handle(&e, b); err != nil {
			return b, err
		}
		for _, p := range [][]byte{e.Key, e.Value, e.Name} {
			for j := range p {
				p[j] = '#'
			}
		}
	}
	return b, nil
}

func clone(p []byte) []byte {
	if p == nil {
		return nil
	}
	return append([]byte{}, p...)
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

func TestRebuildCommonTypes(t *testing.T) {
	t.Parallel()
	for _, name := range redistest.All {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, name, redistest.Options{})
			s := newSink(t, srv, sink.Config{})
			exp := time.Now().Add(time.Hour).UnixMilli()
			bigList := seq("item-", 5000)
			bigSet := seq("m", 1000)
			scores := []float64{math.Inf(1), math.Inf(-1), 1e-300, 9007199254740993, 0.1, -2.5, 0, math.MaxFloat64, math.SmallestNonzeroFloat64}
			var es events
			es = es.str("s-small", "hello")
			es = es.str("s-pieces", "abc", "defgh", "ij")
			es = es.sized("s-sized", "abc", "defgh", "ij")
			es = es.sized("s-sized-one", "abc")
			es = es.str("s-empty", "")
			es = es.str("\x00bin\r\nkey\xff", "\x00\x01\r\n")
			es = es.key(0, "s-exp", rdbparse.TypeString, exp).add(rdbparse.Event{Kind: rdbparse.KindString, Value: []byte("v"), Last: true}).end()
			es = append(es.key(0, "list", rdbparse.TypeList, 0), items(rdbparse.KindListItem, bigList...)...).end()
			es = append(es.key(0, "set", rdbparse.TypeSet, exp), items(rdbparse.KindSetMember, bigSet...)...).end()
			es = es.key(0, "zset", rdbparse.TypeZSet, 0)
			for i, sc := range scores {
				es = es.add(rdbparse.Event{Kind: rdbparse.KindZSetMember, Value: []byte("z" + strconv.Itoa(i)), Score: sc})
			}
			es = es.end().key(0, "hash", rdbparse.TypeHash, 0)
			for i := 0; i < 600; i++ {
				es = es.add(rdbparse.Event{Kind: rdbparse.KindHashField, Name: []byte("f" + strconv.Itoa(i)), Value: []byte("v" + strconv.Itoa(i))})
			}
			es = es.end()
			es = append(es.key(1, "db1-list", rdbparse.TypeList, 0), items(rdbparse.KindListItem, "a", "b")...).end()
			es = es.str("db0-again", "x")

			b, err := rebuild(t, s.Server(), RebuildOptions{MaxArgs: 100, MaxBytes: 4}, es)
			if err != nil {
				t.Fatal(err)
			}
			if b.Len() < 50+10+6 {
				t.Errorf("big keys were not split: %d commands", b.Len())
			}
			for i := 0; i < b.Len(); i++ {
				if args, _ := b.Command(i); len(args) > 2+100+100 {
					t.Fatalf("command %d has %d args", i, len(args))
				}
			}
			if err := s.Apply(ctx(t), b); err != nil {
				t.Fatal(err)
			}
			c := srv.Client()
			defer c.Close()
			c1 := srv.ClientDB(1)
			defer c1.Close()
			cx := ctx(t)
			for k, want := range map[string]string{"s-small": "hello", "s-pieces": "abcdefghij", "s-sized": "abcdefghij", "s-sized-one": "abc", "s-empty": "", "\x00bin\r\nkey\xff": "\x00\x01\r\n", "s-exp": "v", "db0-again": "x"} {
				if got, err := c.Get(cx, k).Result(); err != nil || got != want {
					t.Errorf("GET %q = %q, %v; want %q", k, got, err, want)
				}
			}
			checkPTTL(t, c, "s-exp", exp)
			checkPTTL(t, c, "set", exp)
			if got := c.LRange(cx, "list", 0, -1).Val(); !reflect.DeepEqual(got, bigList) {
				t.Errorf("list: %d items, want %d", len(got), len(bigList))
			}
			if got := c.SCard(cx, "set").Val(); got != int64(len(bigSet)) {
				t.Errorf("set: %d members", got)
			}
			zs := c.ZRangeWithScores(cx, "zset", 0, -1).Val()
			gotScores := map[string]float64{}
			for _, z := range zs {
				gotScores[z.Member.(string)] = z.Score
			}
			for i, sc := range scores {
				if g, ok := gotScores["z"+strconv.Itoa(i)]; !ok || g != sc {
					t.Errorf("zset score of z%d = %v, want %v", i, g, sc)
				}
			}
			h := c.HGetAll(cx, "hash").Val()
			if len(h) != 600 || h["f599"] != "v599" {
				t.Errorf("hash: %d fields", len(h))
			}
			if got := c1.LRange(cx, "db1-list", 0, -1).Val(); !reflect.DeepEqual(got, []string{"a", "b"}) {
				t.Errorf("db1 list = %q", got)
			}
			if n := c.Exists(cx, "db1-list").Val(); n != 0 {
				t.Errorf("db1-list leaked into db 0")
			}
		})
	}
}

func checkPTTL(t *testing.T, c *redis.Client, key string, expireAt int64) {
	t.Helper()
	ttl, err := c.PTTL(ctx(t), key).Result()
	want := time.Until(time.UnixMilli(expireAt))
	if err != nil || ttl < want-5*time.Second || ttl > want+time.Second {
		t.Errorf("PTTL %s = %v, %v; want about %v", key, ttl, err, want)
	}
}

func TestRebuildDeleteFirst(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis80, redistest.Options{})
	s := newSink(t, srv, sink.Config{})
	c := srv.Client()
	defer c.Close()
	c.RPush(ctx(t), "l", "old1", "old2")
	es := append(events{}.key(0, "l", rdbparse.TypeList, 0), items(rdbparse.KindListItem, "new")...).end()
	b, _ := rebuild(t, s.Server(), RebuildOptions{DeleteFirst: true}, es)
	if err := s.Apply(ctx(t), b); err != nil {
		t.Fatal(err)
	}
	if got := c.LRange(ctx(t), "l", 0, -1).Val(); !reflect.DeepEqual(got, []string{"new"}) {
		t.Errorf("l = %q", got)
	}
}

func TestRebuildHashFieldTTL(t *testing.T) {
	t.Parallel()
	for _, name := range redistest.All {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, name, redistest.Options{})
			s := newSink(t, srv, sink.Config{})
			t1 := time.Now().Add(time.Hour).UnixMilli()
			t2 := time.Now().Add(2 * time.Hour).UnixMilli()
			es := events{}.key(0, "hfe", rdbparse.TypeHash, 0)
			ttls := map[string]int64{}
			for i := 0; i < 10; i++ {
				f := "f" + strconv.Itoa(i)
				at := []int64{0, t1, t2}[i%3]
				ttls[f] = at
				es = es.add(rdbparse.Event{Kind: rdbparse.KindHashField, Name: []byte(f), Value: []byte("v"), FieldExpireAt: at})
			}
			es = es.end()
			b, err := rebuild(t, s.Server(), RebuildOptions{MaxArgs: 4}, es)
			if !s.Server().HashFieldTTL() {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("err = %v, want ErrUnsupported", err)
				}
				t.Logf("as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Apply(ctx(t), b); err != nil {
				t.Fatal(err)
			}
			c := srv.Client()
			defer c.Close()
			for f, at := range ttls {
				got, err := c.Do(ctx(t), "HPEXPIRETIME", "hfe", "FIELDS", "1", f).Slice()
				want := at
				if want == 0 {
					want = -1
				}
				if err != nil || len(got) != 1 || got[0].(int64) != want {
					t.Errorf("HPEXPIRETIME %s = %v, %v; want %d", f, got, err, want)
				}
			}
		})
	}
}

func TestRebuildFunctionsAndModules(t *testing.T) {
	t.Parallel()
	for _, name := range []string{redistest.Redis60, redistest.Redis70, redistest.Valkey91} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, name, redistest.Options{})
			s := newSink(t, srv, sink.Config{})
			code := "#!lua name=mylib\nredis.register_function('myfn', function(keys, args) return 42 end)"
			b, err := rebuild(t, s.Server(), RebuildOptions{}, events{{Kind: rdbparse.KindFunction, Value: []byte(code), Offset: 77}})
			if !s.Server().Functions() {
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("err = %v, want ErrUnsupported", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Apply(ctx(t), b); err != nil {
					t.Fatal(err)
				}
				c := srv.Client()
				defer c.Close()
				if v, err := c.Do(ctx(t), "FCALL", "myfn", "0").Int(); err != nil || v != 42 {
					t.Errorf("FCALL = %v, %v", v, err)
				}
			}
			es := events{}.key(0, "mod", rdbparse.TypeModule, 0).add(rdbparse.Event{Kind: rdbparse.KindModuleValue, Name: []byte("ReJSON-RL")})
			_, err = rebuild(t, s.Server(), RebuildOptions{}, es)
			if !errors.Is(err, ErrUnsupported) || !contains(err, "mod", "ReJSON-RL") {
				t.Errorf("module value: err = %v", err)
			}
		})
	}
}

func contains(err error, subs ...string) bool {
	for _, s := range subs {
		if !strings.Contains(fmt.Sprint(err), s) {
			return false
		}
	}
	return true
}

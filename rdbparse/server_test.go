package rdbparse

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
)

var updateFixtures = flag.Bool("update-fixtures", false, "rewrite testdata/*.rdb.gz from the real servers")

// caps says what a server version can store.
type caps struct {
	name        string
	valkey      bool
	major       int
	minor       int
	listpack    bool // 7.0+: listpack hashes/zsets, quicklist 2
	setListpack bool // 7.2+
	functions   bool
	fieldTTL    bool // HPEXPIREAT: Redis 7.4+, Valkey 9+
	expireTime  bool // PEXPIRETIME
	streamV2    bool // XINFO entries-added etc.
}

func capsOf(s *redistest.Server) caps {
	c := caps{name: s.Name, valkey: strings.HasPrefix(s.Name, "valkey")}
	parts := strings.Split(s.Version, ".")
	c.major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		c.minor, _ = strconv.Atoi(parts[1])
	}
	ver := c.major*100 + c.minor
	if c.valkey {
		ver = 702 + (c.major-7)*100 // Valkey 7.2 = Redis 7.2
		c.fieldTTL = c.major >= 9
	} else {
		c.fieldTTL = ver >= 704
	}
	c.listpack = ver >= 700
	c.setListpack = ver >= 702
	c.functions = ver >= 700
	c.expireTime = ver >= 700
	c.streamV2 = ver >= 700
	return c
}

// fixedExpire is an absolute expiry far in the future (ms), so the test
// knows the exact value.
const fixedExpire = int64(4102444800000) // 2100-01-01

func do(t testing.TB, c *redis.Client, args ...any) any {
	t.Helper()
	v, err := c.Do(context.Background(), args...).Result()
	if err != nil && err != redis.Nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

// populate fills the server with keys of every type and encoding it
// supports. big adds keys too large for a fixture.
func populate(t *testing.T, s *redistest.Server, cp caps, big bool) {
	ctx := context.Background()
	c := s.Client()
	defer c.Close()
	cfg := func(k, v string) {
		if err := c.ConfigSet(ctx, k, v).Err(); err != nil {
			t.Fatalf("CONFIG SET %s %s: %v", k, v, err)
		}
	}
	if big {
		populateBig(t, c)
		return
	}
	pfx := "ziplist"
	if cp.listpack {
		pfx = "listpack"
	}
	// Strings.
	do(t, c, "SET", "str:embstr", "hello")
	do(t, c, "SET", "str:int", "12345")
	do(t, c, "SET", "str:negint", "-9223372036854775808")
	do(t, c, "SET", "str:int8", "-7")
	do(t, c, "SET", "str:raw", strings.Repeat("xyz0123456789", 5))
	do(t, c, "SET", "str:lzf", strings.Repeat("a", 300)+"tail")
	do(t, c, "SET", "str:empty", "")
	do(t, c, "SET", "str:exp", "v", "PX", "3600000")
	do(t, c, "PEXPIREAT", "str:exp", fixedExpire)
	do(t, c, "SET", "bin:\x00\xff\r\n key", "\x00\x01\x02\xfe\xff")
	do(t, c, "SET", "str:big-lzf", strings.Repeat("0123456789abcdef", 8<<10)) // 128 KiB, compresses
	// Lists: compact, plus a multi-node quicklist.
	do(t, c, "RPUSH", "list:small", "a", "1", "-2", "300000", "b", strings.Repeat("c", 100), "9223372036854775807")
	cfg("list-max-"+pfx+"-size", "4")
	lst := []any{"RPUSH", "list:quick"}
	for i := 0; i < 30; i++ {
		lst = append(lst, fmt.Sprintf("e%d", i), i*1000)
	}
	do(t, c, lst...)
	cfg("list-max-"+pfx+"-size", "-2")
	if cp.listpack {
		// Elements above the packed threshold go to PLAIN quicklist nodes.
		if _, err := c.Do(ctx, "DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100").Result(); err == nil {
			do(t, c, "RPUSH", "list:plain", "small", strings.Repeat("P", 300), "small2")
			do(t, c, "DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1073741824")
		} else {
			t.Logf("no PLAIN nodes: %v", err)
		}
	}
	// Sets.
	do(t, c, "SADD", "set:intset", "1", "2", "3", "-40000", "70000", "5000000000")
	do(t, c, "SADD", "set:small", "a", "b", "12", "zz")
	cfg("set-max-intset-entries", "0")
	if cp.setListpack {
		cfg("set-max-listpack-entries", "0")
	}
	do(t, c, "SADD", "set:hashtable", "x", "y", "1", "2")
	do(t, c, "SADD", "set:hashint", "1", "2", "3")
	cfg("set-max-intset-entries", "512")
	if cp.setListpack {
		cfg("set-max-listpack-entries", "128")
	}
	// Sorted sets, with awkward scores.
	scores := []any{"0.1", "a", "1e-300", "b", "-inf", "c", "+inf", "d", "9007199254740993", "e",
		"-2.5", "f", "3", "g", "1.7976931348623157e308", "h", "-0", "i", "123456789.123456789", "j"}
	do(t, c, append([]any{"ZADD", "zset:small"}, scores...)...)
	cfg("zset-max-"+pfx+"-entries", "0")
	do(t, c, append([]any{"ZADD", "zset:skiplist"}, scores...)...)
	cfg("zset-max-"+pfx+"-entries", "128")
	// Hashes.
	do(t, c, "HSET", "hash:small", "f1", "v1", "n", "42", "neg", "-1", "big", "123456789012", "e", "")
	cfg("hash-max-"+pfx+"-entries", "0")
	do(t, c, "HSET", "hash:table", "f1", "v1", "n", "42", "e", "")
	cfg("hash-max-"+pfx+"-entries", "128")
	if cp.fieldTTL {
		do(t, c, "HSET", "hash:ttl-small", "a", "1", "b", "2", "c", "3")
		do(t, c, "HPEXPIREAT", "hash:ttl-small", fixedExpire, "FIELDS", "1", "a")
		do(t, c, "HPEXPIREAT", "hash:ttl-small", fixedExpire+1234, "FIELDS", "1", "c")
		cfg("hash-max-"+pfx+"-entries", "0")
		do(t, c, "HSET", "hash:ttl-table", "a", "1", "b", "2", "c", "3")
		do(t, c, "HPEXPIREAT", "hash:ttl-table", fixedExpire+5, "FIELDS", "2", "a", "b")
		cfg("hash-max-"+pfx+"-entries", "128")
		do(t, c, "HSETEX", "hash:setex", "PXAT", fixedExpire+99, "FIELDS", "2", "x", "1", "y", "2")
	}
	// Streams: entries with the master fields and others, deletions,
	// groups, consumers and pending entries.
	do(t, c, "XADD", "stream:s", "1-1", "f", "v", "n", "1")
	do(t, c, "XADD", "stream:s", "1-2", "f", "w", "n", "2")
	do(t, c, "XADD", "stream:s", "2-0", "other", "x")
	do(t, c, "XADD", "stream:s", "3-5", "f", "gone", "n", "3")
	do(t, c, "XADD", "stream:s", "4-0", "f", "-12", "n", "77777")
	do(t, c, "XDEL", "stream:s", "3-5")
	do(t, c, "XGROUP", "CREATE", "stream:s", "g1", "0")
	do(t, c, "XGROUP", "CREATE", "stream:s", "g2", "$")
	do(t, c, "XREADGROUP", "GROUP", "g1", "alice", "COUNT", "2", "STREAMS", "stream:s", ">")
	do(t, c, "XREADGROUP", "GROUP", "g1", "bob", "COUNT", "1", "STREAMS", "stream:s", ">")
	if cp.listpack {
		do(t, c, "XGROUP", "CREATECONSUMER", "stream:s", "g2", "carol")
	}
	do(t, c, "XADD", "stream:empty", "5-5", "a", "b")
	do(t, c, "XDEL", "stream:empty", "5-5")
	// Functions.
	if cp.functions {
		do(t, c, "FUNCTION", "LOAD", "#!lua name=rdbparselib\nredis.register_function('rdbparse_f', function(keys, args) return 1 end)")
	}
	// Other dbs.
	c1 := s.ClientDB(3)
	defer c1.Close()
	do(t, c1, "SET", "db3:key", "in db 3")
	do(t, c1, "RPUSH", "db3:list", "x")
}

func populateBig(t *testing.T, c *redis.Client) {
	bigStr := make([]byte, 3<<20+17)
	for i := range bigStr {
		bigStr[i] = byte(i*7919>>3) ^ byte(i>>11)
	}
	do(t, c, "SET", "big:str", bigStr)
	do(t, c, "SET", "big:lzf", strings.Repeat("compress me ", 300000))
	args := []any{"RPUSH", "big:list"}
	for i := 0; i < 5000; i++ {
		args = append(args, fmt.Sprintf("item-%d", i))
	}
	do(t, c, args...)
	args = []any{"HSET", "big:hash"}
	for i := 0; i < 1000; i++ {
		args = append(args, fmt.Sprintf("f%d", i), i)
	}
	do(t, c, args...)
	for i := 0; i < 350; i++ {
		do(t, c, "XADD", "big:stream", "*", "i", i, "pad", strings.Repeat("p", i%7))
	}
	args = []any{"ZADD", "big:zset"}
	for i := 0; i < 300; i++ {
		args = append(args, float64(i)/3, fmt.Sprintf("m%d", i))
	}
	do(t, c, args...)
}

func saveRDB(t *testing.T, s *redistest.Server) []byte {
	c := s.Client()
	defer c.Close()
	do(t, c, "SAVE")
	b, err := os.ReadFile(filepath.Join(s.Dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureName(server string) string {
	return filepath.Join("testdata", "server-"+server+".rdb.gz")
}

func writeGzip(t *testing.T, path string, data []byte) {
	var b bytes.Buffer
	w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	w.Write(data)
	w.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRealServers fills each server version, saves, decodes dump.rdb and
// compares every key with what the server answers.
func TestRealServers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	if _, err := redistest.BinDir(); err != nil {
		t.Skip(err)
	}
	for _, name := range redistest.All {
		t.Run(name, func(t *testing.T) {
			if _, err := redistest.Binary(name); err != nil {
				t.Skip(err)
			}
			t.Parallel()
			var args []string
			if !strings.HasPrefix(name, "redis-6") {
				args = []string{"enable-debug-command", "yes"}
			}
			s := redistest.Start(t, name, redistest.Options{Args: args})
			cp := capsOf(s)
			populate(t, s, cp, false)
			small := saveRDB(t, s)
			if *updateFixtures {
				writeGzip(t, fixtureName(s.Name), small)
			}
			m, err := decodeModel(small, Options{})
			if err != nil {
				t.Fatalf("decode small snapshot: %v", err)
			}
			compareWithServer(t, s, cp, m)
			populate(t, s, cp, true)
			full := saveRDB(t, s)
			m, err = decodeModel(full, Options{MaxChunk: 64 << 10})
			if err != nil {
				t.Fatalf("decode full snapshot: %v", err)
			}
			// Big strings stream: the value buffers stay about MaxChunk even
			// though the snapshot holds 3+ MB strings.
			d := NewDecoder(bytes.NewReader(full), Options{MaxChunk: 64 << 10})
			if err := d.Decode(func(*Event) error { return nil }); err != nil {
				t.Fatal(err)
			}
			if cap(d.valBuf) > 2*d.opt.MaxChunk || cap(d.lzfWin) > lzfWindow+2*d.opt.MaxChunk {
				t.Errorf("value buffer %d, LZF window %d bytes with MaxChunk %d", cap(d.valBuf), cap(d.lzfWin), d.opt.MaxChunk)
			}
			compareWithServer(t, s, cp, m)
			types := map[byte]int{}
			for _, k := range m.Keys {
				types[k.TypeByte]++
			}
			t.Logf("%s: RDB %s%d, %d bytes small, %d bytes full, %d keys, %d events, type bytes %v",
				s.Name, m.Magic, m.Version, len(small), len(full), len(m.Keys), m.Events, types)
		})
	}
}

func compareWithServer(t *testing.T, s *redistest.Server, cp caps, m *snapModel) {
	t.Helper()
	seen := 0
	for db := 0; db < 16; db++ {
		c := s.ClientDB(db)
		keys, err := c.Keys(context.Background(), "*").Result()
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
		for _, k := range keys {
			seen++
			km := m.Keys[mkey(db, k)]
			if km == nil {
				t.Errorf("db %d key %q missing from the decoded snapshot", db, k)
				continue
			}
			compareKey(t, c, cp, km)
		}
		c.Close()
	}
	if seen != len(m.Keys) {
		t.Errorf("server has %d keys, snapshot %d", seen, len(m.Keys))
	}
	if cp.functions {
		c := s.Client()
		defer c.Close()
		libs := do(t, c, "FUNCTION", "LIST", "WITHCODE").([]any)
		var codes []string
		for _, l := range libs {
			codes = append(codes, fieldOf(l, "library_code").(string))
		}
		sort.Strings(codes)
		got := append([]string(nil), m.Functions...)
		sort.Strings(got)
		if fmt.Sprint(codes) != fmt.Sprint(got) {
			t.Errorf("functions: server %q, decoded %q", codes, got)
		}
	}
}

// fieldOf finds name in a RESP2 flat map reply (or a RESP3 map).
func fieldOf(v any, name string) any {
	switch x := v.(type) {
	case []any:
		for i := 0; i+1 < len(x); i += 2 {
			if fmt.Sprint(x[i]) == name {
				return x[i+1]
			}
		}
	case map[any]any:
		return x[name]
	}
	return nil
}

func compareKey(t *testing.T, c *redis.Client, cp caps, km *keyModel) {
	t.Helper()
	ctx := context.Background()
	k := km.Key
	typ := do(t, c, "TYPE", k).(string)
	if typ != km.Type.String() {
		t.Errorf("%q: type %s, decoded %s", k, typ, km.Type)
		return
	}
	enc := do(t, c, "OBJECT", "ENCODING", k).(string)
	if enc != km.Encoding && !(cp.valkey && cp.major >= 9 && (enc+km.Encoding == "embstrraw" || enc+km.Encoding == "rawembstr")) {
		t.Errorf("%q: encoding %s, decoded %s (type byte %d)", k, enc, km.Encoding, km.TypeByte)
	}
	if cp.expireTime {
		exp := do(t, c, "PEXPIRETIME", k).(int64)
		if exp < 0 {
			exp = 0
		}
		if exp != km.ExpireAt {
			t.Errorf("%q: expire at %d, decoded %d", k, exp, km.ExpireAt)
		}
	} else {
		pttl := do(t, c, "PTTL", k).(int64)
		if (pttl < 0) != (km.ExpireAt == 0) || pttl >= 0 && math.Abs(float64(time.Now().UnixMilli()+pttl-km.ExpireAt)) > 5000 {
			t.Errorf("%q: pttl %d, decoded expire at %d", k, pttl, km.ExpireAt)
		}
	}
	switch km.Type {
	case TypeString:
		v, _ := c.Get(ctx, k).Result()
		if v != string(km.Str) {
			t.Errorf("%q: value of %d bytes differs from decoded %d bytes", k, len(v), len(km.Str))
		}
		if km.Len != int64(len(km.Str)) {
			t.Errorf("%q: Len %d, value %d bytes", k, km.Len, len(km.Str))
		}
	case TypeList:
		v, _ := c.LRange(ctx, k, 0, -1).Result()
		if fmt.Sprintf("%q", v) != fmt.Sprintf("%q", km.List) {
			t.Errorf("%q: list %q, decoded %q", k, trunc(v), trunc(km.List))
		}
	case TypeSet:
		v, _ := c.SMembers(ctx, k).Result()
		sort.Strings(v)
		if fmt.Sprintf("%q", v) != fmt.Sprintf("%q", sortedKeys(km.Set)) {
			t.Errorf("%q: set %q, decoded %q", k, trunc(v), trunc(sortedKeys(km.Set)))
		}
		checkLen(t, km, len(v))
	case TypeZSet:
		v, _ := c.ZRangeWithScores(ctx, k, 0, -1).Result()
		if len(v) != len(km.ZSet) {
			t.Errorf("%q: zset of %d, decoded %d", k, len(v), len(km.ZSet))
		}
		for _, z := range v {
			if got, ok := km.ZSet[z.Member.(string)]; !ok || !sameScore(got, z.Score) {
				t.Errorf("%q: member %q score %v, decoded %v (%v)", k, z.Member, z.Score, got, ok)
			}
		}
		checkLen(t, km, len(v))
	case TypeHash:
		v, _ := c.HGetAll(ctx, k).Result()
		if fmt.Sprint(v) != fmt.Sprint(km.Hash) {
			t.Errorf("%q: hash %v, decoded %v", k, v, km.Hash)
		}
		checkLen(t, km, len(v))
		if cp.fieldTTL {
			for f := range v {
				r := do(t, c, "HPEXPIRETIME", k, "FIELDS", "1", f).([]any)
				exp := r[0].(int64)
				if exp < 0 {
					exp = 0
				}
				if exp != km.HashTTL[f] {
					t.Errorf("%q field %q: expire at %d, decoded %d", k, f, exp, km.HashTTL[f])
				}
			}
		}
	case TypeStream:
		compareStream(t, c, cp, km)
	}
}

func checkLen(t *testing.T, km *keyModel, n int) {
	if km.Len >= 0 && km.Len != int64(n) {
		t.Errorf("%q: Len %d, %d elements", km.Key, km.Len, n)
	}
}

func compareStream(t *testing.T, c *redis.Client, cp caps, km *keyModel) {
	k := km.Key
	raw := do(t, c, "XRANGE", k, "-", "+").([]any)
	var want []streamEntry
	for _, e := range raw {
		pair := e.([]any)
		var f []string
		for _, x := range pair[1].([]any) {
			f = append(f, x.(string))
		}
		want = append(want, streamEntry{pair[0].(string), f})
	}
	if fmt.Sprintf("%q", want) != fmt.Sprintf("%q", km.Stream.Entries) {
		t.Errorf("%q: entries\n%q\ndecoded\n%q", k, want, km.Stream.Entries)
	}
	info := do(t, c, "XINFO", "STREAM", k)
	meta := km.Stream.Meta
	if n := fieldOf(info, "length").(int64); uint64(n) != meta.Length {
		t.Errorf("%q: length %d, decoded %d", k, n, meta.Length)
	}
	if id := fieldOf(info, "last-generated-id").(string); id != meta.LastID.String() {
		t.Errorf("%q: last id %s, decoded %s", k, id, meta.LastID)
	}
	if cp.streamV2 {
		if id := fieldOf(info, "max-deleted-entry-id").(string); id != meta.MaxDeletedID.String() {
			t.Errorf("%q: max deleted id %s, decoded %s", k, id, meta.MaxDeletedID)
		}
		if n := fieldOf(info, "entries-added").(int64); uint64(n) != meta.EntriesAdded {
			t.Errorf("%q: entries added %d, decoded %d", k, n, meta.EntriesAdded)
		}
		if id := fieldOf(info, "recorded-first-entry-id").(string); id != meta.FirstID.String() {
			t.Errorf("%q: first id %s, decoded %s", k, id, meta.FirstID)
		}
	}
	groups := do(t, c, "XINFO", "GROUPS", k).([]any)
	if len(groups) != len(km.Stream.Groups) {
		t.Fatalf("%q: %d groups, decoded %d", k, len(groups), len(km.Stream.Groups))
	}
	for i, g := range groups {
		gm := km.Stream.Groups[i]
		name := fieldOf(g, "name").(string)
		if name != gm.Name {
			t.Errorf("%q: group %d is %q, decoded %q", k, i, name, gm.Name)
			continue
		}
		if id := fieldOf(g, "last-delivered-id").(string); id != gm.LastID {
			t.Errorf("%q/%s: last delivered %s, decoded %s", k, name, id, gm.LastID)
		}
		if cp.streamV2 {
			er, _ := fieldOf(g, "entries-read").(int64)
			if fieldOf(g, "entries-read") == nil {
				er = -1
			}
			if er != gm.EntriesRead {
				t.Errorf("%q/%s: entries read %d, decoded %d", k, name, er, gm.EntriesRead)
			}
		}
		pend := do(t, c, "XPENDING", k, name, "-", "+", "1000").([]any)
		var wp []pendingModel
		for _, p := range pend {
			x := p.([]any)
			wp = append(wp, pendingModel{x[0].(string), uint64(x[3].(int64)), x[1].(string)})
		}
		if fmt.Sprint(wp) != fmt.Sprint(gm.Pending) {
			t.Errorf("%q/%s: pending %v, decoded %v", k, name, wp, gm.Pending)
		}
		cons := do(t, c, "XINFO", "CONSUMERS", k, name).([]any)
		var wc []string
		for _, x := range cons {
			wc = append(wc, fieldOf(x, "name").(string))
		}
		if fmt.Sprint(wc) != fmt.Sprint(gm.Consumers) {
			t.Errorf("%q/%s: consumers %v, decoded %v", k, name, wc, gm.Consumers)
		}
	}
}

// TestRealClusterSlotInfo: cluster masters (Redis 7.4+, Valkey 8+) write
// SLOT_INFO (opcode 244) before each slot's keys.
func TestRealClusterSlotInfo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	for _, name := range []string{redistest.Redis80, redistest.Valkey81, redistest.Valkey91} {
		t.Run(name, func(t *testing.T) {
			if _, err := redistest.Binary(name); err != nil {
				t.Skip(err)
			}
			t.Parallel()
			s := redistest.Start(t, name, redistest.Options{Args: []string{"cluster-enabled", "yes"}})
			c := s.Client()
			defer c.Close()
			do(t, c, "CLUSTER", "ADDSLOTSRANGE", "0", "16383")
			for i := 0; !strings.Contains(do(t, c, "CLUSTER", "INFO").(string), "cluster_state:ok"); i++ {
				if i > 100 {
					t.Fatal("cluster state not ok")
				}
				time.Sleep(50 * time.Millisecond)
			}
			for i := 0; i < 20; i++ {
				do(t, c, "SET", fmt.Sprintf("k%d", i), i)
			}
			do(t, c, "HSET", "{k1}h", "f", "v")
			data := saveRDB(t, s)
			var slots, keys int
			var sizes uint64
			err := NewDecoder(bytes.NewReader(data), Options{}).Decode(func(ev *Event) error {
				switch ev.Kind {
				case KindSlotInfo:
					slots++
					sizes += ev.SlotSize
				case KindKey:
					keys++
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if *updateFixtures && slots > 0 {
				writeGzip(t, filepath.Join("testdata", "cluster-"+s.Name+".rdb.gz"), data)
			}
			// Valkey writes SLOT_INFO only in some cases (not on SAVE here).
			if keys != 21 || !strings.HasPrefix(name, "valkey") && (slots == 0 || sizes != 21) {
				t.Fatalf("%d keys, %d slot infos covering %d keys", keys, slots, sizes)
			}
			t.Logf("%s: %d slot infos", s.Name, slots)
		})
	}
}

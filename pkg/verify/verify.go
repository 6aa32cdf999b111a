// Package verify compares the data of a source and a target server key by
// key: both directions (missing and extra keys), type, value, TTL, stream
// metadata and consumer groups, hash field TTLs and functions.
//
// Values are compared in pages (SCAN/LRANGE/XRANGE with a bounded count,
// GETRANGE pieces for big strings), so memory stays bounded by
// Options.BatchSize whatever the size of a key.
//
// Compare is meant for a quiet pair of servers, or for a live sync with
// Options.Rounds > 1: keys found different are checked again after
// Options.Interval, and only those still different in the last round are
// reported, so keys still in flight are not. Keys that vanish while they are
// checked (they expire, or a writer deletes them) are not reported.
//
// Either side may be a standalone server (*redis.Client: every db) or a
// cluster (*redis.ClusterClient: db 0, SCAN on each master, per-key commands
// routed by slot).
package verify

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Diff kinds.
const (
	KindMissing    = "missing"     // in the source, not in the target
	KindExtra      = "extra"       // in the target, not in the source
	KindType       = "type"        // the types differ
	KindValue      = "value"       // the values (or stream entries) differ
	KindTTL        = "ttl"         // the key TTLs differ by more than the tolerance, or only one side has one
	KindStreamMeta = "stream-meta" // XINFO STREAM fields differ
	KindGroup      = "group"       // a consumer group is missing, extra, or its state differs
	KindConsumer   = "consumer"    // a consumer is missing, extra, or its pending count differs
	KindPending    = "pending"     // the pending entries lists differ (ids, owner, delivery count, delivery time)
	KindFieldTTL   = "field-ttl"   // hash field TTLs differ
	KindFunction   = "function"    // function libraries differ (DB is -1, Key the library name)
)

// Options configure Compare.
type Options struct {
	// DBs to compare; nil: every db that has keys on either side (INFO keyspace).
	DBs []int
	// TTLTolerance is how far two TTLs may differ (default 2s). A key whose
	// TTL is within the tolerance of expiring may also be missing on the
	// other side without a diff.
	TTLTolerance time.Duration
	// IdleTolerance is how far the times since a pending entry's last
	// delivery may differ (default 2s, plus the time between the reads).
	IdleTolerance time.Duration
	// IgnoreKeys skips keys on both sides, e.g. the checkpoint key.
	IgnoreKeys func(db int, key string) bool
	// Filter is the sync's filter (nil: none): only what it takes is
	// compared, each source db with the target db it maps to (DBs and Diff.DB
	// are source dbs). Keys it leaves out are not extra on the target.
	Filter Filter
	// BatchSize is the SCAN COUNT and the page size for elements (default 500).
	BatchSize int
	// MaxDiffs caps Report.Diffs (default 1000); DiffCount still counts all.
	MaxDiffs int
	// Logger gets progress at debug level and a summary at info (default: none).
	Logger *zap.Logger

	// Rounds > 1 checks the keys found different again, up to Rounds-1
	// times, Interval apart (default 1s); only what still differs in the
	// last round is reported. For a target a live sync is still writing to.
	Rounds   int
	Interval time.Duration
	// MaxRecheck bounds the keys kept for the next round (default 100000);
	// diffs past it are reported at once.
	MaxRecheck int
	// Rate caps the keys checked per second (0: no cap), to spare the servers.
	Rate int
	// Sample > 0 checks about this many random keys (RANDOMKEY) on each
	// side instead of every key.
	Sample int
	// OnDiff is called with each reported diff (also those past MaxDiffs),
	// as soon as it is final: for a streamed report.
	OnDiff func(Diff)
	// OnProgress is called after each batch with the keys scanned so far
	// (both directions) and the total expected (INFO keyspace of both sides).
	OnProgress func(done, total int64)
	// Unholdable is the sync's policy for data the target cannot hold
	// (on-unholdable-*): what it skips or converts differs as expected,
	// reported in Report.Expected, not as a difference.
	Unholdable unholdable.Policy
}

func (o Options) withDefaults() Options {
	if o.TTLTolerance <= 0 {
		o.TTLTolerance = 2 * time.Second
	}
	if o.IdleTolerance <= 0 {
		o.IdleTolerance = 2 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.MaxDiffs <= 0 {
		o.MaxDiffs = 1000
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Rounds < 1 {
		o.Rounds = 1
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.MaxRecheck <= 0 {
		o.MaxRecheck = 100000
	}
	return o
}

// Diff is one difference.
type Diff struct {
	DB     int    `json:"db"`
	Key    string `json:"key"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	// Expected, when set, is the setting that makes the sync leave out or
	// convert this data (e.g. "on-unholdable-field-ttl = convert"): the
	// target cannot hold it, and the difference is expected.
	Expected string `json:"expected,omitempty"`
}

func (d Diff) String() string {
	s := fmt.Sprintf("db%d %q: %s: %s", d.DB, d.Key, d.Kind, d.Detail)
	if d.Expected != "" {
		s += " (expected: " + d.Expected + ")"
	}
	return s
}

// Report is the result of Compare.
type Report struct {
	KeysChecked int64  // keys of the source checked, plus extra keys of the target
	Diffs       []Diff // the first MaxDiffs diffs
	DiffCount   int64  // every diff, also those past MaxDiffs
	// Rechecked counts the keys checked again in later rounds and Settled
	// those of them found equal then (in flight during the first pass).
	Rechecked, Settled int64
	// Expected holds the first MaxDiffs expected differences (data the
	// target cannot hold, skipped or converted by Options.Unholdable);
	// ExpectedCount counts them all. They do not make the report unequal.
	Expected      []Diff
	ExpectedCount int64
}

// Equal reports whether no difference was found other than expected ones.
func (r Report) Equal() bool { return r.DiffCount == 0 }

// strChunk is the GETRANGE piece size for big strings.
var strChunk int64 = 512 << 10

// Compare compares source and target. It returns an error only when it
// could not compare (a connection or protocol failure); differences go into
// the Report.
func Compare(ctx context.Context, source, target redis.UniversalClient, opt Options) (Report, error) {
	opt = opt.withDefaults()
	var rep Report
	src, err := newSide(ctx, "source", source)
	if err != nil {
		return rep, err
	}
	dst, err := newSide(ctx, "target", target)
	if err != nil {
		return rep, err
	}
	c := &comparer{opt: opt, log: opt.Logger.With(zap.String("stage", "verify")), si: src.info, di: dst.info, rep: &rep,
		started: time.Now()}
	if opt.Rounds > 1 {
		c.suspects = map[int]map[string]bool{}
	}

	dbs := c.dbsToCompare(src, dst)
	for _, db := range dbs {
		c.total += src.keys[db] + dst.keys[c.targetDB(db)]
	}
	if opt.Sample > 0 {
		c.total = int64(2 * opt.Sample)
	}
	if src.info.Functions() && opt.Sample == 0 {
		sf, closeSF := src.any()
		df, closeDF := dst.any()
		err := c.compareFunctions(ctx, sf, df)
		closeSF()
		closeDF()
		if err != nil {
			return rep, err
		}
	}
	for _, db := range dbs {
		if err := c.compareDB(ctx, src, dst, db); err != nil {
			return rep, err
		}
	}
	if err := c.recheck(ctx, src, dst); err != nil {
		return rep, err
	}
	c.log.Info("verify done", zap.Int64("keys", rep.KeysChecked), zap.Int64("diffs", rep.DiffCount), zap.Int64("expected", rep.ExpectedCount),
		zap.Int64("rechecked", rep.Rechecked), zap.Int64("settled", rep.Settled))
	return rep, nil
}

type comparer struct {
	opt    Options
	log    *zap.Logger
	si, di server.Info
	rep    *Report

	db       int
	src, dst conn

	// suspects are the keys found different in this round, by db, to be
	// checked again (Rounds > 1); nil: diffs are final.
	suspects  map[int]map[string]bool
	nSuspects int

	started      time.Time
	scanned      int64 // keys scanned, for rate and progress
	total        int64
	lastProgress time.Time
	rechecking   bool
}

func (c *comparer) add(kind, key, format string, args ...any) {
	c.addAs("", kind, key, format, args...)
}

// addAs adds a difference, expected by the setting named in expected
// ("": not expected).
func (c *comparer) addAs(expected, kind, key, format string, args ...any) {
	if c.suspects != nil && c.db >= 0 {
		if m := c.suspects[c.db]; m != nil && m[key] {
			return // already a suspect: one recheck covers every diff of a key
		}
		if c.nSuspects < c.opt.MaxRecheck {
			if c.suspects[c.db] == nil {
				c.suspects[c.db] = map[string]bool{}
			}
			c.suspects[c.db][key] = true
			c.nSuspects++
			return
		}
	}
	d := Diff{DB: c.db, Key: key, Kind: kind, Detail: fmt.Sprintf(format, args...), Expected: expected}
	switch {
	case expected != "":
		c.rep.ExpectedCount++
		if len(c.rep.Expected) < c.opt.MaxDiffs {
			c.rep.Expected = append(c.rep.Expected, d)
		}
	default:
		c.rep.DiffCount++
		if len(c.rep.Diffs) < c.opt.MaxDiffs {
			c.rep.Diffs = append(c.rep.Diffs, d)
		}
	}
	if c.opt.OnDiff != nil {
		c.opt.OnDiff(d)
	}
}

func (c *comparer) ignored(key string) bool {
	return c.opt.IgnoreKeys != nil && c.opt.IgnoreKeys(c.db, key)
}

// pace accounts for n keys scanned: it waits as Rate requires and reports progress.
func (c *comparer) pace(ctx context.Context, n int) error {
	c.scanned += int64(n)
	if c.opt.OnProgress != nil && (time.Since(c.lastProgress) > 100*time.Millisecond || c.scanned >= c.total) {
		c.lastProgress = time.Now()
		c.opt.OnProgress(c.scanned, max(c.total, c.scanned))
	}
	if c.opt.Rate <= 0 {
		return nil
	}
	due := c.started.Add(time.Duration(float64(c.scanned) / float64(c.opt.Rate) * float64(time.Second)))
	if wait := time.Until(due); wait > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// keysOf walks every key of db on one side (each master of a cluster),
// or a random sample of them, calling fn with batches.
func (c *comparer) keysOf(ctx context.Context, s *side, nodes []*redis.Client, db int, fn func([]string) error) error {
	for _, node := range nodes {
		if c.opt.Sample > 0 {
			if err := c.sampleOf(ctx, s, node, db, fn); err != nil {
				return err
			}
			continue
		}
		var cursor uint64
		for {
			keys, next, err := node.Scan(ctx, cursor, "", int64(c.opt.BatchSize)).Result()
			if err != nil {
				return fmt.Errorf("verify: db %d: %s SCAN: %w", db, s.name, err)
			}
			if err := c.pace(ctx, len(keys)); err != nil {
				return err
			}
			if err := fn(c.filter(keys)); err != nil {
				return err
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	return nil
}

// sampleOf draws this node's share of Sample (by its part of the side's
// keys) with RANDOMKEY, in pipelined batches.
func (c *comparer) sampleOf(ctx context.Context, s *side, node *redis.Client, db int, fn func([]string) error) error {
	size, err := node.DBSize(ctx).Result()
	if err != nil {
		return fmt.Errorf("verify: db %d: %s DBSIZE: %w", db, s.name, err)
	}
	var all int64
	for _, n := range s.keys {
		all += n
	}
	if size == 0 || all == 0 {
		return nil
	}
	want := int(math.Ceil(float64(c.opt.Sample) * float64(size) / float64(all)))
	seen := map[string]bool{}
	for drawn := 0; drawn < want; {
		n := min(c.opt.BatchSize, want-drawn)
		drawn += n
		cmds := make([]*redis.StringCmd, n)
		if _, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := range cmds {
				cmds[i] = p.RandomKey(ctx)
			}
			return nil
		}); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("verify: db %d: %s RANDOMKEY: %w", db, s.name, err)
		}
		var keys []string
		for _, cmd := range cmds {
			if k, err := cmd.Result(); err == nil && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		if err := c.pace(ctx, n); err != nil {
			return err
		}
		if err := fn(c.filter(keys)); err != nil {
			return err
		}
	}
	return nil
}

func (c *comparer) compareDB(ctx context.Context, src, dst *side, db int) error {
	c.db = db
	var srcNodes, dstNodes []*redis.Client
	var closeSrc, closeDst func()
	c.src, srcNodes, closeSrc = src.forDB(db)
	c.dst, dstNodes, closeDst = dst.forDB(c.targetDB(db))
	defer closeSrc()
	defer closeDst()
	if c.src == nil || c.dst == nil {
		return fmt.Errorf("verify: db %d holds keys but a cluster has db 0 only: compare with --db 0 or map the dbs first", db)
	}
	c.log.Debug("verify db", zap.Int("db", db))
	// Source → target: missing keys and differences.
	if err := c.keysOf(ctx, src, srcNodes, db, func(keys []string) error { return c.checkKeys(ctx, keys) }); err != nil {
		return err
	}
	// Target → source: extra keys.
	return c.keysOf(ctx, dst, dstNodes, db, func(keys []string) error { return c.checkExtra(ctx, keys) })
}

// recheck checks the suspects again, Interval apart, until none is left or
// the rounds are over; the last round's diffs are final.
func (c *comparer) recheck(ctx context.Context, src, dst *side) error {
	for round := 2; round <= c.opt.Rounds && c.nSuspects > 0; round++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(c.opt.Interval):
		}
		suspects := c.suspects
		c.rep.Rechecked += int64(c.nSuspects)
		if round == c.opt.Rounds {
			c.suspects = nil // final: report
		} else {
			c.suspects = map[int]map[string]bool{}
		}
		before := c.nSuspects
		c.nSuspects = 0
		c.log.Debug("verify recheck", zap.Int("round", round), zap.Int("keys", before))
		checked := c.rep.KeysChecked
		diffsBefore := c.rep.DiffCount + c.rep.ExpectedCount
		for _, db := range sortedDBs(suspects) {
			keys := sortedKeys(suspects[db])
			c.db = db
			var done1, done2 func()
			c.src, _, done1 = src.forDB(db)
			c.dst, _, done2 = dst.forDB(c.targetDB(db))
			for i := 0; i < len(keys); i += c.opt.BatchSize {
				batch := keys[i:min(i+c.opt.BatchSize, len(keys))]
				if err := c.checkKeys(ctx, batch); err != nil {
					done1()
					done2()
					return err
				}
				if err := c.checkExtra(ctx, batch); err != nil {
					done1()
					done2()
					return err
				}
			}
			done1()
			done2()
		}
		c.rep.KeysChecked = checked // a key checked again is not a new key
		still := c.nSuspects + int(c.rep.DiffCount+c.rep.ExpectedCount-diffsBefore)
		c.rep.Settled += int64(max(before-still, 0))
	}
	return nil
}

func sortedDBs(m map[int]map[string]bool) []int {
	out := make([]int, 0, len(m))
	for db := range m {
		out = append(out, db)
	}
	sort.Ints(out)
	return out
}

func (c *comparer) filter(keys []string) []string {
	out := keys[:0]
	for _, k := range keys {
		if !c.ignored(k) && c.keyFilter().KeyName([]byte(k)) {
			out = append(out, k)
		}
	}
	return out
}

// typeTTL pipelines TYPE and PTTL for keys.
func typeTTL(ctx context.Context, cl conn, keys []string) ([]string, []int64, error) {
	types := make([]*redis.StatusCmd, len(keys))
	ttls := make([]*redis.Cmd, len(keys))
	_, err := cl.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			types[i] = p.Type(ctx, k)
			ttls[i] = p.Do(ctx, "PTTL", k)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	ts := make([]string, len(keys))
	ps := make([]int64, len(keys))
	for i := range keys {
		ts[i] = types[i].Val()
		ps[i], _ = ttls[i].Int64()
	}
	return ts, ps, nil
}

func (c *comparer) checkKeys(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	st, sp, err := typeTTL(ctx, c.src, keys)
	if err != nil {
		return fmt.Errorf("verify: db %d: source TYPE/PTTL: %w", c.db, err)
	}
	dt, dp, err := typeTTL(ctx, c.dst, keys)
	if err != nil {
		return fmt.Errorf("verify: db %d: target TYPE/PTTL: %w", c.db, err)
	}
	tol := c.opt.TTLTolerance.Milliseconds()
	for i, k := range keys {
		if st[i] == "none" || sp[i] == -2 {
			continue // vanished from the source
		}
		if c.keyFilter().TypeDropped(st[i]) {
			continue // not meant to be copied
		}
		c.rep.KeysChecked++
		if dt[i] == "none" || dp[i] == -2 {
			if sp[i] >= 0 && sp[i] <= tol {
				continue // about to expire; the target may be a bit ahead
			}
			expected, why, err := c.expectMissing(ctx, k, st[i])
			if err != nil {
				return fmt.Errorf("verify: db %d key %q: %w", c.db, k, err)
			}
			c.addAs(expected, KindMissing, k, "%s missing in target%s", st[i], why)
			continue
		}
		if st[i] != dt[i] {
			c.add(KindType, k, "source %s, target %s", st[i], dt[i])
			continue
		}
		switch {
		case sp[i] == -1 && dp[i] >= 0:
			c.add(KindTTL, k, "source no TTL, target %dms", dp[i])
		case sp[i] >= 0 && dp[i] == -1:
			c.add(KindTTL, k, "source %dms, target no TTL", sp[i])
		case sp[i] >= 0 && dp[i] >= 0 && abs(sp[i]-dp[i]) > tol:
			c.add(KindTTL, k, "source %dms, target %dms", sp[i], dp[i])
		}
		if err := c.checkValue(ctx, k, st[i]); err != nil {
			return fmt.Errorf("verify: db %d key %q: %w", c.db, k, err)
		}
	}
	return nil
}

func (c *comparer) checkExtra(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	se := make([]*redis.IntCmd, len(keys))
	if _, err := c.src.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			se[i] = p.Exists(ctx, k)
		}
		return nil
	}); err != nil {
		return fmt.Errorf("verify: db %d: source EXISTS: %w", c.db, err)
	}
	var absent []string
	for i, k := range keys {
		if se[i].Val() == 0 {
			absent = append(absent, k)
		}
	}
	if len(absent) == 0 {
		return nil
	}
	dt, dp, err := typeTTL(ctx, c.dst, absent)
	if err != nil {
		return fmt.Errorf("verify: db %d: target TYPE/PTTL: %w", c.db, err)
	}
	for i, k := range absent {
		if dt[i] == "none" || dp[i] == -2 || dp[i] >= 0 && dp[i] <= c.opt.TTLTolerance.Milliseconds() {
			continue
		}
		if c.keyFilter().TypeDropped(dt[i]) {
			continue // a type the sync leaves out: the target's own
		}
		c.rep.KeysChecked++
		c.add(KindExtra, k, "%s only in target", dt[i])
	}
	return nil
}

// mismatch is one difference found by a value check, before it is
// confirmed (the key may have vanished meanwhile).
type mismatch struct {
	kind, detail string
	expected     string // the setting that makes it expected ("": none)
}

func mis(kind, format string, args ...any) *mismatch {
	return &mismatch{kind: kind, detail: fmt.Sprintf(format, args...)}
}

func (c *comparer) checkValue(ctx context.Context, key, typ string) error {
	var ms []*mismatch
	var m *mismatch
	var err error
	switch typ {
	case "string":
		m, err = c.compareString(ctx, key)
	case "list":
		m, err = c.compareList(ctx, key)
	case "set":
		m, err = c.compareSet(ctx, key)
	case "zset":
		m, err = c.compareZSet(ctx, key)
	case "hash":
		ms, err = c.compareHash(ctx, key)
	case "stream":
		ms, err = c.compareStream(ctx, key)
	case "vectorset":
		m, err = c.compareVectorSet(ctx, key)
	default:
		c.log.Warn("verify: type not compared", zap.Int("db", c.db), zap.String("type", typ))
	}
	if err != nil {
		return err
	}
	if m != nil {
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		return nil
	}
	gone, err := c.vanished(ctx, key)
	if err != nil || gone {
		return err
	}
	for _, m := range ms {
		c.addAs(m.expected, m.kind, key, "%s", m.detail)
	}
	return nil
}

// vanished reports whether key is gone from either side.
func (c *comparer) vanished(ctx context.Context, key string) (bool, error) {
	for _, cl := range []conn{c.src, c.dst} {
		n, err := cl.Exists(ctx, key).Result()
		if err != nil {
			return false, fmt.Errorf("EXISTS: %w", err)
		}
		if n == 0 {
			return true, nil
		}
	}
	return false, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// sameScore compares two zset scores as float64 (exact, not by text).
func sameScore(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

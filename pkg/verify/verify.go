// Package verify compares the data of a source and a target server key by
// key: both directions (missing and extra keys), type, value, TTL, stream
// metadata and consumer groups, hash field TTLs and functions.
//
// Values are compared in pages (SCAN/LRANGE/XRANGE with a bounded count,
// GETRANGE pieces for big strings), so memory stays bounded by
// Options.BatchSize whatever the size of a key.
//
// Compare is meant for a quiet pair of servers (after a migration caught up,
// or with writes stopped). Keys that vanish while they are checked (they
// expire, or a writer deletes them) are not reported.
//
// Only standalone servers are supported for now: Compare opens one
// connection per db from the given *redis.Client's options. A cluster
// version would run the same per-key checks per master node (SCAN is per
// node) with db 0 only; the per-key code takes a plain *redis.Client for one
// node and db, so it can be reused there.
package verify

import (
	"context"
	"fmt"
	"math"
	"time"

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
	KindPending    = "pending"     // the pending entries lists differ (ids, owner, delivery count)
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
	// IgnoreKeys skips keys on both sides, e.g. the checkpoint key.
	IgnoreKeys func(db int, key string) bool
	// BatchSize is the SCAN COUNT and the page size for elements (default 500).
	BatchSize int
	// MaxDiffs caps Report.Diffs (default 1000); DiffCount still counts all.
	MaxDiffs int
	// Logger gets progress at debug level and a summary at info (default: none).
	Logger *zap.Logger
}

func (o Options) withDefaults() Options {
	if o.TTLTolerance <= 0 {
		o.TTLTolerance = 2 * time.Second
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
	return o
}

// Diff is one difference.
type Diff struct {
	DB     int
	Key    string
	Kind   string
	Detail string
}

func (d Diff) String() string {
	return fmt.Sprintf("db%d %q: %s: %s", d.DB, d.Key, d.Kind, d.Detail)
}

// Report is the result of Compare.
type Report struct {
	KeysChecked int64  // keys of the source checked, plus extra keys of the target
	Diffs       []Diff // the first MaxDiffs diffs
	DiffCount   int64  // every diff, also those past MaxDiffs
}

// Equal reports whether no difference was found.
func (r Report) Equal() bool { return r.DiffCount == 0 }

// strChunk is the GETRANGE piece size for big strings.
var strChunk int64 = 512 << 10

// Compare compares source and target. It returns an error only when it
// could not compare (a connection or protocol failure); differences go into
// the Report.
func Compare(ctx context.Context, source, target redis.UniversalClient, opt Options) (Report, error) {
	opt = opt.withDefaults()
	var rep Report
	so, err := standaloneOptions(source)
	if err != nil {
		return rep, fmt.Errorf("verify: source: %w", err)
	}
	to, err := standaloneOptions(target)
	if err != nil {
		return rep, fmt.Errorf("verify: target: %w", err)
	}
	srcInfo, srcDBs, err := getInfo(ctx, source.(*redis.Client))
	if err != nil {
		return rep, fmt.Errorf("verify: source: %w", err)
	}
	dstInfo, dstDBs, err := getInfo(ctx, target.(*redis.Client))
	if err != nil {
		return rep, fmt.Errorf("verify: target: %w", err)
	}
	c := &comparer{opt: opt, log: opt.Logger.With(zap.String("stage", "verify")), si: srcInfo, di: dstInfo, rep: &rep}

	dbs := opt.DBs
	if dbs == nil {
		seen := map[int]bool{}
		for _, db := range append(srcDBs, dstDBs...) {
			if !seen[db] {
				seen[db] = true
				dbs = append(dbs, db)
			}
		}
	}
	if srcInfo.hasFunctions() && dstInfo.hasFunctions() {
		if err := c.compareFunctions(ctx, source.(*redis.Client), target.(*redis.Client)); err != nil {
			return rep, err
		}
	}
	for _, db := range dbs {
		if err := c.compareDB(ctx, so, to, db); err != nil {
			return rep, err
		}
	}
	c.log.Info("verify done", zap.Int64("keys", rep.KeysChecked), zap.Int64("diffs", rep.DiffCount))
	return rep, nil
}

type comparer struct {
	opt    Options
	log    *zap.Logger
	si, di serverInfo
	rep    *Report

	db       int
	src, dst *redis.Client
}

func (c *comparer) add(kind, key, format string, args ...any) {
	c.rep.DiffCount++
	if len(c.rep.Diffs) < c.opt.MaxDiffs {
		c.rep.Diffs = append(c.rep.Diffs, Diff{DB: c.db, Key: key, Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
}

func (c *comparer) ignored(key string) bool {
	return c.opt.IgnoreKeys != nil && c.opt.IgnoreKeys(c.db, key)
}

func (c *comparer) compareDB(ctx context.Context, so, to *redis.Options, db int) error {
	c.db = db
	c.src, c.dst = dbClient(so, db), dbClient(to, db)
	defer c.src.Close()
	defer c.dst.Close()
	c.log.Debug("verify db", zap.Int("db", db))

	// Source → target: missing keys and differences.
	var cursor uint64
	for {
		keys, next, err := c.src.Scan(ctx, cursor, "", int64(c.opt.BatchSize)).Result()
		if err != nil {
			return fmt.Errorf("verify: db %d: source SCAN: %w", db, err)
		}
		if err := c.checkKeys(ctx, c.filter(keys)); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	// Target → source: extra keys.
	for {
		keys, next, err := c.dst.Scan(ctx, cursor, "", int64(c.opt.BatchSize)).Result()
		if err != nil {
			return fmt.Errorf("verify: db %d: target SCAN: %w", db, err)
		}
		if err := c.checkExtra(ctx, c.filter(keys)); err != nil {
			return err
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	return nil
}

func (c *comparer) filter(keys []string) []string {
	out := keys[:0]
	for _, k := range keys {
		if !c.ignored(k) {
			out = append(out, k)
		}
	}
	return out
}

// typeTTL pipelines TYPE and PTTL for keys.
func typeTTL(ctx context.Context, cl *redis.Client, keys []string) ([]string, []int64, error) {
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
		c.rep.KeysChecked++
		if dt[i] == "none" || dp[i] == -2 {
			if sp[i] >= 0 && sp[i] <= tol {
				continue // about to expire; the target may be a bit ahead
			}
			c.add(KindMissing, k, "%s missing in target", st[i])
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
		c.rep.KeysChecked++
		c.add(KindExtra, k, "%s only in target", dt[i])
	}
	return nil
}

// mismatch is one difference found by a value check, before it is
// confirmed (the key may have vanished meanwhile).
type mismatch struct {
	kind, detail string
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
		m, err = c.compareStream(ctx, key)
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
		c.add(m.kind, key, "%s", m.detail)
	}
	return nil
}

// vanished reports whether key is gone from either side.
func (c *comparer) vanished(ctx context.Context, key string) (bool, error) {
	for _, cl := range []*redis.Client{c.src, c.dst} {
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

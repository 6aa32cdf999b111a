package verify

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redis/go-redis/v9"
)

func (c *comparer) compareString(ctx context.Context, key string) (*mismatch, error) {
	sl, err := c.src.StrLen(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("source STRLEN: %w", err)
	}
	dl, err := c.dst.StrLen(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("target STRLEN: %w", err)
	}
	if sl != dl {
		return mis(KindValue, "length %d in source, %d in target", sl, dl), nil
	}
	for off := int64(0); off < sl; off += strChunk {
		end := min(off+strChunk, sl) - 1
		a, err := c.src.GetRange(ctx, key, off, end).Result()
		if err != nil {
			return nil, fmt.Errorf("source GETRANGE: %w", err)
		}
		b, err := c.dst.GetRange(ctx, key, off, end).Result()
		if err != nil {
			return nil, fmt.Errorf("target GETRANGE: %w", err)
		}
		if a != b {
			return mis(KindValue, "bytes differ in [%d, %d]", off, end), nil
		}
	}
	return nil, nil
}

func (c *comparer) compareList(ctx context.Context, key string) (*mismatch, error) {
	sl, err := c.src.LLen(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("source LLEN: %w", err)
	}
	dl, err := c.dst.LLen(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("target LLEN: %w", err)
	}
	if sl != dl {
		return mis(KindValue, "length %d in source, %d in target", sl, dl), nil
	}
	page := int64(c.opt.BatchSize)
	for off := int64(0); off < sl; off += page {
		a, err := c.src.LRange(ctx, key, off, off+page-1).Result()
		if err != nil {
			return nil, fmt.Errorf("source LRANGE: %w", err)
		}
		b, err := c.dst.LRange(ctx, key, off, off+page-1).Result()
		if err != nil {
			return nil, fmt.Errorf("target LRANGE: %w", err)
		}
		for i := range a {
			if i >= len(b) {
				return mis(KindValue, "target list shorter at index %d", off+int64(i)), nil
			}
			if a[i] != b[i] {
				return mis(KindValue, "element %d differs: %.40q vs %.40q", off+int64(i), a[i], b[i]), nil
			}
		}
		if len(a) < len(b) {
			return mis(KindValue, "target list longer at index %d", off+int64(len(a))), nil
		}
	}
	return nil, nil
}

func (c *comparer) compareSet(ctx context.Context, key string) (*mismatch, error) {
	sn, err := c.src.SCard(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("source SCARD: %w", err)
	}
	dn, err := c.dst.SCard(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("target SCARD: %w", err)
	}
	if sn != dn {
		return mis(KindValue, "cardinality %d in source, %d in target", sn, dn), nil
	}
	var cursor uint64
	for {
		members, next, err := c.src.SScan(ctx, key, cursor, "", int64(c.opt.BatchSize)).Result()
		if err != nil {
			return nil, fmt.Errorf("source SSCAN: %w", err)
		}
		if len(members) > 0 {
			in, err := c.isMember(ctx, key, members)
			if err != nil {
				return nil, err
			}
			for i, ok := range in {
				if !ok {
					return mis(KindValue, "member %.40q missing in target", members[i]), nil
				}
			}
		}
		if cursor = next; cursor == 0 {
			return nil, nil
		}
	}
}

func (c *comparer) isMember(ctx context.Context, key string, members []string) ([]bool, error) {
	out := make([]bool, len(members))
	if c.di.MultiRead() {
		args := make([]any, 0, len(members)+2)
		args = append(args, "SMISMEMBER", key)
		for _, m := range members {
			args = append(args, m)
		}
		res, err := c.dst.Do(ctx, args...).Int64Slice()
		if err != nil {
			return nil, fmt.Errorf("target SMISMEMBER: %w", err)
		}
		if len(res) != len(members) {
			return nil, fmt.Errorf("target SMISMEMBER: %d replies for %d members", len(res), len(members))
		}
		for i, r := range res {
			out[i] = r == 1
		}
		return out, nil
	}
	cmds := make([]*redis.BoolCmd, len(members))
	if _, err := c.dst.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			cmds[i] = p.SIsMember(ctx, key, m)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("target SISMEMBER: %w", err)
	}
	for i, cmd := range cmds {
		out[i] = cmd.Val()
	}
	return out, nil
}

func (c *comparer) compareZSet(ctx context.Context, key string) (*mismatch, error) {
	sn, err := c.src.ZCard(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("source ZCARD: %w", err)
	}
	dn, err := c.dst.ZCard(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("target ZCARD: %w", err)
	}
	if sn != dn {
		return mis(KindValue, "cardinality %d in source, %d in target", sn, dn), nil
	}
	var cursor uint64
	for {
		kv, next, err := c.src.ZScan(ctx, key, cursor, "", int64(c.opt.BatchSize)).Result()
		if err != nil {
			return nil, fmt.Errorf("source ZSCAN: %w", err)
		}
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("source ZSCAN: odd reply length %d", len(kv))
		}
		if len(kv) > 0 {
			members := make([]string, 0, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				members = append(members, kv[i])
			}
			scores, err := c.targetScores(ctx, key, members)
			if err != nil {
				return nil, err
			}
			for i, m := range members {
				a, err := strconv.ParseFloat(kv[2*i+1], 64)
				if err != nil {
					return nil, fmt.Errorf("source ZSCAN score %q: %w", kv[2*i+1], err)
				}
				if scores[i] == nil {
					return mis(KindValue, "member %.40q missing in target", m), nil
				}
				b, err := strconv.ParseFloat(*scores[i], 64)
				if err != nil {
					return nil, fmt.Errorf("target score %q: %w", *scores[i], err)
				}
				if !sameScore(a, b) {
					return mis(KindValue, "member %.40q score %s in source, %s in target", m, kv[2*i+1], *scores[i]), nil
				}
			}
		}
		if cursor = next; cursor == 0 {
			return nil, nil
		}
	}
}

// targetScores returns the target's score text per member, nil if absent.
func (c *comparer) targetScores(ctx context.Context, key string, members []string) ([]*string, error) {
	out := make([]*string, len(members))
	if c.di.MultiRead() {
		args := make([]any, 0, len(members)+2)
		args = append(args, "ZMSCORE", key)
		for _, m := range members {
			args = append(args, m)
		}
		res, err := c.dst.Do(ctx, args...).Slice()
		if err != nil {
			return nil, fmt.Errorf("target ZMSCORE: %w", err)
		}
		if len(res) != len(members) {
			return nil, fmt.Errorf("target ZMSCORE: %d replies for %d members", len(res), len(members))
		}
		for i, r := range res {
			if s, ok := r.(string); ok {
				out[i] = &s
			}
		}
		return out, nil
	}
	cmds := make([]*redis.Cmd, len(members))
	if _, err := c.dst.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range members {
			cmds[i] = p.Do(ctx, "ZSCORE", key, m)
		}
		return nil
	}); err != nil && err != redis.Nil {
		return nil, fmt.Errorf("target ZSCORE: %w", err)
	}
	for i, cmd := range cmds {
		if s, err := cmd.Text(); err == nil {
			out[i] = &s
		} else if err != redis.Nil {
			return nil, fmt.Errorf("target ZSCORE: %w", err)
		}
	}
	return out, nil
}

// compareHash compares fields and values, then field TTLs; it can return
// one value and one field-ttl mismatch, and one expected mismatch for the
// fields with a TTL left out (on-unholdable-field-ttl = skip). With field TTLs on either side, a
// field that expires during the check (or is within the TTL tolerance of
// expiring) on one side only is not a diff, so a length difference is
// confirmed field by field in both directions.
func (c *comparer) compareHash(ctx context.Context, key string) ([]*mismatch, error) {
	sn, err := c.src.HLen(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("source HLEN: %w", err)
	}
	dn, err := c.dst.HLen(ctx, key).Result()
	if err != nil {
		return nil, fmt.Errorf("target HLEN: %w", err)
	}
	fieldTTLs := c.si.HashFieldTTL() || c.di.HashFieldTTL()
	var valueMis, ttlMis *mismatch
	if sn != dn && !fieldTTLs {
		valueMis = mis(KindValue, "%d fields in source, %d in target", sn, dn)
	}
	checkTTL := c.si.HashFieldTTL()
	skipTTL := c.fieldTTLSkipped()
	var skippedMis *mismatch // a field left out, as expected
	var cursor uint64
	for valueMis == nil || checkTTL && ttlMis == nil {
		kv, next, err := c.src.HScan(ctx, key, cursor, "", int64(c.opt.BatchSize)).Result()
		if err != nil {
			return nil, fmt.Errorf("source HSCAN: %w", err)
		}
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("source HSCAN: odd reply length %d", len(kv))
		}
		fields := make([]string, 0, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			fields = append(fields, kv[i])
		}
		if valueMis == nil && len(fields) > 0 {
			vals, err := c.dst.HMGet(ctx, key, fields...).Result()
			if err != nil {
				return nil, fmt.Errorf("target HMGET: %w", err)
			}
			for i, f := range fields {
				v, ok := vals[i].(string)
				if ok && v == kv[2*i+1] {
					continue
				}
				if fading, err := c.fieldFading(ctx, c.src, c.si, key, f); err != nil {
					return nil, fmt.Errorf("source: %w", err)
				} else if fading {
					continue
				}
				if !ok && skipTTL {
					// Left out if it has a TTL (on-unholdable-field-ttl = skip).
					if expires, err := c.fieldExpires(ctx, key, f); err != nil {
						return nil, err
					} else if expires {
						if skippedMis == nil {
							skippedMis = mis(KindValue, "field %.40q (with a TTL in source) missing in target", f)
							skippedMis.expected = c.opt.Unholdable.Expected(unholdable.FieldTTL)
						}
						continue
					}
				}
				if !ok {
					valueMis = mis(KindValue, "field %.40q missing in target", f)
				} else {
					valueMis = mis(KindValue, "field %.40q: %.40q in source, %.40q in target", f, kv[2*i+1], v)
				}
				break
			}
		}
		if checkTTL && ttlMis == nil && len(fields) > 0 {
			if ttlMis, err = c.compareFieldTTL(ctx, key, fields); err != nil {
				return nil, err
			}
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if valueMis == nil && sn != dn && fieldTTLs {
		if valueMis, err = c.extraFields(ctx, key); err != nil {
			return nil, err
		}
	}
	var out []*mismatch
	for _, m := range []*mismatch{valueMis, ttlMis, skippedMis} {
		if m != nil {
			out = append(out, m)
		}
	}
	return out, nil
}

// extraFields looks for a field only the target has (and that is not
// about to expire there).
func (c *comparer) extraFields(ctx context.Context, key string) (*mismatch, error) {
	var cursor uint64
	for {
		kv, next, err := c.dst.HScan(ctx, key, cursor, "", int64(c.opt.BatchSize)).Result()
		if err != nil {
			return nil, fmt.Errorf("target HSCAN: %w", err)
		}
		fields := make([]string, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			fields = append(fields, kv[i])
		}
		if len(fields) > 0 {
			vals, err := c.src.HMGet(ctx, key, fields...).Result()
			if err != nil {
				return nil, fmt.Errorf("source HMGET: %w", err)
			}
			for i, f := range fields {
				if vals[i] != nil {
					continue
				}
				fading, err := c.fieldFading(ctx, c.dst, c.di, key, f)
				if err != nil {
					return nil, fmt.Errorf("target: %w", err)
				}
				if !fading {
					return mis(KindValue, "field %.40q only in target", f), nil
				}
			}
		}
		if cursor = next; cursor == 0 {
			return nil, nil
		}
	}
}

// fieldFading reports whether a hash field is gone (it expired while
// checked) or expires within the TTL tolerance.
func (c *comparer) fieldFading(ctx context.Context, cl conn, si server.Info, key, field string) (bool, error) {
	if !si.HashFieldTTL() {
		ok, err := cl.HExists(ctx, key, field).Result()
		if err != nil {
			return false, fmt.Errorf("HEXISTS: %w", err)
		}
		return !ok, nil
	}
	res, err := cl.Do(ctx, "HPTTL", key, "FIELDS", 1, field).Int64Slice()
	if err != nil {
		return false, fmt.Errorf("HPTTL: %w", err)
	}
	if len(res) != 1 {
		return false, fmt.Errorf("HPTTL: %d replies for 1 field", len(res))
	}
	return res[0] == -2 || res[0] >= 0 && res[0] <= c.opt.TTLTolerance.Milliseconds(), nil
}

func hpexpiretime(ctx context.Context, cl conn, key string, fields []string) ([]int64, error) {
	args := make([]any, 0, len(fields)+4)
	args = append(args, "HPEXPIRETIME", key, "FIELDS", len(fields))
	for _, f := range fields {
		args = append(args, f)
	}
	res, err := cl.Do(ctx, args...).Int64Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != len(fields) {
		return nil, fmt.Errorf("%d replies for %d fields", len(res), len(fields))
	}
	return res, nil
}

func (c *comparer) compareFieldTTL(ctx context.Context, key string, fields []string) (*mismatch, error) {
	st, err := hpexpiretime(ctx, c.src, key, fields)
	if err != nil {
		return nil, fmt.Errorf("source HPEXPIRETIME: %w", err)
	}
	if !c.di.HashFieldTTL() {
		return c.unholdableFieldTTL(ctx, key, fields, st)
	}
	dt, err := hpexpiretime(ctx, c.dst, key, fields)
	if err != nil {
		return nil, fmt.Errorf("target HPEXPIRETIME: %w", err)
	}
	tol := c.opt.TTLTolerance.Milliseconds()
	for i, f := range fields {
		a, b := st[i], dt[i]
		switch {
		case a == -2 || b == -2: // gone on one side: a value matter, or expired
		case a == -1 && b >= 0:
			return mis(KindFieldTTL, "field %.40q: no TTL in source, expires at %d in target", f, b), nil
		case a >= 0 && b == -1:
			return mis(KindFieldTTL, "field %.40q: expires at %d in source, no TTL in target", f, a), nil
		case a >= 0 && b >= 0 && abs(a-b) > tol:
			return mis(KindFieldTTL, "field %.40q: expires at %d in source, %d in target", f, a, b), nil
		}
	}
	return nil, nil
}

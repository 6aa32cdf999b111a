package verify

import (
	"context"
	"fmt"

	"github.com/redferry/redferry/pkg/unholdable"
)

// What the sync's on-unholdable-* settings leave out or convert, verify
// reports as expected differences (Report.Expected): only where the target
// cannot hold the data, and only differences the action explains.

// coreTypes are the types every server holds; any other TYPE is a module's.
var coreTypes = map[string]bool{"string": true, "list": true, "set": true, "zset": true, "hash": true, "stream": true}

// expectMissing tells whether a key of type typ missing in the target is
// expected: the setting that left it out, and a note for the detail.
func (c *comparer) expectMissing(ctx context.Context, key, typ string) (expected, why string, err error) {
	p := c.opt.Unholdable
	switch {
	case !coreTypes[typ]:
		if p.Action(unholdable.Module) != unholdable.Skip || typ == "vectorset" && c.di.VectorSets() {
			return "", "", nil
		}
		return p.Expected(unholdable.Module), fmt.Sprintf(" (a module value %s cannot hold)", c.di), nil
	case typ == "hash" && c.fieldTTLSkipped():
		all, err := c.allFieldsExpire(ctx, key)
		if err != nil || !all {
			return "", "", err
		}
		return p.Expected(unholdable.FieldTTL), " (every field has a TTL)", nil
	case typ == "stream" && p.Action(unholdable.IDMP) == unholdable.Skip:
		info, err := xinfo(ctx, c.src, "STREAM", key)
		if err != nil {
			return "", "", fmt.Errorf("source XINFO STREAM: %w", err)
		}
		if !tracksIDMP(info) {
			return "", "", nil
		}
		return p.Expected(unholdable.IDMP), " (entries added with XADD IDMP are left out)", nil
	}
	return "", "", nil
}

// fieldTTLSkipped: the sync leaves out hash fields with a TTL (the
// source has field TTLs, the target none, on-unholdable-field-ttl = skip).
func (c *comparer) fieldTTLSkipped() bool {
	return c.si.HashFieldTTL() && !c.di.HashFieldTTL() && c.opt.Unholdable.Action(unholdable.FieldTTL) == unholdable.Skip
}

// allFieldsExpire reports whether every field of a source hash has a TTL.
func (c *comparer) allFieldsExpire(ctx context.Context, key string) (bool, error) {
	var cursor uint64
	for {
		kv, next, err := c.src.HScan(ctx, key, cursor, "", int64(c.opt.BatchSize)).Result()
		if err != nil {
			return false, fmt.Errorf("source HSCAN: %w", err)
		}
		fields := make([]string, 0, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			fields = append(fields, kv[i])
		}
		if len(fields) > 0 {
			ts, err := hpexpiretime(ctx, c.src, key, fields)
			if err != nil {
				return false, fmt.Errorf("source HPEXPIRETIME: %w", err)
			}
			for _, t := range ts {
				if t == -1 {
					return false, nil
				}
			}
		}
		if cursor = next; cursor == 0 {
			return true, nil
		}
	}
}

// fieldExpires reports whether a source hash field has a TTL.
func (c *comparer) fieldExpires(ctx context.Context, key, field string) (bool, error) {
	ts, err := hpexpiretime(ctx, c.src, key, []string{field})
	if err != nil {
		return false, fmt.Errorf("source HPEXPIRETIME: %w", err)
	}
	return ts[0] >= 0, nil
}

// unholdableFieldTTL: source fields with a TTL (st: their HPEXPIRETIME) on
// a target without field TTLs. With on-unholdable-field-ttl = convert they
// are there without it, as expected; with skip they are left out, so one
// still in the target differs; with stop the sync would have stopped.
func (c *comparer) unholdableFieldTTL(ctx context.Context, key string, fields []string, st []int64) (*mismatch, error) {
	p := c.opt.Unholdable
	for i, t := range st {
		if t < 0 {
			continue
		}
		switch p.Action(unholdable.FieldTTL) {
		case unholdable.Skip:
			in, err := c.dst.HExists(ctx, key, fields[i]).Result()
			if err != nil {
				return nil, fmt.Errorf("target HEXISTS: %w", err)
			}
			if in {
				return mis(KindFieldTTL, "field %.40q has a TTL in source and is in the target, which %s = skip leaves it out of",
					fields[i], unholdable.FieldTTL.Setting()), nil
			}
		case unholdable.Convert:
			m := mis(KindFieldTTL, "field %.40q has a TTL in source, none in the target (%s cannot hold field TTLs)", fields[i], c.di)
			m.expected = p.Expected(unholdable.FieldTTL)
			return m, nil
		default:
			return mis(KindFieldTTL, "field %.40q has a TTL; the target cannot hold field TTLs", fields[i]), nil
		}
	}
	return nil, nil
}

package scan

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/rdbparse"
)

// pager reads one big key page by page and hands each element to emit as
// an rdbparse event, the same events a snapshot would give, so the
// Rebuilder writes it exactly as sync does. Memory holds one page.
type pager struct {
	cl       *redis.Client
	key      string
	chunk    int
	fieldTTL bool // the source has hash field TTLs (HPEXPIRETIME)
	emit     func(*rdbparse.Event) error
	ev       rdbparse.Event
}

func (p *pager) element(kind rdbparse.Kind, set func(e *rdbparse.Event)) error {
	p.ev = rdbparse.Event{Kind: kind}
	set(&p.ev)
	return p.emit(&p.ev)
}

// read emits the elements of a key of type typ.
func (p *pager) read(ctx context.Context, typ rdbparse.ValueType) error {
	switch typ {
	case rdbparse.TypeString:
		return p.readString(ctx)
	case rdbparse.TypeList:
		return p.readList(ctx)
	case rdbparse.TypeSet:
		return p.readScan(ctx, "SSCAN", 1, func(el []string) error {
			return p.element(rdbparse.KindSetMember, func(e *rdbparse.Event) { e.Value = []byte(el[0]) })
		})
	case rdbparse.TypeZSet:
		return p.readScan(ctx, "ZSCAN", 2, func(el []string) error {
			score, err := strconv.ParseFloat(el[1], 64)
			if err != nil {
				return fmt.Errorf("ZSCAN %q: score %q: %w", p.key, el[1], err)
			}
			return p.element(rdbparse.KindZSetMember, func(e *rdbparse.Event) { e.Value, e.Score = []byte(el[0]), score })
		})
	case rdbparse.TypeHash:
		return p.readHash(ctx)
	case rdbparse.TypeStream:
		return p.readStream(ctx)
	}
	return fmt.Errorf("scan: no paged read for type %s", typ)
}

// readString reads the value in GETRANGE pieces of chunk KiB.
func (p *pager) readString(ctx context.Context) error {
	n, err := p.cl.StrLen(ctx, p.key).Result()
	if err != nil {
		return err
	}
	piece := int64(p.chunk) << 10
	for off := int64(0); off < n; off += piece {
		v, err := p.cl.GetRange(ctx, p.key, off, min(off+piece, n)-1).Result()
		if err != nil {
			return err
		}
		if int64(len(v)) < min(piece, n-off) {
			return errChanged // shorter than it was
		}
		if err := p.element(rdbparse.KindString, func(e *rdbparse.Event) { e.Value, e.Last = []byte(v), off+piece >= n }); err != nil {
			return err
		}
	}
	return nil
}

// readList reads LRANGE pages, head to tail.
func (p *pager) readList(ctx context.Context) error {
	for start := int64(0); ; start += int64(p.chunk) {
		items, err := p.cl.LRange(ctx, p.key, start, start+int64(p.chunk)-1).Result()
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := p.element(rdbparse.KindListItem, func(e *rdbparse.Event) { e.Value = []byte(it) }); err != nil {
				return err
			}
		}
		if len(items) < p.chunk {
			return nil
		}
	}
}

// readScan runs a SSCAN/ZSCAN to its end, handing each element (width
// strings) to each. An element may come twice (the type's SCAN
// guarantee); writing it twice changes nothing.
func (p *pager) readScan(ctx context.Context, cmd string, width int, each func([]string) error) error {
	return p.readScanPages(ctx, cmd, width, func(items []string) error {
		for i := 0; i < len(items); i += width {
			if err := each(items[i : i+width]); err != nil {
				return err
			}
		}
		return nil
	})
}

// readHash reads HSCAN pages and, where the source has field TTLs, their
// expiry times (HPEXPIRETIME); a field that expired between the two reads
// is left out.
func (p *pager) readHash(ctx context.Context) error {
	return p.readScanPages(ctx, "HSCAN", 2, func(items []string) error {
		var ttls []int64
		if p.fieldTTL && len(items) > 0 {
			args := []any{"HPEXPIRETIME", p.key, "FIELDS", len(items) / 2}
			for i := 0; i < len(items); i += 2 {
				args = append(args, items[i])
			}
			var err error
			if ttls, err = p.cl.Do(ctx, args...).Int64Slice(); err != nil {
				return fmt.Errorf("HPEXPIRETIME %q: %w", p.key, err)
			}
		}
		for i := 0; i < len(items); i += 2 {
			var at int64
			if ttls != nil {
				switch t := ttls[i/2]; {
				case t == -2:
					continue // gone since HSCAN
				case t > 0:
					at = t
				}
			}
			if err := p.element(rdbparse.KindHashField, func(e *rdbparse.Event) {
				e.Name, e.Value, e.FieldExpireAt = []byte(items[i]), []byte(items[i+1]), at
			}); err != nil {
				return err
			}
		}
		return nil
	})
}

// readScanPages runs a *SCAN of the key to its end, handing each page of
// items (a multiple of width) to page.
func (p *pager) readScanPages(ctx context.Context, cmd string, width int, page func([]string) error) error {
	var cursor uint64
	for {
		res, err := p.cl.Do(ctx, cmd, p.key, cursor, "COUNT", p.chunk).Slice()
		if err != nil {
			return err
		}
		next, items, err := scanReply(res)
		if err != nil {
			return fmt.Errorf("%s %q: %w", cmd, p.key, err)
		}
		if len(items)%width != 0 {
			return fmt.Errorf("%s %q: %d items, not groups of %d", cmd, p.key, len(items), width)
		}
		if err := page(items); err != nil {
			return err
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// scanReply splits a *SCAN reply: the next cursor and the items.
func scanReply(res []any) (uint64, []string, error) {
	if len(res) != 2 {
		return 0, nil, fmt.Errorf("reply of %d elements, want cursor and items", len(res))
	}
	cs, ok := res[0].(string)
	if !ok {
		return 0, nil, fmt.Errorf("cursor of type %T", res[0])
	}
	next, err := strconv.ParseUint(cs, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("cursor %q: %w", cs, err)
	}
	raw, ok := res[1].([]any)
	if !ok {
		return 0, nil, fmt.Errorf("items of type %T", res[1])
	}
	items := make([]string, len(raw))
	for i, it := range raw {
		if items[i], ok = it.(string); !ok {
			return 0, nil, fmt.Errorf("item of type %T", it)
		}
	}
	return next, items, nil
}

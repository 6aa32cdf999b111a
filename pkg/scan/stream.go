package scan

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/rdbparse"
)

// readStream emits a stream in the order an RDB stores it: entries (XRANGE
// pages up to the last id read first, so that XSETID never goes below an
// entry), metadata (XINFO STREAM), then each group (XINFO GROUPS) with its
// pending entries (XPENDING pages) and consumers (XINFO CONSUMERS) with
// theirs. Delivery times come from the idle times and the source's clock,
// to the millisecond. Pending entries whose message was deleted are found
// by walking the PELs alongside the entries (ghostMerge). What commands
// cannot set is not copied: consumers' seen and active times, and the IDMP
// state of Redis 8.6 streams (a DUMP keeps them: only streams too big for
// one are copied this way).
func (p *pager) readStream(ctx context.Context) error {
	info, err := flatMap(p.cl.Do(ctx, "XINFO", "STREAM", p.key).Slice())
	if err != nil {
		return p.keyGone(err)
	}
	var meta rdbparse.StreamMeta
	meta.Length = uint64(intField(info, "length"))
	if meta.LastID, err = parseID(strField(info, "last-generated-id")); err != nil {
		return err
	}
	if v, ok := info["entries-added"]; ok {
		meta.HasV2Fields = true
		meta.EntriesAdded = uint64(toInt(v))
		if meta.MaxDeletedID, err = parseID(strField(info, "max-deleted-entry-id")); err != nil {
			return err
		}
		if meta.FirstID, err = parseID(strField(info, "recorded-first-entry-id")); err != nil {
			meta.FirstID = rdbparse.StreamID{}
		}
	}
	groups, err := p.cl.Do(ctx, "XINFO", "GROUPS", p.key).Slice()
	if err != nil {
		return p.keyGone(err)
	}
	groupMaps := make([]map[string]any, len(groups))
	ghosts := &ghostMerge{p: p}
	for i, g := range groups {
		if groupMaps[i], err = flatMap(g, nil); err != nil {
			return fmt.Errorf("XINFO GROUPS %q: %w", p.key, err)
		}
		ghosts.cursors = append(ghosts.cursors, &pelCursor{group: strField(groupMaps[i], "name"), start: "-"})
	}
	last := meta.LastID.String()
	start := "-"
	for {
		res, err := p.cl.Do(ctx, "XRANGE", p.key, start, last, "COUNT", p.chunk).Slice()
		if err != nil {
			return p.keyGone(err)
		}
		var lastID rdbparse.StreamID
		for _, m := range res {
			id, fields, err := parseEntry(m)
			if err != nil {
				return fmt.Errorf("XRANGE %q: %w", p.key, err)
			}
			if err := ghosts.emitBefore(ctx, id, false); err != nil {
				return err
			}
			lastID = id
			if err := p.element(rdbparse.KindStreamEntry, func(e *rdbparse.Event) { e.ID, e.Fields = id, fields }); err != nil {
				return err
			}
		}
		if len(res) < p.chunk {
			break
		}
		start = nextID(lastID).String()
	}
	if err := ghosts.emitBefore(ctx, meta.LastID, true); err != nil {
		return err
	}
	if err := p.element(rdbparse.KindStreamMeta, func(e *rdbparse.Event) { e.Stream = meta }); err != nil {
		return err
	}
	now, err := p.cl.Time(ctx).Result()
	if err != nil {
		return err
	}
	for _, gm := range groupMaps {
		if err := p.group(ctx, gm, now.UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

// ghostFields are the fields of the stand-in for a deleted entry that a
// PEL still names: it exists on the target only while the PEL is rebuilt.
var ghostFields = [][]byte{[]byte("redferry-deleted-entry"), []byte("")}

// ghostMerge finds the pending entries whose message was deleted (XDEL,
// XTRIM) by walking every group's PEL in id order alongside the entries:
// the Rebuilder adds them before the entries that follow (XADD needs
// rising ids), claims them for their consumers and deletes them again, as
// for the deleted entries of a snapshot. Memory holds one PEL page per group.
type ghostMerge struct {
	p       *pager
	cursors []*pelCursor
}

type pelCursor struct {
	group string
	start string
	page  []rdbparse.StreamID
	pos   int
	done  bool
}

// peek returns the cursor's next pending id (ok false at the PEL's end).
func (c *pelCursor) peek(ctx context.Context, p *pager) (rdbparse.StreamID, bool, error) {
	if c.pos < len(c.page) {
		return c.page[c.pos], true, nil
	}
	if c.done {
		return rdbparse.StreamID{}, false, nil
	}
	res, err := p.cl.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: p.key, Group: c.group, Start: c.start, End: "+",
		Count: int64(p.chunk)}).Result()
	if err != nil {
		return rdbparse.StreamID{}, false, p.keyGone(err)
	}
	c.page, c.pos = c.page[:0], 0
	for _, pe := range res {
		id, err := parseID(pe.ID)
		if err != nil {
			return id, false, err
		}
		c.page = append(c.page, id)
	}
	c.done = len(res) < p.chunk
	if len(c.page) == 0 {
		return rdbparse.StreamID{}, false, nil
	}
	c.start = nextID(c.page[len(c.page)-1]).String()
	return c.page[0], true, nil
}

// emitBefore emits, in order and once each, the pending ids below id (up
// to and including it when inclusive) that are not id itself: entries
// that no longer exist.
func (g *ghostMerge) emitBefore(ctx context.Context, id rdbparse.StreamID, inclusive bool) error {
	for {
		var (
			low   rdbparse.StreamID
			found bool
		)
		for _, c := range g.cursors {
			next, ok, err := c.peek(ctx, g.p)
			if err != nil {
				return err
			}
			if ok && (!found || idLess(next, low)) {
				low, found = next, true
			}
		}
		if !found || idLess(id, low) || low == id && !inclusive {
			if found && low == id {
				g.pop(low) // the entry exists
			}
			return nil
		}
		g.pop(low)
		if err := g.p.element(rdbparse.KindStreamDeletedEntry, func(e *rdbparse.Event) { e.ID, e.Fields = low, ghostFields }); err != nil {
			return err
		}
	}
}

// pop moves every cursor standing at id past it.
func (g *ghostMerge) pop(id rdbparse.StreamID) {
	for _, c := range g.cursors {
		if c.pos < len(c.page) && c.page[c.pos] == id {
			c.pos++
		}
	}
}

func idLess(a, b rdbparse.StreamID) bool { return a.Ms < b.Ms || a.Ms == b.Ms && a.Seq < b.Seq }

func (p *pager) group(ctx context.Context, gm map[string]any, nowMs int64) error {
	name := strField(gm, "name")
	lastID, err := parseID(strField(gm, "last-delivered-id"))
	if err != nil {
		return err
	}
	g := rdbparse.StreamGroup{Name: []byte(name), LastID: lastID, EntriesRead: -1}
	if v, ok := gm["entries-read"]; ok {
		g.HasEntriesRead = true
		if v != nil {
			g.EntriesRead = toInt(v)
		}
	}
	if err := p.element(rdbparse.KindStreamGroup, func(e *rdbparse.Event) { e.Group = g }); err != nil {
		return err
	}
	err = p.pending(ctx, name, "", func(pe redis.XPendingExt, id rdbparse.StreamID) error {
		return p.element(rdbparse.KindStreamPending, func(e *rdbparse.Event) {
			e.ID, e.DeliveryTime, e.DeliveryCount = id, nowMs-pe.Idle.Milliseconds(), uint64(pe.RetryCount)
		})
	})
	if err != nil {
		return err
	}
	consumers, err := p.cl.Do(ctx, "XINFO", "CONSUMERS", p.key, name).Slice()
	if err != nil {
		return p.keyGone(err)
	}
	for _, c := range consumers {
		cm, err := flatMap(c, nil)
		if err != nil {
			return fmt.Errorf("XINFO CONSUMERS %q %q: %w", p.key, name, err)
		}
		cname := strField(cm, "name")
		if err := p.element(rdbparse.KindStreamConsumer, func(e *rdbparse.Event) {
			e.Consumer = rdbparse.StreamConsumer{Name: []byte(cname), ActiveTime: -1}
		}); err != nil {
			return err
		}
		err = p.pending(ctx, name, cname, func(_ redis.XPendingExt, id rdbparse.StreamID) error {
			return p.element(rdbparse.KindStreamConsumerPending, func(e *rdbparse.Event) { e.ID = id })
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// pending pages through XPENDING of a group (of one consumer when
// consumer is set).
func (p *pager) pending(ctx context.Context, group, consumer string, each func(redis.XPendingExt, rdbparse.StreamID) error) error {
	start := "-"
	for {
		res, err := p.cl.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: p.key, Group: group, Start: start, End: "+",
			Count: int64(p.chunk), Consumer: consumer}).Result()
		if err != nil {
			return p.keyGone(err)
		}
		var id rdbparse.StreamID
		for _, pe := range res {
			if id, err = parseID(pe.ID); err != nil {
				return err
			}
			if err := each(pe, id); err != nil {
				return err
			}
		}
		if len(res) < p.chunk {
			return nil
		}
		start = nextID(id).String()
	}
}

// keyGone turns the errors of a stream or group that vanished while it was
// read into errChanged.
func (p *pager) keyGone(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if wrongType(err) || strings.HasPrefix(msg, "ERR no such key") || strings.HasPrefix(msg, "NOGROUP") {
		return errChanged
	}
	return err
}

func nextID(id rdbparse.StreamID) rdbparse.StreamID {
	if id.Seq == math.MaxUint64 {
		return rdbparse.StreamID{Ms: id.Ms + 1}
	}
	return rdbparse.StreamID{Ms: id.Ms, Seq: id.Seq + 1}
}

func parseID(s string) (rdbparse.StreamID, error) {
	ms, seq, ok := strings.Cut(s, "-")
	a, err1 := strconv.ParseUint(ms, 10, 64)
	b, err2 := strconv.ParseUint(seq, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return rdbparse.StreamID{}, fmt.Errorf("scan: stream id %q is not ms-seq", s)
	}
	return rdbparse.StreamID{Ms: a, Seq: b}, nil
}

// parseEntry splits an XRANGE entry: [id, [field, value, ...]].
func parseEntry(m any) (rdbparse.StreamID, [][]byte, error) {
	pair, ok := m.([]any)
	if !ok || len(pair) != 2 {
		return rdbparse.StreamID{}, nil, fmt.Errorf("entry of type %T", m)
	}
	ids, _ := pair[0].(string)
	id, err := parseID(ids)
	if err != nil {
		return id, nil, err
	}
	raw, _ := pair[1].([]any)
	fields := make([][]byte, len(raw))
	for i, f := range raw {
		s, ok := f.(string)
		if !ok {
			return id, nil, fmt.Errorf("entry %s: field of type %T", ids, f)
		}
		fields[i] = []byte(s)
	}
	return id, fields, nil
}

// flatMap reads a RESP2 map (a flat array of names and values).
func flatMap(v any, err error) (map[string]any, error) {
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok || len(arr)%2 != 0 {
		return nil, fmt.Errorf("reply of type %T is not a map", v)
	}
	m := make(map[string]any, len(arr)/2)
	for i := 0; i < len(arr); i += 2 {
		k, _ := arr[i].(string)
		m[k] = arr[i+1]
	}
	return m, nil
}

func strField(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func intField(m map[string]any, k string) int64 { return toInt(m[k]) }

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

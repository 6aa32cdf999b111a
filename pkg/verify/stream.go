package verify

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redferry/redferry/pkg/unholdable"
)

// flatMap turns a RESP2 key/value array into a map.
func flatMap(v any) (map[string]any, error) {
	arr, ok := v.([]any)
	if !ok || len(arr)%2 != 0 {
		return nil, fmt.Errorf("expected a key/value array, got %T", v)
	}
	m := make(map[string]any, len(arr)/2)
	for i := 0; i < len(arr); i += 2 {
		k, ok := arr[i].(string)
		if !ok {
			return nil, fmt.Errorf("key %d is %T, not a string", i/2, arr[i])
		}
		m[k] = arr[i+1]
	}
	return m, nil
}

// mapList parses a RESP2 array of key/value arrays.
func mapList(v any) ([]map[string]any, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("expected an array, got %T", v)
	}
	out := make([]map[string]any, 0, len(arr))
	for _, e := range arr {
		m, err := flatMap(e)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func str(v any) string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprint(v)
}

// nextID returns the stream id right after id, for paging with inclusive
// ranges (exclusive "(" ranges need 6.2).
func nextID(id string) (string, error) {
	msText, seqText, ok := strings.Cut(id, "-")
	if !ok {
		return "", fmt.Errorf("bad stream id %q", id)
	}
	ms, err := strconv.ParseUint(msText, 10, 64)
	if err != nil {
		return "", fmt.Errorf("bad stream id %q: %w", id, err)
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil {
		return "", fmt.Errorf("bad stream id %q: %w", id, err)
	}
	if seq == math.MaxUint64 {
		if ms == math.MaxUint64 {
			return "", nil // the last possible id
		}
		return strconv.FormatUint(ms+1, 10) + "-0", nil
	}
	return msText + "-" + strconv.FormatUint(seq+1, 10), nil
}

// compareStream compares a stream's metadata, idempotent-id state, entries
// and groups. It returns at most two mismatches: the idempotent-id state
// (expected under on-unholdable-idmp = skip or convert) and the first other
// one (expected too under skip when the source added entries with IDMP:
// those entries were left out).
func (c *comparer) compareStream(ctx context.Context, key string) ([]*mismatch, error) {
	sInfo, err := xinfo(ctx, c.src, "STREAM", key)
	if err != nil {
		return nil, fmt.Errorf("source XINFO STREAM: %w", err)
	}
	dInfo, err := xinfo(ctx, c.dst, "STREAM", key)
	if err != nil {
		return nil, fmt.Errorf("target XINFO STREAM: %w", err)
	}
	var out []*mismatch
	if m := compareIDMP(sInfo, dInfo); m != nil {
		// Ids the target could not record (no IDMP, IDMPAUTO, no
		// XIDMPRECORD) were dropped, or their entries left out.
		m.expected = c.opt.Unholdable.Expected(unholdable.IDMP)
		out = append(out, m)
	}
	m, err := c.compareStreamData(ctx, key, sInfo, dInfo)
	if err != nil {
		return nil, err
	}
	if m != nil {
		if c.opt.Unholdable.Action(unholdable.IDMP) == unholdable.Skip && tracksIDMP(sInfo) {
			m.expected = c.opt.Unholdable.Expected(unholdable.IDMP)
			m.detail += " (entries added with XADD IDMP are left out)"
		}
		out = append(out, m)
	}
	return out, nil
}

// compareStreamData compares metadata, entries and groups.
func (c *comparer) compareStreamData(ctx context.Context, key string, sInfo, dInfo map[string]any) (*mismatch, error) {
	fields := []string{"length", "last-generated-id"}
	if c.si.StreamV2() && c.di.StreamV2() {
		fields = append(fields, "entries-added", "max-deleted-entry-id", "recorded-first-entry-id")
	}
	for _, f := range fields {
		if a, b := str(sInfo[f]), str(dInfo[f]); a != b {
			return mis(KindStreamMeta, "%s %s in source, %s in target", f, a, b), nil
		}
	}
	if m, err := c.compareEntries(ctx, key); m != nil || err != nil {
		return m, err
	}
	return c.compareGroups(ctx, key)
}

// tracksIDMP reports whether a stream (its XINFO STREAM) has had entries
// added with XADD IDMP or IDMPAUTO.
func tracksIDMP(info map[string]any) bool {
	if _, ok := info["idmp-duration"]; !ok {
		return false
	}
	return str(info["iids-added"]) != "0" || str(info["pids-tracked"]) != "0"
}

// idmpFields are the XINFO STREAM fields of the idempotent-add state
// (XADD IDMP, XCFGSET; Redis 8.6+).
var idmpFields = []string{"idmp-duration", "idmp-maxsize", "pids-tracked", "iids-tracked", "iids-added", "iids-duplicates"}

// compareIDMP compares the idempotent-add state where both sides keep one;
// a target without it differs when the source tracks producer ids, which
// the target would no longer deduplicate.
func compareIDMP(sInfo, dInfo map[string]any) *mismatch {
	if _, ok := sInfo["idmp-duration"]; !ok {
		return nil
	}
	if _, ok := dInfo["idmp-duration"]; !ok {
		if n := str(sInfo["iids-tracked"]); n != "0" {
			return mis(KindStreamMeta, "the source tracks %s idempotent ids (XADD IDMP); the target keeps none", n)
		}
		return nil
	}
	for _, f := range idmpFields {
		if a, b := str(sInfo[f]), str(dInfo[f]); a != b {
			return mis(KindStreamMeta, "%s %s in source, %s in target", f, a, b)
		}
	}
	return nil
}

func xinfo(ctx context.Context, cl conn, args ...any) (map[string]any, error) {
	v, err := cl.Do(ctx, append([]any{"XINFO"}, args...)...).Result()
	if err != nil {
		return nil, err
	}
	return flatMap(v)
}

type streamEntry struct {
	id     string
	fields []string
}

func xrange(ctx context.Context, cl conn, key, start string, count int) ([]streamEntry, error) {
	v, err := cl.Do(ctx, "XRANGE", key, start, "+", "COUNT", count).Slice()
	if err != nil {
		return nil, err
	}
	out := make([]streamEntry, 0, len(v))
	for _, e := range v {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("bad XRANGE entry %T", e)
		}
		id, _ := pair[0].(string)
		fv, _ := pair[1].([]any)
		se := streamEntry{id: id, fields: make([]string, 0, len(fv))}
		for _, x := range fv {
			s, _ := x.(string)
			se.fields = append(se.fields, s)
		}
		out = append(out, se)
	}
	return out, nil
}

func (c *comparer) compareEntries(ctx context.Context, key string) (*mismatch, error) {
	start := "-"
	for {
		a, err := xrange(ctx, c.src, key, start, c.opt.BatchSize)
		if err != nil {
			return nil, fmt.Errorf("source XRANGE: %w", err)
		}
		b, err := xrange(ctx, c.dst, key, start, c.opt.BatchSize)
		if err != nil {
			return nil, fmt.Errorf("target XRANGE: %w", err)
		}
		for i := range a {
			if i >= len(b) {
				return mis(KindValue, "entry %s missing in target", a[i].id), nil
			}
			if a[i].id != b[i].id {
				return mis(KindValue, "entry %s in source, %s in target at the same position", a[i].id, b[i].id), nil
			}
			if strings.Join(a[i].fields, "\x00") != strings.Join(b[i].fields, "\x00") || len(a[i].fields) != len(b[i].fields) {
				return mis(KindValue, "entry %s fields differ", a[i].id), nil
			}
		}
		if len(b) > len(a) {
			return mis(KindValue, "entry %s only in target", b[len(a)].id), nil
		}
		if len(a) < c.opt.BatchSize {
			return nil, nil
		}
		if start, err = nextID(a[len(a)-1].id); err != nil || start == "" {
			return nil, err
		}
	}
}

func byName(ms []map[string]any) map[string]map[string]any {
	out := make(map[string]map[string]any, len(ms))
	for _, m := range ms {
		out[str(m["name"])] = m
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (c *comparer) compareGroups(ctx context.Context, key string) (*mismatch, error) {
	sv, err := c.src.Do(ctx, "XINFO", "GROUPS", key).Result()
	if err != nil {
		return nil, fmt.Errorf("source XINFO GROUPS: %w", err)
	}
	dv, err := c.dst.Do(ctx, "XINFO", "GROUPS", key).Result()
	if err != nil {
		return nil, fmt.Errorf("target XINFO GROUPS: %w", err)
	}
	sl, err := mapList(sv)
	if err != nil {
		return nil, fmt.Errorf("source XINFO GROUPS: %w", err)
	}
	dl, err := mapList(dv)
	if err != nil {
		return nil, fmt.Errorf("target XINFO GROUPS: %w", err)
	}
	sg, dg := byName(sl), byName(dl)
	for _, name := range sortedKeys(dg) {
		if sg[name] == nil {
			return mis(KindGroup, "group %q only in target", name), nil
		}
	}
	fields := []string{"last-delivered-id", "pending"}
	if c.si.EntriesReadExact() && c.di.StreamV2() {
		fields = append(fields, "entries-read")
	}
	for _, name := range sortedKeys(sg) {
		d := dg[name]
		if d == nil {
			return mis(KindGroup, "group %q missing in target", name), nil
		}
		for _, f := range fields {
			if a, b := str(sg[name][f]), str(d[f]); a != b {
				return mis(KindGroup, "group %q: %s %s in source, %s in target", name, f, a, b), nil
			}
		}
	}
	for _, name := range sortedKeys(sg) {
		if m, err := c.compareConsumers(ctx, key, name); m != nil || err != nil {
			return m, err
		}
		if m, err := c.comparePending(ctx, key, name); m != nil || err != nil {
			return m, err
		}
	}
	return nil, nil
}

func (c *comparer) compareConsumers(ctx context.Context, key, group string) (*mismatch, error) {
	sv, err := c.src.Do(ctx, "XINFO", "CONSUMERS", key, group).Result()
	if err != nil {
		return nil, fmt.Errorf("source XINFO CONSUMERS %q: %w", group, err)
	}
	dv, err := c.dst.Do(ctx, "XINFO", "CONSUMERS", key, group).Result()
	if err != nil {
		return nil, fmt.Errorf("target XINFO CONSUMERS %q: %w", group, err)
	}
	sl, err := mapList(sv)
	if err != nil {
		return nil, fmt.Errorf("source XINFO CONSUMERS %q: %w", group, err)
	}
	dl, err := mapList(dv)
	if err != nil {
		return nil, fmt.Errorf("target XINFO CONSUMERS %q: %w", group, err)
	}
	sc, dc := byName(sl), byName(dl)
	for _, name := range sortedKeys(sc) {
		d := dc[name]
		if d == nil {
			return mis(KindConsumer, "group %q: consumer %q missing in target", group, name), nil
		}
		if a, b := str(sc[name]["pending"]), str(d["pending"]); a != b {
			return mis(KindConsumer, "group %q: consumer %q pending %s in source, %s in target", group, name, a, b), nil
		}
	}
	for _, name := range sortedKeys(dc) {
		if sc[name] == nil {
			return mis(KindConsumer, "group %q: consumer %q only in target", group, name), nil
		}
	}
	return nil, nil
}

type pendingEntry struct {
	id, consumer string
	deliveries   int64
	idle         int64 // ms since the last delivery
}

func xpending(ctx context.Context, cl conn, key, group, start string, count int) ([]pendingEntry, error) {
	v, err := cl.Do(ctx, "XPENDING", key, group, start, "+", count).Slice()
	if err != nil {
		return nil, err
	}
	out := make([]pendingEntry, 0, len(v))
	for _, e := range v {
		row, ok := e.([]any)
		if !ok || len(row) != 4 {
			return nil, fmt.Errorf("bad XPENDING row %T", e)
		}
		idle, _ := row[2].(int64)
		n, _ := row[3].(int64)
		out = append(out, pendingEntry{id: str(row[0]), consumer: str(row[1]), deliveries: n, idle: idle})
	}
	return out, nil
}

func (c *comparer) comparePending(ctx context.Context, key, group string) (*mismatch, error) {
	start := "-"
	for {
		began := time.Now()
		a, err := xpending(ctx, c.src, key, group, start, c.opt.BatchSize)
		if err != nil {
			return nil, fmt.Errorf("source XPENDING %q: %w", group, err)
		}
		b, err := xpending(ctx, c.dst, key, group, start, c.opt.BatchSize)
		if err != nil {
			return nil, fmt.Errorf("target XPENDING %q: %w", group, err)
		}
		// The idle times were read this far apart, on top of the tolerance.
		tol := (c.opt.IdleTolerance + time.Since(began)).Milliseconds()
		for i := range a {
			if i >= len(b) {
				return mis(KindPending, "group %q: pending %s missing in target", group, a[i].id), nil
			}
			x, y := a[i], b[i]
			if x.id != y.id || x.consumer != y.consumer || x.deliveries != y.deliveries {
				return mis(KindPending, "group %q: pending %s/%s/%d in source, %s/%s/%d in target (id/consumer/deliveries)",
					group, x.id, x.consumer, x.deliveries, y.id, y.consumer, y.deliveries), nil
			}
			if d := x.idle - y.idle; d > tol || -d > tol {
				return mis(KindPending, "group %q: pending %s delivered %dms ago in source, %dms ago in target",
					group, x.id, x.idle, y.idle), nil
			}
		}
		if len(b) > len(a) {
			return mis(KindPending, "group %q: pending %s only in target", group, b[len(a)].id), nil
		}
		if len(a) < c.opt.BatchSize {
			return nil, nil
		}
		if start, err = nextID(a[len(a)-1].id); err != nil || start == "" {
			return nil, err
		}
	}
}

// compareFunctions compares FUNCTION LIST WITHCODE: library names, engines
// and code (the code declares the functions and their flags). A target
// without functions (Redis 6.x) misses every library of the source: an
// expected difference with on-unholdable-functions = skip.
func (c *comparer) compareFunctions(ctx context.Context, src, dst conn) error {
	load := func(cl conn) (map[string]string, error) {
		v, err := cl.Do(ctx, "FUNCTION", "LIST", "WITHCODE").Result()
		if err != nil {
			return nil, err
		}
		libs, err := mapList(v)
		if err != nil {
			return nil, err
		}
		out := make(map[string]string, len(libs))
		for _, l := range libs {
			out[str(l["library_name"])] = str(l["engine"]) + "\n" + str(l["library_code"])
		}
		return out, nil
	}
	sl, err := load(src)
	if err != nil {
		return fmt.Errorf("verify: source FUNCTION LIST: %w", err)
	}
	dl := map[string]string{}
	missing, expected := "library missing in target", ""
	if c.di.Functions() {
		if dl, err = load(dst); err != nil {
			return fmt.Errorf("verify: target FUNCTION LIST: %w", err)
		}
	} else {
		missing = fmt.Sprintf("library missing in target (%s has no functions)", c.di)
		expected = c.opt.Unholdable.Expected(unholdable.Functions)
	}
	c.db = -1
	for _, name := range sortedKeys(sl) {
		code, ok := dl[name]
		switch {
		case !ok:
			c.addAs(expected, KindFunction, name, "%s", missing)
		case code != sl[name]:
			c.add(KindFunction, name, "library code differs")
		}
	}
	for _, name := range sortedKeys(dl) {
		if _, ok := sl[name]; !ok {
			c.add(KindFunction, name, "library only in target")
		}
	}
	return nil
}

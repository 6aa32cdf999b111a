package scan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/rdbparse"
)

// dumpGroupBytes bounds the estimated size of the keys DUMPed in one
// transaction, so that its replies stay a few MiB.
const dumpGroupBytes = 16 << 20

var typesByName = map[string]rdbparse.ValueType{"string": rdbparse.TypeString, "list": rdbparse.TypeList,
	"set": rdbparse.TypeSet, "zset": rdbparse.TypeZSet, "hash": rdbparse.TypeHash, "stream": rdbparse.TypeStream}

// keyInfo is what is known of a key before its value is read.
type keyInfo struct {
	key  string
	typ  string // TYPE: "none" when it no longer exists; a module's type name
	size int64  // MEMORY USAGE, or the element count where it is refused
	big  bool
}

// copyKeys copies keys of db from the source to the target: small ones
// from DUMP (one transaction per group, so value and TTL agree), big ones
// page by page; a key the source no longer has is deleted on the target.
func (s *scanner) copyKeys(ctx context.Context, db int, keys []string) error {
	if keys = s.takenKeys(db, keys); len(keys) == 0 {
		return nil
	}
	if to := s.w.targetDB(db); s.dstCluster && to != 0 {
		return fmt.Errorf("%w: the source has keys in db %d (%q) that go to db %d: move them to db 0 on the source, map their db to 0 (db-map), leave it out (filter-dbs), or copy into a standalone target",
			errClusterDB, db, keys[0], to)
	}
	nodes, groups := s.byNode(keys)
	for i, n := range nodes {
		if err := s.copyKeysOn(ctx, db, n.c.db(db), groups[i]); err != nil {
			return err
		}
	}
	return s.w.flushIfFull(ctx, false)
}

// copyKeysOn copies keys held by the source server cl. The keys of a
// cluster master are DUMPed one slot per transaction (a transaction
// cannot span slots); a key whose slot moved meanwhile is copied again
// later, from its new master.
func (s *scanner) copyKeysOn(ctx context.Context, db int, cl *redis.Client, keys []string) error {
	if s.cluster {
		sort.SliceStable(keys, func(i, j int) bool { return server.KeySlot(keys[i]) < server.KeySlot(keys[j]) })
	}
	infos, err := s.sizes(ctx, cl, keys)
	if err != nil {
		return err
	}
	var group []keyInfo
	var groupBytes int64
	groupSlot := -1
	for _, ki := range infos {
		slot := -1
		if s.cluster {
			slot = server.KeySlot(ki.key)
		}
		switch {
		case ki.typ == typeMoved:
			s.dirty.mark(db, ki.key, time.Now())
		case ki.typ == "none":
			s.deleted(db, ki.key)
		case s.typeDropped(db, ki):
		case ki.big:
			if err := s.flushGroup(ctx, db, cl, group); err != nil {
				return err
			}
			group, groupBytes = group[:0], 0
			if err := s.copyBig(ctx, db, cl, ki); err != nil {
				return err
			}
		default:
			if len(group) > 0 && (groupBytes+ki.size > dumpGroupBytes || slot != groupSlot) {
				if err := s.flushGroup(ctx, db, cl, group); err != nil {
					return err
				}
				group, groupBytes = group[:0], 0
			}
			group = append(group, ki)
			groupBytes += ki.size
			groupSlot = slot
		}
	}
	return s.flushGroup(ctx, db, cl, group)
}

// typeMoved marks a key its cluster master no longer serves (MOVED, ASK).
const typeMoved = "(moved)"

func (s *scanner) deleted(db int, key string) {
	s.w.del(db, []byte(key))
	s.w.state.Deleted++
	s.stats.Deleted++
}

// sizes reads each key's type and size in one round trip (two where MEMORY
// USAGE is refused: the element counts then depend on the type).
func (s *scanner) sizes(ctx context.Context, cl *redis.Client, keys []string) ([]keyInfo, error) {
	infos := make([]keyInfo, len(keys))
	types := make([]*redis.StatusCmd, len(keys))
	mems := make([]*redis.IntCmd, len(keys))
	_, err := cl.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			types[i] = p.Type(ctx, k)
			if s.memoryUsage {
				mems[i] = p.MemoryUsage(ctx, k)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !refused(err) && !(s.cluster && redirected(err)) {
		return nil, err
	}
	if s.memoryUsage && refused(err) {
		s.log.Warn("the source refuses MEMORY USAGE: big keys are told by their element count", zap.Error(err))
		s.memoryUsage = false
	}
	var lens []*redis.IntCmd
	if !s.memoryUsage {
		lens = make([]*redis.IntCmd, len(keys))
		_, err = cl.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range keys {
				switch types[i].Val() {
				case "string":
					lens[i] = p.StrLen(ctx, k)
				case "list":
					lens[i] = p.LLen(ctx, k)
				case "set":
					lens[i] = p.SCard(ctx, k)
				case "zset":
					lens[i] = p.ZCard(ctx, k)
				case "hash":
					lens[i] = p.HLen(ctx, k)
				case "stream":
					lens[i] = p.XLen(ctx, k)
				}
			}
			return nil
		})
		if err != nil && !wrongType(err) && !(s.cluster && redirected(err)) {
			return nil, err
		}
	}
	for i, k := range keys {
		ki := keyInfo{key: k, typ: types[i].Val()}
		if err := types[i].Err(); s.cluster && redirected(err) {
			infos[i] = keyInfo{key: k, typ: typeMoved}
			continue
		}
		if err := types[i].Err(); err != nil {
			return nil, fmt.Errorf("TYPE %q: %w", k, err)
		}
		_, paged := typesByName[ki.typ]
		switch {
		case s.memoryUsage:
			ki.size = mems[i].Val() // 0 when the key vanished
			ki.big = paged && ki.size > s.opt.BigKeyBytes
		case lens[i] != nil:
			ki.size = lens[i].Val()
			limit := s.opt.BigKeyElements
			if ki.typ == "string" {
				limit = s.opt.BigKeyBytes
			}
			ki.big = ki.size > limit
			ki.size *= 64 // a rough byte estimate for the DUMP groups
		}
		if !s.dump && paged {
			ki.big = true // DUMP refused: every key is read by the type's commands
		}
		infos[i] = ki
	}
	return infos, nil
}

// flushGroup DUMPs the group's keys with their TTLs in one transaction
// (with the source's clock, so the expiry times are the source's) and
// writes them.
func (s *scanner) flushGroup(ctx context.Context, db int, cl *redis.Client, group []keyInfo) error {
	if len(group) == 0 {
		return nil
	}
	dumps := make([]*redis.StringCmd, len(group))
	ttls := make([]*redis.DurationCmd, len(group))
	fps := make([]*redis.Cmd, len(group))
	var clock *redis.TimeCmd
	_, err := cl.TxPipelined(ctx, func(p redis.Pipeliner) error {
		clock = p.Time(ctx)
		for i, ki := range group {
			ttls[i] = p.PTTL(ctx, ki.key)
			dumps[i] = p.Dump(ctx, ki.key)
			if ki.typ == "stream" && s.fingerprints {
				fps[i] = fingerprintCmd(ctx, p, ki.key)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) && !isReplyError(err) {
		return err
	}
	// A key whose slot moved fails the whole transaction (EXECABORT): the
	// group is copied again, from the keys' new masters.
	if s.cluster && err != nil && slices.ContainsFunc(ttls, func(c *redis.DurationCmd) bool { return redirected(c.Err()) }) {
		for _, ki := range group {
			s.dirty.mark(db, ki.key, time.Now())
		}
		return nil
	}
	var cmds []redis.Cmder
	for i := range group {
		cmds = append(cmds, dumps[i])
		if fps[i] != nil {
			cmds = append(cmds, fps[i])
		}
	}
	if s.noteRefusals(cmds) {
		// The transaction was discarded: again without what is refused.
		if !s.dump {
			for _, ki := range group {
				if err := s.copyBig(ctx, db, cl, ki); err != nil {
					return err
				}
			}
			return nil
		}
		return s.flushGroup(ctx, db, cl, group)
	}
	now := clock.Val().UnixMilli()
	for i, ki := range group {
		payload, err := dumps[i].Bytes()
		if errors.Is(err, redis.Nil) {
			s.deleted(db, ki.key)
			continue
		}
		if err != nil {
			return fmt.Errorf("DUMP %q: %w", ki.key, err)
		}
		var expireAt int64
		// go-redis turns PTTL's -1 (no expiry) and -2 (no key) into
		// durations of -1 and -2 ns.
		if ttl := ttls[i].Val(); ttl >= 0 {
			expireAt = now + ttl.Milliseconds()
		}
		// The key may have changed type since its TYPE: the payload's
		// decides (a notification of the change copies it again anyway).
		if s.opt.Filter != nil {
			if t, ok := rdbparse.PayloadType(payload); ok && s.typeDropped(db, keyInfo{key: ki.key, typ: t.String()}) {
				continue
			}
		}
		if err := s.w.payload(db, []byte(ki.key), payload, expireAt); err != nil {
			return err
		}
		s.copied(db, ki.key, false)
		if fps[i] != nil {
			s.watchStream(db, ki.key, fps[i])
		}
	}
	return nil
}

func (s *scanner) copied(db int, key string, big bool) {
	s.w.state.Copied++
	s.stats.Copied++
	if big {
		s.stats.Big++
	}
	s.dirty.setBig(dbKey{db, key}, big)
}

// copyBig copies a key page by page: memory holds one page and one batch,
// whatever the key's size. A key that changes type or vanishes meanwhile
// is marked to be copied again.
func (s *scanner) copyBig(ctx context.Context, db int, cl *redis.Client, ki keyInfo) error {
	typ, ok := typesByName[ki.typ]
	if !ok {
		return fmt.Errorf("key %q of db %d: type %q (a module's) has no paged read and the source refuses DUMP", ki.key, db, ki.typ)
	}
	var (
		clock *redis.TimeCmd
		ttl   *redis.DurationCmd
		fp    *redis.Cmd
	)
	if _, err := cl.TxPipelined(ctx, func(p redis.Pipeliner) error {
		clock = p.Time(ctx)
		ttl = p.PTTL(ctx, ki.key)
		if typ == rdbparse.TypeStream && s.fingerprints {
			fp = fingerprintCmd(ctx, p, ki.key)
		}
		return nil
	}); err != nil && !isReplyError(err) {
		return err
	}
	if s.cluster && redirected(ttl.Err()) {
		s.dirty.mark(db, ki.key, time.Now()) // its slot moved: copied again from its new master
		return nil
	}
	if fp != nil && s.noteRefusals([]redis.Cmder{fp}) {
		return s.copyBig(ctx, db, cl, ki) // again without the fingerprint
	}
	if ttl.Val() == -2 {
		s.deleted(db, ki.key)
		return nil
	}
	var expireAt int64
	if t := ttl.Val(); t >= 0 {
		expireAt = clock.Val().UnixMilli() + t.Milliseconds()
	}
	start := time.Now()
	s.w.beginKey(db)
	key := []byte(ki.key)
	ev := rdbparse.Event{Kind: rdbparse.KindKey, DB: db, Key: key, Type: typ, ExpireAt: expireAt, Idle: -1, Freq: -1, Len: -1}
	if err := s.w.handle(&ev); err != nil {
		return err
	}
	p := &pager{cl: cl, key: ki.key, chunk: s.opt.Chunk, fieldTTL: s.srcInfo.HashFieldTTL(), emit: func(e *rdbparse.Event) error {
		e.DB, e.Key, e.Type, e.ExpireAt = db, key, typ, expireAt
		if err := s.w.handle(e); err != nil {
			return err
		}
		if !s.w.full(true) {
			return nil
		}
		if err := s.w.flush(ctx); err != nil {
			return err
		}
		return s.throttle(ctx, 0) // the bytes of a big key are paced as it goes
	}}
	readErr := p.read(ctx, typ)
	// Close the key even when the read failed, so the next one can begin:
	// what was written of it is replaced when it is copied again.
	end := rdbparse.Event{Kind: rdbparse.KindKeyEnd, DB: db, Key: key, Type: typ, ExpireAt: expireAt, Idle: -1, Freq: -1, Len: -1}
	if err := s.w.handle(&end); err != nil {
		return err
	}
	if readErr != nil && !errors.Is(readErr, errChanged) && !wrongType(readErr) {
		return readErr
	}
	s.copied(db, ki.key, true)
	if fp != nil {
		s.watchStream(db, ki.key, fp)
	}
	if readErr != nil {
		s.log.Info("a big key changed while it was copied: copying it again", zap.Int("db", db), zap.String("key", ki.key))
		s.dirty.mark(db, ki.key, time.Now())
	}
	s.log.Debug("copied a big key page by page", zap.Int("db", db), zap.String("key", ki.key), zap.String("type", ki.typ),
		zap.Int64("memory_usage", ki.size), zap.Duration("took", time.Since(start)))
	return nil
}

// watchStream records the fingerprint read with a stream's copy.
func (s *scanner) watchStream(db int, key string, c *redis.Cmd) {
	fp, ok := fingerprint(c)
	if s.streams.set(dbKey{db, key}, fp, ok) {
		s.log.Warn("more streams than max-streams: consumer-group changes (which send no notification) of the streams past it are caught up only by passes",
			zap.Int("max_streams", s.opt.MaxStreams))
	}
}

// noteRefusals reports whether one of cmds was refused by the source (ACL,
// or a command a managed service disables), and stops using it: DUMP (keys
// are then read page by page) or XINFO STREAM FULL (streams are then not
// watched for consumer-group changes).
func (s *scanner) noteRefusals(cmds []redis.Cmder) bool {
	found := false
	for _, c := range cmds {
		err := c.Err()
		if !refused(err) {
			continue
		}
		found = true
		switch c.Name() {
		case "dump":
			if s.dump {
				s.log.Warn("the source refuses DUMP: every key is read page by page with its type's commands", zap.Error(err))
				s.dump = false
			}
		case "xinfo":
			if s.fingerprints {
				s.log.Warn("the source refuses XINFO STREAM FULL: consumer-group changes (which send no notification) are caught up only by passes",
					zap.Error(err))
				s.fingerprints = false
			}
		}
	}
	return found
}

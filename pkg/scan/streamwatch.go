package scan

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/redis/go-redis/v9"
)

// streamWatch finds the consumer-group changes that send no keyspace
// notification: XREADGROUP deliveries, XACK, XCLAIM and XAUTOCLAIM change
// a stream's PELs and consumers silently (checked on Redis 6.0 to 8.6 and
// Valkey 9.1). Each stream copied is watched: its fingerprint (XINFO
// STREAM FULL COUNT 1: group counters and ids, each consumer's pending
// count and seen-time, which every delivery, claim and read updates) is
// read with its copy and polled at a bounded rate; a stream whose
// fingerprint moved is copied again. The set is bounded: streams past it
// are only caught up by passes (logged once).
type streamWatch struct {
	max     int
	perPoll int // streams polled per second
	keys    []dbKey
	fp      map[dbKey]uint64
	next    int
	full    bool // a stream was not watched: the set is full
}

func newStreamWatch(max, perPoll int) *streamWatch {
	return &streamWatch{max: max, perPoll: perPoll, fp: map[dbKey]uint64{}}
}

// fingerprintCmd queues the fingerprint read of key.
func fingerprintCmd(ctx context.Context, p redis.Pipeliner, key string) *redis.Cmd {
	return p.Do(ctx, "XINFO", "STREAM", key, "FULL", "COUNT", "1")
}

func fingerprint(c *redis.Cmd) (uint64, bool) {
	v, err := c.Result()
	if err != nil {
		return 0, false
	}
	h := fnv.New64a()
	fmt.Fprint(h, v)
	return h.Sum64(), true
}

// set records the fingerprint read with a copy; ok false forgets the key
// (it is no stream any more).
func (w *streamWatch) set(k dbKey, fp uint64, ok bool) (dropped bool) {
	if !ok {
		delete(w.fp, k) // its slot in keys is skipped and reused
		return false
	}
	if _, known := w.fp[k]; !known {
		if len(w.fp) >= w.max {
			dropped = !w.full
			w.full = true
			return dropped
		}
		w.keys = append(w.keys, k)
	}
	w.fp[k] = fp
	return false
}

// batch returns the next streams to poll, round robin.
func (w *streamWatch) batch(n int) []dbKey {
	if len(w.keys) == 0 {
		return nil
	}
	if len(w.keys) > 2*len(w.fp)+64 { // compact forgotten keys
		live := w.keys[:0]
		for _, k := range w.keys {
			if _, ok := w.fp[k]; ok {
				live = append(live, k)
			}
		}
		w.keys, w.next = live, 0
	}
	out := make([]dbKey, 0, min(n, len(w.keys)))
	for i := 0; i < len(w.keys) && len(out) < n; i++ {
		if w.next >= len(w.keys) {
			w.next = 0
		}
		k := w.keys[w.next]
		w.next++
		if _, ok := w.fp[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// poll reads the fingerprints of keys (each from the server clientOf
// names) and returns those that moved.
func (w *streamWatch) poll(ctx context.Context, clientOf func(dbKey) *redis.Client, keys []dbKey) ([]dbKey, error) {
	byClient := map[*redis.Client][]dbKey{}
	var order []*redis.Client
	for _, k := range keys {
		c := clientOf(k)
		if _, ok := byClient[c]; !ok {
			order = append(order, c)
		}
		byClient[c] = append(byClient[c], k)
	}
	var changed []dbKey
	for _, c := range order {
		group := byClient[c]
		cmds := make([]*redis.Cmd, len(group))
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for n, k := range group {
				cmds[n] = fingerprintCmd(ctx, p, k.key)
			}
			return nil
		})
		if err != nil && !isReplyError(err) {
			return nil, err
		}
		for n, k := range group {
			if redirected(cmds[n].Err()) {
				changed = append(changed, k) // its slot moved: copied again, from its new master
				continue
			}
			fp, ok := fingerprint(cmds[n])
			if old, known := w.fp[k]; known && (!ok || fp != old) {
				changed = append(changed, k)
			}
			if !ok {
				delete(w.fp, k) // gone or no longer a stream: the copy tells
			}
		}
	}
	return changed, nil
}

// isReplyError reports an error reply of the server (as opposed to a
// connection failure): a pipeline returns the first command's error.
func isReplyError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

func (w *streamWatch) len() int { return len(w.fp) }

package scan

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// probePrefix starts the keys of the notification probe.
const probePrefix = "redferry:probe:"

// probeEvents are the events the probe makes, with the class each needs.
var probeEvents = map[string]rune{"set": '$', "lpush": 'l', "sadd": 's', "hset": 'h', "zadd": 'z', "xadd": 't',
	"del": 'g', "expired": 'x'}

// probeNotifications checks, where CONFIG GET is refused (managed
// services), that the source sends the notifications scan needs: it
// subscribes, writes a few keys of its own in db 0 (one per type, deleted
// at once, and one expiring after 1 ms) and waits for their events. This
// also checks that the user may subscribe (ACL channel rights). Evictions
// ('e') cannot be provoked; they are assumed configured with the rest. On a
// master of a cluster, tag is a hash tag of one of its slots, so that the
// keys are its own.
func probeNotifications(ctx context.Context, c *redis.Client, tag string) error {
	ps := c.PSubscribe(ctx, "__keyevent@0__:*")
	defer ps.Close()
	if _, err := ps.ReceiveTimeout(ctx, 5*time.Second); err != nil {
		return fmt.Errorf("%w: PSUBSCRIBE on the source failed (%v): the user needs the right to subscribe (ACL &* or +psubscribe)",
			ErrNotifications, err)
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	p := probePrefix + hex.EncodeToString(id[:]) + ":"
	if tag != "" {
		p = probePrefix + "{" + tag + "}" + hex.EncodeToString(id[:]) + ":"
	}
	keys := []string{p + "string", p + "list", p + "set", p + "hash", p + "zset", p + "stream"}
	_, err := c.Pipelined(ctx, func(pl redis.Pipeliner) error {
		pl.Set(ctx, keys[0], "1", 0)
		pl.LPush(ctx, keys[1], "1")
		pl.SAdd(ctx, keys[2], "1")
		pl.HSet(ctx, keys[3], "f", "1")
		pl.ZAdd(ctx, keys[4], redis.Z{Score: 1, Member: "m"})
		pl.XAdd(ctx, &redis.XAddArgs{Stream: keys[5], Values: []any{"f", "1"}})
		pl.Del(ctx, keys...)
		pl.Set(ctx, p+"expiring", "1", time.Millisecond)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: CONFIG GET notify-keyspace-events is refused, and so were the writes that would check the notifications (%v): make sure the source's notify-keyspace-events includes \"KEA\"",
			ErrNotifications, err)
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(3 * time.Second)
	for len(seen) < len(probeEvents) && time.Now().Before(deadline) {
		if !seen["expired"] {
			c.Exists(ctx, p+"expiring") // an expired key is deleted (and notified) when read
		}
		msg, err := ps.ReceiveTimeout(ctx, 100*time.Millisecond)
		if err != nil {
			continue
		}
		if m, ok := msg.(*redis.Message); ok && strings.HasPrefix(m.Payload, p) {
			if _, event, ok := strings.Cut(m.Channel, "__:"); ok {
				if _, want := probeEvents[event]; want {
					seen[event] = true
				}
			}
		}
	}
	var missing strings.Builder
	for event, class := range probeEvents {
		if !seen[event] {
			missing.WriteRune(class)
		}
	}
	if missing.Len() > 0 {
		return fmt.Errorf("%w: the source sends no keyspace notification for the classes %q (probed with writes to %s*, since CONFIG GET is refused): set notify-keyspace-events to \"KEA\" on the source (ElastiCache: the parameter group's notify-keyspace-events; Memorystore and Azure Cache: the instance's notify-keyspace-events setting), then start redferry again",
			ErrNotifications, "E"+missing.String(), probePrefix)
	}
	return nil
}

package scan

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// notifyClasses are the notify-keyspace-events classes scan needs: E
// (keyevent channels) and every class of write: generic (DEL, EXPIRE,
// RENAME, MOVE…), string, list, set, hash, zset, expired, evicted, stream.
const notifyClasses = "Eg$lshzxet"

// notifyAll is what the A alias stands for.
const notifyAll = "g$lshzxetd"

// missingClasses returns the classes of notifyClasses that flags lacks.
func missingClasses(flags string) string {
	if strings.ContainsRune(flags, 'A') {
		flags += notifyAll
	}
	var miss strings.Builder
	for _, c := range notifyClasses {
		if !strings.ContainsRune(flags, c) {
			miss.WriteRune(c)
		}
	}
	return miss.String()
}

// ErrNotifications: the source does not send the keyspace notifications
// scan needs, and redferry may not turn them on.
var ErrNotifications = errors.New("keyspace notifications unavailable")

// enableNotifications makes sure the source sends the notifications scan
// needs. It returns the previous setting when it changed it (to be put back
// on exit), nil when it was already enough.
func enableNotifications(ctx context.Context, c *redis.Client) (*string, error) {
	cur, err := c.ConfigGet(ctx, "notify-keyspace-events").Result()
	if err != nil && !refused(err) {
		return nil, fmt.Errorf("CONFIG GET notify-keyspace-events on the source: %w", err)
	}
	old, known := cur["notify-keyspace-events"]
	if known && missingClasses(old) == "" {
		return nil, nil
	}
	want := old + missingClasses(old)
	if !known {
		want = notifyClasses
	}
	if err := c.ConfigSet(ctx, "notify-keyspace-events", want).Err(); err != nil {
		state := fmt.Sprintf("is %q", old)
		if !known {
			state = "cannot be read (CONFIG GET refused)"
		}
		return nil, fmt.Errorf("%w: the source's notify-keyspace-events %s and CONFIG SET was refused (%v): set it to %q "+
			"(at least the classes %q) on the source (ElastiCache: the parameter group's notify-keyspace-events; "+
			"Memorystore and Azure Cache: the instance's notify-keyspace-events setting), then start redferry again",
			ErrNotifications, state, err, "KEA", notifyClasses)
	}
	return &old, nil
}

// restoreNotifications puts the setting back as it was.
func restoreNotifications(c *redis.Client, old string, log *zap.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ConfigSet(ctx, "notify-keyspace-events", old).Err(); err != nil {
		log.Warn("could not put the source's notify-keyspace-events back: set it by hand",
			zap.String("value", old), zap.Error(err))
		return
	}
	log.Info("put the source's notify-keyspace-events back", zap.String("value", old))
}

// subscriber receives keyevent notifications of every db and marks their
// keys dirty. Any loss of the link means events may have been lost: it
// asks for a new pass when it is back.
type subscriber struct {
	c     *redis.Client
	dirty *dirtySet
	log   *zap.Logger
	ready chan struct{} // closed once the first subscription is confirmed
	count func()        // called per event
}

const keyeventPattern = "__keyevent@*__:*"

// run receives until ctx ends.
func (s *subscriber) run(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		ps := s.c.PSubscribe(ctx, keyeventPattern)
		lost := s.receive(ctx, ps, first)
		ps.Close()
		first = false
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("lost the keyspace notification link to the source: events may have been lost; a new pass follows once it is back",
			zap.Error(lost))
		s.dirty.needRescan("the notification link was lost")
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// receive reads messages until the link fails. A link silent for a while
// is pinged; one that stays silent is taken as lost.
func (s *subscriber) receive(ctx context.Context, ps *redis.PubSub, first bool) error {
	const tick = 2 * time.Second
	silent := 0
	subscribed := false
	for {
		msg, err := ps.ReceiveTimeout(ctx, tick)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				silent++
				if silent > 3 {
					return fmt.Errorf("no reply to PING for %s", time.Duration(silent)*tick)
				}
				if err := ps.Ping(ctx); err != nil {
					return err
				}
				continue
			}
			return err
		}
		silent = 0
		switch m := msg.(type) {
		case *redis.Subscription:
			if subscribed {
				// go-redis reconnected and subscribed again by itself.
				s.log.Warn("the keyspace notification link to the source was re-established: events may have been lost; a new pass follows")
				s.dirty.needRescan("the notification link was re-established")
			}
			subscribed = true
			if first {
				close(s.ready)
				first = false
			}
		case *redis.Message:
			db, ok := keyeventDB(m.Channel)
			if !ok {
				continue
			}
			s.count()
			s.dirty.mark(db, m.Payload, time.Now())
		}
	}
}

// keyeventDB reads the db of a "__keyevent@<db>__:<event>" channel.
func keyeventDB(ch string) (int, bool) {
	rest, ok := strings.CutPrefix(ch, "__keyevent@")
	if !ok {
		return 0, false
	}
	n, _, ok := strings.Cut(rest, "__:")
	if !ok {
		return 0, false
	}
	db, err := strconv.Atoi(n)
	return db, err == nil
}

// flushWatch tells FLUSHDB, FLUSHALL and SWAPDB apart from quiet times:
// they send no keyspace notification, so their calls are counted in INFO
// commandstats instead; a change means the target may hold keys the
// source lost.
type flushWatch struct {
	last  string
	known bool
}

var flushCommands = []string{"cmdstat_flushdb:", "cmdstat_flushall:", "cmdstat_swapdb:"}

// changed polls INFO commandstats; the first call only records.
func (f *flushWatch) changed(ctx context.Context, c *redis.Client) (bool, error) {
	text, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return false, err
	}
	var sb strings.Builder
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		for _, p := range flushCommands {
			if strings.HasPrefix(line, p) {
				calls, _, _ := strings.Cut(strings.TrimPrefix(line, p), ",")
				sb.WriteString(p + calls + ";")
			}
		}
	}
	now := sb.String()
	was, known := f.last, f.known
	f.last, f.known = now, true
	return known && now != was, nil
}

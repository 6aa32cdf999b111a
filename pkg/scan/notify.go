package scan

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
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
// needs: read with CONFIG GET and completed with CONFIG SET, or, where
// CONFIG is refused, checked with a probe (its keys with the hash tag tag,
// "" for none). It returns the previous setting when it changed it (to be put back
// on exit), nil when it was already enough.
func enableNotifications(ctx context.Context, c *redis.Client, tag string) (*string, error) {
	cur, err := c.ConfigGet(ctx, "notify-keyspace-events").Result()
	if refused(err) {
		return nil, probeNotifications(ctx, c, tag)
	}
	if err != nil {
		return nil, fmt.Errorf("CONFIG GET notify-keyspace-events on the source: %w", err)
	}
	old := cur["notify-keyspace-events"]
	if missingClasses(old) == "" {
		return nil, nil
	}
	if err := c.ConfigSet(ctx, "notify-keyspace-events", old+missingClasses(old)).Err(); err != nil {
		return nil, fmt.Errorf("%w: the source's notify-keyspace-events is %q and CONFIG SET was refused (%v): set it to %q "+
			"(at least the classes %q) on the source (ElastiCache: the parameter group's notify-keyspace-events; "+
			"Memorystore and Azure Cache: the instance's notify-keyspace-events setting), then start redferry again",
			ErrNotifications, old, err, "KEA", notifyClasses)
	}
	return &old, nil
}

// restoreNotifications puts the setting back as it was, and says whether
// it could.
func restoreNotifications(c *redis.Client, old string, log *zap.Logger) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ConfigSet(ctx, "notify-keyspace-events", old).Err(); err != nil {
		log.Warn("could not put the source's notify-keyspace-events back: set it by hand",
			zap.String("value", old), zap.Error(err))
		return false
	}
	log.Info("put the source's notify-keyspace-events back", zap.String("value", old))
	return true
}

// subscriber receives keyevent notifications of every db and marks their
// keys dirty. A loss of the link means events were lost: once it is back
// (subscribed again, so nothing more is missed) it asks for a new pass.
type subscriber struct {
	c     *redis.Client
	dirty *dirtySet
	log   *zap.Logger
	ready chan struct{} // closed once the first subscription is confirmed
	count func()        // called per event
	down  atomic.Bool   // the link is lost and not back yet
}

const keyeventPattern = "__keyevent@*__:*"

// run receives until ctx ends.
func (s *subscriber) run(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		ps := s.c.PSubscribe(ctx, keyeventPattern)
		unblock := context.AfterFunc(ctx, func() { ps.Close() }) // a blocked read ignores ctx
		lost := s.receive(ctx, ps, &first)
		unblock()
		ps.Close()
		if ctx.Err() != nil {
			return
		}
		s.down.Store(true)
		s.log.Warn("lost the keyspace notification link to the source: events are lost until it is back; a new pass follows then",
			zap.Error(lost))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// subscribed handles a subscription confirmation: the first one, or one
// after a loss (go-redis may also reconnect and subscribe by itself).
func (s *subscriber) subscribed(first *bool, again bool) {
	if *first {
		*first = false
		close(s.ready)
		return
	}
	if again || s.down.Load() {
		s.log.Warn("the keyspace notification link to the source is back: events were lost meanwhile; a new pass follows")
		s.dirty.needRescan("the notification link was lost")
	}
	s.down.Store(false)
}

// receive reads messages until the link fails. A link silent for a while
// is pinged; one that stays silent is taken as lost.
func (s *subscriber) receive(ctx context.Context, ps *redis.PubSub, first *bool) error {
	const tick = 2 * time.Second
	silent := 0
	confirmed := false
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
			s.subscribed(first, confirmed)
			confirmed = true
		case *redis.Message:
			db, ok := keyeventDB(m.Channel)
			if !ok || strings.HasPrefix(m.Payload, probePrefix) {
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

// statsWatch notices, from INFO commandstats, the commands that change
// the data without a keyspace notification: FLUSHDB, FLUSHALL and SWAPDB
// (the target may hold keys the source lost), and FUNCTION LOAD, DELETE,
// FLUSH and RESTORE (the libraries are copied again).
type statsWatch struct {
	flush, functions string
	known            bool
}

var (
	flushCommands    = []string{"cmdstat_flushdb:", "cmdstat_flushall:", "cmdstat_swapdb:"}
	functionCommands = []string{"cmdstat_function|load:", "cmdstat_function|delete:", "cmdstat_function|flush:",
		"cmdstat_function|restore:"}
)

// poll reads INFO commandstats and tells which kind of change happened
// since the last poll; the first poll only records.
func (w *statsWatch) poll(ctx context.Context, c *redis.Client) (flushed, functions bool, err error) {
	text, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		return false, false, err
	}
	calls := func(names []string) string {
		var sb strings.Builder
		for _, line := range strings.Split(text, "\n") {
			line = strings.TrimSpace(line)
			for _, p := range names {
				if strings.HasPrefix(line, p) {
					n, _, _ := strings.Cut(strings.TrimPrefix(line, p), ",")
					sb.WriteString(p + n + ";")
				}
			}
		}
		return sb.String()
	}
	f, fn := calls(flushCommands), calls(functionCommands)
	flushed, functions = w.known && f != w.flush, w.known && fn != w.functions
	w.flush, w.functions, w.known = f, fn, true
	return flushed, functions, nil
}

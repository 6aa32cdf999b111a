package syncer

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/protocol"
)

// A planned switchover pauses the master's writes (CLIENT PAUSE WRITE) until
// its replica has caught up and is promoted. The paused master still sends
// its replicas a PING every repl-ping-replica-period, though: one sent after
// the promotion reaches redferry but not the promoted replica, which then
// refuses to continue redferry's offset (its history ends before that PING)
// and offers a full sync. PINGs change no data: redferry cuts them off its
// spool and continues at the new master's fork point instead.

// errPingsPastFork: the spool holds only PINGs and REPLCONFs past the point
// where the new master's history forks from the old one; the run ends, the
// spool is cut at fork, and the next run continues there.
type errPingsPastFork struct{ fork, end int64 }

func (e *errPingsPastFork) Error() string {
	return fmt.Sprintf("the new source master's history ends at offset %d; the %d bytes after it that redferry received from the old master are PINGs only",
		e.fork, e.end-e.fork)
}

// noteCommand records where the stream's data ends: after every command
// that is not a PING or a REPLCONF.
func (s *Syncer) noteCommand(cmd protocol.Command) {
	if len(cmd.Args) > 0 && !equalFold(cmd.Args[0], "ping") && !equalFold(cmd.Args[0], "replconf") {
		s.dataEnd.Store(s.spool.End())
	}
}

// pingsPastFork asks the master at addr, before PSYNC, whether it can
// continue replID at the spool's end. It returns an *errPingsPastFork when
// it cannot, its history forking from replID where the spool holds only
// PINGs after it; nil otherwise (PSYNC then says what the master can do).
func (s *Syncer) pingsPastFork(ctx context.Context, addr, replID string) error {
	o := s.opt.Source
	o.Addr, o.Sentinel, o.PoolSize = addr, nil, 1
	c := server.NewClient(o)
	defer c.Close()
	info, err := server.Fetch(ctx, c)
	if err != nil || info.MasterReplID == replID || info.Fields["master_replid2"] != replID {
		return nil
	}
	second, err := strconv.ParseInt(info.Fields["second_repl_offset"], 10, 64)
	if err != nil {
		return nil
	}
	fork, end := second-1, s.spool.End()
	if fork >= end || fork < s.dataEnd.Load() || fork < s.spool.Start() {
		return nil
	}
	return &errPingsPastFork{fork: fork, end: end}
}

// cutPingsPastFork cuts the spool at the fork point, between runs.
func (s *Syncer) cutPingsPastFork(e *errPingsPastFork) error {
	s.log.Warn("the new source master cannot continue from redferry's offset by a few PINGs the old master sent after the promotion: "+
		"cutting them off the spool to continue with PSYNC (no full sync)", zap.Int64("fork", e.fork), zap.Int64("bytes", e.end-e.fork))
	if err := s.spool.Truncate(e.fork); err != nil {
		return fmt.Errorf("%w: cutting the spool at offset %d: %w", errSpool, e.fork, err)
	}
	return nil
}

// asPingsPastFork is errors.As for *errPingsPastFork.
func asPingsPastFork(err error) (*errPingsPastFork, bool) {
	var e *errPingsPastFork
	ok := errors.As(err, &e)
	return e, ok
}

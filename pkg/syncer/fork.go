package syncer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/protocol"
)

// A planned switchover pauses the master's writes (CLIENT PAUSE WRITE) until
// its replica has caught up and is promoted. The old master still sends its
// replicas a PING every repl-ping-replica-period, though: one sent after the
// promotion reaches redferry but not the promoted replica, which then
// refuses to continue redferry's offset (its history ends before that PING)
// and offers a full sync. PINGs change no data: redferry cuts them off its
// spool and continues at the new master's fork point instead.
//
// The check runs before every PSYNC that continues a known replid, whatever
// the source (standalone, sentinel-managed, a cluster shard's link) and
// whether the PINGs came in this process or before a restart: what lies past
// the fork is read from the spool itself.

// errPingsPastFork: the spool holds only PINGs and REPLCONFs past the point
// where the new master's history forks from the old one; the run ends, the
// spool is cut at fork, and the next run continues there.
type errPingsPastFork struct{ fork, end int64 }

func (e *errPingsPastFork) Error() string {
	return fmt.Sprintf("the new source master's history ends at offset %d; the %d bytes after it that redferry received from the old master are PINGs and REPLCONFs only",
		e.fork, e.end-e.fork)
}

// pingsPastFork asks the master at addr, before PSYNC, whether it can
// continue replID at the spool's end. It returns an *errPingsPastFork when
// it cannot, its history forking from replID where the spool holds only
// PINGs and REPLCONFs after it; nil otherwise (PSYNC then says what the
// master can do). A master that continues replID itself, or whose previous
// replid is another one, costs this one INFO.
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
	return s.pingsOnlyPast(ctx, second-1)
}

// pingsOnlyPast reads the spool from fork to its end: an *errPingsPastFork
// when what is there parses as whole commands that are all PING or
// REPLCONF; nil when there is nothing past fork, when fork is no longer in
// the spool (trimmed once applied), or when anything else is there — data,
// a command that fork cuts in two, bytes that do not parse.
func (s *Syncer) pingsOnlyPast(ctx context.Context, fork int64) error {
	end := s.spool.End()
	if fork >= end || fork < s.spool.Start() {
		return nil
	}
	r, err := s.spool.NewReader(fork)
	if err != nil {
		return nil
	}
	defer r.Close()
	cr := protocol.NewCommandReader(bufio.NewReader(&boundedReader{ctx: ctx, r: r, end: end}), protocol.Limits{})
	for {
		cmd, err := cr.ReadCommand()
		switch {
		case errors.Is(err, io.EOF) && fork+cr.Consumed() == end:
			return &errPingsPastFork{fork: fork, end: end}
		case err != nil:
			return nil
		case !equalFold(cmd.Args[0], "ping") && !equalFold(cmd.Args[0], "replconf"):
			return nil
		}
	}
}

// cutPingsPastFork cuts the spool at the fork point, between runs. First
// it lowers the positions recorded past the fork to it: a batch holding
// data before the fork and a PING after it was committed past the fork,
// and left there the checkpoint would ask the new master for bytes past
// its history (a full sync), and a cluster target's marks would skip its
// first writes as applied (sink/lower_stream.go). In that order: a stop
// between the two finds the PINGs in the spool again and does both again.
func (s *Syncer) cutPingsPastFork(ctx context.Context, e *errPingsPastFork) error {
	s.log.Warn("the new source master cannot continue from redferry's offset by a few PINGs the old master sent after the promotion: "+
		"cutting them off the spool to continue with PSYNC (no full sync)", zap.Int64("fork", e.fork), zap.Int64("bytes", e.end-e.fork))
	if err := s.store.LowerStream(ctx, e.fork); err != nil {
		return err
	}
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

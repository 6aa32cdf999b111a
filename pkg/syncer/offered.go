package syncer

import (
	"go.uber.org/zap"

	"github.com/redferry/redferry/protocol"
)

// A source that cannot continue redferry's offset answers PSYNC with
// FULLRESYNC and starts a snapshot for it at once: a fork and a BGSAVE, the
// heaviest thing a source does. When redferry takes a new full sync anyway
// (on-full-resync = flush, or a shard of a shared target), it keeps that
// link while Run empties the target, and the next run receives the snapshot
// on it instead of asking for a second one. A kept link the source dropped
// meanwhile (a replica that does not read for repl-timeout) fails before a
// byte of the snapshot is spooled (receiveSnapshot waits for it to start),
// and the receiver reconnects asking for a full sync, as it did before.

// offeredSnapshot is a link whose source answered FULLRESYNC, its snapshot
// not read yet.
type offeredSnapshot struct {
	link *protocol.Link
	res  protocol.Resync
	addr string // the source it was dialled to (with sentinels: the master then)
}

// takesOfferedSnapshot: Run answers a FULLRESYNC for a known replid with a
// new full sync, not a stop (Run, newSharedFullSync).
func (s *Syncer) takesOfferedSnapshot() bool {
	return s.opt.OnFullResync == "flush" && (!s.opt.SharedTarget || s.opt.Scope != nil)
}

// keepOfferedSnapshot keeps link for the next run when Run will start a
// new full sync, and reports whether it did; the caller closes it if not.
func (s *Syncer) keepOfferedSnapshot(log *zap.Logger, link *protocol.Link, res protocol.Resync, addr string) bool {
	if !s.takesOfferedSnapshot() {
		return false
	}
	log.Warn("the source cannot continue from redferry's offset and offers a new snapshot: taking the snapshot it offers once the target is emptied",
		zap.String("replid", res.ReplID), zap.Int64("offset", res.Offset))
	s.offered = &offeredSnapshot{link: link, res: res, addr: addr}
	if s.afterSnapshotOffered != nil {
		s.afterSnapshotOffered()
	}
	return true
}

// takeOfferedSnapshot returns the kept link for a run that asks for a full
// sync (replID "") of the source at addr; it closes a kept link that such a
// run cannot use.
func (s *Syncer) takeOfferedSnapshot(log *zap.Logger, addr, replID string) (*protocol.Link, protocol.Resync, bool) {
	o := s.offered
	s.offered = nil
	switch {
	case o == nil:
		return nil, protocol.Resync{}, false
	case replID != "" || o.addr != addr:
		log.Info("not taking the snapshot the source offered: this run does not start a full sync of that source",
			zap.String("offered_by", o.addr), zap.String("source", addr))
		o.link.Close()
		return nil, protocol.Resync{}, false
	}
	log.Info("taking the snapshot the source offered (no second snapshot asked for)",
		zap.String("replid", o.res.ReplID), zap.Int64("offset", o.res.Offset))
	return o.link, o.res, true
}

// dropOfferedSnapshot closes a kept link that no run took (Run stops).
func (s *Syncer) dropOfferedSnapshot() {
	if s.offered != nil {
		s.offered.link.Close()
		s.offered = nil
	}
}

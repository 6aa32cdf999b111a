package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/sentinel"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/protocol"
)

// receive keeps the source link up: it spools the snapshot (on a full sync)
// and then the stream, acknowledging only what is durable on disk. It
// reconnects with backoff on network errors and returns on errors that a
// reconnect cannot fix.
func (s *Syncer) receive(ctx context.Context, p plan, snapshotReady chan<- *spool.SnapshotFollower) error {
	log := s.log.With(zap.String("stage", "receive"))
	replID := p.replID
	var bo retry.Backoff
	for {
		started, switches := time.Now(), s.sentinels.sourceSwitches.Load()
		err := s.receiveOnce(ctx, log, &replID, p.overlap, snapshotReady)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, ok := asPingsPastFork(err); ok || fatalLinkError(err) {
			return err
		}
		if time.Since(started) > time.Minute {
			bo.Reset()
		}
		wait := bo.Next()
		s.tracker.AddReconnect()
		if s.sentinels.sourceSwitches.Load() == switches {
			s.tracker.SetError(err)
			log.Warn("source link lost: reconnecting", zap.Error(err), zap.Duration("in", wait),
				zap.Int64("offset", s.spool.End()))
		} // else closed by closeOnSwitch, which said why
		if err := s.sleepUnlessSwitched(ctx, wait); err != nil {
			return err
		}
	}
}

// fatalLinkError: errors a reconnect would only repeat.
func fatalLinkError(err error) bool {
	return errors.Is(err, protocol.ErrAuth) || errors.Is(err, protocol.ErrSyncRefused) ||
		errors.Is(err, ErrResyncRequired) || errors.Is(err, errSpool) ||
		errors.Is(err, sentinel.ErrAuth) || errors.Is(err, sentinel.ErrUnknownMaster)
}

// errSpool marks spool (disk) errors: nothing can be received until fixed.
var errSpool = errors.New("spool")

func (s *Syncer) receiveOnce(ctx context.Context, log *zap.Logger, replID *string, overlap bool, snapshotReady chan<- *spool.SnapshotFollower) error {
	s.tracker.AdvancePhase(status.PhaseStarting, status.PhaseHandshake)
	addr, switched, err := s.sourceAddr(ctx) // a sentinel-managed source: the master now
	if err != nil {
		return err
	}
	// The link of a FULLRESYNC the last run ended on (offered.go), or a new one.
	link, res, offered := s.takeOfferedSnapshot(log, addr, *replID)
	if !offered {
		link, err = protocol.Dial(ctx, protocol.LinkConfig{Addr: addr, Username: s.opt.Source.Username,
			Password: s.opt.Source.Password, TLS: s.opt.Source.TLS, ListeningPort: s.opt.ListeningPort, PSyncCommand: s.opt.SourcePSyncCommand, DialTimeout: s.opt.Source.DialTimeout,
			Logger: s.log})
		if err != nil {
			return err
		}
	}
	kept := false
	defer func() {
		if !kept {
			link.Close()
		}
	}()
	stop := context.AfterFunc(ctx, func() { link.Close() })
	defer stop()
	defer s.sentinels.closeOnSwitch(switched, link, log)()

	want, from := "?", int64(-1)
	if *replID != "" {
		// Maybe a new master, promoted after PINGs redferry spooled (fork.go).
		if err := s.pingsPastFork(ctx, addr, *replID); err != nil {
			return err
		}
		want, from = *replID, s.spool.End()+1
	}
	if !offered {
		if res, err = link.PSync(ctx, want, from); err != nil {
			return err
		}
	}
	if res.Full {
		if *replID != "" {
			err := fmt.Errorf("%w (asked for replid %s offset %d, the source answered FULLRESYNC %s %d)",
				ErrResyncRequired, want, from, res.ReplID, res.Offset)
			kept = s.keepOfferedSnapshot(log, link, res, addr)
			return err
		}
		if err := s.receiveSnapshot(ctx, log, link, res, overlap, snapshotReady); err != nil {
			return err
		}
	} else {
		log.Info("continuing the replication stream", zap.String("replid", res.ReplID), zap.Int64("offset", res.Offset))
	}
	if res.ReplID != *replID {
		if *replID != "" {
			log.Warn("the source switched to a new replication id (failover)", zap.String("old", *replID), zap.String("new", res.ReplID))
		}
		*replID = res.ReplID
		if err := s.spool.SetStreamReplID(res.ReplID); err != nil {
			return fmt.Errorf("%w: saving the replication id: %w", errSpool, err)
		}
		s.tracker.SetReplID(res.ReplID)
	}
	return s.receiveStream(ctx, link)
}

// receiveSnapshot spools the snapshot. With overlap the applier gets a
// follower of it at once and applies it while it arrives; otherwise it is
// signalled once the snapshot is committed.
func (s *Syncer) receiveSnapshot(ctx context.Context, log *zap.Logger, link *protocol.Link, res protocol.Resync,
	overlap bool, snapshotReady chan<- *spool.SnapshotFollower) error {
	s.tracker.SetPhase(status.PhaseSnapshotDownload)
	s.tracker.SetReplID(res.ReplID)
	log.Info("full sync: receiving the snapshot", zap.String("replid", res.ReplID), zap.Int64("offset", res.Offset))
	// Nothing is spooled or handed to the applier until the snapshot
	// starts: a link that ends before (one kept since its FULLRESYNC while
	// the target was emptied, offered.go) is only reconnected.
	if err := link.AwaitSnapshot(ctx); err != nil {
		return err
	}
	w, err := s.spool.NewSnapshot(res.ReplID, res.Offset)
	if err != nil {
		return fmt.Errorf("%w: %w", errSpool, err)
	}
	if overlap {
		f, err := w.Follow(ctx)
		if err != nil {
			_ = w.Abort()
			return fmt.Errorf("%w: %w", errSpool, err)
		}
		select {
		case snapshotReady <- f:
		default: // the applier still holds an earlier, aborted one: it ends the run
			f.Close()
		}
	}
	start := time.Now()
	n, err := link.ReadSnapshot(ctx, w, s.tracker.SetSnapshotReceived)
	if err != nil {
		_ = w.Abort()
		return err
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("%w: %w", errSpool, err)
	}
	s.tracker.SetSnapshotSize(n)
	s.tracker.SetReceived(res.Offset)
	log.Info("snapshot received", zap.Int64("bytes", n), zap.Duration("took", time.Since(start)))
	if !overlap {
		select {
		case snapshotReady <- nil: // nil: the committed snapshot in the spool
		default:
		}
	}
	return nil
}

// receiveStream appends the stream to the spool. A second goroutine fsyncs
// the spool and acknowledges the durable offset once a second; GETACK gets an
// answer at once.
func (s *Syncer) receiveStream(ctx context.Context, link *protocol.Link) error {
	var mu sync.Mutex // serializes Append and Sync on the spool
	sync := func() (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		d, err := s.spool.Sync()
		if err != nil {
			return 0, fmt.Errorf("%w: %w", errSpool, err)
		}
		s.tracker.SetSpoolBytes(s.spool.Bytes())
		return d, nil
	}
	ack := func() error {
		d, err := sync()
		if err != nil {
			return err
		}
		return link.SendAck(d)
	}
	// A diskless source starts the stream only after the first ACK.
	if err := ack(); err != nil {
		return err
	}
	ackCtx, stopAcks := context.WithCancel(ctx)
	defer stopAcks()
	ackErr := make(chan error, 1)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ackCtx.Done():
				ackErr <- nil
				return
			case <-t.C:
				if err := ack(); err != nil {
					ackErr <- err
					link.Close()
					return
				}
			}
		}
	}()

	for {
		cmd, err := link.ReadCommand()
		if err != nil {
			stopAcks()
			if aerr := <-ackErr; aerr != nil {
				return aerr
			}
			return err
		}
		// The spool buffers appends and hands buffered bytes to a reader
		// that reaches them, so one append per command costs no syscall.
		mu.Lock()
		err = s.spool.Append(cmd.Raw)
		mu.Unlock()
		if err != nil {
			return fmt.Errorf("%w: %w", errSpool, err)
		}
		s.tracker.SetReceived(s.spool.End())
		if len(cmd.Args) >= 2 && bytes.EqualFold(cmd.Args[0], []byte("replconf")) &&
			bytes.EqualFold(cmd.Args[1], []byte("getack")) {
			if err := ack(); err != nil {
				return err
			}
		}
		if s.spool.Full() {
			// The target is behind and the spool is at max-spool-bytes: stop
			// reading rather than lose data. The source may drop the link;
			// PSYNC continues once the applier has drained the spool.
			s.log.Warn("spool full (max-spool-bytes): pausing the source until the target catches up",
				zap.Int64("pending_bytes", s.spool.Pending()), zap.Int64("max_spool_bytes", s.opt.MaxSpoolBytes))
			paused := time.Now()
			for s.spool.Full() {
				if err := retry.Sleep(ctx, 100*time.Millisecond); err != nil {
					return err
				}
			}
			s.log.Info("spool drained: reading the source again", zap.Duration("paused", time.Since(paused)))
		}
	}
}

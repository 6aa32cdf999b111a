// Package syncer runs a sync: the source link spools the snapshot and the
// command stream to disk (receive.go), and the applier replays both from the
// spool into the target (snapshot.go, stream.go), recording the applied
// offset as it goes (checkpoint.go). Run decides where to start (plan.go).
package syncer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/sink"
)

// Syncer replicates one source into one target.
type Syncer struct {
	cfg     config.Config
	log     *zap.Logger
	tracker *status.Tracker
	src     config.Endpoint
	dst     config.Endpoint

	spool     *spool.Spool
	target    *sink.Standalone
	targetCtl *redis.Client // control plane: emptiness checks, FLUSHALL
	sourceCtl *redis.Client // control plane: INFO replication
	// sourceCaps is what the source is, for commands whose meaning changed
	// between versions; zero when INFO is not allowed.
	sourceCaps sink.Caps
	sourceTLS  *tls.Config // nil: plain TCP
	store      checkpointStore
	linkInfo   *checkpoint.FileStore // the replid of the spooled stream, for PSYNC after a restart
}

// ErrResyncRequired: the source cannot continue from our offset and sent a
// new snapshot instead.
var ErrResyncRequired = errors.New("the source cannot continue from the saved offset and starts a new full sync")

// errRestartFullSync: a snapshot applied while it downloaded did not arrive
// whole; the target holds only our partial copy of it.
var errRestartFullSync = errors.New("the snapshot being applied was not downloaded whole")

// New checks the configuration and opens the state dir and the target.
func New(ctx context.Context, cfg config.Config, log *zap.Logger, tracker *status.Tracker) (*Syncer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	src, err := cfg.SourceEndpoint()
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	dst, err := cfg.TargetEndpoint()
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	if tracker == nil {
		tracker = status.NewTracker(src.String(), dst.String())
	}
	s := &Syncer{cfg: cfg, log: log, tracker: tracker, src: src, dst: dst,
		linkInfo: checkpoint.NewFileStore(filepath.Join(cfg.StateDir, "link"))}
	s.spool, err = spool.Open(filepath.Join(cfg.StateDir, "spool"), spool.Options{
		SegmentBytes: cfg.SegmentBytes, MaxBytes: cfg.MaxSpoolBytes, Logger: log})
	if err != nil {
		return nil, err
	}
	key := checkpointKey(cfg)
	srcTLS, err := cfg.SourceTLS()
	if err != nil {
		s.spool.Close()
		return nil, err
	}
	dstTLS, err := cfg.TargetTLS()
	if err != nil {
		s.spool.Close()
		return nil, err
	}
	s.sourceTLS = srcTLS
	sinkKey := key
	if cfg.Checkpoint != "target" {
		sinkKey = ""
	}
	s.target, err = connectTarget(ctx, log, dst, sink.Config{Addr: dst.Addr, Username: dst.Username, Password: dst.Password,
		TLS: dstTLS, CheckpointKey: sinkKey, OnError: cfg.OnTargetError, DialTimeout: cfg.DialTimeout, IOTimeout: cfg.IOTimeout,
		Logger: log})
	if err != nil {
		s.spool.Close()
		return nil, fmt.Errorf("target %s: %w", dst, err)
	}
	s.targetCtl = controlClient(dst, dstTLS, cfg)
	if sinkKey != "" && cfg.CheckpointKey == "" {
		if err := s.adoptLegacyCheckpoint(ctx, sinkKey); err != nil {
			s.Close()
			return nil, err
		}
	}
	s.sourceCtl = controlClient(src, srcTLS, cfg)
	if info, err := s.sourceCtl.Info(ctx, "server").Result(); err != nil {
		log.Warn("cannot read INFO server from the source: commands whose meaning differs between versions are replayed as sent", zap.Error(err))
	} else if s.sourceCaps, err = sink.ParseCaps(info); err != nil {
		log.Warn("cannot tell the source's version from INFO server", zap.Error(err))
	} else {
		log.Info("source server", zap.String("server", s.sourceCaps.String()))
	}
	if cfg.Checkpoint == "target" {
		s.store = &targetStore{sink: s.target}
	} else {
		s.store = fileStore{checkpoint.NewFileStore(cfg.StateDir)}
	}
	return s, nil
}

// Close releases the spool and the target connection.
func (s *Syncer) Close() error {
	return errors.Join(s.target.Close(), s.spool.Close(), s.targetCtl.Close(), s.sourceCtl.Close())
}

// Tracker is the status of this sync.
func (s *Syncer) Tracker() *status.Tracker { return s.tracker }

// Run syncs until ctx ends (nil: a clean stop), until the target has caught
// up once the snapshot is applied with Once, or until an error that a retry
// cannot fix.
func (s *Syncer) Run(ctx context.Context) error {
	for {
		err := s.runOnce(ctx)
		if errors.Is(err, errRestartFullSync) && ctx.Err() == nil {
			// The target holds only a part of a snapshot of ours (a first
			// sync, not merged): empty it and take the snapshot again.
			s.log.Warn("the snapshot download broke off while it was being applied: emptying the target and starting the full sync again", zap.Error(err))
			if err := s.resetAll(ctx); err != nil {
				return err
			}
			continue
		}
		if !errors.Is(err, ErrResyncRequired) {
			if err == nil || ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, errRestartFullSync)) {
				s.tracker.SetPhase(status.PhaseStopped)
				return nil
			}
			s.tracker.SetError(err)
			return err
		}
		if s.cfg.OnFullResync != "flush" {
			return fmt.Errorf("%w; on-full-resync = %q: stopping. Set on-full-resync = \"flush\" to empty the target and sync afresh", err, s.cfg.OnFullResync)
		}
		s.log.Warn("the source cannot continue the replication stream from the saved offset: emptying the target and starting a new full sync (on-full-resync = flush)", zap.Error(err))
		if err := s.resetAll(ctx); err != nil {
			return err
		}
	}
}

// runOnce runs the receiver and the applier until one of them ends.
func (s *Syncer) runOnce(ctx context.Context) error {
	p, err := s.plan(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The snapshot to apply: a follower of one being downloaded (overlap),
	// or nil for the committed one in the spool.
	snapshotReady := make(chan *spool.SnapshotFollower, 1)
	if !p.fullSync {
		snapshotReady <- nil
	}

	var wg sync.WaitGroup
	var recvErr, applyErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		recvErr = s.receive(ctx, p, snapshotReady)
		if recvErr != nil {
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		applyErr = s.apply(ctx, p, snapshotReady)
		cancel() // the applier ends last: on error, on Once, or when ctx ends
	}()
	wg.Wait()
	if recvErr != nil && !errors.Is(recvErr, context.Canceled) {
		return recvErr
	}
	if applyErr != nil && !errors.Is(applyErr, context.Canceled) {
		return applyErr
	}
	return nil
}

// resetAll empties the target and forgets every offset: the next runOnce
// starts a full sync.
func (s *Syncer) resetAll(ctx context.Context) error {
	if err := s.flushTarget(ctx); err != nil {
		return fmt.Errorf("emptying the target before a new full sync: %w", err)
	}
	if err := s.spool.ResetStream(0); err != nil {
		return err
	}
	if err := s.spool.RemoveSnapshot(); err != nil {
		return err
	}
	if err := removeFile(s.linkInfo.Path()); err != nil {
		return err
	}
	return s.store.Reset(ctx)
}

// backoff grows a wait from 100ms to 30s.
type backoff struct{ d time.Duration }

func (b *backoff) next() time.Duration {
	if b.d == 0 {
		b.d = 100 * time.Millisecond
	} else if b.d < 30*time.Second {
		b.d *= 2
	}
	return min(b.d, 30*time.Second)
}

func (b *backoff) reset() { b.d = 0 }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// currentReplID is the replid of the stream being received.
func (s *Syncer) currentReplID() string { return s.tracker.ReplID() }

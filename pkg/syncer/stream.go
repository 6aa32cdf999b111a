package syncer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/protocol"
	"github.com/redferry/redferry/transform"
)

// replayStream applies the spooled stream from offset from (where db is
// selected) on, batch by batch. A batch is committed when full, or when the
// spool has nothing more to give, but never inside a source MULTI … EXEC.
func (a *applier) replayStream(ctx context.Context, from int64, db int) error {
	s := a.s
	s.tracker.SetPhase(status.PhaseStreaming)
	s.tracker.SetApplied(from)
	r, err := s.spool.NewReader(from)
	if err != nil {
		return fmt.Errorf("reading the spooled stream from offset %d: %w", from, err)
	}
	a.log.Info("applying the replication stream", zap.Int64("from", from), zap.Int("db", db))
	tr := transform.NewTranslator(s.target.Server(), transform.TranslateOptions{ReplayPublish: s.opt.ReplayPublish, Source: s.sourceInfo,
		Unholdable: s.unholdable()})
	var (
		offset  = from
		inMulti bool
		// Batches hold at most a tenth of a second's worth of the rate limits.
		maxCmds, maxSize = s.opt.Limits.Caps(s.opt.BatchCommands, s.opt.BatchBytes)
	)
	a.batch.Reset()
	a.batch.StartDB = a.targetDB(db)
	a.span = batchSpan{from: from}
	commit := func() error {
		if inMulti {
			return nil
		}
		if a.batch.Len() == 0 {
			a.releaseGate(false)
		}
		if a.batch.Len() > 0 {
			st := checkpoint.State{ReplID: s.spool.StreamReplID(), Offset: offset, Phase: checkpoint.PhaseStreaming, DB: db}
			off := offset
			if err := a.commitThen(ctx, st, func() {
				s.tracker.SetApplied(off)
				if err := s.spool.Trim(off); err != nil {
					a.log.Warn("could not remove applied spool segments", zap.Error(err))
				}
			}); err != nil {
				return err
			}
			a.batch.StartDB = a.targetDB(db)
			a.span = batchSpan{from: offset}
			maxCmds, maxSize = s.opt.Limits.Caps(s.opt.BatchCommands, s.opt.BatchBytes)
		}
		if a.onceTarget >= 0 && offset >= a.onceTarget {
			if err := a.wait(ctx); err != nil {
				return err
			}
			s.tracker.SetApplied(offset)
			return errOnceDone
		}
		return nil
	}
	// idle: the spool has nothing more for now. Apply what was gathered and
	// wait for it, so the applied offset (PINGs and REPLCONF included, which
	// need no write) is exact while the stream is quiet.
	idle := func() error {
		if inMulti {
			return nil
		}
		if err := commit(); err != nil {
			return err
		}
		if err := a.wait(ctx); err != nil {
			return err
		}
		s.tracker.SetApplied(offset)
		return nil
	}
	defer a.releaseGate(false)
	hook := &waitHook{ctx: ctx, r: r, spool: s.spool, beforeWait: idle}
	cr := protocol.NewCommandReader(bufio.NewReaderSize(hook, 1<<20), protocol.Limits{})
	for {
		cmd, err := cr.ReadCommand()
		if err != nil {
			switch {
			case errors.Is(err, errOnceDone):
				a.log.Info("the target has caught up with the source", zap.Int64("offset", offset))
				return nil
			case hook.err != nil:
				// Applying the batch failed while the reader waited for more.
				return hook.err
			case ctx.Err() != nil:
				// A clean stop: the batch gathered so far is applied first.
				if cerr := commit(); cerr != nil && !errors.Is(cerr, errOnceDone) {
					return cerr
				}
				if werr := a.wait(ctx); werr != nil {
					return werr
				}
				return ctx.Err()
			}
			return fmt.Errorf("reading the spooled stream at offset %d: %w", offset, err)
		}
		prev := offset
		offset += int64(len(cmd.Raw))
		switch {
		case equalFold(cmd.Args[0], "select") && len(cmd.Args) == 2:
			n, err := strconv.Atoi(string(cmd.Args[1]))
			if err != nil {
				return fmt.Errorf("stream offset %d: SELECT %q is not a db number", offset, cmd.Args[1])
			}
			db = n
		case equalFold(cmd.Args[0], "multi"):
			inMulti = true
			a.batch.BeginAtomic()
		case equalFold(cmd.Args[0], "exec"):
			inMulti = false
			a.batch.EndAtomic()
		}
		adm, err := a.admit(ctx, cmd, offset, db)
		for err == nil && adm.Wait != nil {
			// The batch so far ends before this command; inside a source
			// MULTI it cannot be cut, and waits with it.
			if !inMulti {
				end := offset
				offset = prev
				err = commit()
				offset = end
				if err == nil {
					err = a.wait(ctx)
				}
				if err == nil {
					s.tracker.SetApplied(prev)
				}
			}
			if err == nil {
				err = adm.Wait(ctx)
			}
			if err == nil {
				adm, err = a.admit(ctx, cmd, offset, db)
			}
		}
		if errors.Is(err, errOnceDone) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("stream offset %d: %w", offset, err)
		}
		switch {
		case adm.Skip:
		case adm.Alone:
			var err error
			if !a.exclusive {
				// The batch so far ends before this command.
				end := offset
				offset = prev
				err = commit()
				offset = end
			}
			if err == nil {
				err = a.applyAlone(ctx, tr, cmd, adm, offset, db)
			}
			if errors.Is(err, errOnceDone) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("stream offset %d: %w", offset, err)
			}
		default:
			if adm.Args != nil {
				cmd = protocol.Command{Args: adm.Args}
			}
			if err := a.filterAndTranslate(tr, cmd, offset, db); err != nil {
				return fmt.Errorf("stream offset %d: %w", offset, err)
			}
		}
		if a.batch.Len() >= maxCmds || a.batch.Size() >= maxSize {
			if err := commit(); err != nil {
				if errors.Is(err, errOnceDone) {
					return nil
				}
				return err
			}
		}
	}
}

// filterAndTranslate puts the command into the batch as the filter decides
// (as it came, rewritten, or not at all), translated for the target.
func (a *applier) filterAndTranslate(tr *transform.Translator, cmd protocol.Command, offset int64, db int) error {
	s := a.s
	out, err := s.opt.Filter.Command(db, cmd.Args)
	if err != nil {
		return err
	}
	switch out.Action {
	case transform.Drop:
		s.tracker.AddFilteredCommand(out.Reason, false)
		if out.Conflict != "" {
			a.log.Warn("left out a command the filter cannot apply (on-filter-conflict = skip)",
				zap.String("command", out.Conflict), zap.Int64("offset", offset))
		}
		return nil
	case transform.Rewrite:
		if out.Reason != "" {
			s.tracker.AddFilteredCommand(out.Reason, true)
		}
		for _, c := range out.Commands {
			if err := tr.Translate(c, nil, offset, a.batch); err != nil {
				return err
			}
		}
	default:
		if err := tr.Translate(cmd.Args, cmd.Raw, offset, a.batch); err != nil {
			return err
		}
	}
	s.tracker.CountCommand(cmd.Args[0])
	return nil
}

func equalFold(b []byte, s string) bool { return bytes.EqualFold(b, []byte(s)) }

// waitHook reads the spool and calls beforeWait when the next read would
// block, so the batch gathered so far is applied instead of waiting for more.
type waitHook struct {
	ctx        context.Context
	r          *spool.Reader
	spool      *spool.Spool
	beforeWait func() error
	err        error // what beforeWait returned, other than errOnceDone
}

func (h *waitHook) Read(p []byte) (int, error) {
	if h.spool.End() <= h.r.Offset() {
		if err := h.beforeWait(); err != nil {
			if !errors.Is(err, errOnceDone) {
				h.err = err
			}
			return 0, err
		}
	}
	return h.r.Read(h.ctx, p)
}

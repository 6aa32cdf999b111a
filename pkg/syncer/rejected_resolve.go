package syncer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/protocol"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// resolveRejected applies the operator's answer (Options.RetryRejected,
// SkipRejected) to the rejected commands recorded in st, and returns the
// checkpoint to start from. Without an answer, or with one that cannot be
// carried out whole, it writes nothing and returns a *RejectedError. The
// answer is used once per process.
func (s *Syncer) resolveRejected(ctx context.Context, st checkpoint.State) (checkpoint.State, error) {
	skip, retry := s.opt.SkipRejected, s.opt.RetryRejected
	if s.rejectedResolved {
		skip, retry = nil, false
	}
	s.rejectedResolved = true
	if !st.HasRejected() {
		if len(skip) > 0 {
			return st, fmt.Errorf("--skip-rejected %s: the checkpoint (offset %d) records no rejected command, so there is "+
				"nothing to skip: start without --skip-rejected", joinOffsets(skip), st.Offset)
		}
		if retry {
			s.log.Info("--retry-rejected: the checkpoint records no rejected command, nothing to retry")
		}
		return st, nil
	}
	refuse := &RejectedError{State: st, AtStart: true, NotRetryable: s.notRetryable(st)}
	for _, off := range skip {
		if !slices.ContainsFunc(st.Rejected, func(r checkpoint.Rejection) bool { return r.Offset == off }) {
			refuse.Why = fmt.Sprintf("--skip-rejected %d matches none of the rejected commands recorded (offsets %s): nothing was skipped",
				off, offsetList(st.Rejected))
			return st, refuse
		}
	}
	var keep []checkpoint.Rejection
	for _, r := range st.Rejected {
		if !slices.Contains(skip, r.Offset) {
			keep = append(keep, r)
		}
	}
	rest := st
	rest.Rejected = keep
	switch {
	case len(skip) == 0 && !retry:
		return st, refuse
	case len(keep) > 0 && !retry:
		// Skip what was named; the others still wait for an answer.
		s.skipRejected(st.Rejected, skip, 0)
		if err := s.recordState(ctx, rest); err != nil {
			return st, err
		}
		return st, &RejectedError{State: rest, AtStart: true, NotRetryable: s.notRetryable(rest),
			Why: fmt.Sprintf("skipped the rejected command at offset %s as asked; others remain", joinOffsets(skip))}
	case len(keep) > 0:
		raws, err := s.rejectedFromSpool(ctx, rest)
		if err != nil {
			refuse.Why = "--retry-rejected: " + err.Error() + "; nothing was retried or skipped"
			refuse.NotRetryable = err.Error()
			return st, refuse
		}
		s.skipRejected(st.Rejected, skip, 0)
		return s.retryRejected(ctx, rest, raws)
	case len(skip) == 0:
		// --retry-rejected, but none is recorded one by one.
		return st, refuse
	}
	// Everything named was skipped (with it the ones beyond the record's bound).
	s.skipRejected(st.Rejected, skip, st.RejectedOmitted)
	rest.Rejected, rest.RejectedOmitted = nil, 0
	if err := s.recordState(ctx, rest); err != nil {
		return st, err
	}
	return rest, nil
}

// skipRejected logs and counts the rejected commands at the offsets in skip
// (and omitted more) as skipped by the operator.
func (s *Syncer) skipRejected(recs []checkpoint.Rejection, skip []int64, omitted int) {
	for _, r := range recs {
		if slices.Contains(skip, r.Offset) {
			s.log.Warn("skipping a command the target rejected, as asked (--skip-rejected): its write is lost",
				zap.String("command", r.Command), zap.String("key", r.Key), zap.Int64("offset", r.Offset), zap.Int("db", r.DB),
				zap.String("reply", r.Answer))
			s.tracker.AddRejectedSkipped(status.SkippedByOperator, 1)
		}
	}
	if omitted > 0 {
		s.log.Warn("skipping the rejected commands of the same batch beyond the record's bound, as asked: their writes are lost",
			zap.Int("commands", omitted))
		s.tracker.AddRejectedSkipped(status.SkippedByOperator, int64(omitted))
	}
}

// retryRejected applies each rejected command of st once more, in st.Rejected's
// order, each in a transaction whose checkpoint marks it "retry sent"; a
// command rejected again is recorded with its new answer and stops the sync.
func (s *Syncer) retryRejected(ctx context.Context, st checkpoint.State, raws [][]byte) (checkpoint.State, error) {
	for len(st.Rejected) > 0 {
		r, raw := st.Rejected[0], raws[0]
		pending := st
		pending.UpdatedAt = time.Now()
		pending.Rejected = slices.Clone(st.Rejected)
		pending.Rejected[0].RetrySent = true
		b := &sink.Batch{StartDB: r.DB, Retry: true}
		b.AddRaw(r.Offset, raw)
		if err := s.store.RecordAhead(ctx, b, pending); err != nil {
			return st, err
		}
		err := s.target.ApplyStrict(ctx, b)
		var te *sink.TargetError
		switch {
		case err == nil:
			s.log.Warn("applied a command the target had rejected, as asked (--retry-rejected)",
				zap.String("command", r.Command), zap.String("key", r.Key), zap.Int64("offset", r.Offset), zap.Int("db", r.DB))
			s.tracker.AddRejectedRetried(1)
			st.Rejected, raws = st.Rejected[1:], raws[1:]
		case errors.As(err, &te):
			// Rejected again: at queue time nothing was applied, at run time
			// the pending checkpoint was; either way record the new answer.
			s.tracker.AddTargetErrors(1)
			st.Rejected = slices.Clone(st.Rejected)
			st.Rejected[0].Answer, st.Rejected[0].At = checkpoint.NewRejection(nil, te.Message).Answer, time.Now()
			if rerr := s.recordState(ctx, st); rerr != nil {
				return st, errors.Join(err, rerr)
			}
			return st, &RejectedError{State: st, AtStart: true, Why: "--retry-rejected: the target rejected it again"}
		case errors.Is(err, sink.ErrOutcomeUnknown):
			return st, &RejectedError{State: pending, AtStart: true, NotRetryable: s.notRetryable(pending),
				Why: "--retry-rejected: the retry was sent, but its reply was lost"}
		default:
			return st, fmt.Errorf("retrying the rejected %s: %w (the checkpoint marks the retry as sent if it may have been applied)", r, err)
		}
	}
	st.Rejected, st.RejectedOmitted = nil, 0
	if err := s.recordState(ctx, st); err != nil {
		return st, err
	}
	return st, nil
}

// recordState writes st at once, stamped now.
func (s *Syncer) recordState(ctx context.Context, st checkpoint.State) error {
	st.UpdatedAt = time.Now()
	if err := s.store.Record(ctx, st); err != nil {
		return fmt.Errorf("recording the answer to the rejected commands: %w", err)
	}
	return nil
}

// notRetryable says why --retry-rejected cannot be offered for st, or "".
// It does not read the spool's contents (rejectedFromSpool does, before a
// retry), only whether it still covers the commands.
func (s *Syncer) notRetryable(st checkpoint.State) string {
	if st.RejectedOmitted > 0 {
		return fmt.Sprintf("%d of them were not recorded one by one (over the bound of %d)", st.RejectedOmitted, checkpoint.MaxRejections)
	}
	for _, r := range st.Rejected {
		if pastCheckpoint(st, r) {
			// Recorded from the state dir with the checkpoint before its
			// batch (rejected_pending.go): a retry's checkpoint would lower
			// the slot's mark below the batch's other commands.
			return fmt.Sprintf("redferry stopped before the batch of %s was wholly applied, so the checkpoint (offset %d) is "+
				"before it, and a retry could apply the batch's other commands twice", r, st.Offset)
		}
		if reason := s.unretryable(r); reason != "" {
			return reason
		}
	}
	return ""
}

func (s *Syncer) unretryable(r checkpoint.Rejection) string {
	switch {
	case r.RetrySent:
		return fmt.Sprintf("a retry of %s was sent, but its outcome was never recorded: check the key on the target; retrying could apply it twice", r)
	case r.Snapshot:
		return fmt.Sprintf("%s rebuilt a key of the snapshot, which a retry cannot redo", r)
	case !s.spool.HasStream() || r.From < s.spool.Start() || r.Offset > s.spool.End():
		return fmt.Sprintf("the spool in %s no longer holds source offset %d (it holds %d to %d)",
			s.opt.StateDir, r.Offset, s.spool.Start(), s.spool.End())
	}
	return ""
}

// rejectedFromSpool reads the exact bytes of each rejected command of st
// from the spool: the source command ending at its offset, translated for
// the target as when it was applied, and checked against its CRC.
func (s *Syncer) rejectedFromSpool(ctx context.Context, st checkpoint.State) ([][]byte, error) {
	if reason := s.notRetryable(st); reason != "" {
		return nil, errors.New(reason)
	}
	tr := transform.NewTranslator(s.target.Server(), transform.TranslateOptions{ReplayPublish: s.opt.ReplayPublish, Source: s.sourceInfo})
	raws := make([][]byte, 0, len(st.Rejected))
	for _, r := range st.Rejected {
		raw, err := s.findInSpool(ctx, tr, r)
		if err != nil {
			return nil, err
		}
		raws = append(raws, raw)
	}
	return raws, nil
}

func (s *Syncer) findInSpool(ctx context.Context, tr *transform.Translator, r checkpoint.Rejection) ([]byte, error) {
	rd, err := s.spool.NewReader(r.From)
	if err != nil {
		return nil, fmt.Errorf("reading %s from the spool: %w", r, err)
	}
	defer rd.Close()
	cr := protocol.NewCommandReader(bufio.NewReader(&boundedReader{ctx: ctx, r: rd, end: r.Offset}), protocol.Limits{})
	off := r.From
	for off < r.Offset {
		cmd, err := cr.ReadCommand()
		if err != nil {
			return nil, fmt.Errorf("the spool holds no command ending at offset %d (parsed from %d to %d: %w)", r.Offset, r.From, off, err)
		}
		off += int64(len(cmd.Raw))
		if off < r.Offset {
			continue
		}
		var b sink.Batch
		if err := tr.Translate(cmd.Args, cmd.Raw, off, &b); err != nil {
			return nil, fmt.Errorf("translating %s again: %w", r, err)
		}
		if r.Sub < b.Len() && sink.CommandSum(b.Raw(r.Sub)) == r.Sum {
			return bytes.Clone(b.Raw(r.Sub)), nil
		}
		if cl := s.targetCluster(); cl != nil {
			return sentToCluster(cl, &b, r)
		}
		return nil, fmt.Errorf("the command in the spool at offset %d is not the one the target rejected "+
			"(is the target another version now? it is translated differently)", r.Offset)
	}
	return nil, fmt.Errorf("the spool holds no command ending at offset %d", r.Offset)
}

func joinOffsets(offs []int64) string {
	var b []byte
	for i, o := range offs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, o, 10)
	}
	return string(b)
}

// sentToCluster finds what a cluster target rejected among what it was
// sent for the commands of b (one source command, translated): a command
// whose keys are in different slots is sent in parts, one per slot, and
// the rejection names the part (its CRC; its Sub counts within the slot's
// transaction, not b).
func sentToCluster(cl *sink.Cluster, b *sink.Batch, r checkpoint.Rejection) ([]byte, error) {
	for i := 0; i < b.Len(); i++ {
		args, _ := b.Command(i)
		for _, form := range cl.SentForms(args, b.Raw(i)) {
			if sink.CommandSum(form) == r.Sum {
				return bytes.Clone(form), nil
			}
		}
	}
	return nil, fmt.Errorf("the command in the spool at offset %d is not the one the target rejected: the cluster target "+
		"ran the source's command in parts, one per hash slot, and the rejected part was computed from the target's data "+
		"at the time (a RENAME, COPY, LMOVE or *STORE across slots), which a retry cannot compute again; "+
		"or the target is another version now and translates it differently", r.Offset)
}

package syncer

import (
	"context"
	"fmt"

	"github.com/redferry/redferry/protocol"
	"github.com/redferry/redferry/transform"
)

// The applier's side of Options.Gate (see StreamGate).

// admit holds the gate shared for the batch being built (once per batch)
// and asks it about cmd. Without a gate every command is applied as it is.
func (a *applier) admit(ctx context.Context, cmd protocol.Command, offset int64, db int) (Admission, error) {
	g := a.s.opt.Gate
	if g == nil {
		return Admission{}, nil
	}
	if a.gateRelease == nil {
		release, err := g.Shared(ctx)
		if err != nil {
			return Admission{}, err
		}
		a.gateRelease = func(bool) { release() }
	}
	return g.Admit(ctx, cmd.Args, db, offset)
}

// applyAlone applies cmd (and adm.Extra) in a batch of its own while the
// gate is held exclusively, and waits for it. The batch before it has been
// committed by the caller.
func (a *applier) applyAlone(ctx context.Context, tr *transform.Translator, cmd protocol.Command, adm Admission,
	offset int64, db int, commit func() error) error {
	if err := a.wait(ctx); err != nil {
		return err
	}
	a.releaseGate(false)
	if a.batch.Len() > 0 {
		return fmt.Errorf("internal error: %d commands left in the batch before a command applied alone", a.batch.Len())
	}
	release, err := a.s.opt.Gate.Exclusive(ctx, adm)
	if err != nil {
		return err
	}
	a.gateRelease = release
	if adm.Args != nil {
		cmd = protocol.Command{Args: adm.Args}
	}
	if err := a.filterAndTranslate(tr, cmd, offset, db); err != nil {
		return err
	}
	if a.batch.Len() > 0 {
		for _, c := range adm.Extra {
			a.batch.AddStrings(offset, c...)
		}
	}
	if err := commit(); err != nil {
		return err
	}
	return a.wait(ctx)
}

// takeGate hands the gate hold of the batch being committed to the caller.
func (a *applier) takeGate() func(bool) {
	r := a.gateRelease
	a.gateRelease = nil
	return r
}

// releaseGate releases the hold of a batch that is not going to the target.
func (a *applier) releaseGate(applied bool) {
	if r := a.takeGate(); r != nil {
		r(applied)
	}
}

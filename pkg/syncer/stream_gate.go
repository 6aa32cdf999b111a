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
		a.gateRelease = func(bool, []Admission) { release() }
	}
	return g.Admit(ctx, cmd.Args, db, offset)
}

// applyAlone puts cmd (and adm.Extra) into the batch under the exclusive
// gate: when the batch being built holds it already, the command joins it
// (a run of imports is one transaction); otherwise the batch so far, which
// the caller has committed, is waited for, and a new one begins under the
// exclusive gate. The batch is then committed as any other (full, or when
// the stream pauses); the gate learns which commands it applied.
func (a *applier) applyAlone(ctx context.Context, tr *transform.Translator, cmd protocol.Command, adm Admission,
	offset int64, db int) error {
	if !a.exclusive {
		if err := a.wait(ctx); err != nil {
			return err
		}
		a.releaseGate(false)
		if a.batch.Len() > 0 {
			return fmt.Errorf("internal error: %d commands left in the batch before a command applied alone", a.batch.Len())
		}
		release, err := a.s.opt.Gate.Exclusive(ctx)
		if err != nil {
			return err
		}
		a.exclusive = true
		a.gateRelease = func(applied bool, alone []Admission) {
			if !applied {
				alone = nil
			}
			release(alone)
		}
	}
	if adm.Args != nil {
		cmd = protocol.Command{Args: adm.Args}
	}
	before := a.batch.Len()
	for _, c := range adm.Before {
		a.batch.AddStrings(offset, c...)
	}
	if err := a.filterAndTranslate(tr, cmd, offset, db); err != nil {
		return err
	}
	if a.batch.Len() > before+len(adm.Before) {
		for _, c := range adm.Extra {
			a.batch.AddStrings(offset, c...)
		}
		a.alone = append(a.alone, adm)
	}
	return nil
}

// takeGate hands the gate hold of the batch being committed to the caller.
func (a *applier) takeGate() func(bool) {
	r, alone := a.gateRelease, a.alone
	a.gateRelease, a.alone, a.exclusive = nil, nil, false
	if r == nil {
		return nil
	}
	return func(applied bool) { r(applied, alone) }
}

// releaseGate releases the hold of a batch that is not going to the target.
func (a *applier) releaseGate(applied bool) {
	if r := a.takeGate(); r != nil {
		r(applied)
	}
}

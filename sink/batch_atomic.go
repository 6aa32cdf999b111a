package sink

import (
	"fmt"
	"strings"

	"github.com/redferry/redferry/pkg/server"
	"go.uber.org/zap"
)

// atomicSpan is a run of a batch's commands [start, end) that the source
// applied as one.
type atomicSpan struct{ start, end int }

// BeginAtomic marks that the commands added from now on until EndAtomic
// were applied by the source as one (a MULTI/EXEC; the source replicates
// a script or function call as one too). A standalone target applies a
// whole batch atomically anyway; a cluster target checks that such a run
// stays within one slot.
func (b *Batch) BeginAtomic() { b.open = len(b.ends) + 1 }

// EndAtomic closes the run begun by BeginAtomic.
func (b *Batch) EndAtomic() {
	if b.open == 0 {
		return
	}
	if start := b.open - 1; len(b.ends) > start+1 {
		b.atomic = append(b.atomic, atomicSpan{start, len(b.ends)})
	}
	b.open = 0
}

// checkAtomic refuses (or, with OnCrossSlot "split", lets through with a
// warning) the batch's atomic runs whose keys are in different slots: a
// cluster runs a transaction only within one slot.
func (c *Cluster) checkAtomic(b *Batch) error {
	for _, sp := range b.atomic {
		var keys [][]byte
		slots := map[int]bool{}
		var names []string
		for i := sp.start; i < sp.end && i < b.Len(); i++ {
			args, _ := b.Command(i)
			if len(args) == 0 {
				continue
			}
			r := c.cmds.route(args)
			if r.kind == routeSelect {
				continue
			}
			if len(names) < 4 {
				names = append(names, strings.ToUpper(string(args[0])))
			}
			for _, k := range r.keys {
				if s := server.KeySlot(k); !slots[s] {
					slots[s] = true
					keys = append(keys, k)
				}
			}
		}
		if len(slots) < 2 {
			continue
		}
		from, to := b.Offset(sp.start), b.Offset(min(sp.end, b.Len())-1)
		if c.cfg.OnCrossSlot == OnCrossSlotSplit {
			c.log.Warn("a source transaction writes keys in different slots: applied one slot at a time (on-cross-slot = split)",
				zap.Int64("from_offset", from), zap.Int64("to_offset", to), zap.Strings("commands", names), zap.Int("slots", len(slots)))
			continue
		}
		var sb strings.Builder
		for i, k := range keys {
			if i == 3 {
				fmt.Fprintf(&sb, " and %d more", len(keys)-i)
				break
			}
			if i > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "%q (slot %d)", k, server.KeySlot(k))
		}
		return fmt.Errorf("%w: a transaction of the source (MULTI/EXEC, or a script or function call, which the source "+
			"replicates as one) at source offsets %d to %d (%s) writes keys in different hash slots (%s): a cluster target "+
			"cannot apply it atomically. Set on-cross-slot = \"split\" to apply it one slot at a time (a reader may then "+
			"see part of it), or give its keys a common hash tag on the source",
			ErrCrossSlot, from, to, strings.Join(names, " "), sb.String())
	}
	return nil
}

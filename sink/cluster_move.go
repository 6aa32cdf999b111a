package sink

import "context"

// move carries out a command that moves a value between keys in different
// slots.
func (tx *clusterTx) move(_ context.Context, args [][]byte, off int64, _ int, r routed) error {
	return crossSlotError(args, off, r.keys)
}

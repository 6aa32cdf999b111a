package sink

import (
	"strings"

	"github.com/redferry/redferry/protocol"
)

// SentForms returns the exact bytes of every command the cluster sends
// for one command of a batch (args, raw, as the translator produced it):
// the command itself when its keys share a slot, else each per-slot part
// it is split into (DEL, UNLINK, TOUCH, MSET by slot; SMOVE as SADD and
// SREM). A rejected command is recorded with the CRC of what was sent
// (RejectedCommand.Sum): a retry (syncer --retry-rejected) finds the
// rejected part among these. The parts of a move computed from the
// target's data at the time (RENAME, COPY, LMOVE, *STORE …: a DUMP or an
// element read first) cannot be rebuilt and are not listed.
func (c *Cluster) SentForms(args [][]byte, raw []byte) [][]byte {
	if len(args) == 0 {
		return nil
	}
	c.mu.Lock()
	r := c.cmds.route(args)
	c.mu.Unlock()
	if r.kind != routeKeys || len(r.keys) == 0 {
		return [][]byte{raw}
	}
	if _, same := sameSlot(r.keys); same {
		return [][]byte{raw}
	}
	if r.split == splitMove {
		if strings.EqualFold(string(args[0]), "smove") && len(args) == 4 {
			return [][]byte{
				protocol.AppendCommand(nil, []byte("SADD"), args[2], args[3]),
				protocol.AppendCommand(nil, []byte("SREM"), args[1], args[3]),
			}
		}
		return nil
	}
	ps, err := c.appendPieces(nil, args, raw, 0, 0, r)
	if err != nil {
		return nil
	}
	out := make([][]byte, 0, len(ps))
	for _, p := range ps {
		if p.raw != nil {
			out = append(out, p.raw)
		} else {
			out = append(out, protocol.AppendCommand(nil, p.args...))
		}
	}
	return out
}

package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/server"
)

// Exactly-once into a cluster: why every slot keeps its own mark, and how
// a restart reads them.
//
// A cluster runs a MULTI/EXEC only when all its keys are in one slot. A
// batch is therefore split into one transaction per slot (all the slot's
// commands of the batch, in order), and each transaction ends with a SET
// of that slot's mark: <checkpoint key>{tag}, the tag chosen so that the
// mark hashes to the slot. A master's transactions are written together
// on its one connection; the masters are written in parallel.
//
// A mark says Upto where the source position (a stream offset, or during
// the snapshot the first key not complete, as in checkpoint.State) up to
// which every command of its slot has been applied. It is written in the
// same transaction as the commands, so it is exact for its slot whatever
// happens to the others, and it lives in its slot: when the slot moves to
// another master (a migration, a failover), the mark moves with the data
// it describes. A restart skips, command by command, what the mark of the
// command's slot covers.
//
// Where to resume from: once every transaction of a batch is applied, the
// mark of one slot (the checkpoint key's own slot) is written with Done,
// the batch's checkpoint. A restart resumes from the newest Done: every
// batch up to it is wholly applied, in every slot; what comes after it is skipped or
// applied slot by slot, so a crash between the masters' transactions of a
// batch applies nothing twice and loses nothing. Done is written after
// every batch, so the spool and the source's backlog hold what a restart
// needs.
//
// A broadcast (FLUSHALL, FLUSHDB, FUNCTION, SCRIPT) goes to every master
// once everything before it in the batch is applied, with a mark claiming
// all the master's slots (Slots): a FLUSHALL removes the marks of the
// master's other slots, and the claim stands for them. A command moving a
// value between slots (cluster_move.go) is applied the same way, once what
// precedes it is applied, one transaction per slot it writes to.
//
// The snapshot's keys go without these transactions (cluster_snapshot.go):
// pipelined, then the batch's Done, with an intent mark telling a restart
// which keys to delete before writing them again.
type mark struct {
	Version int      `json:"v"`
	Upto    position `json:"upto"`
	// Done: the checkpoint of the last batch wholly applied (checkpoint.State
	// bytes), in the mark of the done slot.
	Done []byte `json:"done,omitempty"`
	// Slots: Upto holds for all these slots too (a broadcast's mark).
	Slots string `json:"slots,omitempty"`
	// Sent: snapshot keys up to this position may have been written
	// without a mark (the snapshot's intent mark, cluster_snapshot.go).
	Sent int64 `json:"-"`
	// Nonce makes every mark written unique, so that reading it back
	// tells whether a transaction whose reply was lost was applied.
	Nonce uint64 `json:"n"`
}

// position is where a mark stands: in the snapshot (Off: the first key not
// complete) or in the stream (Off: the last offset applied).
type position struct {
	Streaming bool  `json:"s"`
	Off       int64 `json:"o"`
}

// positionOf reads the position of an encoded checkpoint.State.
func positionOf(cp []byte) (position, error) {
	phase, off, snapPos, err := checkpoint.Position(cp)
	if err != nil {
		return position{}, err
	}
	if phase == checkpoint.PhaseSnapshotReplay {
		return position{Off: snapPos}, nil
	}
	return position{Streaming: true, Off: off}, nil
}

// lowerTo lowers p to fork when it is a stream offset past fork, and
// reports whether it did (lower_stream.go).
func (p *position) lowerTo(fork int64) bool {
	if !p.Streaming || p.Off <= fork {
		return false
	}
	p.Off = fork
	return true
}

func (p position) less(q position) bool {
	if p.Streaming != q.Streaming {
		return q.Streaming
	}
	return p.Off < q.Off
}

// covers reports whether a command at off (a stream offset when streaming,
// else its key's snapshot position) is applied under p.
func (p position) covers(streaming bool, off int64) bool {
	switch {
	case p.Streaming && !streaming:
		return true // the whole snapshot is applied
	case p.Streaming:
		return off <= p.Off
	case streaming:
		return false
	default:
		return off < p.Off
	}
}

// marks is what the marks in the target say, read once at start: the
// watermark of every slot.
type marks struct {
	slot [server.SlotCount]position
	has  [server.SlotCount]bool
	max  position
	// deleted: snapshot positions of half-applied keys already deleted
	// before being rebuilt.
	deleted map[int64]bool
	// sent: snapshot keys up to this position may have been written
	// without a mark (cluster_snapshot.go); -1: none.
	sent int64
}

func (m *marks) raise(s int, p position) {
	if !m.has[s] || m.slot[s].less(p) {
		m.slot[s], m.has[s] = p, true
	}
	if m.max.less(p) {
		m.max = p
	}
}

// covered reports whether the command at off in slot is applied.
func (m *marks) covered(slot int, streaming bool, off int64) bool {
	return m != nil && m.has[slot] && m.slot[slot].covers(streaming, off)
}

// halfApplied reports whether the snapshot key at off, in slot, may be half
// applied: the mark of its slot stopped at it (a big key spans batches).
func (m *marks) halfApplied(slot int, streaming bool, off int64) bool {
	if m == nil || streaming || !m.has[slot] || m.slot[slot].Streaming || m.slot[slot].Off != off || m.deleted[off] {
		return false
	}
	return true
}

// maySent reports whether the snapshot key at off, not covered by its
// slot's mark, may have been written without a mark before a restart
// (cluster_snapshot.go) and is not deleted yet.
func (m *marks) maySent(streaming bool, off int64) bool {
	return m != nil && !streaming && off <= m.sent && !m.deleted[off]
}

// loadMarks reads the mark of every slot (a GET of <checkpoint key>{tag}
// per slot, pipelined on the master serving it) and returns the watermarks
// and the checkpoint to resume from (the newest Done). Reading each slot's
// mark by its name, rather than listing the marks a master holds (SCAN),
// finds a mark whose slot moves while it is read: a MOVED or ASK answer is
// followed to the node that holds it now, where a SCAN of the masters one
// after the other could miss it on both. With c.mu held.
func (c *Cluster) loadMarks(ctx context.Context) (*marks, []byte, error) {
	m := &marks{deleted: map[int64]bool{}, sent: -1}
	var resume []byte
	var resumeAt position
	found := false
	visit := func(addr, key string, v []byte) error {
		mk, err := decodeMark(v)
		if err != nil {
			return fmt.Errorf("sink: the checkpoint key %s on %s does not hold a cluster checkpoint mark "+
				"(delete it to start a new full sync): %v", key, addr, err)
		}
		found = true
		if mk.Sent > 0 {
			m.sent = max(m.sent, mk.Sent)
		}
		m.raise(server.KeySlot(key), mk.Upto)
		ranges, err := server.ParseSlots(mk.Slots)
		if err != nil {
			return fmt.Errorf("sink: the checkpoint mark %s on %s: %w", key, addr, err)
		}
		for _, r := range ranges {
			for s := r.Start; s <= r.End; s++ {
				m.raise(s, mk.Upto)
			}
		}
		if mk.Done == nil {
			return nil
		}
		p, err := positionOf(mk.Done)
		if err != nil {
			return fmt.Errorf("sink: the checkpoint in the mark %s on %s: %w (delete the marks to start a new full sync)", key, addr, err)
		}
		if resume == nil || resumeAt.less(p) {
			resume, resumeAt = mk.Done, p
		}
		// Done: that batch was applied in every slot.
		for s := range server.SlotCount {
			m.raise(s, p)
		}
		return nil
	}
	if err := c.visitMarks(ctx, visit); err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, nil, nil
	}
	return m, resume, nil
}

// visitMarks reads this sync's marks (every slot's, and the snapshot's
// intent in the done slot, cluster_snapshot.go) from the masters serving
// them, one pipeline per master, and calls visit for each that exists.
func (c *Cluster) visitMarks(ctx context.Context, visit func(addr, key string, v []byte) error) error {
	for mi, addr := range c.topo.masters {
		var keys []string
		for s := range server.SlotCount {
			if c.topo.ownerOf(s) == mi {
				keys = append(keys, c.markKey(s))
			}
		}
		if c.topo.ownerOf(c.doneSlot()) == mi {
			keys = append(keys, c.sentKey())
		}
		vals, err := c.getMany(ctx, addr, keys)
		if err != nil {
			return err
		}
		for i, v := range vals {
			if v == nil {
				continue
			}
			if err := visit(addr, keys[i], v); err != nil {
				return err
			}
		}
	}
	return nil
}

// getMany GETs keys (of slots addr serves) from db 0 of addr, pipelined; a
// key whose slot moved meanwhile (MOVED, ASK) is read where it is now. nil
// for a key that does not exist.
func (c *Cluster) getMany(ctx context.Context, addr string, keys []string) ([][]byte, error) {
	cl := server.NewClient(server.ClientOptions{Addr: addr, Username: c.cfg.Username, Password: c.cfg.Password, TLS: c.cfg.TLS,
		DialTimeout: c.cfg.DialTimeout, IOTimeout: c.cfg.IOTimeout, PoolSize: 1})
	defer cl.Close()
	cmds, err := cl.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Get(ctx, k)
		}
		return nil
	})
	if err != nil && len(cmds) != len(keys) {
		return nil, fmt.Errorf("sink: reading the checkpoint marks on %s: %w", addr, err)
	}
	out := make([][]byte, len(keys))
	for i, cmd := range cmds {
		v, err := cmd.(*redis.StringCmd).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err == nil:
			out[i] = v
		default:
			if _, moved := parseRedirect(err.Error()); !moved {
				return nil, fmt.Errorf("sink: reading the checkpoint mark %s on %s: %w", keys[i], addr, err)
			}
			if out[i], err = c.readKey(ctx, keys[i]); err != nil {
				return nil, fmt.Errorf("sink: reading the checkpoint mark %s, whose slot moved from %s: %w", keys[i], addr, err)
			}
		}
	}
	return out, nil
}

// markPattern matches every checkpoint key of this sync (a master's, and
// those written through ASKING).
func markPattern(key string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(key) + "{*}*"
}

// ClusterMarkKeys lists the checkpoint marks of checkpointKey in the db
// selected on one cluster node.
func ClusterMarkKeys(ctx context.Context, c redis.Cmdable, checkpointKey string) ([]string, error) {
	var out []string
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, markPattern(checkpointKey), 1000).Result()
		if err != nil {
			return nil, fmt.Errorf("SCAN for the checkpoint marks: %w", err)
		}
		out = append(out, keys...)
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

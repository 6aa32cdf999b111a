package interlock

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// purpose is the command being guarded, for what the messages say it would do.
type purpose int

const (
	purposeSync purpose = iota
	purposeRestore
	purposeVerify
)

// sameServer refuses a target that is the source: same run_id, or, for
// clusters, a node id in common. A server that reports no run_id (some
// proxies hide it) is compared by its address as given.
func sameServer(src, dst side, why purpose) error {
	harm := "syncing would overwrite the source with itself (with --flush-target: empty it). Nothing was written"
	if why == purposeVerify {
		harm = "comparing a server with itself always finds it equal"
	}
	if id := commonNode(src.nodeIDs, dst.nodeIDs); id != "" {
		return fmt.Errorf("%w: the target %s and the source %s are nodes of one cluster (node %s is in both): %s. "+
			"Check --source and --target (and the config file): they must name two different clusters",
			ErrRefused, dst.name, src.name, id, harm)
	}
	srcID, dstID := src.info.RunID, dst.info.RunID
	if srcID == "" || dstID == "" {
		srcID, dstID = src.addr, dst.addr
	}
	if srcID != dstID {
		return nil
	}
	return fmt.Errorf("%w: the target %s is the source %s under another address (both report run_id %s): %s. "+
		"Check --target (and the config file): it must name another server",
		ErrRefused, dst.name, src.name, srcID, harm)
}

func commonNode(a, b []string) string {
	in := make(map[string]bool, len(a))
	for _, id := range a {
		in[id] = true
	}
	for _, id := range b {
		if in[id] {
			return id
		}
	}
	return ""
}

// targetIsReplica refuses a target that is a replica, naming the source
// when the chain of its primaries (masters of dst, nearest first) reaches
// it. src is zero for a restore, which has no source server.
func targetIsReplica(src, dst side, chain []hop, why purpose) error {
	primary := net.JoinHostPort(dst.info.MasterHost, strconv.Itoa(dst.info.MasterPort))
	for i, h := range chain {
		if h.err != nil || src.name == "" || !isSource(h, src) {
			continue
		}
		return fmt.Errorf("%w: the target %s (run_id %s) is a replica of %s: it already follows the source, "+
			"and writing to it would work against that (a replica refuses writes, or drops them at its next resync; "+
			"--flush-target would empty a writable one). Nothing was written. Give as --target a server that does not replicate "+
			"from the source", ErrRefused, dst.name, dst.info.RunID, describeChain(chain[:i+1], "the source "+src.name))
	}
	what := "sync"
	if why == purposeRestore {
		what = "restore"
	}
	reached := ""
	if n := len(chain); n > 0 && chain[n-1].err != nil {
		reached = fmt.Sprintf(" (%s could not be asked what it is: %v)", chain[n-1].addr, chain[n-1].err)
	}
	return fmt.Errorf("%w: the target %s is a replica (role:slave) of %s%s: a replica refuses writes (read-only), or "+
		"drops them at its next resync, and --flush-target would empty one copy of its primary's data. Nothing was "+
		"written. %s into the primary instead, or make this server a primary first (REPLICAOF NO ONE)",
		ErrRefused, dst.name, primary, reached, capitalize(what))
}

// sourceReplicatesFromTarget refuses a loop: the chain of the source's
// primaries (nearest first) reaches the target, so whatever is written to
// the target comes back through the source. When the walk could not reach
// a primary, a replication id shared with the target says the same: a
// replica takes its primary's replication id.
func sourceReplicatesFromTarget(src, dst side, chain []hop) error {
	for i, h := range chain {
		if h.err != nil || !isSource(h, dst) {
			continue
		}
		return fmt.Errorf("%w: the source %s (run_id %s) is a replica of %s: every write to the target would come back "+
			"through the source, and --flush-target would empty the source too. Nothing was written. Check --source and "+
			"--target (and the config file): swapped, or a stale REPLICAOF on the source?",
			ErrRefused, src.name, src.info.RunID, describeChain(chain[:i+1], "the target "+dst.name))
	}
	if n := len(chain); n > 0 && chain[n-1].err != nil && src.info.MasterReplID != "" &&
		src.info.MasterReplID == dst.info.MasterReplID && dst.info.Role != roleReplica {
		return fmt.Errorf("%w: the source %s replicates from %s, which could not be asked what it is (%v), and shares "+
			"the target %s's replication id %s: the source most likely replicates from the target, and every write to "+
			"the target would come back through it. Nothing was written. Check --source and --target",
			ErrRefused, src.name, chain[n-1].addr, chain[n-1].err, dst.name, dst.info.MasterReplID)
	}
	return nil
}

// isSource reports whether the server reached at h is s (by run_id).
func isSource(h hop, s side) bool {
	return h.info.RunID != "" && h.info.RunID == s.info.RunID
}

// describeChain says "X (run_id …)" for a chain of one, and "A (run_id …),
// a replica of B (run_id …), a replica of X (run_id …)" for longer ones;
// last names the server the chain ends at.
func describeChain(chain []hop, last string) string {
	var parts []string
	for i, h := range chain {
		name := h.addr
		if i == len(chain)-1 {
			name = last
		}
		parts = append(parts, fmt.Sprintf("%s (run_id %s)", name, h.info.RunID))
	}
	return strings.Join(parts, ", which is a replica of ")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

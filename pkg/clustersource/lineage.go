package clustersource

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/spool"
	"github.com/redferry/redferry/pkg/syncer"
)

// The node ids of shards.json know a promoted replica only if a topology
// read listed it in its shard before the failover. A cluster just formed
// shows its replicas as masters of their own until gossip has spread their
// role (a second or so), and a view taken just after a failover may show
// the old master apart from the new one: a failover then would name the
// promoted replica a new shard, with a full sync of its own while the old
// name's link lingers. And a replica moved to another master (by an
// operator, or by the cluster's replica migration) is still listed under
// its first shard, whose name a failover there would take.
//
// So when a master is new to the record, or is not the master the link of
// the shard its node ids name follows, the supervisor asks it
// which replication history it continues: a promoted replica's INFO
// replication says master_replid2 = the replid it followed, its old
// master's master_replid, which is the replid the shard's link follows
// (master_replid: a link that already follows it). That holds whatever
// gossip has spread and whatever addresses the nodes announce, unlike the
// slaveN lines of a master's INFO (the address a replica connected from or
// announced, not a cluster node id), and it is exactly the condition for
// the link to continue with PSYNC. Shard ids (Redis 7.2+, Valkey 8+) need
// no such question.
//
// A shard without a running link (at start, before any link runs; after a
// failover while redferry was stopped, to a replica no topology read had
// listed, the old master gone) follows no replid in a tracker: the replid
// it would continue is the one its spool records (followedReplIDs).

// lineageWait bounds how long a master without slots that continues the
// history of a shard whose master serves its slots in the same topology is
// left out of it: it is either a takeover the other nodes have not settled
// yet (its claim of the slots not accepted yet, the masters of a cluster
// just formed sharing a config epoch), or a replica detached and made a
// new, empty master, a new shard once the wait is over.
const lineageWait = 5 * time.Second

// lineageName returns the name of the shard whose stream the master of s
// continues, asking only when s's master is new to the record or not the
// one the link of the shard its node ids name follows; "" when the record
// alone names s. wait: leave s out of this topology (lineageWait).
func (sv *Supervisor) lineageName(ctx context.Context, s Shard, taken map[string]bool) (name string, wait bool) {
	if sv.names.byShardID(s) {
		return "", false
	}
	k, dup := sv.names.known(s, taken)
	if k != "" && !dup {
		sv.mu.Lock()
		l := sv.links[k]
		sv.mu.Unlock()
		if l == nil || l.finished() || l.addr == s.MasterAddr {
			return "", false
		}
	}
	c := sv.continuedShard(ctx, s)
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if c == "" || !taken[c] || len(s.Slots) > 0 {
		delete(sv.lineageWaits, s.MasterID)
	}
	switch {
	case c == "":
		return "", false
	case taken[c] && len(s.Slots) > 0:
		return "", false // a former replica given slots of its own: not the shard whose master serves its slots
	case taken[c]:
		if sv.lineageWaits == nil {
			sv.lineageWaits = map[string]time.Time{}
		}
		first, ok := sv.lineageWaits[s.MasterID]
		if !ok {
			first = time.Now()
			sv.lineageWaits[s.MasterID] = first
			sv.log.Info("a master without slots continues the replication stream of a shard whose master serves its slots: left out until the cluster settles",
				zap.String("shard", c), zap.String("master", s.MasterAddr), zap.Duration("at_most", lineageWait))
		}
		return "", time.Since(first) < lineageWait
	}
	if c != k {
		sv.log.Info("the master continues the replication stream of a shard (failover): it is that shard",
			zap.String("shard", c), zap.String("master", s.MasterAddr), zap.String("node", s.MasterID), zap.String("node_ids_said", k))
	}
	return c, false // c == k too: adopt takes its nodes off any other name
}

// noReplID is what INFO says for a master_replid2 never set.
const noReplID = "0000000000000000000000000000000000000000"

// continuedShard returns the name of the shard whose replication stream
// the master of s continues (followedReplIDs); "" when none. Called under
// namesMu.
func (sv *Supervisor) continuedShard(ctx context.Context, s Shard) string {
	if s.MasterAddr == "" {
		return ""
	}
	followed := sv.followedReplIDs()
	if len(followed) == 0 {
		return ""
	}
	info, err := sv.nodeInfo(ctx, s.MasterAddr)
	if err != nil {
		sv.log.Debug("cannot ask a master which replication history it continues", zap.String("master", s.MasterAddr), zap.Error(err))
		return ""
	}
	for _, id := range []string{info.MasterReplID, info.Fields["master_replid2"]} {
		if name := followed[id]; name != "" && id != noReplID {
			return name
		}
	}
	return ""
}

// followedReplIDs maps the replid each shard's link follows, or would
// continue, to the shard's name. A link that runs says it in its tracker.
// A shard of the record without one (or whose syncer has not planned yet)
// would continue the replid its spool records: the replid its link will
// PSYNC with (syncer decide prefers it to the checkpoint's, which lags
// behind a failover whose stream is spooled but not applied yet), read
// from a local file without a round trip to the target, which may not
// answer yet at start. A replid two such spools hold names neither:
// node ids decide then. Called under namesMu (sv.names).
func (sv *Supervisor) followedReplIDs() map[string]string {
	out := map[string]string{}
	tracked := map[string]bool{}
	sv.mu.Lock()
	for name, l := range sv.links {
		if id := l.tracker.Report().ReplID; id != "" {
			out[id] = name
			tracked[name] = true
		}
	}
	sv.mu.Unlock()
	spooled := map[string]string{} // replid → shard name; "": two shards'
	for name := range sv.names.Known {
		if tracked[name] {
			continue
		}
		id, err := spool.PeekStreamReplID(syncer.SpoolDir(shardDir(sv.opt.Sync.StateDir, name)))
		if err != nil {
			sv.log.Warn("cannot read the replication id a shard's spool records: a failover of that shard while it has no link may be named a new shard",
				zap.String("shard", name), zap.Error(err))
			continue
		}
		if id == "" || id == noReplID {
			continue
		}
		if _, seen := spooled[id]; seen {
			spooled[id] = ""
			continue
		}
		spooled[id] = name
	}
	for id, name := range spooled {
		if name == "" {
			sv.log.Debug("two shards' spools record the same replication id: it names neither", zap.String("replid", id))
		} else if out[id] == "" {
			out[id] = name
		}
	}
	return out
}

package clustersource

import (
	"context"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
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
// So when a master with slots is new to the record, or is not the master
// the link of the shard its node ids name follows, the supervisor asks it
// which replication history it continues: a promoted replica's INFO
// replication says master_replid2 = the replid it followed, its old
// master's master_replid, which is the replid the shard's link follows
// (master_replid: a link that already follows it). That holds whatever
// gossip has spread and whatever addresses the nodes announce, unlike the
// slaveN lines of a master's INFO (the address a replica connected from or
// announced, not a cluster node id), and it is exactly the condition for
// the link to continue with PSYNC. Shard ids (Redis 7.2+, Valkey 8+) need
// no such question.

// lineageName returns the name of the shard whose stream the master of s
// continues, asking only when s's master is new to the record or not the
// one the link of the shard its node ids name follows; "" when the record
// alone names s.
func (sv *Supervisor) lineageName(ctx context.Context, s Shard, taken map[string]bool) string {
	if sv.names.byShardID(s) {
		return ""
	}
	k, dup := sv.names.known(s, taken)
	if k != "" && !dup {
		sv.mu.Lock()
		l := sv.links[k]
		sv.mu.Unlock()
		if l == nil || l.finished() || l.addr == s.MasterAddr {
			return ""
		}
	}
	c := sv.continuedShard(ctx, s, taken)
	if c != "" && c != k {
		sv.log.Info("the master continues the replication stream of a shard (failover): it is that shard",
			zap.String("shard", c), zap.String("master", s.MasterAddr), zap.String("node", s.MasterID), zap.String("node_ids_said", k))
	}
	return c // c == k too: adopt takes its nodes off any other name
}

// noReplID is what INFO says for a master_replid2 never set.
const noReplID = "0000000000000000000000000000000000000000"

// continuedShard returns the name of the shard whose replication stream the
// master of s continues, among the shards of running links not named in
// this topology yet (taken); "" when none. Only a master with slots is
// asked: a failover hands the old master's slots to the promoted replica,
// while a former replica turned into a new master (it keeps the replid it
// followed as master_replid2 too) starts without slots and is a new shard.
func (sv *Supervisor) continuedShard(ctx context.Context, s Shard, taken map[string]bool) string {
	if s.MasterAddr == "" || len(s.Slots) == 0 {
		return ""
	}
	followed := sv.followedReplIDs(taken)
	if len(followed) == 0 {
		return ""
	}
	o := sv.opt.Sync.Source
	o.Addr, o.PoolSize = s.MasterAddr, 1
	c := server.NewClient(o)
	info, err := server.Fetch(ctx, c)
	_ = c.Close()
	if err != nil {
		sv.log.Debug("cannot ask a new master which replication history it continues", zap.String("master", s.MasterAddr), zap.Error(err))
		return ""
	}
	for _, id := range []string{info.MasterReplID, info.Fields["master_replid2"]} {
		if name := followed[id]; name != "" && id != noReplID {
			return name
		}
	}
	return ""
}

// followedReplIDs maps the replid each running link follows to its shard
// name, leaving out the names in taken.
func (sv *Supervisor) followedReplIDs(taken map[string]bool) map[string]string {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	out := map[string]string{}
	for name, l := range sv.links {
		if taken[name] {
			continue
		}
		if id := l.tracker.Report().ReplID; id != "" {
			out[id] = name
		}
	}
	return out
}

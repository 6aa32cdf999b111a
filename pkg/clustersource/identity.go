package clustersource

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/redferry/redferry/pkg/fsutil"
)

// A shard's name (its spool directory, its checkpoint key) must survive a
// failover, after which another node is its master. It is the cluster's
// shard id where the servers have one (Redis 7.2+, Valkey 8+), else the
// node id of the master redferry first saw; the state dir remembers every
// node id seen in each shard, so a promoted replica is known as the same
// shard, after a restart too. A new master that no topology read showed in
// its shard before is recognised by the replication history it continues
// (lineage.go), and its node id recorded.

// names maps shard names to the node ids seen in them; it is kept in
// <state-dir>/shards.json.
type names struct {
	path  string
	Known map[string][]string `json:"shards"`
}

func loadNames(stateDir string) (*names, error) {
	n := &names{path: filepath.Join(stateDir, "shards.json"), Known: map[string][]string{}}
	b, err := os.ReadFile(n.path)
	if errors.Is(err, os.ErrNotExist) {
		return n, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the shard names: %w", err)
	}
	if err := json.Unmarshal(b, n); err != nil {
		return nil, fmt.Errorf("the shard names in %s are damaged (remove the file: shards are then named anew, which costs a full sync of each after a failover): %w", n.path, err)
	}
	if n.Known == nil {
		n.Known = map[string][]string{}
	}
	return n, nil
}

// name returns the shard's name, recording its node ids under it; changed
// says whether the record grew (save it). taken are names already given
// to other shards of the same topology; dup says that s shares a node with
// one of them: a view taken during a failover that shows one shard as two
// (s is then left out of this topology, never named anew).
func (n *names) name(s Shard, taken map[string]bool) (name string, changed, dup bool) {
	if name, dup = n.known(s, taken); dup {
		return "", false, true
	}
	if name == "" {
		name = s.ShardID
		if name == "" {
			name = s.MasterID
		}
		if name == "" && len(s.NodeIDs) > 0 { // no master up: a node of it
			name = s.NodeIDs[0]
		}
	}
	ids := n.Known[name]
	for _, id := range s.NodeIDs {
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
			changed = true
		}
	}
	if changed || n.Known[name] == nil {
		sort.Strings(ids)
		n.Known[name] = ids
		changed = true
	}
	return name, changed, false
}

// known returns the name that s's shard id or node ids give it, without
// recording anything: "" for a shard never seen; dup as for name.
func (n *names) known(s Shard, taken map[string]bool) (name string, dup bool) {
	if n.byShardID(s) {
		return s.ShardID, taken[s.ShardID]
	}
	for _, id := range append([]string{s.MasterID}, s.NodeIDs...) {
		for _, k := range n.byNode(id) {
			if taken[k] {
				dup = true
			} else if name == "" {
				name = k
			}
		}
	}
	if name != "" {
		dup = false
	}
	return name, dup
}

// byShardID says whether s is named by its shard id, which the servers
// keep through failovers (Redis 7.2+, Valkey 8+).
func (n *names) byShardID(s Shard) bool { return s.ShardID != "" && n.Known[s.ShardID] != nil }

// adopt records the node ids of s under name, for a shard found to be that
// one by the replication history its master continues (lineage.go), and
// takes them off any other name: a replica moved to another master (by an
// operator, or by the cluster's replica migration) and promoted there is
// no longer of its first shard. name then names s so.
func (n *names) adopt(name string, s Shard) {
	ids := append([]string{s.MasterID}, s.NodeIDs...)
	for k, known := range n.Known {
		if k != name {
			n.Known[k] = slices.DeleteFunc(known, func(id string) bool { return slices.Contains(ids, id) })
		}
	}
	mine := n.Known[name]
	for _, id := range ids {
		if id != "" && !slices.Contains(mine, id) {
			mine = append(mine, id)
		}
	}
	sort.Strings(mine)
	n.Known[name] = mine
}

// byNode lists the names whose shards held node id, sorted.
func (n *names) byNode(id string) []string {
	if id == "" {
		return nil
	}
	var out []string
	for k, ids := range n.Known {
		if slices.Contains(ids, id) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (n *names) save() error {
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(n.path), 0o755); err != nil {
		return fmt.Errorf("creating the state dir: %w", err)
	}
	if err := fsutil.WriteAtomic(filepath.Dir(n.path), filepath.Base(n.path), b); err != nil {
		return fmt.Errorf("saving the shard names: %w", err)
	}
	return nil
}

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
	if s.ShardID != "" && n.Known[s.ShardID] != nil {
		if taken[s.ShardID] {
			return "", false, true
		}
		name = s.ShardID
	} else {
		for _, id := range append([]string{s.MasterID}, s.NodeIDs...) {
			for _, k := range n.byNode(id) {
				if taken[k] {
					dup = true
				} else if name == "" {
					name = k
				}
			}
		}
		if name == "" && dup {
			return "", false, true
		}
		dup = false
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

// isNew says whether name would give s a name of its own: neither its
// shard id nor any of its node ids is known.
func (n *names) isNew(s Shard) bool {
	if s.ShardID != "" && n.Known[s.ShardID] != nil {
		return false
	}
	for _, id := range append([]string{s.MasterID}, s.NodeIDs...) {
		if len(n.byNode(id)) > 0 {
			return false
		}
	}
	return true
}

// adopt records the node ids of s under the known name, for a shard found
// to be that one by other means than its node ids (lineage.go); name then
// names it so.
func (n *names) adopt(name string, s Shard) {
	ids := n.Known[name]
	for _, id := range append([]string{s.MasterID}, s.NodeIDs...) {
		if id != "" && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	n.Known[name] = ids
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

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
// shard, after a restart too.

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
// to other shards of the same topology.
func (n *names) name(s Shard, taken map[string]bool) (name string, changed bool) {
	switch {
	case s.ShardID != "" && n.Known[s.ShardID] != nil:
		name = s.ShardID
	default:
		name = n.byNode(s.MasterID, taken)
		for _, id := range s.NodeIDs {
			if name != "" {
				break
			}
			name = n.byNode(id, taken)
		}
	}
	if name == "" {
		name = s.ShardID
		if name == "" {
			name = s.MasterID
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
	return name, changed
}

func (n *names) byNode(id string, taken map[string]bool) string {
	keys := make([]string, 0, len(n.Known))
	for k := range n.Known {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !taken[k] && slices.Contains(n.Known[k], id) {
			return k
		}
	}
	return ""
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

package clustersource

import "testing"

// TestShardNamesFollowFailovers: a shard keeps its name when its replica is
// promoted, after a restart too (the names are saved), and new masters get
// names of their own.
func TestShardNamesFollowFailovers(t *testing.T) {
	dir := t.TempDir()
	n, err := loadNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	first := []Shard{
		{MasterID: "m1", NodeIDs: []string{"m1", "r1"}},
		{MasterID: "m2", NodeIDs: []string{"m2", "r2"}},
		{ShardID: "s3", MasterID: "m3", NodeIDs: []string{"m3"}},
	}
	names := map[string]bool{}
	for _, s := range first {
		name, _, _ := n.name(s, names)
		names[name] = true
	}
	if !names["m1"] || !names["m2"] || !names["s3"] {
		t.Fatalf("names %v: want the master ids, or the shard id where there is one", names)
	}
	if err := n.save(); err != nil {
		t.Fatal(err)
	}
	n, err = loadNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		shard Shard
		want  string
	}{
		{Shard{MasterID: "r1", NodeIDs: []string{"r1", "m1"}}, "m1"},          // r1 promoted
		{Shard{MasterID: "r2", NodeIDs: []string{"r2"}}, "m2"},                // r2 promoted, m2 gone
		{Shard{ShardID: "s3", MasterID: "x3", NodeIDs: []string{"x3"}}, "s3"}, // by shard id
		{Shard{MasterID: "m4", NodeIDs: []string{"m4"}}, "m4"},                // a new master
	} {
		if got, _, _ := n.name(tc.shard, map[string]bool{}); got != tc.want {
			t.Errorf("shard with master %s named %s, want %s", tc.shard.MasterID, got, tc.want)
		}
	}
}

// TestShardSplitViewIsNotANewShard: during a failover a node may show the
// promoted replica as a shard of its own next to its old master; the second
// view is a duplicate, not a new shard.
func TestShardSplitViewIsNotANewShard(t *testing.T) {
	n, _ := loadNames(t.TempDir())
	taken := map[string]bool{}
	name, _, _ := n.name(Shard{MasterID: "m1", NodeIDs: []string{"m1", "r1"}}, taken)
	taken[name] = true
	if _, _, dup := n.name(Shard{MasterID: "r1", NodeIDs: []string{"r1"}}, taken); !dup {
		t.Fatal("the promoted replica seen apart from its old master got a name of its own")
	}
}

// TestShardNameAdoptedByLineage: a master found to continue a shard's
// replication history (lineage.go) is recorded under that shard's name and
// taken off the shard it was first seen in (a replica moved to another
// master), so that it keeps that name, after a restart too, and the other
// shard keeps its own.
func TestShardNameAdoptedByLineage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		shard     Shard // the new view of m1's shard
		knownWant string
	}{
		{"promoted before any read listed it", Shard{MasterID: "r1", NodeIDs: []string{"r1"}}, ""},
		{"moved from m2, promoted, alone in the view", Shard{MasterID: "x", NodeIDs: []string{"x"}}, "m2"},
		{"moved from m2, promoted, the old master with it", Shard{MasterID: "x", NodeIDs: []string{"m1", "x"}}, "m2"}, // the master id comes first
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			n, _ := loadNames(dir)
			n.name(Shard{MasterID: "m1", NodeIDs: []string{"m1"}}, map[string]bool{})
			n.name(Shard{MasterID: "m2", NodeIDs: []string{"m2", "x"}}, map[string]bool{})
			if k, dup := n.known(tc.shard, map[string]bool{}); k != tc.knownWant || dup {
				t.Errorf("the node ids name it %q (dup %v), want %q", k, dup, tc.knownWant)
			}
			n.adopt("m1", tc.shard)
			if err := n.save(); err != nil {
				t.Fatal(err)
			}
			for _, rec := range []*names{n, mustLoadNames(t, dir)} {
				taken := map[string]bool{}
				got, _, dup := rec.name(tc.shard, taken)
				taken[got] = true
				if got != "m1" || dup {
					t.Errorf("named %q (dup %v), want m1", got, dup)
				}
				if got, _, dup := rec.name(Shard{MasterID: "m2", NodeIDs: []string{"m2"}}, taken); got != "m2" || dup {
					t.Errorf("m2's shard named %q (dup %v), want m2", got, dup)
				}
			}
		})
	}
}

func mustLoadNames(t *testing.T, dir string) *names {
	t.Helper()
	n, err := loadNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

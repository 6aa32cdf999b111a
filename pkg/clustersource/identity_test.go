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

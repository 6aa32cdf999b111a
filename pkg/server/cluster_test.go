package server

import (
	"context"
	"strings"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
)

// Slots as CLUSTER KEYSLOT gives them, for string and []byte keys alike.
func TestKeySlot(t *testing.T) {
	tests := []struct {
		key  string
		slot int
	}{
		{"123456789", 0x31C3 % SlotCount}, // the CRC16 check value of the cluster spec
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", 8363}, // an empty tag: the whole key
		{"foo{{bar}}zap", 4015},
		{"foo{bar}{zap}", 5061},
		{"{}", 15257},
		{"a{b}c{d}", KeySlot("b")},
		{"", 0},
	}
	for _, tc := range tests {
		if got := KeySlot(tc.key); got != tc.slot {
			t.Errorf("KeySlot(%q) = %d, want %d", tc.key, got, tc.slot)
		}
		if got := KeySlot([]byte(tc.key)); got != tc.slot {
			t.Errorf("KeySlot([]byte(%q)) = %d, want %d", tc.key, got, tc.slot)
		}
	}
}

func TestTagForSlot(t *testing.T) {
	for _, slot := range []int{0, 1, 5460, 5461, 10922, 16383} {
		tag := TagForSlot(slot)
		if got := KeySlot("redferry:checkpoint:x{" + tag + "}"); got != slot {
			t.Errorf("TagForSlot(%d) = %q, whose slot is %d", slot, tag, got)
		}
	}
	for slot, tag := range SlotTags() {
		if got := KeySlot("k{" + tag + "}"); got != slot {
			t.Fatalf("SlotTags()[%d] = %q, whose slot is %d", slot, tag, got)
		}
	}
}

// TestClusterMasters asks a real cluster from each of its nodes: the same
// three masters, all slots covered once, each key's slot owned by the node
// that accepts it. Redis 6.0 has no CLUSTER SHARDS: CLUSTER SLOTS is read.
func TestClusterMasters(t *testing.T) {
	for _, version := range []string{redistest.Redis60, redistest.Redis70, redistest.Valkey91} {
		t.Run(version, func(t *testing.T) { testClusterMasters(t, version) })
	}
}

func testClusterMasters(t *testing.T, version string) {
	cl := redistest.StartCluster(t, version, 3, redistest.Options{})
	ctx := context.Background()
	for _, m := range cl.Masters {
		c := m.Client()
		nodes, err := ClusterMasters(ctx, c)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) != 3 {
			t.Fatalf("%d masters, want 3: %+v", len(nodes), nodes)
		}
		owners := SlotOwners(nodes)
		for s, o := range owners {
			if o < 0 {
				t.Fatalf("slot %d has no owner: %+v", s, nodes)
			}
		}
		for i, n := range nodes {
			if n.ID == "" || n.Addr != cl.Masters[i].Addr {
				t.Fatalf("master %d: %+v, want the address %s", i, n, cl.Masters[i].Addr)
			}
		}
		for _, key := range []string{"a", "b", "{user}:1", "k:77"} {
			nc := NewClient(ClientOptions{Addr: nodes[owners[KeySlot(key)]].Addr})
			err := nc.Set(ctx, key, "v", 0).Err()
			nc.Close()
			if err != nil {
				t.Fatalf("SET %q on the owner of slot %d: %v", key, KeySlot(key), err)
			}
		}
	}
	// An ACL user granted CLUSTER NODES only reads the masters all the same;
	// one granted neither is told what to grant.
	admin := cl.Masters[0].Client()
	defer admin.Close()
	for _, tc := range []struct {
		user, grant string
		ok          bool
	}{{"nodes-only", "+cluster|nodes", true}, {"no-cluster", "+ping", false}} {
		if err := admin.Do(ctx, "ACL", "SETUSER", tc.user, "on", ">pw", tc.grant).Err(); err != nil {
			t.Fatal(err)
		}
		c := NewClient(ClientOptions{Addr: cl.Masters[0].Addr, Username: tc.user, Password: "pw"})
		nodes, err := ClusterMasters(ctx, c)
		c.Close()
		if tc.ok && (err != nil || len(nodes) != 3) {
			t.Errorf("user %s (%s): %d masters, %v; want 3", tc.user, tc.grant, len(nodes), err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "grant the user")) {
			t.Errorf("user %s (%s): %v, want an error saying what to grant", tc.user, tc.grant, err)
		}
	}
}

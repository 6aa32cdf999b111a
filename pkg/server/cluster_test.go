package server

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

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

func TestParseSlots(t *testing.T) {
	n := ClusterNode{Slots: []SlotRange{{0, 5460}, {5462, 5462}, {10000, 10010}}}
	got, err := ParseSlots(n.SlotsString())
	if err != nil || len(got) != 3 || got[1] != (SlotRange{5462, 5462}) || got[2] != (SlotRange{10000, 10010}) {
		t.Fatalf("ParseSlots(%q) = %v, %v", n.SlotsString(), got, err)
	}
	for _, bad := range []string{"x", "5-1", "0-16384", "-1"} {
		if _, err := ParseSlots(bad); err == nil {
			t.Errorf("ParseSlots(%q) accepted", bad)
		}
	}
}

// TestMastersOfSlots reads a CLUSTER SLOTS reply (servers before 7.0): one
// entry per range, the master first; an unknown host is the node asked.
func TestMastersOfSlots(t *testing.T) {
	slots := []redis.ClusterSlot{
		{Start: 0, End: 100, Nodes: []redis.ClusterNode{{ID: "a", Addr: "10.0.0.1:7000"}, {ID: "r", Addr: "10.0.0.9:7000"}}},
		{Start: 101, End: 200, Nodes: []redis.ClusterNode{{ID: "b", Addr: ":7001"}}},
		{Start: 201, End: 16383, Nodes: []redis.ClusterNode{{ID: "a", Addr: "10.0.0.1:7000"}}},
	}
	got := mastersOfSlots(slots, "seed:7001")
	if len(got) != 2 || got[0].ID != "a" || got[0].SlotsString() != "0-100,201-16383" || got[1].Addr != "seed:7001" {
		t.Fatalf("mastersOfSlots = %+v", got)
	}
}

// TestClusterMasters asks a real cluster from each of its nodes: the same
// three masters, all slots covered once, each key's slot owned by the node
// that accepts it.
func TestClusterMasters(t *testing.T) {
	cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
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
}

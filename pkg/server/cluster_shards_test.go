package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
)

// describe writes shards as "master@addr [failed] slots: node@addr ...",
// the master "-" when the shard has none.
func describe(shards []ClusterShard) []string {
	var out []string
	for _, s := range shards {
		m := "-"
		if s.HasMaster() {
			m = s.Master.ID + "@" + s.Master.Addr
		}
		if s.MasterFailed {
			m += " failed"
		}
		var nodes []string
		for _, n := range s.Nodes {
			nodes = append(nodes, n.ID+"@"+n.Addr)
		}
		out = append(out, fmt.Sprintf("%s %s: %s", m, FormatSlots(s.Master.Slots), strings.Join(nodes, " ")))
	}
	return out
}

// node is a CLUSTER SHARDS node as Redis 7.0 and Valkey announce one on
// loopback: endpoint and ip 127.0.0.1, no TLS port.
func node(id string, port int64, role, health string) redis.Node {
	return redis.Node{ID: id, Endpoint: "127.0.0.1", IP: "127.0.0.1", Port: port, Role: role, Health: health}
}

// TestShardsOfShards reads CLUSTER SHARDS replies captured from real
// servers (node ids shortened) and built ones for what loopback tests do
// not show (TLS ports, unknown hosts).
func TestShardsOfShards(t *testing.T) {
	tests := []struct {
		name  string
		reply []redis.ClusterShard
		asked string
		tls   bool
		want  []string
	}{{
		name: "redis-7.0, healthy, a replica still loading; in the order of the reply, sorted later",
		reply: []redis.ClusterShard{
			{Slots: []redis.SlotRange{{Start: 8192, End: 16383}}, Nodes: []redis.Node{
				node("4b5811e3", 45725, "master", "online"), node("7ce80356", 37853, "replica", "loading")}},
			{Slots: []redis.SlotRange{{Start: 0, End: 8191}}, Nodes: []redis.Node{
				node("8c88be0b", 45573, "master", "online"), node("d8f6bd25", 34401, "replica", "loading")}},
		},
		asked: "127.0.0.1:37853",
		want: []string{
			"8c88be0b@127.0.0.1:45573 0-8191: 8c88be0b@127.0.0.1:45573 d8f6bd25@127.0.0.1:34401",
			"4b5811e3@127.0.0.1:45725 8192-16383: 4b5811e3@127.0.0.1:45725 7ce80356@127.0.0.1:37853",
		},
	}, {
		name: "redis-7.0, a master failed, its replica not promoted yet: the failed master stays, marked",
		reply: []redis.ClusterShard{
			{Slots: []redis.SlotRange{{Start: 0, End: 5460}}, Nodes: []redis.Node{
				node("4ebb4ca1", 36679, "master", "fail"), node("e998184c", 40553, "replica", "online")}},
			{Slots: []redis.SlotRange{{Start: 5461, End: 10921}}, Nodes: []redis.Node{
				node("abee68c8", 39293, "master", "online"), node("71247e8a", 36293, "replica", "online")}},
		},
		asked: "127.0.0.1:36293",
		want: []string{
			"4ebb4ca1@127.0.0.1:36679 failed 0-5460: 4ebb4ca1@127.0.0.1:36679 e998184c@127.0.0.1:40553",
			"abee68c8@127.0.0.1:39293 5461-10921: abee68c8@127.0.0.1:39293 71247e8a@127.0.0.1:36293",
		},
	}, {
		name: "valkey-9.1, a replica promoted while the failed master is still listed as master first",
		reply: []redis.ClusterShard{
			{Slots: []redis.SlotRange{{Start: 0, End: 5460}}, Nodes: []redis.Node{
				node("39e57494", 44117, "master", "fail"), node("8e886bed", 35091, "master", "online")}},
		},
		asked: "127.0.0.1:36219",
		want:  []string{"8e886bed@127.0.0.1:35091 0-5460: 39e57494@127.0.0.1:44117 8e886bed@127.0.0.1:35091"},
	}, {
		name: "TLS: the TLS port for a client using TLS",
		reply: []redis.ClusterShard{{Slots: []redis.SlotRange{{Start: 0, End: 16383}}, Nodes: []redis.Node{
			{ID: "a", Endpoint: "db1.example", IP: "10.0.0.1", Port: 6379, TLSPort: 6380, Role: "master", Health: "online"},
			{ID: "b", Endpoint: "db2.example", IP: "10.0.0.2", TLSPort: 6380, Role: "replica", Health: "online"}}}},
		asked: "db1.example:6380",
		tls:   true,
		want:  []string{"a@db1.example:6380 0-16383: a@db1.example:6380 b@db2.example:6380"},
	}, {
		name: "without TLS: the plain port though a TLS port is announced",
		reply: []redis.ClusterShard{{Slots: []redis.SlotRange{{Start: 0, End: 16383}}, Nodes: []redis.Node{
			{ID: "a", Endpoint: "db1.example", IP: "10.0.0.1", Port: 6379, TLSPort: 6380, Role: "master", Health: "online"}}}},
		asked: "db1.example:6379",
		want:  []string{"a@db1.example:6379 0-16383: a@db1.example:6379"},
	}, {
		name: `endpoint "?" (no hostname set): the ip; no ip either (a node not yet met): the host asked`,
		reply: []redis.ClusterShard{
			{Slots: []redis.SlotRange{{Start: 0, End: 99}}, Nodes: []redis.Node{
				{ID: "a", Endpoint: "?", IP: "10.0.0.1", Port: 7000, Role: "master", Health: "online"}}},
			{Slots: []redis.SlotRange{{Start: 100, End: 16383}}, Nodes: []redis.Node{
				{ID: "b", Port: 7001, Role: "master", Health: "online"}}},
		},
		asked: "seed.example:7001",
		want:  []string{"a@10.0.0.1:7000 0-99: a@10.0.0.1:7000", "b@seed.example:7001 100-16383: b@seed.example:7001"},
	}, {
		name: "slots out of order, touching or out of bounds; a master without slots last; a shard without master; an empty shard",
		reply: []redis.ClusterShard{
			{Nodes: []redis.Node{node("z", 7009, "master", "online")}},
			{Slots: []redis.SlotRange{{Start: 200, End: 300}, {Start: 0, End: 99}, {Start: 100, End: 150}, {Start: 16000, End: 16384}},
				Nodes: []redis.Node{node("a", 7000, "master", "online")}},
			{Nodes: []redis.Node{node("r", 7005, "replica", "online")}},
			{Slots: []redis.SlotRange{{Start: 301, End: 16383}}},
		},
		asked: "127.0.0.1:7000",
		want:  []string{"a@127.0.0.1:7000 0-150,200-300: a@127.0.0.1:7000", "- : r@127.0.0.1:7005", "z@127.0.0.1:7009 : z@127.0.0.1:7009"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := shardsOfShards(tc.reply, tc.asked, tc.tls)
			sortShards(got)
			if d := describe(got); !slices.Equal(d, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(d, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestShardsOfNodes reads CLUSTER NODES replies (Redis 6.x has no CLUSTER
// SHARDS) as 6.0 and 7.0 write them: replicas with their master, a slotless
// master kept, slots importing or migrating not owned, a failed master with
// slots kept as failed, a failed-over dead master and nodes in handshake
// left out, an unknown host taken to be the host asked.
func TestShardsOfNodes(t *testing.T) {
	tests := []struct {
		name, text, asked string
		want              []string
	}{{
		name: "6.0 with a replica, a migrating slot and a slotless master",
		text: "aaa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-100 102 [101->-bbb]\n" +
			"bbb 127.0.0.1:7002@17002 master - 0 1 2 connected 103-16383 [101-<-aaa]\n" +
			"ccc 127.0.0.1:7003@17003 slave aaa 0 1 1 connected\n" +
			"ddd 127.0.0.1:7004@17004 master - 0 1 0 connected\n",
		asked: "127.0.0.1:7001",
		want: []string{
			"aaa@127.0.0.1:7001 0-100,102: aaa@127.0.0.1:7001 ccc@127.0.0.1:7003",
			"bbb@127.0.0.1:7002 103-16383: bbb@127.0.0.1:7002",
			"ddd@127.0.0.1:7004 : ddd@127.0.0.1:7004",
		},
	}, {
		name: "a failed master before its replica's promotion, a dead slotless master, a node in handshake",
		text: "aaa 127.0.0.1:7001@17001 master,fail - 0 0 1 disconnected 0-8191\n" +
			"ccc 127.0.0.1:7003@17003 myself,slave aaa 0 1 1 connected\n" +
			"bbb 127.0.0.1:7002@17002 master - 0 1 2 connected 8192-16383\n" +
			"eee 127.0.0.1:7005@17005 master,fail - 0 0 0 disconnected\n" +
			"fff 127.0.0.1:7006@17006 handshake - 0 0 0 connected\n",
		asked: "127.0.0.1:7003",
		want: []string{
			"aaa@127.0.0.1:7001 failed 0-8191: aaa@127.0.0.1:7001 ccc@127.0.0.1:7003",
			"bbb@127.0.0.1:7002 8192-16383: bbb@127.0.0.1:7002",
		},
	}, {
		name: "7.0 hostnames, a node without an address, an unknown host",
		text: "aaa 10.0.0.1:7001@17001,node-a myself,master - 0 0 1 connected 0-8000\n" +
			"ggg :0@0 slave,noaddr aaa 0 0 1 disconnected\n" +
			"hhh :7002@17002 master - 0 0 2 connected 8001-16383\n",
		asked: "seed:7001",
		want: []string{
			"aaa@10.0.0.1:7001 0-8000: aaa@10.0.0.1:7001",
			"hhh@seed:7002 8001-16383: hhh@seed:7002",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := shardsOfNodes(tc.text, tc.asked)
			sortShards(got)
			if d := describe(got); !slices.Equal(d, tc.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(d, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestSlotRangesText: FormatSlots and ParseSlots are one text form, read
// back as written; what is not a slot range is refused.
func TestSlotRangesText(t *testing.T) {
	tests := []struct {
		text   string
		ranges []SlotRange
	}{
		{"", nil},
		{"0", []SlotRange{{0, 0}}},
		{"0-5460", []SlotRange{{0, 5460}}},
		{"0-100,201-16383", []SlotRange{{0, 100}, {201, 16383}}},
		{"7,9-10,16383", []SlotRange{{7, 7}, {9, 10}, {16383, 16383}}},
	}
	for _, tc := range tests {
		if got := FormatSlots(tc.ranges); got != tc.text {
			t.Errorf("FormatSlots(%v) = %q, want %q", tc.ranges, got, tc.text)
		}
		got, err := ParseSlots(tc.text)
		if err != nil || !slices.Equal(got, tc.ranges) {
			t.Errorf("ParseSlots(%q) = %v, %v; want %v", tc.text, got, err, tc.ranges)
		}
	}
	for _, bad := range []string{"x", "5-1", "0-16384", "-1", "1,,2", "1-", "16384"} {
		if got, err := ParseSlots(bad); err == nil {
			t.Errorf("ParseSlots(%q) = %v, want an error", bad, got)
		}
	}
}

// TestClusterShardsReplicas asks a real cluster with replicas through a
// replica: every shard has its master (the node holding the slots) and
// its replica, the shards ordered by slot.
func TestClusterShardsReplicas(t *testing.T) {
	cl := redistest.StartClusterWithReplicas(t, redistest.Valkey91, 3, 1, redistest.Options{})
	c := cl.Replicas[2][0].Client()
	defer c.Close()
	shards, err := ClusterShards(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, m := range cl.Masters {
		r := cl.Replicas[i][0]
		from, to := i*SlotCount/3, (i+1)*SlotCount/3-1
		want = append(want, fmt.Sprintf("%s@%s %d-%d: ", redistest.NodeID(t, m), m.Addr, from, to))
		nodes := []string{redistest.NodeID(t, m) + "@" + m.Addr, redistest.NodeID(t, r) + "@" + r.Addr}
		slices.Sort(nodes)
		want[i] += strings.Join(nodes, " ")
	}
	got := describe(shards)
	for i := range got {
		// The order of a shard's nodes is the server's.
		head, nodes, _ := strings.Cut(got[i], ": ")
		ns := strings.Fields(nodes)
		slices.Sort(ns)
		got[i] = head + ": " + strings.Join(ns, " ")
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

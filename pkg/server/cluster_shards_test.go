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

// TestShardsOfSlots reads CLUSTER SLOTS replies (Redis 6.x has no CLUSTER
// SHARDS): an entry per range, the master first.
func TestShardsOfSlots(t *testing.T) {
	cn := func(id, addr string) redis.ClusterNode { return redis.ClusterNode{ID: id, Addr: addr} }
	tests := []struct {
		name  string
		reply []redis.ClusterSlot
		asked string
		want  []string
	}{{
		name: "valkey-9.1 after a failover: the promoted replica serves 0-5460 alone",
		reply: []redis.ClusterSlot{
			{Start: 0, End: 5460, Nodes: []redis.ClusterNode{cn("8e886bed", "127.0.0.1:35091")}},
			{Start: 5461, End: 10921, Nodes: []redis.ClusterNode{cn("760adb40", "127.0.0.1:43497"), cn("a638ea01", "127.0.0.1:36219")}},
			{Start: 10922, End: 16383, Nodes: []redis.ClusterNode{cn("74778388", "127.0.0.1:35135"), cn("af43633d", "127.0.0.1:42779")}},
		},
		asked: "127.0.0.1:36219",
		want: []string{
			"8e886bed@127.0.0.1:35091 0-5460: 8e886bed@127.0.0.1:35091",
			"760adb40@127.0.0.1:43497 5461-10921: 760adb40@127.0.0.1:43497 a638ea01@127.0.0.1:36219",
			"74778388@127.0.0.1:35135 10922-16383: 74778388@127.0.0.1:35135 af43633d@127.0.0.1:42779",
		},
	}, {
		name: "redis-6.0 order (by node, not by slot): a master's ranges and replicas gathered, an unknown host is the host asked",
		reply: []redis.ClusterSlot{
			{Start: 101, End: 200, Nodes: []redis.ClusterNode{cn("b", ":7001")}},
			{Start: 0, End: 100, Nodes: []redis.ClusterNode{cn("a", "10.0.0.1:7000"), cn("r", "10.0.0.9:7000")}},
			{Start: 201, End: 16383, Nodes: []redis.ClusterNode{cn("a", "10.0.0.1:7000"), cn("r", "10.0.0.9:7000"), cn("s", "10.0.0.8:7000")}},
			{Start: 5, End: 6},
		},
		asked: "seed:7001",
		want: []string{
			"a@10.0.0.1:7000 0-100,201-16383: a@10.0.0.1:7000 r@10.0.0.9:7000 s@10.0.0.8:7000",
			"b@seed:7001 101-200: b@seed:7001",
		},
	}, {
		name:  "an IPv6 node asked, a node of unknown host",
		reply: []redis.ClusterSlot{{Start: 0, End: 16383, Nodes: []redis.ClusterNode{cn("a", "?:7002")}}},
		asked: "[::1]:7000",
		want:  []string{"a@[::1]:7002 0-16383: a@[::1]:7002"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := shardsOfSlots(tc.reply, tc.asked)
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

package clustersource

import (
	"reflect"
	"testing"
)

// TestParseClusterNodes reads CLUSTER NODES replies as Redis 6.0 and 7.0
// write them into shards: replicas with their master, a slotless master
// kept, a failed master with slots kept without a master address, a
// failed-over dead master and nodes in handshake left out.
func TestParseClusterNodes(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Shard
	}{
		{"6.0 with a replica, a migrating slot and a slotless master",
			"aaa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-100 102 [101->-bbb]\n" +
				"bbb 127.0.0.1:7002@17002 master - 0 1 2 connected 103-16383 [101-<-aaa]\n" +
				"ccc 127.0.0.1:7003@17003 slave aaa 0 1 1 connected\n" +
				"ddd 127.0.0.1:7004@17004 master - 0 1 0 connected\n",
			[]Shard{
				{MasterID: "aaa", MasterAddr: "127.0.0.1:7001", NodeIDs: []string{"aaa", "ccc"}, Addrs: []string{"127.0.0.1:7001", "127.0.0.1:7003"}, Slots: [][2]int{{0, 100}, {102, 102}}},
				{MasterID: "bbb", MasterAddr: "127.0.0.1:7002", NodeIDs: []string{"bbb"}, Addrs: []string{"127.0.0.1:7002"}, Slots: [][2]int{{103, 16383}}},
				{MasterID: "ddd", MasterAddr: "127.0.0.1:7004", NodeIDs: []string{"ddd"}, Addrs: []string{"127.0.0.1:7004"}},
			}},
		{"a failed master before and after its replica's promotion, a node in handshake",
			"aaa 127.0.0.1:7001@17001 master,fail - 0 0 1 disconnected 0-8191\n" +
				"ccc 127.0.0.1:7003@17003 myself,slave aaa 0 1 1 connected\n" +
				"bbb 127.0.0.1:7002@17002 master - 0 1 2 connected 8192-16383\n" +
				"eee 127.0.0.1:7005@17005 master,fail - 0 0 0 disconnected\n" +
				"fff 127.0.0.1:7006@17006 handshake - 0 0 0 connected\n",
			[]Shard{
				{NodeIDs: []string{"aaa", "ccc"}, Addrs: []string{"127.0.0.1:7001", "127.0.0.1:7003"}, Slots: [][2]int{{0, 8191}}},
				{MasterID: "bbb", MasterAddr: "127.0.0.1:7002", NodeIDs: []string{"bbb"}, Addrs: []string{"127.0.0.1:7002"}, Slots: [][2]int{{8192, 16383}}},
			}},
		{"7.0 hostnames and a node without an address",
			"aaa 10.0.0.1:7001@17001,node-a myself,master - 0 0 1 connected 0-16383\n" +
				"ggg :0@0 slave,noaddr aaa 0 0 1 disconnected\n",
			[]Shard{
				{MasterID: "aaa", MasterAddr: "10.0.0.1:7001", NodeIDs: []string{"aaa", "ggg"}, Addrs: []string{"10.0.0.1:7001"}, Slots: [][2]int{{0, 16383}}},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseClusterNodes(tt.text); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseClusterNodes =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

package server

import (
	"reflect"
	"testing"
)

func TestParseCapabilities(t *testing.T) {
	tests := []struct {
		info                        string
		family                      string
		pxat, v2, hfe, consumer, fn bool
		rdb                         int
	}{
		{"# Server\r\nredis_version:6.0.16\r\nredis_mode:standalone\r\n", "redis", false, false, false, false, false, 9},
		{"redis_version:6.2.14\r\n", "redis", true, false, false, true, false, 9},
		{"redis_version:7.0.15\r\n", "redis", true, true, false, true, true, 10},
		{"redis_version:7.4.1\r\n", "redis", true, true, true, true, true, 12},
		{"redis_version:8.0.2\r\n", "redis", true, true, true, true, true, 12},
		{"redis_version:8.6.0\r\n", "redis", true, true, true, true, true, 13},
		{"redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.1.1\r\n", "valkey", true, true, false, true, true, 11},
		{"redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:9.1.2\r\n", "valkey", true, true, true, true, true, 80},
	}
	for _, tc := range tests {
		c, err := Parse(tc.info)
		if err != nil {
			t.Fatalf("%q: %v", tc.info, err)
		}
		got := []any{c.Family, c.SetPXAT(), c.StreamV2(), c.HashFieldTTL(), c.CreateConsumer(), c.Functions(), c.RDBVersion()}
		want := []any{tc.family, tc.pxat, tc.v2, tc.hfe, tc.consumer, tc.fn, tc.rdb}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %v, want %v", tc.info, got, want)
		}
	}
	if _, err := Parse("foo:bar\r\n"); err == nil {
		t.Error("INFO without redis_version parsed")
	}
}

func TestParseReplicationAndKeyspace(t *testing.T) {
	text := "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\n# Replication\r\nrole:master\r\nconnected_slaves:2\r\n" +
		"slave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=0\r\nslave1:ip=10.0.0.2,port=6380,state=wait_bgsave,offset=0,lag=0\r\n" +
		"master_replid:r1\r\nmaster_repl_offset:4242\r\n# Cluster\r\ncluster_enabled:0\r\n# Keyspace\r\ndb0:keys=10,expires=1,avg_ttl=0\r\ndb3:keys=5,expires=0,avg_ttl=0\r\n"
	in, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if in.RunID != "abc123" || in.Role != "master" || in.MasterReplOffset != 4242 || in.MasterReplID != "r1" || in.ClusterEnabled {
		t.Errorf("parsed %+v", in)
	}
	if in.Keys() != 15 || in.Keyspace[3] != 5 {
		t.Errorf("keyspace %v, keys %d; want db0=10 db3=5", in.Keyspace, in.Keys())
	}
	want := map[Replica]bool{{"127.0.0.1", 7001}: true, {"10.0.0.2", 6380}: true}
	if len(in.Replicas) != 2 || !want[in.Replicas[0]] || !want[in.Replicas[1]] {
		t.Errorf("replicas %v", in.Replicas)
	}
	replica, err := Parse("redis_version:6.0.16\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6379\r\n")
	if err != nil || replica.MasterHost != "127.0.0.1" || replica.MasterPort != 6379 {
		t.Errorf("replica: %+v, %v", replica, err)
	}
}

func TestNamedMatchesWhatTheServerReports(t *testing.T) {
	for name, info := range map[string]string{
		"redis-6.0.16": "redis_version:6.0.16\r\n",
		"valkey-9.1.2": "redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:9.1.2\r\n",
	} {
		got, err := Named(name)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := Parse(info)
		if got.Family != want.Family || got.Version != want.Version || got.RedisCompat != want.RedisCompat {
			t.Errorf("Named(%q) = %+v, INFO says %+v", name, got, want)
		}
	}
	if _, err := Named("memcached-1.6"); err == nil {
		t.Error("Named accepted a server that is neither redis nor valkey")
	}
}

// Package server says what a Redis or Valkey server is and what it can do,
// from its INFO reply: one parser and one set of capability answers for every
// part of redferry (source link, transform, sink, verify, cutover, interlocks).
package server

import (
	"fmt"
	"strconv"
	"strings"
)

// Families.
const (
	Redis  = "redis"
	Valkey = "valkey"
)

// Info is what one INFO reply says about a server. Sections that the reply
// lacks leave their fields zero.
type Info struct {
	Family string // Redis or Valkey
	// Version is the family's own version: valkey_version for Valkey,
	// redis_version for Redis.
	Version Version
	// RedisCompat is redis_version: the Redis release whose commands the
	// server speaks (every Valkey reports 7.2.4).
	RedisCompat Version
	RunID       string

	// replication section
	Role             string // "master" or "slave"
	MasterHost       string // of a replica
	MasterPort       int
	MasterReplOffset int64
	MasterReplID     string
	Replicas         []Replica // of a primary

	ClusterEnabled bool
	// Keyspace: keys per db (INFO keyspace).
	Keyspace map[int]int64

	// Fields holds every name:value line, for what has no field here.
	Fields map[string]string
}

// Replica is one "slaveN:" line of INFO replication.
type Replica struct {
	Host string
	Port int
}

// Fields parses INFO text into its name:value lines; comments and blank
// lines are skipped.
func Fields(text string) map[string]string {
	m := make(map[string]string)
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// Parse reads the text of an INFO reply of any sections. The server section
// (redis_version) is required: without it nothing can be said.
func Parse(text string) (Info, error) {
	f := Fields(text)
	in := Info{Family: Redis, Fields: f, RunID: f["run_id"], Role: f["role"], MasterHost: f["master_host"],
		MasterReplID: f["master_replid"], ClusterEnabled: f["cluster_enabled"] == "1"}
	rv, ok := f["redis_version"]
	if !ok {
		return Info{}, fmt.Errorf("server: INFO has no redis_version (is the server section missing, or is this not Redis or Valkey?)")
	}
	var err error
	if in.RedisCompat, err = ParseVersion(rv); err != nil {
		return Info{}, err
	}
	in.Version = in.RedisCompat
	if vv, ok := f["valkey_version"]; ok || f["server_name"] == Valkey {
		in.Family = Valkey
		if ok {
			if in.Version, err = ParseVersion(vv); err != nil {
				return Info{}, err
			}
		}
	}
	if p, ok := f["master_port"]; ok {
		in.MasterPort, _ = strconv.Atoi(p)
	}
	if o, ok := f["master_repl_offset"]; ok {
		if in.MasterReplOffset, err = strconv.ParseInt(o, 10, 64); err != nil {
			return Info{}, fmt.Errorf("server: INFO master_repl_offset %q: %w", o, err)
		}
	}
	for k, v := range f {
		switch {
		case strings.HasPrefix(k, "slave") && strings.Contains(v, "ip="):
			in.Replicas = append(in.Replicas, parseReplica(v))
		case strings.HasPrefix(k, "db"):
			n, err := strconv.Atoi(k[2:])
			if err != nil {
				continue
			}
			if in.Keyspace == nil {
				in.Keyspace = make(map[int]int64)
			}
			in.Keyspace[n] = keyspaceKeys(v)
		}
	}
	return in, nil
}

// parseReplica reads "ip=127.0.0.1,port=6380,state=online,...".
func parseReplica(v string) Replica {
	var r Replica
	for _, part := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(part, "=")
		switch k {
		case "ip":
			r.Host = val
		case "port":
			r.Port, _ = strconv.Atoi(val)
		}
	}
	return r
}

// keyspaceKeys reads the keys of "keys=1,expires=0,avg_ttl=0".
func keyspaceKeys(v string) int64 {
	for _, part := range strings.Split(v, ",") {
		if n, ok := strings.CutPrefix(part, "keys="); ok {
			k, _ := strconv.ParseInt(n, 10, 64)
			return k
		}
	}
	return 0
}

// Keys is the number of keys in every db.
func (in Info) Keys() int64 {
	var n int64
	for _, k := range in.Keyspace {
		n += k
	}
	return n
}

func (in Info) String() string { return in.Family + " " + in.Version.String() }

// IsValkey reports whether the server is Valkey.
func (in Info) IsValkey() bool { return in.Family == Valkey }

// ReplOffset reads master_repl_offset from INFO replication text.
func ReplOffset(text string) (int64, error) {
	v, ok := Fields(text)["master_repl_offset"]
	if !ok {
		return 0, fmt.Errorf("server: INFO replication has no master_repl_offset")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("server: INFO master_repl_offset %q: %w", v, err)
	}
	return n, nil
}

package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelSet is a master, one replica and three sentinels watching them
// (quorum 2), all from the same binaries: a sentinel-managed deployment.
type SentinelSet struct {
	MasterName string
	Nodes      []*Server // the data nodes: Nodes[0] is the first master
	Sentinels  []*Server

	frozen map[*Server]bool // sentinels stopped by Freeze
}

// Timing of the sentinels: a master silent for a second is down, and a
// failover that stalls is given up (and may be retried) within seconds.
const (
	sentinelDownAfterMS     = 1000
	sentinelFailoverTimeout = 5000
)

// StartSentinelSet starts the data nodes with opts (opts.Password, if any,
// is theirs and the sentinels' auth-pass for them; the sentinels have no
// password) and waits until every sentinel knows the replica and the other
// two sentinels, so that a failover can be agreed.
func StartSentinelSet(tb testing.TB, name string, opts Options) *SentinelSet {
	tb.Helper()
	set := &SentinelSet{MasterName: "redferry-test", frozen: map[*Server]bool{}}
	o := opts
	o.Args = append(append([]string{}, opts.Args...), "repl-diskless-sync-delay", "0")
	if opts.Password != "" { // either node may be the replica
		o.Args = append(o.Args, "masterauth", opts.Password)
	}
	master := Start(tb, name, o)
	replica := Start(tb, name, o)
	replica.ReplicateFrom(tb, master)
	set.Nodes = []*Server{master, replica}
	for range 3 {
		dir := tb.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		lines := []string{
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", set.MasterName, master.Port),
			fmt.Sprintf("sentinel down-after-milliseconds %s %d", set.MasterName, sentinelDownAfterMS),
			fmt.Sprintf("sentinel failover-timeout %s %d", set.MasterName, sentinelFailoverTimeout),
			fmt.Sprintf("sentinel parallel-syncs %s 1", set.MasterName),
		}
		if opts.Password != "" {
			lines = append(lines, fmt.Sprintf("sentinel auth-pass %s %s", set.MasterName, opts.Password))
		}
		if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			tb.Fatal(err)
		}
		set.Sentinels = append(set.Sentinels, Start(tb, name, Options{Dir: dir, ConfigFile: conf, Argv: []string{"--sentinel"}}))
	}
	set.waitKnown(tb, 30*time.Second)
	return set
}

// URL is the redis+sentinel:// URL of the deployment (the data nodes'
// password in it, when they have one).
func (s *SentinelSet) URL() string { return s.URLOf(s.Sentinels...) }

// URLOf is URL listing only the sentinels given.
func (s *SentinelSet) URLOf(sentinels ...*Server) string {
	addrs := make([]string, len(sentinels))
	for i, sn := range sentinels {
		addrs[i] = sn.Addr
	}
	user := ""
	if p := s.Nodes[0].opts.Password; p != "" {
		user = ":" + p + "@"
	}
	return "redis+sentinel://" + user + strings.Join(addrs, ",") + "/" + s.MasterName
}

// sentinelMaster is one sentinel's SENTINEL MASTER as a map.
func (s *SentinelSet) sentinelMaster(ctx context.Context, sn *Server) (map[string]string, error) {
	c := sn.Client()
	defer c.Close()
	v, err := c.Do(ctx, "SENTINEL", "MASTER", s.MasterName).StringSlice()
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for i := 0; i+1 < len(v); i += 2 {
		m[v[i]] = v[i+1]
	}
	return m, nil
}

// waitKnown waits until every sentinel sees the replica and the other
// sentinels and holds the master for up.
func (s *SentinelSet) waitKnown(tb testing.TB, d time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(d)
	ctx := context.Background()
	for _, sn := range s.Sentinels {
		for {
			m, err := s.sentinelMaster(ctx, sn)
			if err == nil && m["num-other-sentinels"] == strconv.Itoa(len(s.Sentinels)-1) && m["num-slaves"] != "0" &&
				!strings.Contains(m["flags"], "down") && !strings.Contains(m["flags"], "failover") {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: sentinel %s does not know the whole set after %s: %v %v (log: %s)", sn.Addr, d, m, err, sn.LogTail())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// Master is the data node every sentinel names as the master now; it fails
// the test when they disagree for 20 s.
func (s *SentinelSet) Master(tb testing.TB) *Server {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		addr, err := s.agreedMaster(context.Background())
		if err == nil {
			for _, n := range s.Nodes {
				if n.Addr == addr {
					return n
				}
			}
			err = fmt.Errorf("the sentinels name %s, not a node of the set", addr)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// agreedMaster is the master's address when every sentinel names the same.
func (s *SentinelSet) agreedMaster(ctx context.Context) (string, error) {
	var agreed string
	for _, sn := range s.running() {
		c := sn.Client()
		v, err := c.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName).StringSlice()
		c.Close()
		if err != nil || len(v) != 2 {
			return "", fmt.Errorf("sentinel %s: %v %v", sn.Addr, v, err)
		}
		addr := v[0] + ":" + v[1]
		if agreed != "" && addr != agreed {
			return "", fmt.Errorf("the sentinels disagree: %s and %s", agreed, addr)
		}
		agreed = addr
	}
	return agreed, nil
}

// running lists the sentinels that are not frozen.
func (s *SentinelSet) running() []*Server {
	var out []*Server
	for _, sn := range s.Sentinels {
		if !s.frozen[sn] {
			out = append(out, sn)
		}
	}
	return out
}

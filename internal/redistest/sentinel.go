package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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

// FailoverOptions shape a failover.
type FailoverOptions struct {
	// PauseWrites > 0 makes it a planned switchover: the master's writes
	// are paused that long (CLIENT PAUSE WRITE) and the replica is let catch
	// up first, so no write the master accepted is lost and every replica
	// of it, redferry included, can continue on the new master with PSYNC.
	// The pause must outlast the promotion; it ends by itself (the
	// sentinels' demotion of the old master waits for it), or once Promoted
	// returns. Zero: writes go on until the sentinels demote the old master,
	// and those it accepted after the promotion are lost, as in any
	// unplanned failover.
	PauseWrites time.Duration
	// Promoted, when set, runs once the running sentinels agree on the new
	// master, before the old one is demoted.
	Promoted func(next *Server)
}

// Failover makes the sentinels fail the master over to the replica
// (SENTINEL FAILOVER) and waits until every running sentinel names the new
// master, the new master reports role:master and the old one has become
// its replica with the link up. It returns the new master.
func (s *SentinelSet) Failover(tb testing.TB, o FailoverOptions) *Server {
	tb.Helper()
	ctx := context.Background()
	old := s.Master(tb)
	var next *Server
	for _, n := range s.Nodes {
		if n != old {
			next = n
		}
	}
	if o.PauseWrites > 0 {
		c := old.Client()
		err := c.Do(ctx, "CLIENT", "PAUSE", o.PauseWrites.Milliseconds(), "WRITE").Err()
		c.Close()
		if err != nil {
			tb.Fatalf("redistest: CLIENT PAUSE on %s: %v", old.Addr, err)
		}
		next.WaitCaughtUp(tb, old)
	}
	deadline := time.Now().Add(30 * time.Second)
	asked := s.running()[0]
	for {
		c := asked.Client()
		err := c.Do(ctx, "SENTINEL", "FAILOVER", s.MasterName).Err()
		c.Close()
		if err == nil {
			break
		}
		// NOGOODSLAVE: the sentinel has not judged the replica fit yet;
		// INPROG: a failover is running already.
		if time.Now().After(deadline) || !strings.Contains(err.Error(), "NOGOODSLAVE") && !strings.Contains(err.Error(), "INPROG") {
			tb.Fatalf("redistest: SENTINEL FAILOVER %s: %v (log: %s)", s.MasterName, err, asked.LogTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for {
		addr, err := s.agreedMaster(ctx)
		if err == nil && addr == next.Addr && tryInfoField(next, "replication", "role") == "master" {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: after SENTINEL FAILOVER the sentinels do not agree on %s: %s %v (log: %s)", next.Addr, addr, err, asked.LogTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if o.Promoted != nil {
		o.Promoted(next)
		if o.PauseWrites > 0 {
			c := old.Client()
			_ = c.Do(ctx, "CLIENT", "UNPAUSE").Err() // it may have ended, or the client been killed
			c.Close()
		}
	}
	// The old master becomes a replica of the new one once the sentinels
	// see it alive (after its pause): a later failover needs it.
	for tryInfoField(old, "replication", "role") != "slave" || tryInfoField(old, "replication", "master_link_status") != "up" {
		if time.Now().After(deadline.Add(15 * time.Second)) {
			tb.Fatalf("redistest: the old master %s did not become a replica of %s (log: %s)", old.Addr, next.Addr, old.LogTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return next
}

// Client is a client of the master the sentinels name now.
func (s *SentinelSet) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	return s.Master(tb).Client()
}

// tryInfoField is InfoField that says "" when the server cannot answer: the
// sentinels kill the clients of the nodes they reconfigure.
func tryInfoField(s *Server, section, field string) string {
	c := s.Client()
	defer c.Close()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
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

// Freeze stops a sentinel (SIGSTOP) until Thaw or the end of the test: it
// keeps its connections but answers nothing and hears nothing, as one cut
// off by a partition. Failover and Master then go by the others.
func (s *SentinelSet) Freeze(tb testing.TB, sn *Server) {
	tb.Helper()
	sn.signal(tb, syscall.SIGSTOP)
	s.frozen[sn] = true
	tb.Cleanup(func() { s.Thaw(tb, sn) })
}

// Thaw resumes a frozen sentinel (SIGCONT).
func (s *SentinelSet) Thaw(tb testing.TB, sn *Server) {
	tb.Helper()
	if s.frozen[sn] {
		sn.signal(tb, syscall.SIGCONT)
		delete(s.frozen, sn)
	}
}

func (s *Server) signal(tb testing.TB, sig syscall.Signal) {
	tb.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		tb.Fatalf("redistest: %s to %s: %v", sig, s.Addr, err)
	}
}

// KillMaster kills the master (SIGKILL: an unplanned failover, whatever it
// had not passed to its replica is lost) and waits until the running
// sentinels agree on the replica as the new master, which it returns.
func (s *SentinelSet) KillMaster(tb testing.TB) *Server {
	tb.Helper()
	old := s.Master(tb)
	var next *Server
	for _, n := range s.Nodes {
		if n != old {
			next = n
		}
	}
	old.Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		addr, err := s.agreedMaster(context.Background())
		if err == nil && addr == next.Addr && tryInfoField(next, "replication", "role") == "master" {
			return next
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: the sentinels did not fail %s over to %s within 30s: %s %v (log: %s)",
				old.Addr, next.Addr, addr, err, s.running()[0].LogTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package redistest

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Failovers of a SentinelSet: planned (SENTINEL FAILOVER, with the writes
// paused or not) and unplanned (the master killed), and a sentinel cut off.

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

package redistest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Replication helpers for tests that check a workload against the
// servers' own replication.

// InfoField returns one field of an INFO section ("" when absent).
func (s *Server) InfoField(tb testing.TB, section, field string) string {
	tb.Helper()
	c := s.Client()
	defer c.Close()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		tb.Fatalf("redistest: INFO %s on %s: %v", section, s.Name, err)
	}
	return infoValue(info, field)
}

// infoValue returns field's value in INFO text, "" when absent.
func infoValue(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// ReplicateFrom makes s a replica of primary (REPLICAOF) and waits until
// the link is up, so the snapshot has loaded. For a quick sync start the
// primary with Args {"repl-diskless-sync-delay", "0"}.
func (s *Server) ReplicateFrom(tb testing.TB, primary *Server) {
	tb.Helper()
	c := s.Client()
	defer c.Close()
	if err := c.Do(context.Background(), "REPLICAOF", "127.0.0.1", primary.Port).Err(); err != nil {
		tb.Fatalf("redistest: REPLICAOF on %s: %v", s.Name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.InfoField(tb, "replication", "master_link_status") != "up" {
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: %s: replication link not up after 30s (log: %s)", s.Name, s.LogTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitCaughtUp waits until the replica s has processed the primary's whole
// replication stream (its offset equals the primary's master_repl_offset).
func (s *Server) WaitCaughtUp(tb testing.TB, primary *Server) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		want := primary.InfoField(tb, "replication", "master_repl_offset")
		got := s.InfoField(tb, "replication", "slave_repl_offset")
		if want != "" && want == got {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: replica %s at offset %s, primary at %s after 30s", s.Name, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Promote turns a replica back into a primary (REPLICAOF NO ONE).
func (s *Server) Promote(tb testing.TB) {
	tb.Helper()
	c := s.Client()
	defer c.Close()
	if err := c.Do(context.Background(), "REPLICAOF", "NO", "ONE").Err(); err != nil {
		tb.Fatalf("redistest: REPLICAOF NO ONE on %s: %v", s.Name, err)
	}
}

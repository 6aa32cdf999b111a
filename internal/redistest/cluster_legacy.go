package redistest

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Redis 6.x clusters lack what the rig uses on 7.0+: CLUSTER ADDSLOTSRANGE
// and the cluster-allow-replica-migration directive (a 6.x master that gives
// its last slot away by CLUSTER SETSLOT stays a master anyway). These
// helpers pick the form each server understands.

// preSeven reports whether the launcher name (e.g. "redis-6.0" or
// "redis-6.0.16") is a Redis older than 7.0. Valkey started at 7.2.
func preSeven(name string) bool {
	if bin, err := Binary(name); err == nil {
		name = filepath.Base(bin)
	}
	rest, ok := strings.CutPrefix(name, "redis-")
	if !ok {
		return false
	}
	major, _, _ := strings.Cut(rest, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n < 7
}

// assignSlots gives s the slots from..to (inclusive): CLUSTER ADDSLOTSRANGE
// on 7.0+, CLUSTER ADDSLOTS with every slot listed before.
func assignSlots(tb testing.TB, s *Server, from, to int) {
	tb.Helper()
	if !preSeven(s.Name) {
		do(tb, s, "CLUSTER", "ADDSLOTSRANGE", from, to)
		return
	}
	args := []any{"CLUSTER", "ADDSLOTS"}
	for slot := from; slot <= to; slot++ {
		args = append(args, slot)
	}
	do(tb, s, args...)
}

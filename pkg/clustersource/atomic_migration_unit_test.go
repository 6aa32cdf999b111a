package clustersource

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
)

// TestRedisAtomicMigrationAdmissions walks a Redis 8.4+ slot migration of
// slot 15495 (the slot of "x{a}") through the gate: the importer's writes to the slot are left out until it completes,
// its completion waits for the exporter's completed mark, and TRIMSLOTS is
// left out.
func TestRedisAtomicMigrationAdmissions(t *testing.T) {
	var exported atomic.Int64 // the exporter's applied offset
	var orphans []string      // the trims applied
	m := newMigrations(zap.NewNop(), "redferry:checkpoint:x", linkHooks{othersStreaming: func(string) bool { return true }})
	m.asm.hooks = asmHooks{
		applied:  func(s string) (int64, bool) { return exported.Load(), s == "exp" || s == "imp" },
		targetDB: func(db int) int { return db },
		trimOrphans: func(_ context.Context, shard string, r [][2]int) error {
			orphans = append(orphans, shard+" "+formatRanges(r))
			return nil
		},
	}
	m.asm.nodes = map[string]string{"srcid": "exp", "dstid": "imp"}
	exp, imp := m.forShard("exp", false), m.forShard("imp", false)
	ctx := context.Background()
	task := func(op, state string) string {
		return "CLUSTER SYNCSLOTS CONF ASM-TASK t1:srcid:dstid:" + op + ":" + state + ":15495-15495"
	}
	steps := []struct {
		gate    *shardGate
		cmd     string
		offset  int64
		skip    bool
		alone   bool
		wait    bool
		persist string // the record the batch writes with it
	}{
		{imp.(*shardGate), task("import", "connecting"), 100, false, true, false, "HSET redferry:checkpoint:x:asm imp:imp:t1 t1|srcid|15495-15495"},
		{imp.(*shardGate), "FUNCTION RESTORE payload REPLACE", 110, true, false, false, ""},
		{imp.(*shardGate), "CLUSTER SYNCSLOTS CONF SLOT-INFO 15495:3:0", 120, true, false, false, ""},
		{imp.(*shardGate), "SET x{a} snapshot", 130, true, false, false, ""},
		{imp.(*shardGate), "INCR other", 140, false, false, false, ""},
		{exp.(*shardGate), "INCR x{a}", 200, false, false, false, ""},
		{imp.(*shardGate), "INCR x{a}", 150, true, false, false, ""},
		{exp.(*shardGate), task("migrate", "completed"), 300, false, true, false,
			"HSET redferry:checkpoint:x:asm trim:exp:t1 15495-15495; HSET redferry:checkpoint:x:asm mark:t1 exp|300|imp"},
		// The exporter's trim belongs to the migration: left out.
		{exp.(*shardGate), "TRIMSLOTS RANGES 1 15495 15495", 320, false, true, false, "HDEL redferry:checkpoint:x:asm trim:exp:t1"},
		// Another trim of the slot is no migration's: applied.
		{exp.(*shardGate), "TRIMSLOTS RANGES 1 15495 15495", 330, false, false, true, ""},
		{imp.(*shardGate), task("import", "completed"), 200, false, false, true, ""},
	}
	for _, st := range steps {
		adm, err := st.gate.Admit(ctx, argv(st.cmd), 0, st.offset)
		if err != nil {
			t.Fatalf("%s: %v", st.cmd, err)
		}
		if adm.Skip != st.skip || adm.Alone != st.alone || (adm.Wait != nil) != st.wait {
			t.Fatalf("%s on %s: skip %v alone %v wait %v, want %v %v %v", st.cmd, st.gate.shard, adm.Skip, adm.Alone, adm.Wait != nil, st.skip, st.alone, st.wait)
		}
		var got []string
		for _, c := range adm.Before {
			got = append(got, strings.Join(c, " "))
		}
		if st.persist != "" && strings.Join(got, "; ") != st.persist {
			t.Fatalf("%s: records %v, want %q", st.cmd, adm.Before, st.persist)
		}
	}
	// The trim no migration explains deletes the slot's orphans, once.
	adm, _ := exp.Admit(ctx, argv("TRIMSLOTS RANGES 1 15495 15495"), 0, 330)
	if err := adm.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if adm, _ := exp.Admit(ctx, argv("TRIMSLOTS RANGES 1 15495 15495"), 0, 330); !adm.Skip {
		t.Fatalf("the trim admitted again after it was applied: %+v", adm)
	}
	if strings.Join(orphans, ",") != "exp 15495-15495" {
		t.Fatalf("trims applied: %v, want exp 15495-15495", orphans)
	}
	// The importer's completion waits for the exporter's link to apply its mark.
	adm, _ = imp.Admit(ctx, argv(task("import", "completed")), 0, 200)
	done := make(chan error, 1)
	go func() { done <- adm.Wait(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("the wait ended (%v) before the exporter applied its completed mark", err)
	default:
	}
	exported.Store(300)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	adm, _ = imp.Admit(ctx, argv(task("import", "completed")), 0, 200)
	if !adm.Alone || strings.Join(adm.Before[0], " ") != "HDEL redferry:checkpoint:x:asm imp:imp:t1 mark:t1" {
		t.Fatalf("after the wait the completion clears the record, got %+v", adm)
	}
	if adm, _ := imp.Admit(ctx, argv("INCR x{a}"), 0, 210); adm.Skip {
		t.Fatal("the importer's writes after the completion are left out")
	}
	// From a master this sync does not follow (--shards), the importer's
	// copy is all the target gets of the slot: it is applied.
	if adm, _ := imp.Admit(ctx, argv("CLUSTER SYNCSLOTS CONF ASM-TASK t2:otherid:dstid:import:connecting:15495-15495"), 0, 300); !adm.Skip || adm.Alone {
		t.Fatalf("the start of an import from an unfollowed master: %+v, want it skipped without a record", adm)
	}
	if adm, _ := imp.Admit(ctx, argv("SET x{a} copy"), 0, 310); adm.Skip {
		t.Fatal("the copy of an import from an unfollowed master is left out")
	}
}

func TestParseRanges(t *testing.T) {
	for in, want := range map[string]string{"1-3": "1-3", "5": "5-5", "1-2,7-9": "1-2,7-9", "1-2 4-4": "1-2,4-4"} {
		if got := formatRanges(parseRanges(in)); got != want {
			t.Errorf("parseRanges(%q) = %s, want %s", in, got, want)
		}
	}
}

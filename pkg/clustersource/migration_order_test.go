package clustersource

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
)

// busyAfterDel deletes its keys and then keeps the server busy for
// ARGV[1] microseconds: the DEL reaches the replication stream only when
// the script ends, so the exporter's stream runs late by that much.
const busyAfterDel = `redis.call('DEL', unpack(KEYS))
local t0 = redis.call('TIME')
while true do
  local t = redis.call('TIME')
  if (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > tonumber(ARGV[1]) then break end
end
return 1`

// TestExporterStreamLateDuringMigration: while a slot moves from A to B
// the classic way, A deletes two keys of it, and B then creates them anew:
// one through an ASK redirect (before any key of the slot was imported),
// one as the slot's owner right after the handoff. A's stream is held back
// (a busy script) until B's writes have gone through B's stream. The
// target must still end with B's values: A's older DELs must not land on
// them. Deterministic; it failed on the gate that waited for the first
// RESTORE-ASKING of a slot before treating B's writes there as moving in.
func TestExporterStreamLateDuringMigration(t *testing.T) {
	for _, version := range []string{redistest.Redis70, redistest.Valkey91} {
		t.Run(version, func(t *testing.T) { exporterStreamLate(t, version) })
	}
}

func exporterStreamLate(t *testing.T, version string) {
	src := redistest.StartCluster(t, version, 2, fast)
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	ctx := context.Background()
	asked, owned := "asked:{late}", "owned:{late}"
	slot := src.SlotOf(t, asked)
	from := src.Owner(t, slot)
	a, b := src.Masters[from], src.Masters[1-from]
	ac, bc := a.Client(), b.Client()
	defer ac.Close()
	defer bc.Close()
	for _, k := range []string{asked, owned} {
		if err := ac.Set(ctx, k, "old", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	fillCluster(t, src, 300)

	r := startSV(t, clusterConfig(src, dst, t.TempDir()))
	r.waitStreaming(t, 2)
	r.waitCaughtUp(t, src)

	aID, bID := redistest.NodeID(t, a), redistest.NodeID(t, b)
	if err := bc.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", aID).Err(); err != nil {
		t.Fatal(err)
	}
	if err := ac.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", bID).Err(); err != nil {
		t.Fatal(err)
	}
	busy := make(chan error, 1)
	go func() {
		busy <- ac.Eval(ctx, busyAfterDel, []string{asked, owned}, 1_000_000).Err()
	}()
	time.Sleep(200 * time.Millisecond) // the script has run its DEL

	// Through an ASK redirect: the key is gone from A, so A would answer ASK.
	conn := bc.Conn()
	defer conn.Close()
	if err := conn.Process(ctx, redis.NewCmd(ctx, "ASKING")); err != nil {
		t.Fatal(err)
	}
	if err := conn.Append(ctx, asked, "x").Err(); err != nil {
		t.Fatal(err)
	}
	// The handoff (A is busy; it learns it last), then a write to B as owner.
	if err := bc.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", bID).Err(); err != nil {
		t.Fatal(err)
	}
	if err := bc.Append(ctx, owned, "y").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-busy:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the busy script did not end")
	}
	if err := ac.Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", bID).Err(); err != nil {
		t.Fatal(err)
	}
	src.WaitHealthy(t)

	r.waitCaughtUp(t, src)
	assertEqual(t, src, dst)
}

// TestClassicMigrationsBothWays: under the non-idempotent load, two slots
// being written move between two masters in opposite directions at once,
// so that each master takes a slot over while the other does too (their
// catch-ups may wait for each other), and 3 s later both move back (each
// old owner takes its slot back within the 30 s a handoff is followed,
// writing keys the other had imported): the sync must neither hang nor
// lose or double a write. A slot moved back within a second or so is a
// limit (README).
func TestClassicMigrationsBothWays(t *testing.T) {
	src := redistest.StartCluster(t, redistest.Redis70, 2, fast)
	dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	fillCluster(t, src, 600)
	before := fullSyncs(t, src)
	r := startSV(t, clusterConfig(src, dst, t.TempDir()))
	ld := startLoad(t, src, 3)
	r.waitStreaming(t, 2)

	slotX := src.SlotOf(t, "cnt:{5}")
	a := src.Owner(t, slotX)
	slotY := -1
	for n := 0; n < 64 && slotY < 0; n++ {
		if s := src.SlotOf(t, fmt.Sprintf("cnt:{%d}", n)); src.Owner(t, s) != a {
			slotY = s
		}
	}
	if slotY < 0 {
		t.Fatal("every slot the load writes is on one master")
	}
	for round := range 2 {
		from := (a + round) % 2
		src.MigrateSlots(t, from, 1-from, slotX)
		src.MigrateSlots(t, 1-from, from, slotY)
		time.Sleep(3 * time.Second)
	}
	writes := ld.end()
	r.waitCaughtUp(t, src)
	rep := assertEqual(t, src, dst)
	if got := fullSyncs(t, src) - before; got != 2 {
		t.Errorf("the masters served %d full syncs to redferry, want 2 (one per shard)", got)
	}
	t.Logf("%d writes during the sync, %d keys equal, %d commands of moved keys left out, %d catch-up cycles",
		writes, rep.KeysChecked, r.sv.migr.skippedTotal(), r.sv.migr.cycles.Load())
}

package clustersource

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"

	"github.com/redferry/redferry/pkg/syncer"
)

func argv(s string) [][]byte {
	var out [][]byte
	for _, f := range strings.Fields(s) {
		out = append(out, []byte(f))
	}
	return out
}

func join(args [][]byte) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = string(a)
	}
	return strings.Join(parts, " ")
}

// TestMigrationAdmissions walks the gate through a key moving from shard A
// to shard B: what each shard's commands become before and after the
// import is applied.
func TestMigrationAdmissions(t *testing.T) {
	// The catch-up of B's link: it covers what B had received, unless
	// the exporters wait for B themselves.
	var caughtUpWith []string
	received, cycle := int64(0), false
	m := newMigrations(zap.NewNop(), "redferry:checkpoint:x", linkHooks{
		othersStreaming: func(string) bool { return true },
		catchUp: func(_ context.Context, shard string, exporters map[string]int64) (int64, error) {
			if cycle {
				return received, errCatchUpCycle
			}
			var with []string
			for _, s := range slices.Sorted(maps.Keys(exporters)) {
				with = append(with, fmt.Sprintf("%s@%d", s, exporters[s]))
			}
			caughtUpWith = append(caughtUpWith, shard+"<-"+strings.Join(with, ","))
			return received, nil
		}})
	a, b := m.forShard("A", false), m.forShard("B", false)
	ctx := context.Background()
	type want struct {
		skip, alone, wait bool
		args              string // "" : as sent
		err               string
	}
	offset := int64(100)
	step := func(g syncer.StreamGate, cmd string, db int, w want) syncer.Admission {
		t.Helper()
		offset += 10
		adm, err := g.Admit(ctx, argv(cmd), db, offset)
		if w.err != "" {
			if err == nil || !strings.Contains(err.Error(), w.err) {
				t.Fatalf("%s: error %v, want one containing %q", cmd, err, w.err)
			}
			return adm
		}
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if adm.Skip != w.skip || adm.Alone != w.alone || (adm.Wait != nil) != w.wait || (adm.Args != nil) != (w.args != "") || adm.Args != nil && join(adm.Args) != w.args {
			t.Fatalf("%s: skip %v alone %v wait %v args %q; want skip %v alone %v wait %v args %q", cmd, adm.Skip, adm.Alone, adm.Wait != nil, join(adm.Args),
				w.skip, w.alone, w.wait, w.args)
		}
		return adm
	}
	// readmit runs a Wait and asks again about the same command, as the
	// syncer does.
	readmit := func(g syncer.StreamGate, adm syncer.Admission, cmd string, w want) syncer.Admission {
		t.Helper()
		if err := adm.Wait(ctx); err != nil {
			t.Fatalf("%s: waiting: %v", cmd, err)
		}
		offset -= 10
		return step(g, cmd, 0, w)
	}

	// Before the import both shards apply what they send.
	step(a, "INCR k", 0, want{})
	step(b, "SET other v", 0, want{})
	// The import: alone, as RESTORE … REPLACE, recorded in the same transaction.
	adm := step(b, "RESTORE-ASKING k 0 payload", 0, want{alone: true, args: "RESTORE k 0 payload REPLACE"})
	if len(adm.Extra) != 1 || strings.Join(adm.Extra[0], " ") != "HSET redferry:checkpoint:x:imports{"+server.TagForSlot(server.KeySlot("k"))+"} 0:k B" || len(adm.Keys) != 1 {
		t.Fatalf("the import is recorded as %v", adm.Extra)
	}
	release, err := b.Exclusive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	release([]syncer.Admission{adm})
	// A's late writes to k are in the imported value: left out. Other keys, other dbs: applied.
	step(a, "INCR k", 0, want{skip: true})
	step(a, "INCR k", 1, want{})
	step(a, "INCR j", 0, want{})
	// B's own writes to k apply.
	step(b, "INCR k", 0, want{})
	// A DEL of the moved key from A (MIGRATE's, or a client's before the
	// move, which looks the same) is left out too, and so is what follows it
	// in A's stream; of several keys, only the others are deleted.
	step(a, "DEL k", 0, want{skip: true})
	step(a, "APPEND k x", 0, want{skip: true})
	adm = step(b, "RESTORE-ASKING m 0 payload REPLACE", 0, want{alone: true, args: "RESTORE m 0 payload REPLACE"})
	release, _ = b.Exclusive(ctx)
	release([]syncer.Admission{adm})
	step(a, "UNLINK m z", 0, want{args: "UNLINK z"})
	// An import the target refused records nothing.
	step(b, "RESTORE-ASKING n 0 payload", 0, want{alone: true, args: "RESTORE n 0 payload REPLACE"})
	release, _ = b.Exclusive(ctx)
	release(nil)
	step(a, "INCR n", 0, want{})

	// A key a client created on B through an ASK redirect while its slot
	// moves from A (B imported no key of it yet): B's link first catches up
	// with A's stream, which may still hold older writes of the key (its
	// DEL), then applies the write as it is; the catch-up covers whatever B
	// had received by then.
	var owners [16384]string
	for i := range owners {
		owners[i] = "B"
	}
	owners[server.KeySlot("{k}")] = "A"
	m.setOwners(owners)
	received = offset + 25
	adm = step(b, "APPEND {k}fresh x", 0, want{wait: true})
	readmit(b, adm, "APPEND {k}fresh x", want{})
	if strings.Join(caughtUpWith, " ") != "B<-A@0" {
		t.Fatalf("caught up as %v, want B with A", caughtUpWith)
	}
	step(b, "APPEND {k}fresh y", 0, want{})           // received before the catch-up: covered
	step(b, "APPEND {k}fresh z", 0, want{wait: true}) // after it
	step(b, "SET {other}x v", 0, want{})              // a slot B owns
	step(a, "SET {k}stays v", 0, want{})              // A's own keys
	// Inside a source MULTI the batch cannot be cut for a catch-up: the
	// write goes as an import (DEL first, recorded), and so does one whose
	// catch-up found A waiting for B (slots moving both ways).
	step(b, "MULTI", 0, want{})
	adm = step(b, "APPEND {k}multi x", 0, want{alone: true})
	if len(adm.Before) != 1 || strings.Join(adm.Before[0], " ") != "DEL {k}multi" {
		t.Fatalf("B's first write of a key moving to it, in a MULTI, is preceded by %v, want DEL {k}multi", adm.Before)
	}
	step(b, "APPEND {k}multi x", 0, want{}) // pending in the same batch: no second DEL
	step(b, "EXEC", 0, want{})
	release, _ = b.Exclusive(ctx)
	release([]syncer.Admission{adm})
	step(a, "DEL {k}multi", 0, want{skip: true})
	cycle, received = true, offset+25
	adm = step(b, "APPEND {k}cycle x", 0, want{wait: true})
	readmit(b, adm, "APPEND {k}cycle x", want{alone: true})
	step(b, "APPEND {k}cycle2 x", 0, want{alone: true}) // received before: an import too, without waiting again
	step(b, "APPEND {k}cycle3 x", 0, want{wait: true})  // after it
	cycle = false
	// Once the topology shows B as the slot's owner, B's writes there still
	// catch up with A (its stream may run late) until the move expires.
	owners[server.KeySlot("{k}")] = "B"
	m.setOwners(owners)
	// A change counts when two reads agree.
	if h := m.setOwners(owners); len(h) != 1 || h[0] != (handoff{slot: server.KeySlot("{k}"), from: "A", to: "B"}) {
		t.Fatalf("the handoff reported as %v", h)
	}
	step(b, "APPEND {k}new x", 0, want{wait: true})
	step(a, "SET {k}late v", 0, want{})
	// Once A's master offset at the handoff is known, A's writes past it
	// take the slot back (a move back): they catch up with B.
	handoffs := m.setOwners(owners)
	if len(handoffs) != 0 {
		t.Fatalf("a third read reports the handoff again: %v", handoffs)
	}
	m.noteHandoffs([]handoff{{slot: server.KeySlot("{k}"), from: "A", to: "B"}}, map[string]int64{"A": offset + 15})
	step(a, "SET {k}late2 v", 0, want{}) // before it: a late write
	// B's writes catch up with A's stream only that far: past it, A's
	// writes may be of the slot taken back, later than B's.
	caughtUpWith = nil
	received = offset + 15
	adm = step(b, "APPEND {k}new2 x", 0, want{wait: true})
	readmit(b, adm, "APPEND {k}new2 x", want{})
	if want := fmt.Sprintf("B<-A@%d", offset-5); strings.Join(caughtUpWith, " ") != want {
		t.Fatalf("caught up as %v, want %s", caughtUpWith, want)
	}
	received = offset + 25
	adm = step(a, "APPEND {k}back x", 0, want{wait: true}) // past it
	readmit(a, adm, "APPEND {k}back x", want{})
	// k, which B imported, is A's again once A writes it after taking its
	// slot back: applied after the catch-up and recorded as A's, so that
	// B's late writes of it are left out.
	adm = step(a, "INCR k", 0, want{alone: true})
	if len(adm.Extra) != 1 || !strings.HasSuffix(strings.Join(adm.Extra[0], " "), " 0:k A") || len(adm.Before) != 0 {
		t.Fatalf("A's write of a key it takes back is recorded as %v (before: %v)", adm.Extra, adm.Before)
	}
	release, _ = a.Exclusive(ctx)
	release([]syncer.Admission{adm})
	step(a, "INCR k", 0, want{})
	step(b, "INCR k", 0, want{skip: true})

	// Replicated topology bookkeeping is skipped; what cannot be followed stops every shard.
	step(a, "CLUSTER SETSLOT 5 NODE abc", 0, want{skip: true})
	step(b, "FLUSHALL", 0, want{err: "covers its own slots only"})
	step(a, "INCR q", 0, want{err: "stopping with another shard"})
}

// TestImportRecordsExpire: a record goes once every other shard has applied
// its master's offset noted grace after the import.
func TestImportRecordsExpire(t *testing.T) {
	m := newMigrations(zap.NewNop(), "redferry:checkpoint:x", linkHooks{othersStreaming: func(string) bool { return true }})
	m.imports[importKey{0, "k"}] = importRec{shard: "B", at: time.Now().Add(-time.Hour)}
	progress := map[string][2]int64{"A": {300, 100}, "B": {900, 900}}
	masters := func() map[string]int64 { return map[string]int64{"A": 500, "B": 950} }
	if gone := m.expired(time.Minute, progress, func() map[string]int64 { return nil }); len(gone) != 0 {
		t.Fatalf("expired while the masters' offsets are unknown: %v", gone)
	}
	if gone := m.expired(time.Minute, progress, masters); len(gone) != 0 {
		t.Fatalf("expired at once: %v", gone)
	}
	progress["A"] = [2]int64{800, 499}
	if gone := m.expired(time.Minute, progress, masters); len(gone) != 0 {
		t.Fatalf("expired before A applied its master's offset 500: %v", gone)
	}
	progress["A"] = [2]int64{800, 500}
	if gone := m.expired(time.Minute, progress, masters); len(gone) != 1 {
		t.Fatalf("not expired once A applied offset 500: %v", gone)
	}
}

package clustersource

import (
	"context"
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
	m := newMigrations(zap.NewNop(), "redferry:checkpoint:x", func(string) bool { return true },
		func(context.Context, string) error { return nil })
	a, b := m.forShard("A", false), m.forShard("B", false)
	ctx := context.Background()
	type want struct {
		skip, alone bool
		args        string // "" : as sent
		err         string
	}
	step := func(g syncer.StreamGate, cmd string, db int, w want) syncer.Admission {
		t.Helper()
		adm, err := g.Admit(ctx, argv(cmd), db, 100)
		if w.err != "" {
			if err == nil || !strings.Contains(err.Error(), w.err) {
				t.Fatalf("%s: error %v, want one containing %q", cmd, err, w.err)
			}
			return adm
		}
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if adm.Skip != w.skip || adm.Alone != w.alone || (adm.Args != nil) != (w.args != "") || adm.Args != nil && join(adm.Args) != w.args {
			t.Fatalf("%s: skip %v alone %v args %q; want skip %v alone %v args %q", cmd, adm.Skip, adm.Alone, join(adm.Args), w.skip, w.alone, w.args)
		}
		return adm
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
	// moves from A: B's first write of it deletes what the target holds and
	// is recorded, later ones apply as they are, A's late writes are left out.
	var owners [16384]string
	for i := range owners {
		owners[i] = "A"
	}
	m.setOwners(owners)
	adm = step(b, "APPEND {k}fresh x", 0, want{alone: true}) // the slot of k, which B imports
	if len(adm.Before) != 1 || strings.Join(adm.Before[0], " ") != "DEL {k}fresh" {
		t.Fatalf("B's first write of a key moving to it is preceded by %v, want DEL {k}fresh", adm.Before)
	}
	step(b, "APPEND {k}fresh x", 0, want{}) // pending in the same batch: no second DEL
	release, _ = b.Exclusive(ctx)
	release([]syncer.Admission{adm})
	step(b, "APPEND {k}fresh y", 0, want{})
	step(a, "DEL {k}fresh", 0, want{skip: true})
	step(b, "SET {other}x v", 0, want{}) // a slot B does not import
	step(a, "SET stays v", 0, want{})    // A's own keys
	// Once the topology shows B as the slot's owner, its writes are its own.
	for i := range owners {
		owners[i] = "B"
	}
	m.setOwners(owners)
	m.setOwners(owners) // a change counts when two reads agree
	step(b, "APPEND {k}new x", 0, want{})

	// Replicated topology bookkeeping is skipped; what cannot be followed stops every shard.
	step(a, "CLUSTER SETSLOT 5 NODE abc", 0, want{skip: true})
	step(b, "FLUSHALL", 0, want{err: "covers its own slots only"})
	step(a, "INCR q", 0, want{err: "stopping with another shard"})
}

// TestImportRecordsExpire: a record goes once every other shard has applied
// its master's offset noted grace after the import.
func TestImportRecordsExpire(t *testing.T) {
	m := newMigrations(zap.NewNop(), "redferry:checkpoint:x", func(string) bool { return true }, nil)
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

package transform

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzFilterCommand: whatever the stream holds, Command neither panics nor
// returns an empty rewrite, and refuses only with ErrFilterConflict.
func FuzzFilterCommand(f *testing.F) {
	for _, seed := range []string{"MSET a 1 b", "SORT k BY w_* LIMIT 0 STORE d", "COPY a b DB 99999999999", "ZUNIONSTORE d 5 a",
		"GEORADIUS k 0 0 1 km STORE", "LMOVE a b UP", "RESTORE k 0 x REPLACE", "SWAPDB 0", "MOVE k -1", "XGROUP"} {
		f.Add(seed, 3)
	}
	filters := []*Filter{}
	for _, o := range []FilterOptions{
		{KeysAllow: []string{"prefix:a"}, TypesDrop: []string{"hash", "set"}},
		{DBs: []int{0, 3}, DBMap: map[int]int{0: 1, 3: 0}, KeysDeny: []string{"glob:b*"}},
		{DBs: []int{1}, SkipConflicts: true, TypesDrop: []string{"string"}},
	} {
		flt, err := NewFilter(o)
		if err != nil {
			f.Fatal(err)
		}
		filters = append(filters, flt)
	}
	f.Fuzz(func(t *testing.T, cmd string, db int) {
		args := bytes.Fields([]byte(cmd))
		if len(args) == 0 {
			return
		}
		for _, flt := range filters {
			out, err := flt.Command(db&15, args)
			if err != nil {
				if !errors.Is(err, ErrFilterConflict) {
					t.Fatalf("%q: an error that is not a conflict: %v", cmd, err)
				}
				continue
			}
			if out.Action == Rewrite {
				if len(out.Commands) == 0 {
					t.Fatalf("%q: a rewrite into nothing", cmd)
				}
				for _, c := range out.Commands {
					if len(c) == 0 {
						t.Fatalf("%q: a rewrite with an empty command", cmd)
					}
				}
			}
		}
	})
}

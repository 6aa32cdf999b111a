package redistest

import (
	"context"
	"strconv"
	"strings"
	"testing"
)

func TestWorkloadRunsOnEveryVersion(t *testing.T) {
	tests := []struct {
		server       string
		functions    bool
		hashFieldTTL bool
	}{
		{Redis60, false, false},
		{Redis70, true, false},
		{Redis80, true, true},
		{Redis806, true, true},
		{Redis86, true, true},
		{Valkey81, true, false},
		{Valkey91, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.server, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := Start(t, tc.server, Options{})
			c := s.Client()
			defer c.Close()
			w := &Workload{Seed: 7, Version: s.Version, Functions: tc.functions, HashFieldTTL: tc.hashFieldTTL}
			if err := w.Fill(ctx, c, 160); err != nil {
				t.Fatal(err)
			}
			for run := 0; run < 2; run++ {
				if err := w.Run(ctx, c, 1500); err != nil {
					t.Fatal(err)
				}
			}
			info, err := c.Info(ctx, "keyspace").Result()
			if err != nil {
				t.Fatal(err)
			}
			for db := 0; db < 3; db++ {
				if !strings.Contains(info, "db"+strconv.Itoa(db)+":keys=") {
					t.Errorf("db %d empty after the workload:\n%s", db, info)
				}
			}
			types := map[string]bool{}
			for db := 0; db < 3; db++ {
				cl := s.ClientDB(db)
				keys, err := cl.Keys(ctx, "*").Result()
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range keys {
					typ, err := cl.Type(ctx, k).Result()
					if err != nil {
						t.Fatal(err)
					}
					types[typ] = true
				}
				cl.Close()
			}
			for _, typ := range []string{"string", "list", "set", "zset", "hash", "stream"} {
				if !types[typ] {
					t.Errorf("no %s key after the workload", typ)
				}
			}
			if tc.functions {
				libs, err := c.Do(ctx, "FUNCTION", "LIST").Slice()
				if err != nil || len(libs) != 1 {
					t.Errorf("FUNCTION LIST: %v, %v", libs, err)
				}
			}
		})
	}
}

// TestWorkloadDeterministic checks that the same Seed issues the same
// commands: two servers given the same workload hold the same counters.
func TestWorkloadDeterministic(t *testing.T) {
	ctx := context.Background()
	var sums [2]int64
	for i := range sums {
		s := Start(t, Redis70, Options{})
		c := s.Client()
		w := &Workload{Seed: 99, Version: s.Version}
		if err := w.Run(ctx, c, 800); err != nil {
			t.Fatal(err)
		}
		for db := 0; db < 3; db++ {
			cl := s.ClientDB(db)
			for k := 0; k < runKeys; k++ {
				n, _ := cl.Get(ctx, "r:cnt:"+strconv.Itoa(k)).Int64()
				sums[i] += n * int64(k+1)
				l, _ := cl.LLen(ctx, "r:list:"+strconv.Itoa(k)).Result()
				sums[i] += l * 1000 * int64(k+1)
			}
			cl.Close()
		}
		c.Close()
	}
	if sums[0] != sums[1] || sums[0] == 0 {
		t.Fatalf("same seed, different results: %d vs %d", sums[0], sums[1])
	}
}

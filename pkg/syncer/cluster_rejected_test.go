package syncer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/verify"
)

// TestClusterTargetRetriesRejected: a cluster target rejects a command at
// run time (its key has another type on the target), either a whole one or
// one part of a command it runs one slot at a time (SMOVE between slots of
// two masters: SADD into the destination, SREM from the source). After
// the key is fixed, --retry-rejected finds what was rejected from the
// spooled command and applies it once, although the slot's checkpoint mark
// is past it; then the target equals the source.
func TestClusterTargetRetriesRejected(t *testing.T) {
	src, cl, sc, cc := startSourceAndCluster(t)
	cases := []struct {
		name, key string // key: the one rejected, made a list on the target
		// setup runs on the source before the sync, write during it; fix
		// puts the key on the target back as the source had it before write.
		setup, write, fix func(ctx context.Context) error
		want              func(ctx context.Context) bool
	}{
		{name: "split SMOVE", key: "s2", // s1 in slot 15224, s2 in 2843: two masters
			setup: func(ctx context.Context) error { return sc.SAdd(ctx, "s1", "m", "n").Err() },
			write: func(ctx context.Context) error { return sc.SMove(ctx, "s1", "s2", "m").Err() },
			fix:   func(ctx context.Context) error { return cc.Del(ctx, "s2").Err() },
			want: func(ctx context.Context) bool {
				got := cc.SMembers(ctx, "s2").Val()
				return len(got) == 1 && got[0] == "m"
			}},
		{name: "whole INCR", key: "cnt",
			setup: func(ctx context.Context) error { return sc.Set(ctx, "cnt", "5", 0).Err() },
			write: func(ctx context.Context) error { return sc.Incr(ctx, "cnt").Err() },
			fix:   func(ctx context.Context) error { return cc.Set(ctx, "cnt", "5", 0).Err() },
			want:  func(ctx context.Context) bool { return cc.Get(ctx, "cnt").Val() == "6" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := sc.FlushAll(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			if err := tc.setup(ctx); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t, src, cl.Masters[0])
			cfg.Name, cfg.FlushTarget = "rejected-"+strings.ReplaceAll(tc.name, " ", "-"), true
			r := startSyncer(t, ctx, cfg)
			waitCaughtUp(t, ctx, r.s, src, r.errc)
			if err := cc.Del(ctx, tc.key).Err(); err != nil {
				t.Fatal(err)
			}
			if err := cc.RPush(ctx, tc.key, "by-hand").Err(); err != nil {
				t.Fatal(err)
			}
			if err := tc.write(ctx); err != nil {
				t.Fatal(err)
			}
			err := r.waitStopped(t, "the target rejected a command")
			var re *RejectedError
			if !errors.As(err, &re) || len(re.State.Rejected) != 1 || re.State.Rejected[0].Key != tc.key {
				t.Fatalf("Run returned %v, want a RejectedError naming %s", err, tc.key)
			}
			r.s.Close()
			r.s = nil

			if err := cc.Del(ctx, tc.key).Err(); err != nil {
				t.Fatal(err)
			}
			if err := tc.fix(ctx); err != nil {
				t.Fatal(err)
			}
			rep, err := runOnceWith(t, ctx, cfg, true)
			if err != nil {
				t.Fatalf("--retry-rejected: %v", err)
			}
			if rep.RejectedRetried != 1 {
				t.Errorf("retries counted: %d, want 1", rep.RejectedRetried)
			}
			if !tc.want(ctx) {
				t.Fatalf("%s on the target after the retry is not what the source holds", tc.key)
			}
			assertClusterEqualsSource(t, ctx, sc, cc)
		})
	}
}

func assertClusterEqualsSource(t *testing.T, ctx context.Context, sc *redis.Client, cc *redis.ClusterClient) {
	t.Helper()
	v, err := verify.Compare(ctx, sc, cc, verify.Options{IgnoreKeys: func(_ int, k string) bool { return strings.HasPrefix(k, checkpoint.KeyPrefix) }})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Equal() {
		t.Fatalf("the target differs from the source: %v", v.Diffs)
	}
}

// TestClusterTargetRejectedPartNotRecomputable: a part of a command split
// by slot that the cluster sink computed from the target's data (LMOVE:
// the element read from the source list, pushed onto the destination) is
// rejected. A retry cannot compute it again: --retry-rejected is refused
// with a message saying so, nothing is written, and --skip-rejected goes on.
func TestClusterTargetRejectedPartNotRecomputable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, cl, sc, cc := startSourceAndCluster(t)
	from, to := "s1", "s2" // slots 15224 and 2843: two masters
	if err := sc.RPush(ctx, from, "a", "b").Err(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, src, cl.Masters[0])
	cfg.Name = "rejected-lmove"
	r := startSyncer(t, ctx, cfg)
	waitCaughtUp(t, ctx, r.s, src, r.errc)
	if err := cc.Set(ctx, to, "by-hand", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := sc.LMove(ctx, from, to, "RIGHT", "LEFT").Err(); err != nil {
		t.Fatal(err)
	}
	err := r.waitStopped(t, "the target rejected a part of LMOVE")
	var re *RejectedError
	if !errors.As(err, &re) || len(re.State.Rejected) != 1 || re.State.Rejected[0].Key != to {
		t.Fatalf("Run returned %v, want a RejectedError naming %s", err, to)
	}
	off := re.State.Rejected[0].Offset
	r.s.Close()
	r.s = nil

	if err := cc.Del(ctx, to).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = runOnceWith(t, ctx, cfg, true)
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "cannot compute again") {
		t.Fatalf("--retry-rejected of a part computed from the target: %v, want a refusal saying it cannot be computed again", err)
	}
	if n := cc.Exists(ctx, to).Val(); n != 0 {
		t.Fatalf("the refused retry wrote %s", to)
	}
	if err := cc.LPush(ctx, to, "b").Err(); err != nil { // fixed by hand
		t.Fatal(err)
	}
	if _, err := runOnceWith(t, ctx, cfg, false, off); err != nil {
		t.Fatalf("--skip-rejected %d: %v", off, err)
	}
	assertClusterEqualsSource(t, ctx, sc, cc)
}

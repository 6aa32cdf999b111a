package main

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
)

// startAtomicMigration starts moving slots (served by master from) to
// master to with the server's atomic slot migration, without waiting.
func startAtomicMigration(t *testing.T, src *redistest.Cluster, name string, from, to int, slots ...int) {
	t.Helper()
	var args []any
	on := src.Masters[to]
	if strings.HasPrefix(name, "valkey") {
		on = src.Masters[from]
		args = []any{"CLUSTER", "MIGRATESLOTS", "SLOTSRANGE"}
		for _, s := range slots {
			args = append(args, s, s)
		}
		args = append(args, "NODE", redistest.NodeID(t, src.Masters[to]))
	} else {
		args = []any{"CLUSTER", "MIGRATION", "IMPORT"}
		for _, s := range slots {
			args = append(args, s, s)
		}
	}
	c := on.Client()
	defer c.Close()
	if err := c.Do(context.Background(), args...).Err(); err != nil {
		t.Fatalf("starting the atomic migration of slots %v: %v", slots, err)
	}
}

// waitSlotsAt waits until every master sees master to as the owner of slots.
func waitSlotsAt(t *testing.T, src *redistest.Cluster, to int, slots ...int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		for _, m := range src.Masters {
			c := m.Client()
			got, err := c.ClusterSlots(context.Background()).Result()
			c.Close()
			for _, s := range slots {
				owner := ""
				for _, r := range got {
					if s >= int(r.Start) && s <= int(r.End) && len(r.Nodes) > 0 {
						owner = r.Nodes[0].Addr
					}
				}
				ok = ok && err == nil && owner == src.Masters[to].Addr
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("slots %v never moved to master %d", slots, to)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestClusterAtomicMigrationKill kills `redferry sync` (SIGKILL) while an
// atomic slot migration of slots a non-idempotent load writes is under way,
// twice (there and back), and starts it again each time: the target ends
// equal to the source and each master served one full sync only.
func TestClusterAtomicMigrationKill(t *testing.T) {
	names := []string{redistest.Valkey91}
	if os.Getenv("REDFERRY_CLUSTER_MATRIX") != "" {
		names = append(names, redistest.Redis86)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// A migration streams the moved slots' snapshot into the
			// importer's backlog: it must hold what the killed sync misses.
			src := redistest.StartClusterWithReplicas(t, name, 2, 0, redistest.Options{
				Args: []string{"repl-diskless-sync-delay", "0", "repl-backlog-size", "64mb"}})
			dst := redistest.Start(t, redistest.Valkey91, redistest.Options{})
			fillCluster(t, src, 3000)
			// Two slots of the second master (slots 8192-16383).
			var tags []string
			for i := 0; len(tags) < 2; i++ {
				if tag := fmt.Sprintf("{m%d}", i); server.KeySlot([]byte(tag)) >= 8192 {
					tags = append(tags, tag)
				}
			}
			c := src.Client()
			for i := 0; i < 30000; i += 500 {
				p := c.Pipeline()
				for j := i; j < i+500; j++ {
					p.Set(ctx, fmt.Sprintf("big:%s:%d", tags[j%2], j), strings.Repeat("v", 100), 0)
				}
				if _, err := p.Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
			c.Close()
			slots := []int{server.KeySlot([]byte(tags[0])), server.KeySlot([]byte(tags[1]))}
			before := clusterFullSyncs(t, src)

			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Add(1)
			go func() { // INCR, LPUSH and APPEND on the moving slots and elsewhere
				defer wg.Done()
				c := src.Client()
				defer c.Close()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					tag := tags[i%2]
					if i%5 == 4 {
						tag = strconv.Itoa(i % 37)
					}
					switch i % 3 {
					case 0:
						c.Incr(ctx, "cnt:"+tag)
					case 1:
						c.LPush(ctx, "l:"+tag, i)
					case 2:
						c.Append(ctx, "s:"+tag, "x")
					}
				}
			}()

			rig := newKillRig(t)
			base := []string{"sync", "--source", src.Masters[0].URL(), "--target", dst.URL(), "--name", "asm",
				"--state-dir", t.TempDir(), "--status-addr", rig.statusAddr, "--batch-commands", "200"}

			rng := rand.New(rand.NewSource(time.Now().UnixNano()))
			jitter := func() time.Duration { return time.Duration(20+rng.Intn(300)) * time.Millisecond }
			from := func() int {
				cc := src.Masters[0].Client()
				defer cc.Close()
				got, _ := cc.ClusterSlots(ctx).Result()
				for _, r := range got {
					if slots[0] >= int(r.Start) && slots[0] <= int(r.End) && len(r.Nodes) > 0 && r.Nodes[0].Addr == src.Masters[1].Addr {
						return 1
					}
				}
				return 0
			}
			for round := 0; round < 2; round++ {
				f := 0
				// Killed at a random time after the migration has begun,
				// every shard streaming.
				rig.killInPhase(ctx, base, "streaming", 60*time.Second, jitter, func() {
					waitUntilStatus(t, rig.statusAddr, func(r clusterStatus) bool {
						for _, s := range r.Shards {
							if s.Phase != "streaming" {
								return false
							}
						}
						return len(r.Shards) == 2
					})
					f = from()
					startAtomicMigration(t, src, name, f, 1-f, slots...)
				})
				waitSlotsAt(t, src, 1-f, slots...)
				t.Logf("round %d: killed during the migration of slots %v from master %d", round, slots, f)
			}
			close(stop)
			wg.Wait()

			rig.finishCluster(base, src)
			keys := assertClusterEqual(t, src, dst)
			if got := clusterFullSyncs(t, src) - before; got != 2 {
				t.Errorf("the masters served %d full syncs, want 2 (one per shard, none after a kill)", got)
			}
			t.Logf("%d keys equal after 2 kills during atomic migrations", keys)
		})
	}
}

package clustersource

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestClusterTargetFirstSync: the first-sync decision looks at every master
// of a cluster target, not only the node named. A key on another master
// refuses the sync (no flush-target, no merge); flush-target empties every
// master; a restart finds the shards' checkpoint marks, spread over the
// masters, and resumes without asking again.
func TestClusterTargetFirstSync(t *testing.T) {
	src := redistest.StartClusterWithReplicas(t, redistest.Valkey91, 2, 0, fast)
	dst := redistest.StartClusterWithReplicas(t, redistest.Redis70, 3, 0, fast)
	fillCluster(t, src, 300)
	ctx := context.Background()
	// Keys on the masters other than the one named as the target.
	dc := dst.Client()
	defer dc.Close()
	var strangers []string
	for i := 0; len(strangers) < 2; i++ {
		k := fmt.Sprintf("stranger:%d", i)
		if owner := dst.Owner(t, dst.SlotOf(t, k)); owner != 0 && (len(strangers) == 0 || owner == 2) {
			if err := dc.Set(ctx, k, "x", 0).Err(); err != nil {
				t.Fatal(err)
			}
			strangers = append(strangers, k)
		}
	}
	cfg := clusterConfig(src, dst.Masters[0], t.TempDir())

	r := startSV(t, cfg)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the sync started into a target cluster holding keys on its other masters")
	}
	if r.err == nil || !strings.Contains(r.err.Error(), "holds 2 keys") {
		t.Fatalf("Run = %v, want a refusal counting the 2 keys on the other masters", r.err)
	}

	cfg.FlushTarget = true
	r = startSV(t, cfg)
	r.waitStreaming(t, 2)
	ld := startLoad(t, src, 1)
	time.Sleep(300 * time.Millisecond)
	ld.end()
	r.waitCaughtUp(t, src)
	if n := dc.Exists(ctx, strangers...).Val(); n != 0 {
		t.Fatalf("%d of the keys on the other masters survived flush-target", n)
	}
	assertEqual(t, src, dst)
	r.stop()

	// The target now holds keys and the marks: a restart resumes.
	cfg.FlushTarget = false
	r = startSV(t, cfg)
	r.waitStreaming(t, 2)
	ld = startLoad(t, src, 1)
	time.Sleep(300 * time.Millisecond)
	ld.end()
	r.waitCaughtUp(t, src)
	assertEqual(t, src, dst)
}

package sink

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/verify"
)

// assertEqual compares two servers (or clusters) key by key, the
// checkpoint keys left out.
func assertEqual(t *testing.T, ctx context.Context, want, got redis.UniversalClient) {
	t.Helper()
	rep, err := verify.Compare(ctx, want, got, verify.Options{IgnoreKeys: func(_ int, key string) bool {
		return strings.HasPrefix(key, checkpoint.KeyPrefix)
	}})
	if err != nil {
		t.Fatalf("comparing: %v", err)
	}
	if !rep.Equal() {
		var b strings.Builder
		for _, d := range rep.Diffs {
			fmt.Fprintf(&b, "  db%d %q %s: %s\n", d.DB, d.Key, d.Kind, d.Detail)
		}
		t.Fatalf("%d of %d keys differ:\n%s", rep.DiffCount, rep.KeysChecked, b.String())
	}
	t.Logf("%d keys equal", rep.KeysChecked)
}

// assertClusterRunsLikeStandalone runs cmds on the standalone server ref
// and, as a sync would, through the cluster sink c on cl, in batches of
// batchLen commands (source offsets 100, 101…): both must end with the same
// data.
func assertClusterRunsLikeStandalone(t *testing.T, ctx context.Context, c *Cluster, cl *redistest.Cluster, ref *redistest.Server, cmds [][]string, batchLen int) {
	t.Helper()
	rc := ref.Client()
	defer rc.Close()
	b := &Batch{}
	for i, cmd := range cmds {
		args := make([]any, len(cmd))
		for j, a := range cmd {
			args[j] = a
		}
		if err := rc.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v on the standalone server: %v", cmd, err)
		}
		b.AddStrings(int64(100+i), cmd...)
		if i%batchLen == batchLen-1 || i == len(cmds)-1 {
			b.Checkpoint = streamCP(int64(100 + i))
			if err := c.Apply(ctx, b); err != nil {
				t.Fatalf("batch ending with %v: %v", cmd, err)
			}
			b.Reset()
		}
	}
	cc := cl.Client()
	defer cc.Close()
	assertEqual(t, ctx, rc, cc)
}

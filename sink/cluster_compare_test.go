package sink

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

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

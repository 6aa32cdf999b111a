package clustersource

import (
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestLoadEndsWithItsTest: a test that leaves before ending its load (a
// failure or a skip) stops the load's workers, which would otherwise go on
// writing to whatever server later takes their cluster's addresses.
func TestLoadEndsWithItsTest(t *testing.T) {
	src := redistest.StartCluster(t, redistest.Redis70, 1, fast)
	var ld *load
	t.Run("leaves before ending its load", func(t *testing.T) {
		ld = startLoad(t, src, 1)
		waitUntil(t, 10*time.Second, "a write of the load", func() (bool, string) { return ld.writes.Load() > 0, "none yet" })
		t.SkipNow()
	})
	n := ld.writes.Load()
	time.Sleep(300 * time.Millisecond)
	if more := ld.writes.Load() - n; more != 0 {
		ld.end()
		t.Fatalf("the load of a test that has left wrote %d more times", more)
	}
}

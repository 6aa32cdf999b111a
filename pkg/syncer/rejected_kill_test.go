package syncer

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/checkpoint"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/sink"
)

// Environment of the child process TestRejectionRecordSurvivesKill starts.
const (
	killChildEnv       = "REDFERRY_TEST_KILL_CHILD"
	killChildSourceEnv = "REDFERRY_TEST_KILL_SOURCE"
	killChildTargetEnv = "REDFERRY_TEST_KILL_TARGET"
	killChildStateEnv  = "REDFERRY_TEST_KILL_STATE"
)

// TestRejectionRecordSurvivesKill: redferry is killed (SIGKILL) right after
// EXEC's reply told it the target rejected a command of the batch, before
// it wrote the record to the target. The checkpoint past the command is in
// the target: the batch's (a standalone target), or the mark of the
// command's slot (a cluster target, killed before the batch's Done). A
// restart must not go on past it: it records the command and stops until
// the operator answers, and nothing of the batch is applied twice. For a
// standalone target with the checkpoint in it and with checkpoint =
// "file", and for a cluster target of 3 masters.
func TestRejectionRecordSurvivesKill(t *testing.T) {
	for _, tc := range []struct {
		name, store string
		cluster     bool
	}{
		{name: "target", store: "target"},
		{name: "file", store: "file"},
		{name: "cluster", store: "target", cluster: true},
	} {
		t.Run(tc.name, func(t *testing.T) { rejectionRecordSurvivesKill(t, tc.store, tc.cluster) })
	}
}

func rejectionRecordSurvivesKill(t *testing.T, store string, cluster bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src := redistest.Start(t, redistest.Redis70, redistest.Options{Args: sourceArgs(false)})
	sc := src.Client()
	defer sc.Close()
	var cfg config.Config
	var dc redis.UniversalClient
	if cluster {
		cl := redistest.StartCluster(t, redistest.Redis70, 3, redistest.Options{})
		cfg, dc = testConfig(t, src, cl.Masters[0]), cl.Client()
	} else {
		dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
		cfg, dc = testConfig(t, src, dst), dst.Client()
	}
	defer dc.Close()
	cfg.Checkpoint = store
	// n and m around bad (in other slots of a cluster): applied once each.
	must(t, sc.MSet(ctx, "n", "0", "m", "0").Err())
	if _, err := runOnceWith(t, ctx, cfg, false); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	// A key of another type on the target: the source's INCR of it is
	// rejected inside EXEC, between INCRs that are applied.
	must(t, dc.RPush(ctx, "bad", "by-hand").Err())
	if _, err := sc.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Incr(ctx, "n")
		p.Incr(ctx, "bad")
		p.Incr(ctx, "m")
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The killed run, in a child process of this test binary.
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRejectionRecordKillChild$", "-test.v")
	child.Env = append(os.Environ(), killChildEnv+"="+store, killChildSourceEnv+"="+cfg.Source,
		killChildTargetEnv+"="+cfg.Target, killChildStateEnv+"="+cfg.StateDir)
	out, err := child.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child run ended with %v, want killed by SIGKILL before recording the rejection; its output:\n%s", err, tail(out))
	}
	if store == "target" {
		if st := targetCheckpointOf(t, ctx, dc); st.HasRejected() {
			t.Fatalf("the killed run recorded %+v in the target: the kill did not land before the record", st.Rejected)
		}
	}

	// The restart: it records the rejected command and stops there.
	_, err = runOnceWith(t, ctx, cfg, false)
	var re *RejectedError
	if !errors.As(err, &re) || !re.AtStart || len(re.State.Rejected) != 1 || re.State.Rejected[0].Key != "bad" {
		t.Fatalf("the restart returned %v; want it to stop at the rejected INCR bad (a RejectedError at start)", err)
	}
	t.Logf("the restart stopped: %v", err)
	if store == "target" {
		if st := targetCheckpointOf(t, ctx, dc); len(st.Rejected) != 1 || st.Rejected[0].Key != "bad" {
			t.Fatalf("the target's checkpoint records %+v after the restart, want INCR bad", st.Rejected)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, pendingRejectionFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the state dir still holds the record once the checkpoint does: %v", err)
	}
	// A second start without an answer still refuses.
	if _, err := runOnceWith(t, ctx, cfg, false); !errors.Is(err, ErrStoppedOnRejection) {
		t.Fatalf("a second start without an answer returned %v, want ErrStoppedOnRejection", err)
	}

	// The operator skips it; the stream goes on and nothing was applied twice.
	must(t, sc.Incr(ctx, "n").Err())
	if _, err := runOnceWith(t, ctx, cfg, false, re.State.Rejected[0].Offset); err != nil {
		t.Fatalf("--skip-rejected: %v", err)
	}
	for key, want := range map[string]string{"n": "2", "m": "1"} {
		if got := dc.Get(ctx, key).Val(); got != want {
			t.Errorf("%s = %q on the target after the answer, want %s (every INCR applied once)", key, got, want)
		}
	}
	if typ := dc.Type(ctx, "bad").Val(); typ != "list" {
		t.Fatalf("bad is a %s on the target, want the list left alone", typ)
	}
}

// targetCheckpointOf reads the checkpoint of the default sync from a
// standalone target, or the checkpoint to resume from out of a cluster
// target's marks.
func targetCheckpointOf(t *testing.T, ctx context.Context, dc redis.UniversalClient) checkpoint.State {
	t.Helper()
	c, ok := dc.(*redis.Client)
	if ok {
		return targetCheckpoint(t, ctx, c)
	}
	w, err := sink.Open(ctx, sink.Config{Addr: dc.(*redis.ClusterClient).Options().Addrs[0], CheckpointKey: checkpoint.KeyPrefix + "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	b, err := w.LoadCheckpoint(ctx)
	if err != nil || b == nil {
		t.Fatalf("reading the cluster target's checkpoint: %v (found: %t)", err, b != nil)
	}
	st, err := checkpoint.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestRejectionRecordKillChild is the run TestRejectionRecordSurvivesKill
// kills: it syncs until the target rejects a command, and kills itself
// between the record in the state dir and the one in the target.
func TestRejectionRecordKillChild(t *testing.T) {
	store := os.Getenv(killChildEnv)
	if store == "" {
		t.Skip("the child of TestRejectionRecordSurvivesKill")
	}
	cfg := config.Default()
	cfg.Source, cfg.Target, cfg.StateDir = os.Getenv(killChildSourceEnv), os.Getenv(killChildTargetEnv), os.Getenv(killChildStateEnv)
	cfg.StatusAddr, cfg.Progress, cfg.Checkpoint, cfg.Once = "", "never", store, true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := newFromConfig(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	s.afterPendingRejection = func() { _ = syscall.Kill(os.Getpid(), syscall.SIGKILL) }
	err = s.Run(ctx)
	t.Fatalf("the run ended without being killed at a rejected command: %v", err)
}

// tail is the last lines of a child's output.
func tail(out []byte) string {
	lines := strings.Split(string(out), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

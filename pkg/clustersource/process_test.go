package clustersource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/fsutil"
	"github.com/redferry/redferry/pkg/status"
	"github.com/redferry/redferry/pkg/syncer"
)

// A supervisor in a process of its own, to be killed with SIGKILL: the
// test binary started again to run TestSupervisorProcess only, which writes
// the status (status.Report with its shards) to a file every few
// milliseconds for the test to follow.

const processEnv = "REDFERRY_CLUSTERSOURCE_PROCESS"

// processArgs is what the process is told (as JSON in processEnv).
type processArgs struct {
	Source, Target, StateDir, Name, StatusFile string
	MaxOpsPerSecond                            int64
	BatchCommands                              int // 0: the default
}

type redferryProcess struct {
	cmd    *exec.Cmd
	status string
	log    string
}

func startRedferryProcess(t *testing.T, cfg config.Config) *redferryProcess {
	t.Helper()
	dir := t.TempDir()
	args := processArgs{Source: cfg.Source, Target: cfg.Target, StateDir: cfg.StateDir, Name: cfg.Name,
		StatusFile: filepath.Join(dir, "status.json"), MaxOpsPerSecond: cfg.MaxOpsPerSecond,
		BatchCommands: cfg.BatchCommands}
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	p := &redferryProcess{status: args.StatusFile, log: filepath.Join(dir, "redferry.log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestSupervisorProcess$", "-test.count=1", "-test.timeout=10m")
	p.cmd.Env = append(os.Environ(), processEnv+"="+string(b))
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			out, _ := os.ReadFile(p.log)
			lines := strings.Split(string(out), "\n")
			t.Logf("the last lines of the redferry process' log:\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return p
}

func (p *redferryProcess) report() (status.Report, bool) {
	var r status.Report
	b, err := os.ReadFile(p.status)
	return r, err == nil && json.Unmarshal(b, &r) == nil
}

func (p *redferryProcess) waitStatus(t *testing.T, what string, cond func(status.Report) (bool, string)) {
	t.Helper()
	waitUntil(t, 90*time.Second, what, func() (bool, string) {
		if p.cmd.ProcessState != nil {
			t.Fatalf("the redferry process ended: %v", p.cmd.ProcessState)
		}
		r, ok := p.report()
		if !ok {
			return false, "no status yet"
		}
		if r.LastError != "" && strings.Contains(r.LastError, "stopping") {
			return false, "last error: " + r.LastError
		}
		return cond(r)
	})
}

// waitApplied waits until the shards have applied what their masters had
// sent when it was called (in all: the failover-free case), the load going on.
func (p *redferryProcess) waitApplied(t *testing.T, src *redistest.Cluster) {
	t.Helper()
	var want int64
	for _, m := range src.Masters {
		off, _ := strconv.ParseInt(m.InfoField(t, "replication", "master_repl_offset"), 10, 64)
		want += off
	}
	p.waitStatus(t, "every shard caught up", func(r status.Report) (bool, string) {
		var got int64
		for _, s := range r.Shards {
			got += s.OffsetApplied
		}
		return len(r.Shards) == len(src.Masters) && got >= want, fmt.Sprintf("applied %d of %d", got, want)
	})
}

// kill sends SIGKILL and returns the last status written before it.
func (p *redferryProcess) kill(t *testing.T) status.Report {
	t.Helper()
	r, _ := p.report()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	return r
}

// TestSupervisorProcess is the redferry process of the tests above, when
// started by them; it runs until killed (or SIGTERM).
func TestSupervisorProcess(t *testing.T) {
	env := os.Getenv(processEnv)
	if env == "" {
		t.Skip("the redferry process that the cluster tests start and kill")
	}
	var a processArgs
	if err := json.Unmarshal([]byte(env), &a); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Source, cfg.Target, cfg.StateDir, cfg.Name, cfg.MaxOpsPerSecond = a.Source, a.Target, a.StateDir, a.Name, a.MaxOpsPerSecond
	if a.BatchCommands > 0 {
		cfg.BatchCommands = a.BatchCommands
	}
	log, err := zap.NewDevelopment()
	if err != nil {
		t.Fatal(err)
	}
	opt, err := syncer.OptionsFromConfig(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := New(Options{Sync: opt, Logger: log, Poll: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sv.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		for ctx.Err() == nil {
			if b, err := json.Marshal(sv.Tracker().Report()); err == nil {
				_ = fsutil.WriteAtomic(filepath.Dir(a.StatusFile), filepath.Base(a.StatusFile), b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	if err := sv.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

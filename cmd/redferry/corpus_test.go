package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/verify"
	"github.com/redferry/redferry/transform"
)

// corpusDir finds the shared corpus of real-world RDB files (its
// SOURCES.md says where each comes from): $REDFERRY_RDB_CORPUS, else
// shared/rdb-corpus beside the module root or one of its parents (a git
// worktree sits deeper than the main checkout). It is never copied into
// the repository.
func corpusDir(t *testing.T) string {
	if d := os.Getenv("REDFERRY_RDB_CORPUS"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		c := filepath.Join(d, "shared", "rdb-corpus")
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// corpusFiles lists the RDB files under dir (by their magic, whatever
// their name), leaving out the parsers' golden outputs in expected/.
func corpusFiles(t *testing.T, dir string) (files []string, magic map[string]string) {
	magic = map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "expected" {
				return filepath.SkipDir
			}
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		head := make([]byte, 6)
		n, _ := io.ReadFull(f, head)
		f.Close()
		switch {
		case strings.HasPrefix(string(head[:n]), "REDIS"):
			magic[path] = "REDIS"
		case strings.HasPrefix(string(head[:n]), "VALKEY"):
			magic[path] = "VALKEY"
		default:
			return nil
		}
		files = append(files, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files, magic
}

// restoreFile runs `redferry restore` (its function, as the command does)
// of file into target and returns the number of empty keys it reports
// skipped. A panic is returned as an error.
func restoreFile(target *redistest.Server, file, mode string) (skippedEmpty int64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := config.Default()
	cfg.Target, cfg.ReplayMode, cfg.Progress = target.URL(), mode, "never"
	core, logs := observer.New(zap.InfoLevel)
	if err := runRestore(ctx, cfg, file, zap.New(core)); err != nil {
		return 0, err
	}
	done := logs.FilterMessage("restore done").All()
	if len(done) != 1 {
		return 0, fmt.Errorf("%d \"restore done\" lines", len(done))
	}
	n, _ := done[0].ContextMap()["skipped_empty"].(int64)
	return n, nil
}

// offsetInError: a refusal names where in the file it happened.
var offsetInError = regexp.MustCompile(`(byte|offset) \d+`)

// TestRDBCorpus: every real-world RDB file of the shared corpus that one of
// our servers loads is restored by `redferry restore` into a fresh server
// of that version with exactly the data the server's own load gives (key by
// key, TTLs and functions included), and with as many empty keys skipped as
// the server skips: in the auto replay mode always, in the commands mode
// too unless it refuses, naming the offset, a value only RESTORE copies as
// stored. Every file that none of them loads is refused with an error that
// names its byte offset, in both modes. Nothing panics.
func TestRDBCorpus(t *testing.T) {
	dir := corpusDir(t)
	if dir == "" {
		t.Skip("no RDB corpus: set REDFERRY_RDB_CORPUS to the rdb-corpus directory (shared/rdb-corpus beside the repository)")
	}
	files, magic := corpusFiles(t, dir)
	if len(files) == 0 {
		t.Fatalf("no RDB files under %s", dir)
	}
	pool := newServerPool(t)
	outcome := map[string]int{} // category -> files
	var failures []string       // repeated at the end, where a truncated log still shows them
	for _, file := range files {
		name, _ := filepath.Rel(dir, file)
		c := &fileCheck{t: t, pool: pool, file: file, name: name}
		var (
			ref    *serverKind
			result loadResult
			whys   []string
		)
		for _, k := range loadCandidates[magic[file]] {
			if result = pool.load(k, file); result.loaded {
				ref = &k
				break
			}
			whys = append(whys, k.String()+": "+result.why)
		}
		var cat string
		if ref == nil {
			c.refused(loadCandidates[magic[file]][0], strings.Join(whys, "; "))
			cat = "loaded by none: refused with a byte offset"
			c.logf("no server loads it: %s", strings.Join(whys, "; "))
		} else {
			cat = "loaded by " + ref.String() + ": restored equal"
			if c.restored(*ref, result) {
				cat += " (commands mode: refused with an offset, the value needs RESTORE)"
			}
		}
		if c.failed {
			cat = "FAILED: " + cat
			failures = append(failures, name+": "+strings.Join(c.errors, "; "))
		}
		outcome[cat]++
	}
	var summary []string
	for cat, n := range outcome {
		summary = append(summary, fmt.Sprintf("%4d  %s", n, cat))
	}
	sort.Strings(summary)
	t.Logf("%d files:\n%s", len(files), strings.Join(summary, "\n"))
	for _, f := range failures {
		t.Errorf("FAILED %s", f)
	}
}

var replayModes = []string{transform.ModeAuto, transform.ModeCommands}

// fileCheck checks one corpus file.
type fileCheck struct {
	t          *testing.T
	pool       *serverPool
	file, name string
	failed     bool
	errors     []string
}

// logf tells, with -v only, why a file was refused: 50 such lines would
// otherwise bury a failure in a truncated CI log.
func (c *fileCheck) logf(format string, args ...any) {
	if testing.Verbose() {
		c.t.Logf(c.name+": "+format, args...)
	}
}

func (c *fileCheck) errorf(format string, args ...any) {
	c.t.Helper()
	c.failed = true
	c.errors = append(c.errors, fmt.Sprintf(format, args...))
	c.t.Errorf(c.name+": "+format, args...)
}

// restoreInto empties the target of kind k and restores the file into it.
func (c *fileCheck) restoreInto(k serverKind, mode string) (*redistest.Server, int64, error) {
	target := c.pool.get("target", k)
	tc := target.Client()
	defer tc.Close()
	if err := empty(context.Background(), tc); err != nil {
		c.t.Fatal(err)
	}
	skipped, err := restoreFile(target, c.file, mode)
	if !alive(target.Addr) {
		c.errorf("the target died during restore (%s)", mode)
		c.pool.replace("target", k)
	}
	return target, skipped, err
}

// refused: a file no server of ours loads (why: what they said) is
// refused, naming the offset.
func (c *fileCheck) refused(k serverKind, why string) {
	for _, mode := range replayModes {
		_, _, err := c.restoreInto(k, mode)
		switch {
		case err == nil:
			c.errorf("no server loads it (%s), yet restore (%s) succeeded", why, mode)
		case strings.Contains(err.Error(), "panic:"):
			c.errorf("restore (%s) panicked: %v", mode, err)
		case !offsetInError.MatchString(err.Error()):
			c.errorf("restore (%s) refused it without naming a byte offset: %v", mode, err)
		default:
			c.logf("refused (%s): %v", mode, err)
		}
	}
}

// restored: a file the loader of kind ref loaded is restored into a fresh
// server of that version equal to the loader. It reports whether the
// commands mode refused a value only RESTORE copies.
func (c *fileCheck) restored(ref serverKind, result loadResult) (needsRestore bool) {
	ctx := context.Background()
	loader := c.pool.get("loader", ref)
	for _, mode := range replayModes {
		target, skipped, err := c.restoreInto(serverKind{name: ref.name}, mode)
		if err != nil {
			if mode == transform.ModeCommands && errors.Is(err, transform.ErrNeedsRestore) && offsetInError.MatchString(err.Error()) {
				c.logf("refused by commands: %v", err)
				needsRestore = true
				continue
			}
			c.errorf("loaded by %s, but restore (%s) failed: %v", ref, mode, err)
			continue
		}
		if skipped != int64(result.emptySkipped) {
			c.errorf("restore (%s) reports %d empty keys skipped, %s skipped %d", mode, skipped, ref, result.emptySkipped)
		}
		lc, tc := loader.Client(), target.Client()
		rep, err := verify.Compare(ctx, lc, tc, verify.Options{MaxDiffs: 1000}) // all of them: onlyExpiredIDMP judges each
		lc.Close()
		tc.Close()
		if err != nil {
			c.t.Fatalf("%s: compare: %v", c.name, err)
		}
		if !rep.Equal() && !onlyExpiredIDMP(rep) {
			c.errorf("restored (%s) into %s differs from the server's own load in %d ways, e.g. %v",
				mode, ref.name, rep.DiffCount, rep.Diffs[:min(5, len(rep.Diffs))])
		}
	}
	return needsRestore
}

// onlyExpiredIDMP: every difference is in the number of idempotent ids a
// Redis 8.6 stream tracks. The corpus files recorded theirs long ago, past
// their IDMP-DURATION, and a server drops such ids lazily, when the stream
// is next touched: the server's own load and the restored copy then count
// them by when each was last written to, not by what the file holds
// (RESTORE, byte for byte, differs the same way).
func onlyExpiredIDMP(rep verify.Report) bool {
	if rep.DiffCount == 0 || rep.DiffCount > int64(len(rep.Diffs)) {
		return false
	}
	for _, d := range rep.Diffs {
		if d.Kind != verify.KindStreamMeta || !strings.Contains(d.Detail, "pids-tracked") && !strings.Contains(d.Detail, "iids-tracked") {
			return false
		}
	}
	return true
}

package transform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/verify"
	"github.com/redferry/redferry/protocol"
	"github.com/redferry/redferry/sink"
)

// A rig for checking translations on real servers: sources with a replica
// link each, whose propagated commands are captured as the syncer would get
// them, and targets to which the translation is applied.

// translateMatrixEnv runs every source against every target; without it a
// representative subset runs (oldest, newest and Valkey on each side).
const translateMatrixEnv = "REDFERRY_TRANSLATE_MATRIX"

var (
	rigSourcesAll = []string{redistest.Redis70, redistest.Redis80, redistest.Redis806, redistest.Redis86, redistest.Valkey81, redistest.Valkey91}
	rigTargetsAll = []string{redistest.Redis60, redistest.Redis70, redistest.Redis80, redistest.Redis806, redistest.Redis86, redistest.Valkey81, redistest.Valkey91}
	rigSourcesFew = []string{redistest.Redis70, redistest.Redis806, redistest.Redis86, redistest.Valkey91}
	rigTargetsFew = []string{redistest.Redis60, redistest.Redis70, redistest.Redis80, redistest.Redis86, redistest.Valkey81, redistest.Valkey91}
)

type rigNode struct {
	srv  *redistest.Server
	info server.Info
	c    *redis.Client
	link *protocol.Link   // sources
	sink *sink.Standalone // targets
}

type rig struct {
	sources, targets []*rigNode
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srcs, dsts := rigSourcesFew, rigTargetsFew
	if os.Getenv(translateMatrixEnv) != "" {
		srcs, dsts = rigSourcesAll, rigTargetsAll
	}
	r := &rig{}
	for _, name := range srcs {
		r.sources = append(r.sources, startSource(t, name))
	}
	for _, name := range dsts {
		srv := redistest.Start(t, name, redistest.Options{})
		s := newSink(t, srv, sink.Config{})
		c := srv.Client()
		t.Cleanup(func() { c.Close() })
		r.targets = append(r.targets, &rigNode{srv: srv, info: s.Server(), c: c, sink: s})
	}
	return r
}

func startSource(t *testing.T, name string) *rigNode {
	t.Helper()
	srv := redistest.Start(t, name, redistest.Options{Args: []string{"repl-diskless-sync-delay", "0"}})
	c := srv.Client()
	t.Cleanup(func() { c.Close() })
	text, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	info, err := server.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	cx := ctx(t)
	link, err := protocol.Dial(cx, protocol.LinkConfig{Addr: srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { link.Close() })
	if _, err := link.PSync(cx, "?", -1); err != nil {
		t.Fatal(err)
	}
	if _, err := link.ReadSnapshot(cx, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	if err := link.SendAck(link.Offset()); err != nil {
		t.Fatal(err)
	}
	return &rigNode{srv: srv, info: info, c: c, link: link}
}

// captured is a propagated command, copied out of the link's buffer.
type captured struct {
	args [][]byte
	raw  []byte
}

func (c captured) String() string {
	var ws []string
	for _, a := range c.args {
		ws = append(ws, fmt.Sprintf("%q", a))
	}
	return strings.Join(ws, " ")
}

// run runs cmds on the source (after FLUSHALL) and returns what it
// propagated, and the first error a command got. In a command, {dump:k}
// stands for the DUMP of k on the source, {functiondump} for FUNCTION DUMP.
func (n *rigNode) run(t *testing.T, cmds []string) ([]captured, error) {
	t.Helper()
	cx := ctx(t)
	if n.info.Functions() {
		// Functions outlive FLUSHALL: remove them unseen by the targets,
		// which apply() empties of functions itself.
		if err := n.c.Do(cx, "FUNCTION", "FLUSH").Err(); err != nil {
			t.Fatal(err)
		}
		n.read(t)
	}
	var firstErr error
	for _, cmd := range append([]string{"FLUSHALL"}, cmds...) {
		args := splitCommand(cmd)
		for i, a := range args {
			switch s := a.(string); {
			case strings.HasPrefix(s, "{dump:"):
				args[i] = n.c.Dump(cx, strings.TrimSuffix(strings.TrimPrefix(s, "{dump:"), "}")).Val()
			case s == "{functiondump}":
				args[i] = n.c.FunctionDump(cx).Val()
			}
		}
		err := n.c.Do(cx, args...).Err()
		if err != nil && !errors.Is(err, redis.Nil) && firstErr == nil {
			firstErr = fmt.Errorf("%s: %q: %w", n.srv.Name, cmd, err)
		}
	}
	return n.read(t), firstErr
}

// read returns what the source propagated up to its current offset.
func (n *rigNode) read(t *testing.T) []captured {
	t.Helper()
	cx := ctx(t)
	// A diskless master streams only after an ACK that comes once it has
	// seen the snapshot through: the one sent right after it may be early.
	if err := n.link.SendAck(n.link.Offset()); err != nil {
		t.Fatal(err)
	}
	text, err := n.c.Info(cx, "replication").Result()
	if err != nil {
		t.Fatal(err)
	}
	end, err := server.ReplOffset(text)
	if err != nil {
		t.Fatal(err)
	}
	var out []captured
	for n.link.Offset() < end {
		cmd, err := n.link.ReadCommand()
		if err != nil {
			t.Fatalf("%s: reading the propagated stream: %v", n.srv.Name, err)
		}
		c := captured{raw: append([]byte(nil), cmd.Raw...)}
		for _, a := range cmd.Args {
			c.args = append(c.args, append([]byte(nil), a...))
		}
		out = append(out, c)
	}
	if err := n.link.SendAck(n.link.Offset()); err != nil {
		t.Fatal(err)
	}
	return out
}

// splitCommand splits on spaces; "double quotes" keep a piece with spaces,
// in which \\n is a newline.
func splitCommand(s string) []any {
	var out []any
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				panic("unterminated quote in " + s)
			}
			out = append(out, strings.ReplaceAll(s[1:1+end], `\n`, "\n"))
			s = s[2+end:]
			continue
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

// apply translates the captured commands for the target and applies them.
// It returns the translation error (ErrUnsupported), if any, and fails the
// test when the target refuses what the translation gave it.
func (n *rigNode) apply(t *testing.T, src server.Info, cmds []captured, u Unholdable) (*sink.Batch, error) {
	t.Helper()
	if n.info.Functions() {
		if err := n.c.Do(ctx(t), "FUNCTION", "FLUSH").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.c.FlushAll(ctx(t)).Err(); err != nil {
		t.Fatal(err)
	}
	tr := NewTranslator(n.info, TranslateOptions{Source: src, Unholdable: u})
	var b sink.Batch
	for i, c := range cmds {
		if err := tr.Translate(c.args, c.raw, int64(i+1), &b); err != nil {
			return &b, err
		}
	}
	if err := n.sink.Apply(ctx(t), &b); err != nil {
		t.Errorf("%s: the target refused the translation: %v\nbatch: %s", n.srv.Name, err, commands(&b))
	}
	return &b, nil
}

// equal compares the source and the target with pkg/verify.
func equal(t *testing.T, src, dst *rigNode) []verify.Diff {
	t.Helper()
	rep, err := verify.Compare(ctx(t), src.c, dst.c, verify.Options{TTLTolerance: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Diffs
}

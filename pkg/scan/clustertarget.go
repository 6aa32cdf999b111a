package scan

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/sink"
)

// target is where the writer applies its batches: a standalone server
// (sink.Standalone: one MULTI/EXEC per batch with the checkpoint) or a
// cluster (clusterTarget).
type target interface {
	Apply(ctx context.Context, b *sink.Batch) error
	LoadCheckpoint(ctx context.Context) ([]byte, error)
	Server() server.Info
	Close() error
}

// errClusterDB: a cluster has db 0 only.
var errClusterDB = errors.New("a cluster target has db 0 only")

// errBatchLost: a batch sent to a cluster target may be applied in part
// (a lost connection, a slot that moved): its keys are copied again.
var errBatchLost = errors.New("a batch to the cluster target was not applied whole")

// clusterTarget writes batches into a cluster: each command goes to the
// master of its key's slot (in batch order per master, masters in
// parallel), FUNCTION to every master, and the checkpoint after the batch
// to the master of its key. There is no transaction across slots, so a
// batch can be applied in part; nothing is ever sent twice (go-redis'
// cluster pipeline resends a whole node's commands after a network error,
// which would apply a list's pushes twice): a batch that failed is
// reported to lost with its keys, and they are copied again from the
// source (a copy replaces the key whole: RESTORE … REPLACE, or DEL first).
type clusterTarget struct {
	opt       server.ClientOptions
	key       string // the checkpoint key
	onError   string
	onSkipped func(*sink.TargetError)
	log       *zap.Logger
	info      server.Info

	masters []server.ClusterNode
	owners  []int
	conns   map[string]*redis.Client
	// lost is told the keys of a batch that failed (and whether it held
	// function libraries): they are to be copied again.
	lost func(keys []string, functions bool)
}

func newClusterTarget(ctx context.Context, opt server.ClientOptions, checkpointKey string, cfg sink.Config, log *zap.Logger) (*clusterTarget, error) {
	t := &clusterTarget{opt: opt, key: checkpointKey, onError: cfg.OnError, onSkipped: cfg.OnSkipped, log: log,
		conns: map[string]*redis.Client{}, lost: func([]string, bool) {}}
	if err := t.refresh(ctx); err != nil {
		t.Close()
		return nil, err
	}
	in, err := server.Fetch(ctx, t.conn(t.masters[0].Addr))
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("target master %s: %w", t.masters[0].Addr, err)
	}
	t.info = in
	return t, nil
}

func (t *clusterTarget) conn(addr string) *redis.Client {
	c, ok := t.conns[addr]
	if !ok {
		o := t.opt
		o.Addr = addr
		c = server.NewClient(o)
		t.conns[addr] = c
	}
	return c
}

// refresh reads the target's masters from any node known.
func (t *clusterTarget) refresh(ctx context.Context) error {
	addrs := []string{t.opt.Addr}
	for _, m := range t.masters {
		addrs = append([]string{m.Addr}, addrs...)
	}
	var err error
	for _, a := range addrs {
		var ms []server.ClusterNode
		if ms, err = server.ClusterMasters(ctx, t.conn(a)); err == nil {
			t.masters, t.owners = ms, server.SlotOwners(ms)
			return nil
		}
	}
	return fmt.Errorf("target cluster: %w", err)
}

// Masters returns the target's masters as last read.
func (t *clusterTarget) Masters() []server.ClusterNode { return t.masters }

func (t *clusterTarget) Server() server.Info { return t.info }

func (t *clusterTarget) Close() error {
	for _, c := range t.conns {
		c.Close()
	}
	t.conns = map[string]*redis.Client{}
	return nil
}

// LoadCheckpoint reads the checkpoint key (nil when there is none).
func (t *clusterTarget) LoadCheckpoint(ctx context.Context) ([]byte, error) {
	b, err := t.ownerOf([]byte(t.key)).Get(ctx, t.key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	return b, err
}

func (t *clusterTarget) ownerOf(key []byte) *redis.Client {
	i := t.owners[server.KeySlot(key)]
	if i < 0 {
		i = 0 // answers CLUSTERDOWN or MOVED
	}
	return t.conn(t.masters[i].Addr)
}

// routingKey is the key a command of the writer is routed by (nil: none).
func routingKey(name string, args [][]byte) []byte {
	switch name {
	case "EVAL", "EVALSHA", "FCALL":
		if len(args) > 3 && string(args[2]) != "0" {
			return args[3]
		}
		return nil
	case "XGROUP":
		if len(args) > 2 {
			return args[2]
		}
		return nil
	}
	if len(args) > 1 {
		return args[1]
	}
	return nil
}

// Apply sends the batch, then its checkpoint.
func (t *clusterTarget) Apply(ctx context.Context, b *sink.Batch) error {
	perNode := make([][]int, len(t.masters))
	var keys []string
	seen := map[string]bool{}
	functions := false
	for i := range b.Len() {
		args, off := b.Command(i)
		name := strings.ToUpper(string(args[0]))
		switch name {
		case "SELECT":
			if len(args) > 1 && string(args[1]) != "0" {
				return fmt.Errorf("%w: a key of db %s reached the writer (source offset %d)", errClusterDB, args[1], off)
			}
			continue
		case "FUNCTION":
			functions = true
			for n := range perNode {
				perNode[n] = append(perNode[n], i)
			}
			continue
		}
		key := routingKey(name, args)
		if key == nil {
			return fmt.Errorf("scan: the cluster target cannot route %s (no key): this is a bug of redferry, please report it", name)
		}
		if !seen[string(key)] {
			seen[string(key)] = true
			keys = append(keys, string(key))
		}
		n := t.owners[server.KeySlot(key)]
		if n < 0 {
			n = 0
		}
		perNode[n] = append(perNode[n], i)
	}
	type outcome struct {
		cmds []*redis.Cmd
		idx  []int
		err  error
	}
	out := make([]outcome, len(perNode))
	var wg sync.WaitGroup
	for n, idx := range perNode {
		if len(idx) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := t.conn(t.masters[n].Addr).Pipeline()
			cmds := make([]*redis.Cmd, len(idx))
			for j, i := range idx {
				args, _ := b.Command(i)
				a := make([]any, len(args))
				for k, x := range args {
					a[k] = x
				}
				cmds[j] = p.Do(ctx, a...)
			}
			_, err := p.Exec(ctx)
			out[n] = outcome{cmds: cmds, idx: idx, err: err}
		}()
	}
	wg.Wait()
	var failed error
	var rejected []*sink.TargetError
	for n, o := range out {
		if o.err == nil {
			continue
		}
		for j, c := range o.cmds {
			err := c.Err()
			switch {
			case err == nil || errors.Is(err, redis.Nil):
			case redirected(err) || !isReplyError(err):
				if failed == nil {
					failed = fmt.Errorf("target master %s: %w", t.masters[n].Addr, err)
				}
			default:
				args, off := b.Command(o.idx[j])
				te := &sink.TargetError{Command: strings.ToUpper(string(args[0])), Offset: off, Message: err.Error(), Applied: true}
				if k := routingKey(te.Command, args); k != nil {
					te.Key = append([]byte(nil), k...)
				}
				rejected = append(rejected, te)
			}
		}
	}
	if failed != nil {
		t.lost(keys, functions)
		if redirected(failed) {
			if err := t.refresh(ctx); err != nil {
				t.log.Warn("reading the target cluster's masters again failed", zap.Error(err))
			}
		}
		return fmt.Errorf("%w (its %d keys are copied again): %w", errBatchLost, len(keys), failed)
	}
	if len(rejected) > 0 {
		if t.onError != sink.OnErrorLog {
			rejected[0].Others = len(rejected) - 1
			return rejected[0]
		}
		for _, te := range rejected {
			t.log.Warn("the target rejected a command: skipped (on-target-error = log)", zap.Error(te))
			if t.onSkipped != nil {
				t.onSkipped(te)
			}
		}
	}
	if b.Checkpoint == nil || t.key == "" {
		return nil
	}
	if err := t.ownerOf([]byte(t.key)).Set(ctx, t.key, b.Checkpoint, 0).Err(); err != nil {
		if redirected(err) {
			_ = t.refresh(ctx)
		}
		return fmt.Errorf("%w: writing the checkpoint %s: %w", errBatchLost, t.key, err)
	}
	return nil
}

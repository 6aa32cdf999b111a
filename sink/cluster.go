package sink

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/retry"
	"github.com/redferry/redferry/pkg/server"
)

// Cluster is a Writer into a Redis or Valkey cluster: every command is
// routed by its keys' slot to the master serving it; a batch is applied as
// one MULTI/EXEC per slot (a cluster runs a transaction only within one
// slot), each with that slot's checkpoint mark (cluster_mark.go), each
// master's transactions on its one connection, the masters in parallel;
// redirections (MOVED, ASK) are followed and the topology read again
// without losing or repeating a command.
type Cluster struct {
	cfg   Config
	log   *zap.Logger
	info  server.Info
	cmds  commandTable
	dbs   bool // the target accepts SELECT of a db other than 0 (Valkey 9 cluster databases)
	stats stats

	mu    sync.Mutex // one batch at a time
	topo  *topology
	nodes map[string]*Standalone    // one connection per master, by address
	tags  *[server.SlotCount]string // a hash tag of each slot
	// avoid: slots found migrating: a broadcast's mark goes to another
	// slot of the master.
	avoid map[int]bool
	marks *marks
	// resume: the checkpoint of the last batch wholly applied.
	resume []byte
	nonce  uint64
	// carry: the snapshot position of the last checkpoint applied or read,
	// the one key a snapshot batch may continue (cluster_snapshot.go).
	carry position
	// sent: the snapshot intent written since the marks were read;
	// sentRead: the one read then (cluster_snapshot.go).
	sent, sentRead int64
	// scratch: what applying reuses from batch to batch (cluster_scratch.go).
	scratch *txScratch
}

// NewCluster reads the cluster's slots through cfg.Addr (any node) and
// what its servers support. It connects to the masters as batches need them.
func NewCluster(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if strings.ContainsAny(cfg.CheckpointKey, "{}") {
		// The marks are <checkpoint key>{tag}: a brace of the key's own would
		// be taken as the hash tag and put every mark in one slot.
		return nil, fmt.Errorf("sink: checkpoint key %q: a cluster target needs a checkpoint key without braces", cfg.CheckpointKey)
	}
	c := &Cluster{cfg: cfg, log: cfg.Logger.With(zap.String("stage", "sink"), zap.String("target_cluster", cfg.Addr)),
		nodes: map[string]*Standalone{}, tags: server.SlotTags(), avoid: map[int]bool{}, scratch: &txScratch{}, sent: -1, sentRead: -1}
	topo, err := fetchTopology(ctx, &c.cfg, []string{cfg.Addr})
	if err != nil {
		return nil, err
	}
	c.topo = topo
	if c.cmds, err = loadCommandTable(ctx, &c.cfg, topo.masters[0]); err != nil {
		return nil, err
	}
	ctl := server.NewClient(server.ClientOptions{Addr: topo.masters[0], Username: cfg.Username, Password: cfg.Password,
		TLS: cfg.TLS, DialTimeout: cfg.DialTimeout, IOTimeout: cfg.IOTimeout, PoolSize: 1})
	defer ctl.Close()
	if c.info, err = server.Fetch(ctx, ctl); err != nil {
		return nil, fmt.Errorf("sink: the target cluster's master %s: %w", topo.masters[0], err)
	}
	// Valkey 9 serves numbered dbs in cluster mode (cluster-databases);
	// others refuse SELECT of anything but 0.
	conn := ctl.Conn()
	c.dbs = conn.Select(ctx, 1).Err() == nil
	_ = conn.Close()
	c.log.Info("connected to target cluster", zap.Stringer("server", c.info), zap.Strings("masters", topo.masters),
		zap.Bool("numbered_dbs", c.dbs))
	return c, nil
}

// setDefaults fills in what Config leaves zero.
func (cfg *Config) setDefaults() {
	if cfg.OnError == "" {
		cfg.OnError = OnErrorStop
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.IOTimeout == 0 {
		cfg.IOTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
}

// Server says what the target's servers are (its first master's INFO).
func (c *Cluster) Server() server.Info { return c.info }

// Masters lists the masters' addresses as last read.
func (c *Cluster) Masters() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.topo.masters)
}

// Stats returns the counters so far.
func (c *Cluster) Stats() Stats {
	return Stats{Batches: c.stats.batches.Load(), Applied: c.stats.applied.Load(), Errors: c.stats.errors.Load(),
		Skipped: c.stats.skipped.Load(), Reconnects: c.stats.reconnects.Load(), Unknown: c.stats.unknown.Load()}
}

// NewPipeline returns a Pipeline writing through c.
func (c *Cluster) NewPipeline() *Pipeline { return newPipeline(c) }

// Close closes every connection.
func (c *Cluster) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.nodes {
		_ = n.Close()
	}
	c.nodes = map[string]*Standalone{}
	return nil
}

// LoadCheckpoint reads the marks of every master and returns the checkpoint
// to resume from (see cluster_mark.go); the marks then decide, command by
// command, what of the replayed batches a master already holds.
func (c *Cluster) LoadCheckpoint(ctx context.Context) ([]byte, error) {
	if c.cfg.CheckpointKey == "" {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.refresh(ctx); err != nil {
		return nil, err
	}
	m, resume, err := c.loadMarks(ctx)
	if err != nil {
		return nil, err
	}
	c.marks, c.resume = m, resume
	// What the target says, not what this Cluster wrote before; and the
	// intent read is not taken as written: a new full sync may empty the
	// target (the marks among them) after this read.
	c.sent, c.sentRead, c.carry = -1, -1, position{}
	if m != nil {
		c.sentRead = m.sent
	}
	if resume != nil {
		if c.carry, err = positionOf(resume); err != nil {
			return nil, fmt.Errorf("sink: the checkpoint to resume from: %w", err)
		}
	}
	return resume, nil
}

// ProbeRestore probes the master serving ProbeKey (Standalone.ProbeRestore).
func (c *Cluster) ProbeRestore(ctx context.Context, payload []byte) (bool, string, error) {
	c.mu.Lock()
	n := c.node(c.topo.masters[c.topo.ownerOf(server.KeySlot(ProbeKey))])
	c.mu.Unlock()
	return n.ProbeRestore(ctx, payload)
}

// node returns the connection holder of the master at addr (dialled on
// first use).
func (c *Cluster) node(addr string) *Standalone {
	n, ok := c.nodes[addr]
	if !ok {
		cfg := c.cfg
		cfg.Addr = addr
		n = &Standalone{cfg: cfg, log: c.log.With(zap.String("target", addr)), info: c.info}
		c.nodes[addr] = n
	}
	return n
}

// refresh reads the slots again, from any node known, waiting with backoff
// while no node gives a complete answer (a failover in progress).
func (c *Cluster) refresh(ctx context.Context) error {
	bo := retry.Backoff{Initial: 50 * time.Millisecond, Max: 2 * time.Second}
	deadline := time.Now().Add(2 * c.cfg.IOTimeout)
	for {
		seeds := append(slices.Clone(c.topo.masters), c.topo.nodes...)
		seeds = append(seeds, c.cfg.Addr)
		t, err := fetchTopology(ctx, &c.cfg, slices.Compact(seeds))
		if err == nil {
			if !slices.Equal(t.masters, c.topo.masters) || t.owner != c.topo.owner {
				c.log.Info("target cluster topology changed", zap.Strings("masters", t.masters))
			}
			c.topo = t
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("sink: reading the target cluster's slots again: %w", err)
		}
		wait := bo.Next()
		c.log.Warn("the target cluster's slots are not all served: waiting", zap.Duration("in", wait), zap.Error(err))
		if err := retry.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// markKey is the checkpoint mark of slot (cluster_mark.go).
func (c *Cluster) markKey(slot int) string {
	return c.cfg.CheckpointKey + "{" + c.tag(slot) + "}"
}

// doneSlot is the slot whose mark also holds the checkpoint to resume from.
func (c *Cluster) doneSlot() int { return server.KeySlot(c.cfg.CheckpointKey) }

// masterSlot is a slot of master m for a transaction without keys of its
// own (a broadcast): the done slot when m serves it (a FLUSHALL there
// must keep the checkpoint), else its first slot not migrating away.
func (c *Cluster) masterSlot(m int) int {
	if c.topo.ownerOf(c.doneSlot()) == m {
		return c.doneSlot()
	}
	for s, o := range c.topo.owner {
		if int(o) == m && !c.avoid[s] {
			return s
		}
	}
	return c.topo.firstSlot(m)
}

func (c *Cluster) tag(slot int) string { return c.tags[slot] }

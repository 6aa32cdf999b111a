package clustersource

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/server"
)

// The supervisor's side of atomic slot migrations (atomic_migration.go):
// what the links' masters say about a job, and the target's record.

func (sv *Supervisor) asmHooks() asmHooks {
	return asmHooks{
		jobState: sv.asmJobState,
		drained:  sv.asmDrained,
		later:    sv.asmLaterImports,
		applied:  sv.asmApplied,
		targetDB: func(db int) int {
			to, _ := sv.opt.Sync.Filter.TargetDB(db)
			return to
		},
		followed:    func(shard string) bool { return sv.selected == nil || sv.selected[shard] },
		trimOrphans: sv.asmTrimOrphans,
		clearSlots:  sv.asmClearSlots,
		importsDone: sv.asmImportsDone,
		beforeFresh: sv.asmBeforeFresh,
		taskState:   sv.asmTaskState,
	}
}

// staleMarks returns the exporters' completed marks (asm hash fields) that
// no link of this sync will wait for: their importing shard is not
// followed (--shards).
func (a *atomicMigrations) staleMarks() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for task, m := range a.marks {
		if m.importer != "" && a.hooks.followed != nil && !a.hooks.followed(m.importer) {
			delete(a.marks, task)
			out = append(out, "mark:"+task)
		}
	}
	return out
}

// forgetASM removes fields of the asm hash from the target (on a cluster
// target, from the master serving its slot).
func (t *targetSide) forgetASM(ctx context.Context, fields []string) error {
	if len(fields) == 0 {
		return nil
	}
	key := asmKey(t.opt.CheckpointKey)
	conn := t.c.Conn()
	defer conn.Close()
	err := conn.Select(ctx, 0).Err()
	if err == nil {
		err = conn.HDel(ctx, key, fields...).Err()
	}
	for range 5 {
		f := []string{}
		if err != nil {
			f = strings.Fields(err.Error())
		}
		if len(f) != 3 || f[0] != "MOVED" {
			break
		}
		c := t.client(f[2])
		_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Select(ctx, 0)
			p.HDel(ctx, key, fields...)
			return nil
		})
		_ = c.Close()
	}
	if err != nil {
		return fmt.Errorf("removing stale atomic migration records from the target: %w", err)
	}
	return nil
}

// asmApplied returns the applied offset of shard's link; false when this
// sync does not follow the shard. A shard followed whose link has not
// started yet (a restart) is at 0: its stream is still to be applied; one
// whose master left the cluster has applied all of it.
func (sv *Supervisor) asmApplied(shard string) (int64, bool) {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	l := sv.links[shard]
	switch {
	case l == nil:
		return 0, sv.selected == nil || sv.selected[shard]
	case l.finished():
		return math.MaxInt64, true
	}
	return l.tracker.Applied(), true
}

// masterClient is a control connection to the master shard's link follows.
func (sv *Supervisor) masterClient(shard string) (*redis.Client, error) {
	addr, ok := sv.Masters()[shard]
	if !ok {
		return nil, fmt.Errorf("no link follows shard %s", shard)
	}
	return sv.nodeClient(addr), nil
}

// asmJobState returns the state of Valkey's slot migration job on shard's
// master (CLUSTER GETSLOTMIGRATIONS), "" when it does not list the job.
func (sv *Supervisor) asmJobState(ctx context.Context, shard, job string) (string, error) {
	c, err := sv.masterClient(shard)
	if err != nil {
		return "", err
	}
	defer c.Close()
	v, err := c.Do(ctx, "CLUSTER", "GETSLOTMIGRATIONS").Result()
	if err != nil {
		return "", fmt.Errorf("CLUSTER GETSLOTMIGRATIONS on shard %s: %w", shard, err)
	}
	jobs, _ := v.([]any)
	for _, j := range jobs {
		m := fieldMap(j)
		if m["name"] == job {
			return m["state"], nil
		}
	}
	return "", nil
}

// asmLaterImports returns the import jobs into shard's master, overlapping
// ranges, that began after job: the slots coming back to it. Valkey's job
// log (CLUSTER GETSLOTMIGRATIONS) lists the newest first (seen on 9.1.2);
// the creation times (seconds) must not say otherwise.
func (sv *Supervisor) asmLaterImports(ctx context.Context, shard, job string, ranges [][2]int) ([]string, error) {
	c, err := sv.masterClient(shard)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	v, err := c.Do(ctx, "CLUSTER", "GETSLOTMIGRATIONS").Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER GETSLOTMIGRATIONS on shard %s: %w", shard, err)
	}
	jobs, _ := v.([]any)
	var entries []map[string]string
	created := ""
	for _, j := range jobs {
		m := fieldMap(j)
		if m["name"] == job {
			created = m["create_time"]
			break
		}
		entries = append(entries, m)
	}
	if created == "" {
		return nil, nil
	}
	var out []string
	for _, m := range entries {
		if strings.EqualFold(m["operation"], "import") && overlaps(parseRanges(m["slot_ranges"]), ranges) &&
			len(m["create_time"]) >= len(created) && m["create_time"] >= created {
			out = append(out, m["name"])
		}
	}
	return out, nil
}

// fieldMap turns a RESP2 flat array or a RESP3 map into a map of strings.
func fieldMap(v any) map[string]string {
	out := map[string]string{}
	switch t := v.(type) {
	case []any:
		for i := 0; i+1 < len(t); i += 2 {
			out[fmt.Sprint(t[i])] = fmt.Sprint(t[i+1])
		}
	case map[any]any:
		for k, val := range t {
			out[fmt.Sprint(k)] = fmt.Sprint(val)
		}
	}
	return out
}

// asmDrained reads, in one MULTI, how many keys shard's master holds in
// ranges and its master_repl_offset: once none, every deletion of them is
// in the stream before that offset.
func (sv *Supervisor) asmDrained(ctx context.Context, shard string, ranges [][2]int) (int64, bool, error) {
	c, err := sv.masterClient(shard)
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	var counts []*redis.IntCmd
	var info *redis.StringCmd
	_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range ranges {
			for slot := r[0]; slot <= r[1]; slot++ {
				counts = append(counts, p.ClusterCountKeysInSlot(ctx, slot))
			}
		}
		info = p.Info(ctx)
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("counting the moved slots' keys on shard %s: %w", shard, err)
	}
	for _, n := range counts {
		if n.Val() > 0 {
			return 0, false, nil
		}
	}
	in, err := server.Parse(info.Val())
	if err != nil {
		return 0, false, err
	}
	return in.MasterReplOffset, true, nil
}

// loadASM reads the atomic migrations' record from db 0 of the target
// (on a cluster target, from the master serving its slot).
func (t *targetSide) loadASM(ctx context.Context) (map[string]string, error) {
	conn := t.c.Conn()
	defer conn.Close()
	if err := conn.Select(ctx, 0).Err(); err != nil {
		return nil, fmt.Errorf("SELECT 0 on the target: %w", err)
	}
	key := asmKey(t.opt.CheckpointKey)
	recs, err := conn.HGetAll(ctx, key).Result()
	if err != nil { // a cluster target: the hash's slot may be another master's
		recs, err = t.followHash(ctx, 0, key, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the atomic slot migrations recorded in the target: %w", err)
	}
	return recs, nil
}

// atomicMigrating reports whether a master of topo runs an atomic slot
// migration: a first full sync waits for its end, since a Valkey importer's
// snapshot holds the keys copied so far (and an RDB_OPCODE_SLOT_IMPORT that
// the sync does not follow), which its stream would then write again.
func (sv *Supervisor) atomicMigrating(ctx context.Context, topo Topology) bool {
	for _, jobs := range sv.migrationJobs(ctx, topo) {
		for _, m := range jobs {
			switch m["state"] {
			case "", "success", "failed", "cancelled", "canceled", "completed":
			default:
				return true
			}
		}
	}
	return false
}

// migrationJobs lists each master's atomic slot migration jobs as field
// maps (Valkey 9 CLUSTER GETSLOTMIGRATIONS, else Redis 8.4+ CLUSTER
// MIGRATION STATUS ALL; older servers know neither and list none).
func (sv *Supervisor) migrationJobs(ctx context.Context, topo Topology) [][]map[string]string {
	var out [][]map[string]string
	for _, s := range topo.Shards {
		if s.MasterAddr == "" {
			continue
		}
		c := sv.nodeClient(s.MasterAddr)
		var jobs []map[string]string
		for _, args := range [][]any{{"CLUSTER", "GETSLOTMIGRATIONS"}, {"CLUSTER", "MIGRATION", "STATUS", "ALL"}} {
			v, err := c.Do(ctx, args...).Result()
			if err != nil {
				continue
			}
			list, _ := v.([]any)
			for _, j := range list {
				jobs = append(jobs, fieldMap(j))
			}
			break
		}
		c.Close()
		out = append(out, jobs)
	}
	return out
}

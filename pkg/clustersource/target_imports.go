package clustersource

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/server"
)

// The key migration records in the target (migration.go): one hash per
// slot, read back at start and removed once expired. Each is read by its
// name on the master serving its slot, following MOVED and ASK: a listing
// of each master's keys one after the other (SCAN) could miss a hash whose
// slot moves between two masters meanwhile.

// Releases before the hash per slot kept every record in one hash,
// <base>:imports (no tag): it is read too, and its records are removed as
// they expire, so that a sync upgraded during a migration keeps them.

// slotMaster is a master of the target and the slots it serves: every slot
// for a standalone target.
type slotMaster struct {
	addr  string
	slots []int
}

func (t *targetSide) slotMasters(ctx context.Context) ([]slotMaster, error) {
	info, err := server.Fetch(ctx, t.c)
	if err != nil {
		return nil, fmt.Errorf("the target %s: %w", t.opt.TargetName, err)
	}
	if !info.ClusterEnabled {
		all := make([]int, server.SlotCount)
		for s := range all {
			all[s] = s
		}
		return []slotMaster{{addr: t.opt.Target.Addr, slots: all}}, nil
	}
	nodes, err := server.ClusterMasters(ctx, t.c)
	if err != nil {
		return nil, fmt.Errorf("the target cluster %s: %w", t.opt.TargetName, err)
	}
	var out []slotMaster
	for _, n := range nodes {
		m := slotMaster{addr: n.Addr}
		for _, r := range n.Slots {
			for s := r.Start; s <= r.End; s++ {
				m.slots = append(m.slots, s)
			}
		}
		if len(m.slots) > 0 {
			out = append(out, m)
		}
	}
	return out, nil
}

// client is a control client of the target's node at addr.
func (t *targetSide) client(addr string) *redis.Client {
	o := t.opt.Target
	o.Addr, o.PoolSize = addr, 1
	return server.NewClient(o)
}

// loadImports reads the import records from every db of the target.
func (t *targetSide) loadImports(ctx context.Context, tags *[server.SlotCount]string) (map[importKey]string, error) {
	masters, err := t.slotMasters(ctx)
	if err != nil {
		return nil, err
	}
	dbs := map[int]bool{0: true}
	for _, m := range masters {
		c := t.client(m.addr)
		info, err := server.Fetch(ctx, c)
		_ = c.Close()
		if err != nil {
			return nil, fmt.Errorf("the target %s (%s): %w", t.opt.TargetName, m.addr, err)
		}
		for db := range info.Keyspace {
			dbs[db] = true
		}
	}
	out := map[importKey]string{}
	prefix := importsPrefix(t.opt.CheckpointKey)
	legacySlot := server.KeySlot([]byte(prefix))
	for db := range dbs {
		for _, m := range masters {
			keys := make([]string, len(m.slots))
			for i, s := range m.slots {
				keys[i] = prefix + "{" + tags[s] + "}"
				if s == legacySlot {
					keys = append(keys, prefix)
				}
			}
			hashes, err := t.readHashes(ctx, m.addr, db, keys)
			if err != nil {
				return nil, fmt.Errorf("reading the key migrations recorded in the target %s: %w", t.opt.TargetName, err)
			}
			for i, h := range hashes {
				if keys[i] == prefix && len(h) > 0 {
					t.legacyImports = true
				}
				for f, shard := range h {
					if k, ok := parseField(f); ok {
						out[k] = shard
					}
				}
			}
		}
	}
	return out, nil
}

// readHashes reads the hashes keys (of slots addr serves) in db, pipelined;
// one whose slot moved meanwhile is read where it is now.
func (t *targetSide) readHashes(ctx context.Context, addr string, db int, keys []string) ([]map[string]string, error) {
	c := t.client(addr)
	defer c.Close()
	conn := c.Conn()
	defer conn.Close()
	if err := conn.Select(ctx, db).Err(); err != nil {
		return nil, fmt.Errorf("SELECT %d on %s: %w", db, addr, err)
	}
	cmds, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.HGetAll(ctx, k)
		}
		return nil
	})
	if err != nil && len(cmds) != len(keys) {
		return nil, fmt.Errorf("on %s: %w", addr, err)
	}
	out := make([]map[string]string, len(keys))
	for i, cmd := range cmds {
		v, err := cmd.(*redis.MapStringStringCmd).Result()
		if err != nil {
			v, err = t.followHash(ctx, db, keys[i], err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", keys[i], addr, err)
		}
		out[i] = v
	}
	return out, nil
}

// followHash reads key from the node a MOVED or ASK answer (err) names.
func (t *targetSide) followHash(ctx context.Context, db int, key string, err error) (map[string]string, error) {
	for range 5 {
		f := strings.Fields(err.Error())
		if len(f) != 3 || f[0] != "MOVED" && f[0] != "ASK" {
			return nil, err
		}
		c := t.client(f[2])
		var get *redis.MapStringStringCmd
		_, err = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Select(ctx, db)
			if f[0] == "ASK" {
				p.Do(ctx, "ASKING")
			}
			get = p.HGetAll(ctx, key)
			return nil
		})
		_ = c.Close()
		if err == nil {
			return get.Val(), nil
		}
	}
	return nil, fmt.Errorf("redirected too many times: %w", err)
}

// forgetImports removes finished import records from the target: each
// from the hash of its key's slot, on the master serving that slot.
func (t *targetSide) forgetImports(ctx context.Context, keys []importKey, tags *[server.SlotCount]string) error {
	masters, err := t.slotMasters(ctx)
	if err != nil {
		return err
	}
	var owner [server.SlotCount]string
	for _, m := range masters {
		for _, s := range m.slots {
			owner[s] = m.addr
		}
	}
	clients := map[string]*redis.Client{}
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	for _, k := range keys {
		db, _ := t.opt.Filter.TargetDB(k.db)
		addr := owner[server.KeySlot(k.key)]
		if clients[addr] == nil {
			clients[addr] = t.client(addr)
		}
		conn := clients[addr].Conn()
		field := recordField(k.db, []byte(k.key))
		err := conn.Select(ctx, db).Err()
		if err == nil {
			err = conn.HDel(ctx, importsKeyFor(t.opt.CheckpointKey, tags, []byte(k.key)), field).Err()
		}
		_ = conn.Close()
		if err == nil && t.legacyImports {
			err = t.forgetLegacy(ctx, db, field, owner[server.KeySlot([]byte(importsPrefix(t.opt.CheckpointKey)))])
		}
		if err != nil {
			return fmt.Errorf("removing the record of the finished migration of key %q (db %d) from the target %s: %w", k.key, k.db, t.opt.TargetName, err)
		}
	}
	return nil
}

// forgetLegacy removes field from the hash of older releases, on the
// master at addr or where a MOVED or ASK answer sends it.
func (t *targetSide) forgetLegacy(ctx context.Context, db int, field, addr string) error {
	key := importsPrefix(t.opt.CheckpointKey)
	asking := false
	for range 5 {
		c := t.client(addr)
		var del *redis.IntCmd
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Select(ctx, db)
			if asking {
				p.Do(ctx, "ASKING")
			}
			del = p.HDel(ctx, key, field)
			return nil
		})
		_ = c.Close()
		if err == nil || del.Err() == nil {
			return err
		}
		f := strings.Fields(del.Err().Error())
		if len(f) != 3 || f[0] != "MOVED" && f[0] != "ASK" {
			return del.Err()
		}
		addr, asking = f[2], f[0] == "ASK"
	}
	return fmt.Errorf("%s: redirected too many times", key)
}

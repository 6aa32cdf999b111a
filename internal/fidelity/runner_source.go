package fidelity

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// sourceOffset is the source's master_repl_offset.
func (r *pairRun) sourceOffset() int64 {
	v := r.src.InfoField(r.tb, "replication", "master_repl_offset")
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		r.tb.Fatalf("master_repl_offset %q on the source: %v", v, err)
	}
	return n
}

// runOnSource runs the entry's setup and commands on the source: "" or
// what the source refused.
func (r *pairRun) runOnSource(e Entry) string {
	conn := r.srcC.Conn()
	defer func() {
		// The connection goes back to the pool the fence key is written
		// with: out of any transaction left open, back to db 0 first.
		_ = conn.Do(r.ctx, "DISCARD").Err()
		if err := conn.Do(r.ctx, "SELECT", 0).Err(); err != nil {
			r.tb.Fatalf("SELECT 0 on the source after entry %s: %v", e.Name, err)
		}
		conn.Close()
	}()
	if e.DB != 0 {
		if err := conn.Do(r.ctx, "SELECT", e.DB).Err(); err != nil {
			return fmt.Sprintf("SELECT %d: %v", e.DB, err)
		}
	}
	x := &expander{entry: e, src: conn, now: time.Now}
	for _, c := range e.Setup {
		if err := r.do(x, conn, c); err != nil {
			return fmt.Sprintf("setup %s: %v", strings.Join(head(c), " "), err)
		}
	}
	for _, c := range e.Run {
		if err := r.do(x, conn, c); err != nil && !e.AllowErrors {
			return fmt.Sprintf("%s: %v", strings.Join(head(c), " "), err)
		}
	}
	return ""
}

// head is the command name and subcommand, for messages.
func head(c Cmd) []string {
	if len(c) > 1 && len(c[1]) < 16 && strings.ToUpper(c[1]) == c[1] && !strings.Contains(c[1], "{") {
		return c[:2]
	}
	return c[:min(1, len(c))]
}

func (r *pairRun) do(x *expander, conn *redis.Conn, c Cmd) error {
	if ok, err := x.runnerSide(r.ctx, c); ok {
		return err
	}
	args, err := x.args(r.ctx, c)
	if err != nil {
		return err
	}
	if err := conn.Do(r.ctx, args...).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}

// restart stops redferry, removes every entry's keys and functions from
// the source (what a new full sync would choke on is gone with them),
// empties the target (with the checkpoint, so the new run cannot resume
// into the command that stopped the last one), and starts a new run.
func (r *pairRun) restart() {
	r.proc.stop()
	r.clearEntries()
	if err := r.dstC.FlushAll(r.ctx).Err(); err != nil {
		r.tb.Fatalf("FLUSHALL on the target: %v", err)
	}
	if err := r.startSync(true); err != nil {
		r.broken = err.Error()
		r.tb.Logf("%s→%s: %v", r.src.Name, r.dst.Name, err)
	}
}

// clearEntries deletes the source's keys that belong to corpus entries, and
// its function libraries (only entries load them).
func (r *pairRun) clearEntries() {
	for db := 0; db < 16; db++ {
		c := r.src.ClientDB(db)
		var cursor uint64
		for {
			keys, next, err := c.Scan(r.ctx, cursor, "", 500).Result()
			if err != nil {
				r.tb.Fatalf("SCAN db %d on the source: %v", db, err)
			}
			var del []string
			for _, k := range keys {
				if r.owner(k) != "" {
					del = append(del, k)
				}
			}
			if len(del) > 0 {
				if err := c.Del(r.ctx, del...).Err(); err != nil {
					r.tb.Fatalf("DEL on the source: %v", err)
				}
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
		c.Close()
	}
	_ = r.srcC.Do(r.ctx, "FUNCTION", "FLUSH").Err() // fails on 6.x, which has none
	r.ctrl.WaitCaughtUp(r.tb, r.src)
}

// owner is the entry a key (or, for a function diff, a library) belongs to.
func (r *pairRun) owner(key string) string {
	if i := strings.IndexByte(key, ':'); i > 0 {
		return r.owners[key[:i+1]]
	}
	return r.owners[key]
}

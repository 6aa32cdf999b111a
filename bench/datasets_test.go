package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/protocol"
)

// fillWith sends n commands made by gen through one pipelined connection.
func fillWith(addr string, n int, gen func(dst []byte, i int) []byte) error {
	p, err := dialPipe(addr)
	if err != nil {
		return err
	}
	defer p.close()
	var buf []byte
	for i := 0; i < n; i++ {
		buf = gen(buf[:0], i)
		if err := p.send(buf); err != nil {
			return err
		}
		// Keep the replies from piling up far behind (bounded memory).
		if i%100_000 == 99_999 {
			for p.sent.Load()-p.replies.Load() > 200_000 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	if err := p.wait(10 * time.Minute); err != nil {
		return err
	}
	if e := p.errs.Load(); e > 0 {
		return fmt.Errorf("bench: fill of %s: %d commands refused", addr, e)
	}
	return nil
}

// smallStrings: n keys of size-byte values.
func smallStrings(n, size int) func([]byte, int) []byte {
	val := strings.Repeat("v", size)
	return func(dst []byte, i int) []byte {
		return protocol.AppendCommandString(dst, "SET", "key:"+strconv.Itoa(i), val)
	}
}

// fillMixed writes every type, small and large (one key in ten big), with
// TTLs, binary names and several dbs: the test workload of redistest.
func fillMixed(srv *redistest.Server, keys int) error {
	c := srv.Client()
	defer c.Close()
	w := &redistest.Workload{Seed: 42, Version: srv.Version}
	return w.Fill(context.Background(), c, keys)
}

// bigKeys is the big-key dataset at 1/scale of its full size: a 1 GB hash
// (100-byte values), a 10M-element list, a 2M-member set and zset, and a
// 512 MB string.
type bigKeys struct{ scale int }

func (b bigKeys) hashFields() int { return 10_000_000 / b.scale } // ~100 B each: 1 GB
func (b bigKeys) listLen() int    { return 10_000_000 / b.scale }
func (b bigKeys) setLen() int     { return 2_000_000 / b.scale }
func (b bigKeys) stringLen() int  { return (512 << 20) / b.scale }

func (b bigKeys) describe() string {
	return fmt.Sprintf("hash %d fields x 100 B, list %d, set %d, zset %d, string %d MB (1/%d of full size)",
		b.hashFields(), b.listLen(), b.setLen(), b.setLen(), b.stringLen()>>20, b.scale)
}

func (b bigKeys) fill(addr string) error {
	const per = 100 // elements per command
	val := strings.Repeat("h", 90)
	steps := []struct {
		n   int
		gen func([]byte, int) []byte
	}{
		{b.hashFields() / per, func(dst []byte, i int) []byte {
			args := []string{"HSET", "big:hash"}
			for j := 0; j < per; j++ {
				args = append(args, "field:"+strconv.Itoa(i*per+j), val)
			}
			return protocol.AppendCommandString(dst, args...)
		}},
		{b.listLen() / per, func(dst []byte, i int) []byte {
			args := []string{"RPUSH", "big:list"}
			for j := 0; j < per; j++ {
				args = append(args, "item-"+strconv.Itoa(i*per+j))
			}
			return protocol.AppendCommandString(dst, args...)
		}},
		{b.setLen() / per, func(dst []byte, i int) []byte {
			args := []string{"SADD", "big:set"}
			for j := 0; j < per; j++ {
				args = append(args, "member-"+strconv.Itoa(i*per+j))
			}
			return protocol.AppendCommandString(dst, args...)
		}},
		{b.setLen() / per, func(dst []byte, i int) []byte {
			args := []string{"ZADD", "big:zset"}
			for j := 0; j < per; j++ {
				k := i*per + j
				args = append(args, strconv.Itoa(k%1000)+"."+strconv.Itoa(k), "member-"+strconv.Itoa(k))
			}
			return protocol.AppendCommandString(dst, args...)
		}},
		{b.stringLen() / (1 << 20), func(dst []byte, i int) []byte {
			return protocol.AppendCommandString(dst, "APPEND", "big:string", strings.Repeat("s", 1<<20))
		}},
	}
	for _, s := range steps {
		if err := fillWith(addr, s.n, s.gen); err != nil {
			return err
		}
	}
	return nil
}

// mixCmd is the i-th command of the catch-up write mix: SET, INCR, LPUSH,
// HSET, ZADD and EVAL in turn over bounded key spaces. Each writes the one
// key mixKey(i), so a cluster load can route it.
func mixCmd(dst []byte, i int) []byte {
	key := mixKey(i)
	switch i % 6 {
	case 0:
		return protocol.AppendCommandString(dst, "SET", key, "value-"+strconv.Itoa(i)+"-0123456789abcdef")
	case 1:
		return protocol.AppendCommandString(dst, "INCR", key)
	case 2:
		return protocol.AppendCommandString(dst, "LPUSH", key, "e"+strconv.Itoa(i))
	case 3:
		return protocol.AppendCommandString(dst, "HSET", key, "f"+strconv.Itoa(i%5000), "v"+strconv.Itoa(i))
	case 4:
		return protocol.AppendCommandString(dst, "ZADD", key, strconv.Itoa(i%977), "m"+strconv.Itoa(i%5000))
	default:
		return protocol.AppendCommandString(dst, "EVAL", "return redis.call('INCRBY', KEYS[1], ARGV[1])", "1", key, "3")
	}
}

// mixKey is the key the i-th command of the write mix writes.
func mixKey(i int) string {
	k := strconv.Itoa(i % 1000)
	switch i % 6 {
	case 0:
		return "mix:s:" + strconv.Itoa(i%100_000)
	case 1:
		return "mix:c:" + k
	case 2:
		return "mix:l:" + k
	case 3:
		return "mix:h:" + k
	case 4:
		return "mix:z:" + k
	default:
		return "mix:e:" + k
	}
}

package protocol

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"
)

var record = flag.Bool("record", false, "TestRealServers: write the bytes of each full sync to testdata/recorded")

// infoField reads one field of INFO <section>.
func infoField(t *testing.T, c *redis.Client, section, field string) string {
	t.Helper()
	info, err := c.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	t.Fatalf("no %s in INFO %s", field, section)
	return ""
}

func infoInt(t *testing.T, c *redis.Client, section, field string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(infoField(t, c, section, field), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// replica drives a link the way the pipeline will: one goroutine reads the
// stream, another acks the offset reached.
type replica struct {
	l    *Link
	mu   sync.Mutex
	off  int64
	cmds [][]string
	err  error
	done chan struct{}
	stop chan struct{}
}

func startReplica(t *testing.T, l *Link, offset int64) *replica {
	r := &replica{l: l, off: offset, done: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			c, err := l.ReadCommand()
			if err != nil {
				r.mu.Lock()
				r.err = err
				r.mu.Unlock()
				return
			}
			if string(AppendCommand(nil, c.Args...)) != string(c.Raw) {
				t.Errorf("raw %q does not match its args", c.Raw)
			}
			args := make([]string, len(c.Args))
			for i, a := range c.Args {
				args[i] = string(a)
			}
			r.mu.Lock()
			r.off += int64(len(c.Raw))
			r.cmds = append(r.cmds, args)
			r.mu.Unlock()
		}
	}()
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := l.SendAck(r.offset()); err != nil {
				return
			}
			select {
			case <-tick.C:
			case <-r.stop:
				return
			}
		}
	}()
	t.Cleanup(r.close)
	return r
}

func (r *replica) offset() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.off
}

func (r *replica) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.l.Close()
	<-r.done
}

// waitInSync waits until the replica's offset equals the source's
// master_repl_offset and the stream has shown want (lower-cased command name
// and first argument).
func (r *replica) waitInSync(t *testing.T, c *redis.Client, want ...[2]string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		master := infoInt(t, c, "replication", "master_repl_offset")
		r.mu.Lock()
		off, err, seen := r.off, r.err, r.has(want)
		r.mu.Unlock()
		if off == master && seen {
			return
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("offset %d, source at %d, wanted commands seen %v, err %v", off, master, seen, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *replica) has(want [][2]string) bool {
	for _, w := range want {
		found := false
		for _, c := range r.cmds {
			if strings.EqualFold(c[0], w[0]) && len(c) > 1 && c[1] == w[1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestRealServers(t *testing.T) {
	if testing.Short() {
		t.Skip("real servers")
	}
	if _, err := redistest.Binary(redistest.Redis70); err != nil {
		t.Skip(err)
	}
	for _, version := range redistest.All {
		for _, diskless := range []string{"no", "yes"} {
			t.Run(fmt.Sprintf("%s/diskless=%s", version, diskless), func(t *testing.T) {
				t.Parallel()
				testSyncAndContinue(t, version, diskless)
			})
		}
		t.Run(version+"/auth", func(t *testing.T) {
			t.Parallel()
			testAuth(t, version)
		})
	}
}

func testSyncAndContinue(t *testing.T, version, diskless string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := redistest.Start(t, version, redistest.Options{Password: "pw",
		Args: []string{"repl-diskless-sync", diskless, "repl-diskless-sync-delay", "0"}})
	c := srv.Client()
	defer c.Close()
	big := make([]byte, 1000) // incompressible, so it shows in the snapshot as is
	for i := range big {
		big[i] = byte(rand.Uint32())
	}
	if err := c.MSet(ctx, "a", "1", "b", big).Err(); err != nil {
		t.Fatal(err)
	}
	cfg := LinkConfig{Addr: srv.Addr, Password: "pw", ReadTimeout: 20 * time.Second, Logger: zaptest.NewLogger(t)}

	var l *Link
	var err error
	var recorded bytes.Buffer
	if *record {
		conn, err := net.Dial("tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		l = newConnLink(cfg, conn, io.TeeReader(conn, &recorded))
	} else if l, err = Dial(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	res, err := l.PSync(ctx, "?", -1)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Full || len(res.ReplID) != 40 {
		t.Fatalf("resync %+v", res)
	}
	var snap bytes.Buffer
	n, err := l.ReadSnapshot(ctx, &snap, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(snap.Len()) || !(bytes.HasPrefix(snap.Bytes(), []byte("REDIS")) || bytes.HasPrefix(snap.Bytes(), []byte("VALKEY"))) ||
		!bytes.Contains(snap.Bytes(), big) {
		t.Fatalf("snapshot of %d bytes: %.20q", n, snap.Bytes())
	}
	r := startReplica(t, l, res.Offset)
	if err := c.Set(ctx, "k1", "v1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.RPush(ctx, "list", "x", "y").Err(); err != nil {
		t.Fatal(err)
	}
	r.waitInSync(t, c, [2]string{"set", "k1"}, [2]string{"rpush", "list"})
	r.close()
	off := r.offset()
	if *record {
		writeRecording(t, fmt.Sprintf("%s-diskless-%s", srv.Name, diskless), srv.Name, diskless, recorded.Bytes())
	}
	t.Logf("full sync: snapshot %d bytes, offset %d -> %d, %d commands", n, res.Offset, off, len(r.cmds))

	// Continue from where the first link stopped.
	if err := c.Set(ctx, "while-away", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	partialBefore := infoInt(t, c, "stats", "sync_partial_ok")
	l2, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	res2, err := l2.PSync(ctx, res.ReplID, off+1)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Full || res2.ReplID != res.ReplID || res2.Offset != off {
		t.Fatalf("resync %+v, want a continue at %d", res2, off)
	}
	r2 := startReplica(t, l2, res2.Offset)
	if err := c.Set(ctx, "k2", "v2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r2.waitInSync(t, c, [2]string{"set", "while-away"}, [2]string{"set", "k2"})
	if full := infoInt(t, c, "stats", "sync_full"); full != 1 {
		t.Fatalf("sync_full %d", full)
	}
	if partial := infoInt(t, c, "stats", "sync_partial_ok"); partial != partialBefore+1 {
		t.Fatalf("sync_partial_ok %d, was %d", partial, partialBefore)
	}
}

func testAuth(t *testing.T, version string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	srv := redistest.Start(t, version, redistest.Options{Password: "pw",
		Args: []string{"repl-diskless-sync", "yes", "repl-diskless-sync-delay", "0"}})
	c := srv.Client()
	defer c.Close()
	for _, cmd := range [][]any{
		{"ACL", "SETUSER", "app", "on", ">apppw", "~*", "+@all", "-@admin"},
		{"ACL", "SETUSER", "repl", "on", ">replpw", "+psync", "+replconf", "+ping"},
	} {
		if err := c.Do(ctx, cmd...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	psync := func(user, pw string) (Resync, error) {
		l, err := Dial(ctx, LinkConfig{Addr: srv.Addr, Username: user, Password: pw, Logger: zaptest.NewLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		res, err := l.PSync(ctx, "?", -1)
		if err == nil && res.Full {
			_, err = l.ReadSnapshot(ctx, &bytes.Buffer{}, nil)
		}
		return res, err
	}
	for _, tt := range []struct {
		user, pw string
		want     error
	}{
		{"", "wrong", ErrAuth},
		{"", "", ErrAuth},
		{"app", "wrong", ErrAuth},
		{"nobody", "pw", ErrAuth},
		{"app", "apppw", ErrSyncRefused},
		{"repl", "replpw", nil},
		{"", "pw", nil},
	} {
		_, err := psync(tt.user, tt.pw)
		if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("user %q password %q: err %v, want %v", tt.user, tt.pw, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), tt.pw) && tt.pw != "" {
			t.Errorf("the password is in the error: %v", err)
		}
		if err != nil {
			t.Logf("user %q: %v", tt.user, err)
		}
	}
}

package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

func TestApplyQueueErrorAtomic(t *testing.T) {
	t.Parallel()
	for _, onErr := range []string{OnErrorStop, OnErrorLog} {
		t.Run(onErr, func(t *testing.T) {
			t.Parallel()
			srv := redistest.Start(t, redistest.Redis60, redistest.Options{})
			s := newSink(t, srv, Config{OnError: onErr, CheckpointKey: "cp"})
			var b Batch
			b.StartDB = 2
			b.AddStrings(10, "SET", "a", "1")
			b.AddStrings(20, "NOSUCHCMD", "thekey")
			b.AddStrings(30, "SET", "b", "2")
			b.AddStrings(40, "SET", "c") // wrong arity
			b.Checkpoint = []byte("cp-1")
			err := s.Apply(ctx(t), &b)
			c := srv.ClientDB(2)
			defer c.Close()
			n, _ := c.Exists(ctx(t), "a", "b").Result()
			cp, _ := s.LoadCheckpoint(ctx(t))
			if onErr == OnErrorStop {
				var te *TargetError
				if !errors.As(err, &te) {
					t.Fatalf("Apply: %v, want *TargetError", err)
				}
				if te.Command != "NOSUCHCMD" || string(te.Key) != "thekey" || te.Offset != 20 || te.Applied || te.Others != 1 {
					t.Errorf("TargetError = %+v", te)
				}
				msg := err.Error()
				for _, want := range []string{"NOSUCHCMD", "thekey", "20", "nothing of the batch was applied"} {
					if !strings.Contains(msg, want) {
						t.Errorf("error %q lacks %q", msg, want)
					}
				}
				if n != 0 || cp != nil {
					t.Errorf("after a refused batch: %d keys exist, checkpoint %q; want none", n, cp)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if n != 2 || string(cp) != "cp-1" {
				t.Errorf("after log mode: %d of a, b exist, checkpoint %q; want 2, cp-1", n, cp)
			}
			if st := s.Stats(); st.Skipped != 2 || st.Applied != 2 || st.Batches != 1 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}
}

func TestApplyRuntimeError(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	for _, onErr := range []string{OnErrorStop, OnErrorLog} {
		s := newSink(t, srv, Config{OnError: onErr, CheckpointKey: "cp"})
		var b Batch
		b.AddStrings(1, "SET", "str-"+onErr, "x")
		b.AddStrings(2, "LPUSH", "str-"+onErr, "y") // WRONGTYPE inside EXEC
		b.AddStrings(3, "INCR", "n-"+onErr)
		b.Checkpoint = []byte("cp-" + onErr)
		err := s.Apply(ctx(t), &b)
		var te *TargetError
		if onErr == OnErrorStop && (!errors.As(err, &te) || !te.Applied || te.Command != "LPUSH" || !strings.Contains(te.Message, "WRONGTYPE")) {
			t.Fatalf("%s: Apply = %v, want applied WRONGTYPE TargetError", onErr, err)
		}
		if onErr == OnErrorLog && err != nil {
			t.Fatalf("%s: Apply = %v", onErr, err)
		}
		c := srv.Client()
		if v, _ := c.Get(ctx(t), "n-"+onErr).Result(); v != "1" {
			t.Errorf("%s: n = %q, want 1", onErr, v)
		}
		c.Close()
		if cp, _ := s.LoadCheckpoint(ctx(t)); string(cp) != "cp-"+onErr {
			t.Errorf("%s: checkpoint %q", onErr, cp)
		}
		if st := s.Stats(); st.Errors != 1 || st.Applied != 2 {
			t.Errorf("%s: Stats = %+v", onErr, st)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis60, redistest.Options{Password: "secret"})
	for _, pw := range []string{"wrong", ""} {
		_, err := NewStandalone(ctx(t), Config{Addr: srv.Addr, Password: pw})
		if !errors.Is(err, ErrAuth) {
			t.Errorf("password %q: err = %v, want ErrAuth", pw, err)
		}
		if pw != "" && strings.Contains(fmt.Sprint(err), pw) {
			t.Errorf("error reveals the password: %v", err)
		}
	}
	s := newSink(t, srv, Config{Password: "secret"})
	if got := s.Server().RedisCompat; !got.AtLeast(6, 0) {
		t.Errorf("caps %v", s.Server())
	}
}

// TestReconnectExactlyOnce kills the sink's connection again and again while
// it applies INCR batches with checkpoints: every INCR must land once.
func TestReconnectExactlyOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	s := newSink(t, srv, Config{CheckpointKey: "redferry:cp"})
	const batches, perBatch = 300, 50
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c := srv.Client()
		defer c.Close()
		for !stop.Load() {
			c.Do(ctx(t), "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var b Batch
	for i := 0; i < batches; i++ {
		b.Reset()
		for j := 0; j < perBatch; j++ {
			b.AddStrings(int64(i), "INCR", "counter")
		}
		b.Checkpoint = fmt.Appendf(nil, "batch-%d", i)
		if err := s.Apply(ctx(t), &b); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	c := srv.Client()
	defer c.Close()
	got, _ := c.Get(ctx(t), "counter").Int()
	if got != batches*perBatch {
		t.Errorf("counter = %d, want %d", got, batches*perBatch)
	}
	if s.Stats().Reconnects == 0 {
		t.Errorf("no reconnect happened; the test proved nothing")
	}
	t.Logf("stats %+v", s.Stats())
}

// TestServerRestart restarts the target (AOF on) while batches are applied.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis60, redistest.Options{Args: []string{"appendonly", "yes", "appendfsync", "always"}})
	s := newSink(t, srv, Config{CheckpointKey: "redferry:cp"})
	const perBatch = 20
	var applied, stopAt atomic.Int64
	stopAt.Store(1 << 62)
	done := make(chan error, 1)
	go func() {
		var b Batch
		for i := int64(0); i < stopAt.Load(); i++ {
			b.Reset()
			for j := 0; j < perBatch; j++ {
				b.AddStrings(i, "INCR", "counter")
			}
			b.Checkpoint = fmt.Appendf(nil, "batch-%d", i)
			if err := s.Apply(ctx(t), &b); err != nil {
				done <- err
				return
			}
			applied.Store(i + 1)
		}
		done <- nil
	}()
	for applied.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	srv.Restart(false)
	stopAt.Store(applied.Load() + 50)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	defer c.Close()
	if got, _ := c.Get(ctx(t), "counter").Int64(); got != applied.Load()*perBatch {
		t.Errorf("counter = %d, want %d", got, applied.Load()*perBatch)
	}
	if s.Stats().Reconnects == 0 {
		t.Errorf("no reconnect")
	}
}
func TestCheckpointOnlyBatch(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	s := newSink(t, srv, Config{CheckpointKey: "cp"})
	if cp, err := s.LoadCheckpoint(ctx(t)); err != nil || cp != nil {
		t.Fatalf("LoadCheckpoint on empty target = %q, %v", cp, err)
	}
	b := Batch{StartDB: 3, Checkpoint: []byte("\x00bin\r\n")}
	if err := s.Apply(ctx(t), &b); err != nil {
		t.Fatal(err)
	}
	if cp, err := s.LoadCheckpoint(ctx(t)); err != nil || string(cp) != "\x00bin\r\n" {
		t.Fatalf("LoadCheckpoint = %q, %v", cp, err)
	}
	if c := s.Server(); !c.IsValkey() || !c.HashFieldTTL() || c.RDBVersion() != 80 {
		t.Errorf("caps of %s: %+v", srv.Name, c)
	}
}

func TestApplyGivesUpWithContext(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Redis70, redistest.Options{})
	s := newSink(t, srv, Config{CheckpointKey: "cp"})
	srv.Kill()
	c, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	var b Batch
	b.AddStrings(1, "INCR", "n")
	b.Checkpoint = []byte("x")
	start := time.Now()
	err := s.Apply(c, &b)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Apply against a dead target = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Apply took %v after its context ended", d)
	}
}

// TestBigBatch pipelines a batch far larger than socket buffers.
func TestBigBatch(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Valkey81, redistest.Options{})
	s := newSink(t, srv, Config{CheckpointKey: "cp"})
	var b Batch
	val := strings.Repeat("v", 100)
	for i := 0; i < 100_000; i++ {
		b.AddStrings(int64(i), "SET", "k"+strconv.Itoa(i), val)
	}
	b.Checkpoint = []byte("big")
	if err := s.Apply(ctx(t), &b); err != nil {
		t.Fatal(err)
	}
	c := srv.Client()
	defer c.Close()
	if n := c.DBSize(ctx(t)).Val(); n != 100_001 {
		t.Errorf("DBSIZE = %d", n)
	}
}

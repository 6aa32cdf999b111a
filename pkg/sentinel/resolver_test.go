package sentinel

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/internal/redistest"
)

func setConfig(set *redistest.SentinelSet) Config {
	cfg := Config{MasterName: set.MasterName}
	for _, s := range set.Sentinels {
		cfg.Addrs = append(cfg.Addrs, s.Addr)
	}
	return cfg
}

// TestResolverFollowsFailover: the resolver names the master, and after a
// SENTINEL FAILOVER names the promoted replica and says so on its channel,
// with the first sentinel of the list gone (asked in turn, the others answer).
func TestResolverFollowsFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	set := redistest.StartSentinelSet(t, redistest.Valkey91, redistest.Options{})
	cfg := setConfig(set)
	// A sentinel that is not there, and one that accepts connections but
	// never answers (cut off): listed first, they must not stop the others
	// nor hold them up.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	cfg.Addrs = append([]string{"127.0.0.1:1", silent.Addr().String()}, cfg.Addrs...)
	r := NewResolver(cfg, zaptest.NewLogger(t))
	start := time.Now()
	addr, err := r.Master(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a silent sentinel held the answer up for %s (its timeout is %s)", took, cfg.ioTimeout())
	}
	if addr != set.Nodes[0].Addr {
		t.Fatalf("master %s, want %s", addr, set.Nodes[0].Addr)
	}
	_, changed := r.Current()
	watchCtx, stopWatch := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Watch(watchCtx); close(done) }()
	defer func() { stopWatch(); <-done }()

	next := set.Failover(t, redistest.FailoverOptions{})
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("the resolver did not announce the failover within 5 s of the sentinels agreeing")
	}
	if got, _ := r.Current(); got != next.Addr {
		t.Errorf("after the failover the resolver names %s, want %s", got, next.Addr)
	}
	if got, err := MasterAddr(ctx, cfg); err != nil || got != next.Addr {
		t.Errorf("MasterAddr after the failover: %s, %v; want %s", got, err, next.Addr)
	}
}

// TestMasterAddrErrors: a wrong master name and unreachable sentinels are
// reported with what to do.
func TestMasterAddrErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sn := redistest.Start(t, redistest.Redis70, redistest.Options{})
	// A plain server is no sentinel: SENTINEL is an unknown command there.
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"nothing listens", Config{Addrs: []string{"127.0.0.1:1"}, MasterName: "m"}, "connection refused"},
		{"no addresses", Config{MasterName: "m"}, "no sentinel address"},
		{"not a sentinel", Config{Addrs: []string{sn.Addr}, MasterName: "m"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MasterAddr(ctx, tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("MasterAddr: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestWrongMasterNameAndAuth against real sentinels: an unknown name, and a
// sentinel with a password asked without one or with a wrong one.
func TestWrongMasterNameAndAuth(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	set := redistest.StartSentinelSet(t, redistest.Redis70, redistest.Options{})
	cfg := setConfig(set)
	cfg.MasterName = "nosuch"
	if _, err := MasterAddr(ctx, cfg); err == nil || !strings.Contains(err.Error(), "master name") {
		t.Errorf("unknown master name: %v, want an error pointing at the master name", err)
	}
	c := set.Sentinels[0].Client()
	defer c.Close()
	if err := c.Do(ctx, "ACL", "SETUSER", "default", "resetpass", ">sentinel-secret").Err(); err != nil {
		t.Fatal(err)
	}
	one := Config{Addrs: []string{set.Sentinels[0].Addr}, MasterName: set.MasterName}
	if _, err := MasterAddr(ctx, one); !errors.Is(err, ErrAuth) {
		t.Errorf("no password for a sentinel that wants one: %v, want ErrAuth", err)
	}
	one.Password = "wrong"
	if _, err := MasterAddr(ctx, one); !errors.Is(err, ErrAuth) {
		t.Errorf("a wrong password: %v, want ErrAuth", err)
	}
	one.Password = "sentinel-secret"
	if addr, err := MasterAddr(ctx, one); err != nil || addr != set.Nodes[0].Addr {
		t.Errorf("the right password: %s, %v; want %s", addr, err, set.Nodes[0].Addr)
	}
}

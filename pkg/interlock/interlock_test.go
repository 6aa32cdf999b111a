package interlock

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/server"
)

// primaryArgs make a full sync start at once (Redis 7's diskless sync waits 5 s by default).
var primaryArgs = []string{"repl-diskless-sync-delay", "0"}

func endpoint(name, addr string) Endpoint {
	return Endpoint{Name: name, Client: server.ClientOptions{Addr: addr, DialTimeout: 2 * time.Second, IOTimeout: 5 * time.Second}}
}

func serverEndpoint(s *redistest.Server) Endpoint { return endpoint("redis://"+s.Addr, s.Addr) }

// localhost is s under another address: the name rather than the IP.
func localhost(s *redistest.Server) Endpoint {
	return endpoint("redis://localhost:"+itoa(s.Port), "localhost:"+itoa(s.Port))
}

func itoa(n int) string { return strconv.Itoa(n) }

func start(t *testing.T, name string, args ...string) *redistest.Server {
	t.Helper()
	return redistest.Start(t, name, redistest.Options{Args: append(append([]string{}, primaryArgs...), args...)})
}

// TestCheckSync runs every case against real servers: what redferry must
// refuse, with what words, and what it must let through.
func TestCheckSync(t *testing.T) {
	tests := []struct {
		name string
		// servers returns the source and target endpoints to check.
		servers func(t *testing.T) (src, dst Endpoint)
		want    []string // in the error; nil: no error
	}{
		{"same server as 127.0.0.1 and localhost", func(t *testing.T) (Endpoint, Endpoint) {
			s := start(t, redistest.Redis70)
			return serverEndpoint(s), localhost(s)
		}, []string{"is the source", "under another address", "run_id"}},
		{"target is a replica of the source", func(t *testing.T) (Endpoint, Endpoint) {
			s := start(t, redistest.Redis60)
			r := start(t, redistest.Redis60, "replica-read-only", "no")
			r.ReplicateFrom(t, s)
			return serverEndpoint(s), serverEndpoint(r)
		}, []string{"is a replica of the source redis://"}},
		{"target is a replica of a replica of the source", func(t *testing.T) (Endpoint, Endpoint) {
			s := start(t, redistest.Valkey91)
			r := start(t, redistest.Valkey91)
			r.ReplicateFrom(t, s)
			rr := start(t, redistest.Valkey91, "replica-read-only", "no")
			rr.ReplicateFrom(t, r)
			return serverEndpoint(s), serverEndpoint(rr)
		}, []string{"is a replica of 127.0.0.1:", "which is a replica of the source redis://"}},
		{"target is a replica of another server", func(t *testing.T) (Endpoint, Endpoint) {
			s := start(t, redistest.Redis70)
			other := start(t, redistest.Redis70)
			r := start(t, redistest.Redis70)
			r.ReplicateFrom(t, other)
			return serverEndpoint(s), serverEndpoint(r)
		}, []string{"is a replica (role:slave) of 127.0.0.1:", "REPLICAOF NO ONE"}},
		{"source is a replica of the target", func(t *testing.T) (Endpoint, Endpoint) {
			d := start(t, redistest.Redis70)
			s := start(t, redistest.Redis70)
			s.ReplicateFrom(t, d)
			return serverEndpoint(s), serverEndpoint(d)
		}, []string{"the source redis://", "is a replica of the target redis://", "come back"}},
		{"source is a replica of a replica of the target", func(t *testing.T) (Endpoint, Endpoint) {
			d := start(t, redistest.Redis80)
			r := start(t, redistest.Redis80)
			r.ReplicateFrom(t, d)
			s := start(t, redistest.Redis80)
			s.ReplicateFrom(t, r)
			return serverEndpoint(s), localhost(d)
		}, []string{"which is a replica of the target redis://localhost:"}},
		{"two servers", func(t *testing.T) (Endpoint, Endpoint) {
			return serverEndpoint(start(t, redistest.Redis70)), serverEndpoint(start(t, redistest.Redis70))
		}, nil},
		{"source is a replica of a third server", func(t *testing.T) (Endpoint, Endpoint) {
			p := start(t, redistest.Redis70)
			s := start(t, redistest.Redis70)
			s.ReplicateFrom(t, p)
			return serverEndpoint(s), serverEndpoint(start(t, redistest.Redis70))
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := tc.servers(t)
			err := CheckSync(context.Background(), src, dst, nil)
			assertRefusal(t, err, tc.want)
		})
	}
}

func assertRefusal(t *testing.T, err error, want []string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v, want a refusal saying %q", err, want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the refusal does not say %q: %v", w, err)
		}
	}
	if Transient(err) {
		t.Errorf("a refusal counts as transient: %v", err)
	}
	if testing.Verbose() {
		t.Log(err)
	}
}

func TestCheckRestore(t *testing.T) {
	p := start(t, redistest.Redis70)
	r := start(t, redistest.Redis70, "replica-read-only", "no")
	r.ReplicateFrom(t, p)
	assertRefusal(t, CheckRestore(context.Background(), serverEndpoint(r)),
		[]string{"is a replica (role:slave) of 127.0.0.1:", "Restore into the primary", "REPLICAOF NO ONE"})
	assertRefusal(t, CheckRestore(context.Background(), serverEndpoint(p)), nil)
}

func TestCheckVerify(t *testing.T) {
	a, b := start(t, redistest.Valkey81), start(t, redistest.Valkey81)
	assertRefusal(t, CheckVerify(context.Background(), localhost(a), serverEndpoint(a)),
		[]string{"is the source", "always finds it equal"})
	assertRefusal(t, CheckVerify(context.Background(), serverEndpoint(a), serverEndpoint(b)), nil)
	// A replica against its primary is a fair comparison.
	b.ReplicateFrom(t, a)
	assertRefusal(t, CheckVerify(context.Background(), serverEndpoint(a), serverEndpoint(b)), nil)
}

// TestCheckCluster: two nodes of one cluster are one side, whatever their
// addresses and run_ids; two clusters are not.
func TestCheckCluster(t *testing.T) {
	one := redistest.StartCluster(t, redistest.Valkey91, 3, redistest.Options{})
	two := redistest.StartCluster(t, redistest.Valkey91, 3, redistest.Options{})
	ctx := context.Background()
	want := []string{"nodes of one cluster", "is in both"}
	assertRefusal(t, CheckVerify(ctx, serverEndpoint(one.Masters[0]), serverEndpoint(one.Masters[2])), want)
	assertRefusal(t, CheckSync(ctx, serverEndpoint(one.Masters[1]), localhost(one.Masters[1]), nil), want)
	assertRefusal(t, CheckVerify(ctx, serverEndpoint(one.Masters[0]), serverEndpoint(two.Masters[0])), nil)
}

func TestUnreachableIsTransient(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	err = CheckVerify(context.Background(), endpoint("nowhere", "127.0.0.1:"+itoa(port)), endpoint("nowhere", "127.0.0.1:"+itoa(port)))
	if err == nil || !Transient(err) || errors.Is(err, ErrRefused) {
		t.Fatalf("an unreachable server: %v (transient %v), want a transient error", err, Transient(err))
	}
}

// TestLoopByReplicationID: a source whose primary cannot be asked is still
// caught replicating from the target when it carries the target's
// replication id.
func TestLoopByReplicationID(t *testing.T) {
	unreachable := hop{addr: "10.0.0.9:6379", err: errors.New("i/o timeout")}
	replica := func(replid string) side {
		return side{name: "src", info: server.Info{RunID: "s", Role: roleReplica, MasterHost: "10.0.0.9", MasterPort: 6379, MasterReplID: replid}}
	}
	target := side{name: "dst", info: server.Info{RunID: "t", Role: "master", MasterReplID: "r1"}}
	tests := []struct {
		name  string
		src   side
		chain []hop
		want  []string
	}{
		{"shares the target's replid", replica("r1"), []hop{unreachable}, []string{"most likely replicates from the target"}},
		{"another replid", replica("r2"), []hop{unreachable}, nil},
		{"primary reached, not the target", replica("r1"), []hop{{addr: "10.0.0.9:6379", info: server.Info{RunID: "p", Role: "master"}}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertRefusal(t, sourceReplicatesFromTarget(tc.src, target, tc.chain), tc.want)
		})
	}
}

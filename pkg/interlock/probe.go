package interlock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/pkg/server"
)

const roleReplica = "slave"

// maxHops bounds the walk up a chain of replicas; real chains are one or two long.
const maxHops = 8

// side is what the checks know of one side.
type side struct {
	name string // for messages
	addr string
	info server.Info // of the node reached
	// nodeIDs are the ids of every node of its cluster (CLUSTER NODES); nil
	// for a standalone server.
	nodeIDs []string
}

// hop is one primary found by walking up from a replica.
type hop struct {
	addr  string      // as the replica below reports it (master_host:master_port)
	info  server.Info // zero when err != nil
	err   error       // it could not be asked; the walk ends here
	cycle bool        // already met on this walk: the walk ends here
}

// prober asks servers what they are. Primaries found by walking up from a
// replica are reached with the credentials and TLS settings of each side in
// turn (a replica's own credentials for its primary cannot be read).
type prober struct {
	creds []server.ClientOptions
}

func newProber(sides ...server.ClientOptions) prober {
	p := prober{creds: sides}
	if len(sides) > 0 {
		anon := sides[0]
		anon.Username, anon.Password = "", ""
		p.creds = append(p.creds, anon)
	}
	return p
}

// side reaches ep and reads its INFO, and for a cluster its nodes' ids.
func (p prober) side(ctx context.Context, ep Endpoint) (side, error) {
	c := server.NewClient(ep.Client)
	defer c.Close()
	info, err := server.Fetch(ctx, c)
	if err != nil {
		return side{}, fmt.Errorf("asking %s what server it is: %w%s", ep.Name, err, hint(err))
	}
	s := side{name: ep.Name, addr: ep.Client.Name(), info: info}
	if info.ClusterEnabled {
		if s.nodeIDs, err = clusterNodeIDs(ctx, c); err != nil {
			return side{}, fmt.Errorf("asking the cluster %s for its nodes: %w%s", ep.Name, err, hint(err))
		}
	}
	return s, nil
}

// hint says what to do about a server's refusal to answer.
func hint(err error) string {
	var re redis.Error
	if !errors.As(err, &re) {
		return ""
	}
	msg := re.Error()
	switch {
	case strings.HasPrefix(msg, "NOAUTH"), strings.HasPrefix(msg, "WRONGPASS"), strings.HasPrefix(msg, "ERR AUTH"),
		strings.HasPrefix(msg, "ERR invalid password"):
		return " (authentication failed: check the password and, with ACLs, the user name)"
	case strings.HasPrefix(msg, "NOPERM"):
		return " (redferry checks what both servers are before it writes anything: grant the user +info, and +cluster|nodes for a cluster)"
	}
	return ""
}

// clusterNodeIDs reads the id of every node of the cluster (CLUSTER NODES:
// "<id> <ip:port@cport> <flags> ...", one line per node).
func clusterNodeIDs(ctx context.Context, c *redis.Client) ([]string, error) {
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER NODES: %w", err)
	}
	var ids []string
	for _, line := range strings.Split(text, "\n") {
		if id, _, ok := strings.Cut(strings.TrimSpace(line), " "); ok && id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, errors.New("CLUSTER NODES lists no node")
	}
	return ids, nil
}

// masters walks up from a replica: its primary, that primary's primary if
// it is a replica too, and so on. The last hop is a primary, a server that
// could not be asked (err), or one met before (cycle).
func (p prober) masters(ctx context.Context, from side) []hop {
	seen := map[string]bool{from.info.RunID: true}
	var chain []hop
	cur := from.info
	for len(chain) < maxHops && cur.Role == roleReplica && cur.MasterHost != "" {
		h := hop{addr: net.JoinHostPort(cur.MasterHost, strconv.Itoa(cur.MasterPort))}
		h.info, h.err = p.fetch(ctx, h.addr)
		if h.err == nil && h.info.RunID != "" {
			h.cycle = seen[h.info.RunID]
			seen[h.info.RunID] = true
		}
		chain = append(chain, h)
		if h.err != nil || h.cycle {
			break
		}
		cur = h.info
	}
	return chain
}

// fetch reads the INFO of addr with each side's credentials in turn, and
// with none: the first that the server accepts wins. A server that cannot
// be reached at all is not tried again.
func (p prober) fetch(ctx context.Context, addr string) (server.Info, error) {
	var errs []error
	for _, o := range p.creds {
		o.Addr, o.Sentinel = addr, nil // this server, not the master the sentinels name
		c := server.NewClient(o)
		info, err := server.Fetch(ctx, c)
		c.Close()
		if err == nil {
			return info, nil
		}
		errs = append(errs, err)
		var re redis.Error
		if !errors.As(err, &re) || ctx.Err() != nil {
			break // not a refusal of these credentials: others will not help
		}
	}
	return server.Info{}, errors.Join(errs...)
}

// Transient reports whether err, returned by a Check, may go away by itself:
// a server unreachable, restarting or loading its data. A refusal
// (ErrRefused) or refused credentials are not.
func Transient(err error) bool {
	if err == nil || errors.Is(err, ErrRefused) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		msg := re.Error()
		return strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "BUSY") || strings.HasPrefix(msg, "MASTERDOWN")
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// sides probes the source, then the target.
func (p prober) sides(ctx context.Context, source, target Endpoint) (src, dst side, err error) {
	if src, err = p.side(ctx, source); err != nil {
		return side{}, side{}, err
	}
	if dst, err = p.side(ctx, target); err != nil {
		return side{}, side{}, err
	}
	return src, dst, nil
}

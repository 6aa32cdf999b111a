package sink

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redferry/redferry/pkg/server"
)

// topology is which master serves each hash slot, as CLUSTER SLOTS said.
type topology struct {
	owner   [server.SlotCount]int16 // index in masters; -1: no master serves the slot
	masters []string                // addresses
	// nodes lists every node seen (masters and replicas): where to ask
	// again after a failover took the masters' addresses away.
	nodes []string
}

// fetchTopology asks the nodes in seeds, in turn, for CLUSTER SLOTS and
// returns the first complete answer (every slot served).
func fetchTopology(ctx context.Context, cfg *Config, seeds []string) (*topology, error) {
	var errs []error
	for _, addr := range seeds {
		t, err := fetchTopologyFrom(ctx, cfg, addr)
		if err == nil {
			return t, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return nil, fmt.Errorf("sink: no node of the target cluster told its slots: %w", errors.Join(errs...))
}

func fetchTopologyFrom(ctx context.Context, cfg *Config, addr string) (*topology, error) {
	c := server.NewClient(server.ClientOptions{Addr: addr, Username: cfg.Username, Password: cfg.Password, TLS: cfg.TLS,
		DialTimeout: cfg.DialTimeout, IOTimeout: cfg.IOTimeout, PoolSize: 1})
	defer c.Close()
	// CLUSTER SLOTS rather than SHARDS: every version has it (SHARDS is 7.0+).
	slots, err := c.ClusterSlots(ctx).Result() //lint:ignore SA1019 see above
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	t := &topology{}
	for i := range t.owner {
		t.owner[i] = -1
	}
	for _, r := range slots {
		if len(r.Nodes) == 0 || r.Start < 0 || r.End >= server.SlotCount || r.Start > r.End {
			continue
		}
		m := nodeAddr(r.Nodes[0].Addr, addr)
		i := slices.Index(t.masters, m)
		if i < 0 {
			i = len(t.masters)
			t.masters = append(t.masters, m)
		}
		for s := r.Start; s <= r.End; s++ {
			t.owner[s] = int16(i)
		}
		for _, n := range r.Nodes {
			if a := nodeAddr(n.Addr, addr); !slices.Contains(t.nodes, a) {
				t.nodes = append(t.nodes, a)
			}
		}
	}
	for s, o := range t.owner {
		if o < 0 {
			return nil, fmt.Errorf("slot %d is served by no master (cluster_state not ok, or slots unassigned)", s)
		}
	}
	return t, nil
}

// nodeAddr fills in the host of a node announced without one (an empty
// or "?" host means: the address asked).
func nodeAddr(a, asked string) string {
	i := strings.LastIndexByte(a, ':')
	j := strings.LastIndexByte(asked, ':')
	if i < 0 || j < 0 || a[:i] != "" && a[:i] != "?" {
		return a
	}
	return asked[:j] + a[i:]
}

// ownerOf returns the index of the master serving slot.
func (t *topology) ownerOf(slot int) int { return int(t.owner[slot]) }

// slotsOf lists master m's slots as ranges "0-5460,10923".
func (t *topology) slotsOf(m int) string {
	var sb strings.Builder
	for s := 0; s < server.SlotCount; s++ {
		if int(t.owner[s]) != m {
			continue
		}
		e := s
		for e+1 < server.SlotCount && int(t.owner[e+1]) == m {
			e++
		}
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(s))
		if e > s {
			sb.WriteByte('-')
			sb.WriteString(strconv.Itoa(e))
		}
		s = e
	}
	return sb.String()
}

// firstSlot is master m's lowest slot; -1 when it has none.
func (t *topology) firstSlot(m int) int {
	for s, o := range t.owner {
		if int(o) == m {
			return s
		}
	}
	return -1
}

// parseSlotRanges reads slotsOf's format.
func parseSlotRanges(s string) ([][2]int, error) {
	var out [][2]int
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		from, err := strconv.Atoi(a)
		if err != nil {
			return nil, fmt.Errorf("slot range %q: %w", part, err)
		}
		to := from
		if isRange {
			if to, err = strconv.Atoi(b); err != nil {
				return nil, fmt.Errorf("slot range %q: %w", part, err)
			}
		}
		if from < 0 || to >= server.SlotCount || from > to {
			return nil, fmt.Errorf("slot range %q out of bounds", part)
		}
		out = append(out, [2]int{from, to})
	}
	return out, nil
}

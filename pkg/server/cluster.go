package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// SlotCount is the number of hash slots of a Redis Cluster.
const SlotCount = 16384

// SlotRange is a range of hash slots, both ends included.
type SlotRange struct{ Start, End int }

// ClusterNode is a master of a cluster as the cluster announces it.
type ClusterNode struct {
	ID    string
	Addr  string      // host:port (the TLS port when the client asking uses TLS)
	Slots []SlotRange // sorted; empty for a master that serves no slot
}

// Owns reports whether the node serves slot.
func (n ClusterNode) Owns(slot int) bool {
	for _, r := range n.Slots {
		if slot >= r.Start && slot <= r.End {
			return true
		}
	}
	return false
}

// SlotsString lists the node's slots as "0-5460,5462" (for logs and checkpoints).
func (n ClusterNode) SlotsString() string {
	var sb strings.Builder
	for i, r := range n.Slots {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.Itoa(r.Start))
		if r.End != r.Start {
			sb.WriteString("-" + strconv.Itoa(r.End))
		}
	}
	return sb.String()
}

// ParseSlots reads what SlotsString wrote.
func ParseSlots(s string) ([]SlotRange, error) {
	var out []SlotRange
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		start, err := strconv.Atoi(a)
		end := start
		if err == nil && isRange {
			end, err = strconv.Atoi(b)
		}
		if err != nil || start < 0 || end < start || end >= SlotCount {
			return nil, fmt.Errorf("slot range %q: want N or N-M within 0-%d", part, SlotCount-1)
		}
		out = append(out, SlotRange{start, end})
	}
	return out, nil
}

// ClusterMasters returns the masters of the cluster c is a node of, with
// their node ids, addresses and slots, ordered by their first slot (masters
// without slots last, by address). It asks CLUSTER SHARDS (Redis 7.0+,
// Valkey) and, where that is unknown, CLUSTER SLOTS (which cannot list
// masters without slots). An address the node does not know (announced as
// "" or "?") is taken to be c's own.
func ClusterMasters(ctx context.Context, c *redis.Client) ([]ClusterNode, error) {
	self := c.Options().Addr
	tlsPort := c.Options().TLSConfig != nil
	shards, err := c.ClusterShards(ctx).Result()
	var nodes []ClusterNode
	switch {
	case err == nil:
		nodes = mastersOfShards(shards, self, tlsPort)
	case isUnknownCommand(err):
		slots, err := c.ClusterSlots(ctx).Result()
		if err != nil {
			return nil, fmt.Errorf("CLUSTER SLOTS on %s: %w", self, err)
		}
		nodes = mastersOfSlots(slots, self)
	default:
		return nil, fmt.Errorf("CLUSTER SHARDS on %s: %w", self, err)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%s names no master of its cluster: is the cluster set up (CLUSTER INFO cluster_state:ok)?", self)
	}
	sort.Slice(nodes, func(i, j int) bool {
		a, b := nodes[i], nodes[j]
		if (len(a.Slots) == 0) != (len(b.Slots) == 0) {
			return len(a.Slots) > 0
		}
		if len(a.Slots) > 0 && a.Slots[0].Start != b.Slots[0].Start {
			return a.Slots[0].Start < b.Slots[0].Start
		}
		return a.Addr < b.Addr
	})
	return nodes, nil
}

func mastersOfShards(shards []redis.ClusterShard, self string, tlsPort bool) []ClusterNode {
	var out []ClusterNode
	for _, sh := range shards {
		var master *redis.Node
		for i := range sh.Nodes {
			n := &sh.Nodes[i]
			// A failed master keeps role master until a replica takes over:
			// an online one wins.
			if n.Role == "master" && (master == nil || master.Health != "online" && n.Health == "online") {
				master = n
			}
		}
		if master == nil {
			continue
		}
		host := master.Endpoint
		if host == "" || host == "?" {
			host = master.IP
		}
		port := master.Port
		if tlsPort && master.TLSPort != 0 {
			port = master.TLSPort
		}
		addr := net.JoinHostPort(host, strconv.FormatInt(port, 10))
		if host == "" || host == "?" {
			addr = self
		}
		n := ClusterNode{ID: master.ID, Addr: addr}
		for _, r := range sh.Slots {
			n.Slots = append(n.Slots, SlotRange{int(r.Start), int(r.End)})
		}
		sort.Slice(n.Slots, func(i, j int) bool { return n.Slots[i].Start < n.Slots[j].Start })
		out = append(out, n)
	}
	return out
}

func mastersOfSlots(slots []redis.ClusterSlot, self string) []ClusterNode {
	byID := map[string]*ClusterNode{}
	var order []string
	for _, s := range slots {
		if len(s.Nodes) == 0 {
			continue
		}
		m := s.Nodes[0] // the master comes first
		key := m.ID
		if key == "" {
			key = m.Addr
		}
		n, ok := byID[key]
		if !ok {
			addr := m.Addr
			if host, _, err := net.SplitHostPort(addr); err != nil || host == "" || host == "?" {
				addr = self
			}
			n = &ClusterNode{ID: m.ID, Addr: addr}
			byID[key] = n
			order = append(order, key)
		}
		n.Slots = append(n.Slots, SlotRange{s.Start, s.End})
	}
	out := make([]ClusterNode, 0, len(order))
	for _, k := range order {
		n := byID[k]
		sort.Slice(n.Slots, func(i, j int) bool { return n.Slots[i].Start < n.Slots[j].Start })
		out = append(out, *n)
	}
	return out
}

func isUnknownCommand(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "unknown subcommand") || strings.Contains(msg, "unknown command")
}

// SlotOwners returns, per slot, the index in nodes of the master serving
// it (-1: none).
func SlotOwners(nodes []ClusterNode) []int {
	owners := make([]int, SlotCount)
	for i := range owners {
		owners[i] = -1
	}
	for i, n := range nodes {
		for _, r := range n.Slots {
			for s := r.Start; s <= r.End && s < SlotCount; s++ {
				owners[s] = i
			}
		}
	}
	return owners
}

// KeySlot is the cluster hash slot of key: CRC16 (XMODEM) of the key, or of
// its hash tag (the part between the first "{" and the next "}", when not
// empty), modulo 16384. Generic so that the sink's hot path hashes its
// []byte keys without a copy.
func KeySlot[K ~string | ~[]byte](key K) int {
	for open := 0; open < len(key); open++ {
		if key[open] != '{' {
			continue
		}
		for end := open + 1; end < len(key); end++ {
			if key[end] == '}' {
				if end > open+1 {
					key = key[open+1 : end]
				}
				break
			}
		}
		break
	}
	return int(crc16(key) % SlotCount)
}

// crc16Table is the CRC-16/XMODEM table Redis Cluster hashes keys with.
var crc16Table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()

func crc16[K ~string | ~[]byte](key K) uint16 {
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^key[i]]
	}
	return crc
}

// TagForSlot returns a short hash tag (digits) whose slot is slot: a key
// holding {tag} lives in that slot whatever else it holds.
func TagForSlot(slot int) string {
	for n := 0; ; n++ {
		if tag := strconv.Itoa(n); KeySlot(tag) == slot {
			return tag
		}
	}
}

// SlotTags returns TagForSlot of every slot, computed at once (about
// 160 000 numbers hashed, instead of some 16 000 per slot).
func SlotTags() *[SlotCount]string {
	var t [SlotCount]string
	left := SlotCount
	for n := 0; left > 0; n++ {
		tag := strconv.Itoa(n)
		if s := KeySlot(tag); t[s] == "" {
			t[s] = tag
			left--
		}
	}
	return &t
}

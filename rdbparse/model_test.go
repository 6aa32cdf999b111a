package rdbparse

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"
)

// The test model: a decoded snapshot held whole, to compare with a server
// or a second parser.

type streamEntry struct {
	ID     string
	Fields []string
}

type pendingModel struct {
	ID       string
	Count    uint64
	Consumer string
}

type groupModel struct {
	Name        string
	LastID      string
	EntriesRead int64
	Pending     []pendingModel
	Consumers   []string
}

type streamModel struct {
	Entries []streamEntry
	Meta    StreamMeta
	Groups  []*groupModel
	IDMP    *StreamIDMP
	IIDs    []string // producer/iid=entry id
}

type keyModel struct {
	DB       int
	Key      string
	Type     ValueType
	Encoding string
	TypeByte byte
	ExpireAt int64
	Offset   int64
	Len      int64
	Str      []byte
	List     []string
	Set      map[string]bool
	ZSet     map[string]float64
	Hash     map[string]string
	HashTTL  map[string]int64
	Stream   *streamModel
	Module   string
	ModVal   []byte
	pieces   int
}

type snapModel struct {
	Magic     string
	Version   int
	Aux       map[string]string
	Functions []string
	Keys      map[string]*keyModel // "db:key"
	Order     []string
	Checksum  uint64
	Events    int
}

func mkey(db int, key string) string { return fmt.Sprintf("%d:%s", db, key) }

// collector builds a snapModel from events, checking the event grammar.
type collector struct {
	m        *snapModel
	cur      *keyModel
	maxChunk int
	lastOff  int64
	curGroup *groupModel
	curCons  string
	allowDup bool // corrupt inputs may repeat keys
}

func newCollector(maxChunk int) *collector {
	return &collector{m: &snapModel{Aux: map[string]string{}, Keys: map[string]*keyModel{}}, maxChunk: maxChunk}
}

func (c *collector) handle(ev *Event) error {
	c.m.Events++
	inKey := c.cur != nil
	switch ev.Kind {
	case KindHeader:
		c.m.Magic, c.m.Version = ev.Magic, ev.Version
	case KindAux:
		c.m.Aux[string(ev.Name)] = string(ev.Value)
	case KindFunction:
		c.m.Functions = append(c.m.Functions, string(ev.Value))
	case KindSelectDB, KindResizeDB, KindSlotInfo, KindModuleAux:
	case KindEOF:
		c.m.Checksum = ev.Checksum
	case KindKey:
		if inKey {
			return fmt.Errorf("KindKey inside key %q", c.cur.Key)
		}
		if ev.Offset < c.lastOff {
			return fmt.Errorf("key offset %d before previous %d", ev.Offset, c.lastOff)
		}
		c.lastOff = ev.Offset
		k := &keyModel{DB: ev.DB, Key: string(ev.Key), Type: ev.Type, Encoding: ev.Encoding, TypeByte: ev.TypeByte,
			ExpireAt: ev.ExpireAt, Offset: ev.Offset, Len: ev.Len}
		switch ev.Type {
		case TypeString:
			k.Str = []byte{}
		case TypeSet:
			k.Set = map[string]bool{}
		case TypeZSet:
			k.ZSet = map[string]float64{}
		case TypeHash:
			k.Hash, k.HashTTL = map[string]string{}, map[string]int64{}
		case TypeStream:
			k.Stream = &streamModel{}
		case TypeList:
			k.List = []string{}
		}
		c.cur = k
		return nil
	}
	if (ev.Kind < KindString || ev.Kind > KindKeyEnd) && !ev.Kind.InKey() {
		if inKey {
			return fmt.Errorf("event %v inside key %q", ev.Kind, c.cur.Key)
		}
		return nil
	}
	if !inKey {
		return fmt.Errorf("event %v outside a key", ev.Kind)
	}
	k := c.cur
	want := map[Kind]ValueType{KindString: TypeString, KindListItem: TypeList, KindSetMember: TypeSet,
		KindZSetMember: TypeZSet, KindHashField: TypeHash, KindStreamEntry: TypeStream, KindStreamDeletedEntry: TypeStream, KindStreamMeta: TypeStream,
		KindStreamGroup: TypeStream, KindStreamPending: TypeStream, KindStreamConsumer: TypeStream,
		KindStreamConsumerPending: TypeStream, KindModuleValue: TypeModule, KindStreamIDMP: TypeStream, KindStreamIDMPEntry: TypeStream}
	if t, ok := want[ev.Kind]; ok && t != k.Type {
		return fmt.Errorf("event %v in a %v key", ev.Kind, k.Type)
	}
	switch ev.Kind {
	case KindString:
		if len(ev.Value) > c.maxChunk {
			return fmt.Errorf("string piece of %d > %d", len(ev.Value), c.maxChunk)
		}
		k.Str = append(k.Str, ev.Value...)
		k.pieces++
		if ev.Last {
			k.pieces = -k.pieces
		}
	case KindListItem:
		k.List = append(k.List, string(ev.Value))
	case KindSetMember:
		k.Set[string(ev.Value)] = true
	case KindZSetMember:
		k.ZSet[string(ev.Value)] = ev.Score
	case KindHashField:
		k.Hash[string(ev.Name)] = string(ev.Value)
		delete(k.HashTTL, string(ev.Name))
		if ev.FieldExpireAt != 0 {
			k.HashTTL[string(ev.Name)] = ev.FieldExpireAt
		}
	case KindStreamEntry:
		f := make([]string, len(ev.Fields))
		for i, b := range ev.Fields {
			f[i] = string(b)
		}
		k.Stream.Entries = append(k.Stream.Entries, streamEntry{ev.ID.String(), f})
	case KindStreamDeletedEntry:
		// Not part of the stream's value: the server shows no deleted entries.
	case KindStreamMeta:
		k.Stream.Meta = ev.Stream
	case KindStreamGroup:
		c.curGroup = &groupModel{Name: string(ev.Group.Name), LastID: ev.Group.LastID.String(), EntriesRead: ev.Group.EntriesRead}
		k.Stream.Groups = append(k.Stream.Groups, c.curGroup)
	case KindStreamPending:
		c.curGroup.Pending = append(c.curGroup.Pending, pendingModel{ID: ev.ID.String(), Count: ev.DeliveryCount})
	case KindStreamConsumer:
		c.curCons = string(ev.Consumer.Name)
		c.curGroup.Consumers = append(c.curGroup.Consumers, c.curCons)
	case KindStreamConsumerPending:
		for i := range c.curGroup.Pending {
			if c.curGroup.Pending[i].ID == ev.ID.String() {
				c.curGroup.Pending[i].Consumer = c.curCons
			}
		}
	case KindStreamIDMP:
		st := ev.IDMP
		k.Stream.IDMP = &st
	case KindStreamIDMPEntry:
		k.Stream.IIDs = append(k.Stream.IIDs, fmt.Sprintf("%s/%s=%s", ev.Name, ev.Value, ev.ID))
	case KindModuleValue:
		k.Module, k.ModVal = string(ev.Name), bytes.Clone(ev.Value)
	case KindKeyEnd:
		if k.Type == TypeString && k.pieces >= 0 {
			return fmt.Errorf("string %q without a Last piece", k.Key)
		}
		id := mkey(k.DB, k.Key)
		if _, dup := c.m.Keys[id]; dup && !c.allowDup {
			return fmt.Errorf("key %q twice", id)
		}
		if c.m.Keys != nil {
			c.m.Keys[id] = k
		}
		if !c.allowDup {
			c.m.Order = append(c.m.Order, id)
		}
		c.cur = nil
	}
	return nil
}

func decodeModel(data []byte, opt Options) (*snapModel, error) {
	if opt.MaxChunk == 0 {
		opt.MaxChunk = defaultMaxChunk
	}
	c := newCollector(opt.MaxChunk)
	d := NewDecoder(bytes.NewReader(data), opt)
	if err := d.Decode(c.handle); err != nil {
		return nil, err
	}
	if d.Offset() != int64(len(data)) {
		return nil, fmt.Errorf("decoder consumed %d of %d bytes", d.Offset(), len(data))
	}
	return c.m, nil
}

// describe renders a key for diffs.
func (k *keyModel) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s enc=%s exp=%d", k.Type, k.Key, k.Encoding, k.ExpireAt)
	switch k.Type {
	case TypeString:
		if len(k.Str) > 64 {
			fmt.Fprintf(&b, " str[%d]=%q...", len(k.Str), k.Str[:32])
		} else {
			fmt.Fprintf(&b, " str=%q", k.Str)
		}
	case TypeList:
		fmt.Fprintf(&b, " list=%q", trunc(k.List))
	case TypeSet:
		fmt.Fprintf(&b, " set=%q", trunc(sortedKeys(k.Set)))
	case TypeZSet:
		ms := sortedKeys(k.ZSet)
		for _, m := range ms[:min(len(ms), 20)] {
			fmt.Fprintf(&b, " %q:%v", m, k.ZSet[m])
		}
	case TypeHash:
		for _, f := range sortedKeys(k.Hash)[:min(len(k.Hash), 20)] {
			fmt.Fprintf(&b, " %q=%q", f, k.Hash[f])
			if t := k.HashTTL[f]; t != 0 {
				fmt.Fprintf(&b, "@%d", t)
			}
		}
	case TypeStream:
		fmt.Fprintf(&b, " %d entries %+v", len(k.Stream.Entries), k.Stream.Meta)
	}
	return b.String()
}

func trunc(s []string) []string { return s[:min(len(s), 20)] }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sameScore(a, b float64) bool {
	return a == b || math.IsNaN(a) && math.IsNaN(b)
}

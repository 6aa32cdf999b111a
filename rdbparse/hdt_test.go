package rdbparse

import (
	"bytes"
	"fmt"
	"sort"
	"testing"

	"github.com/hdt3213/rdb/model"
	"github.com/hdt3213/rdb/parser"
)

// hdtModel decodes data with github.com/hdt3213/rdb into the test model.
func hdtModel(data []byte) (*snapModel, error) {
	m := &snapModel{Keys: map[string]*keyModel{}}
	err := parser.NewDecoder(bytes.NewReader(data)).Parse(func(o model.RedisObject) bool {
		k := &keyModel{DB: o.GetDBIndex(), Key: o.GetKey()}
		if e := o.GetExpiration(); e != nil {
			k.ExpireAt = e.UnixMilli()
		}
		switch x := o.(type) {
		case *model.StringObject:
			k.Type, k.Str = TypeString, bytes.Clone(x.Value)
		case *model.ListObject:
			k.Type, k.List = TypeList, []string{}
			for _, v := range x.Values {
				k.List = append(k.List, string(v))
			}
		case *model.SetObject:
			k.Type, k.Set = TypeSet, map[string]bool{}
			for _, v := range x.Members {
				k.Set[string(v)] = true
			}
		case *model.ZSetObject:
			k.Type, k.ZSet = TypeZSet, map[string]float64{}
			for _, e := range x.Entries {
				k.ZSet[e.Member] = e.Score
			}
		case *model.HashObject:
			k.Type, k.Hash, k.HashTTL = TypeHash, map[string]string{}, map[string]int64{}
			for f, v := range x.Hash {
				k.Hash[f] = string(v)
				if t := x.FieldExpirations[f]; t > 0 {
					k.HashTTL[f] = t
				}
			}
		case *model.StreamObject:
			k.Type, k.Stream = TypeStream, &streamModel{}
			for _, e := range x.Entries {
				for _, msg := range e.Msgs {
					if msg.Deleted {
						continue
					}
					// hdt keeps fields in a map: compare sorted pairs.
					k.Stream.Entries = append(k.Stream.Entries, streamEntry{fmt.Sprintf("%d-%d", msg.Id.Ms, msg.Id.Sequence), sortedPairs(msg.Fields)})
				}
			}
			k.Stream.Meta.Length = x.Length
			if x.LastId != nil {
				k.Stream.Meta.LastID = StreamID{x.LastId.Ms, x.LastId.Sequence}
			}
			for _, g := range x.Groups {
				gm := &groupModel{Name: g.Name, LastID: fmt.Sprintf("%d-%d", g.LastId.Ms, g.LastId.Sequence)}
				for _, p := range g.Pending {
					gm.Pending = append(gm.Pending, pendingModel{ID: fmt.Sprintf("%d-%d", p.Id.Ms, p.Id.Sequence), Count: p.DeliveryCount})
				}
				for _, c := range g.Consumers {
					gm.Consumers = append(gm.Consumers, c.Name)
					for _, id := range c.Pending {
						for i := range gm.Pending {
							if gm.Pending[i].ID == fmt.Sprintf("%d-%d", id.Ms, id.Sequence) {
								gm.Pending[i].Consumer = c.Name
							}
						}
					}
				}
				k.Stream.Groups = append(k.Stream.Groups, gm)
			}
		default:
			return true // aux, db size, functions
		}
		m.Keys[mkey(k.DB, k.Key)] = k
		return true
	})
	return m, err
}

func sortedPairs(f map[string]string) []string {
	ks := sortedKeys(f)
	var out []string
	for _, k := range ks {
		out = append(out, k, f[k])
	}
	return out
}

// comparable renders the parts both parsers report.
func comparableKey(k *keyModel) string {
	c := *k
	c.Encoding, c.TypeByte, c.Offset, c.Len, c.pieces = "", 0, 0, 0, 0
	if c.Stream != nil {
		s := *c.Stream
		s.Entries = nil
		for _, e := range k.Stream.Entries {
			m := map[string]string{}
			for i := 0; i+1 < len(e.Fields); i += 2 {
				m[e.Fields[i]] = e.Fields[i+1]
			}
			s.Entries = append(s.Entries, streamEntry{e.ID, sortedPairs(m)})
		}
		s.Meta = StreamMeta{Length: k.Stream.Meta.Length, LastID: k.Stream.Meta.LastID}
		var gs []string
		for _, g := range s.Groups {
			g := *g
			g.EntriesRead = 0 // hdt3213 does not report it
			gs = append(gs, fmt.Sprintf("%+v", g))
		}
		sort.Strings(gs)
		return fmt.Sprintf("%s %s exp=%d entries=%q meta=%+v groups=%v", c.Type, c.Key, c.ExpireAt, s.Entries, s.Meta, gs)
	}
	return fmt.Sprintf("%s %s exp=%d str=%q list=%q set=%q zset=%v hash=%v ttl=%v", c.Type, c.Key, c.ExpireAt, c.Str, c.List,
		sortedKeys(c.Set), c.ZSet, c.Hash, c.HashTTL)
}

func compareModels(a, b *snapModel) error {
	if len(a.Keys) != len(b.Keys) {
		return fmt.Errorf("%d keys vs %d", len(a.Keys), len(b.Keys))
	}
	for id, ka := range a.Keys {
		kb := b.Keys[id]
		if kb == nil {
			return fmt.Errorf("key %q only in one", id)
		}
		if ka.ExpireAt > 1<<43 || ka.ExpireAt < 0 { // Redis reads EXPIRETIME as int32; hdt3213 as uint32
			c := *kb
			c.ExpireAt = ka.ExpireAt // hdt3213's time.Time overflows there
			kb = &c
		}
		if x, y := comparableKey(ka), comparableKey(kb); x != y {
			return fmt.Errorf("key %q:\n rdbparse %s\n hdt3213  %s", id, x, y)
		}
	}
	return nil
}

// TestCompareHdt decodes every fixture with rdbparse and hdt3213/rdb and
// compares the keys where hdt3213 accepts the snapshot.
func TestCompareHdt(t *testing.T) {
	fx := fixtures(t)
	compared := 0
	for _, name := range sortedNames(fx) {
		data := fx[name]
		hm, err := hdtModel(data)
		if err != nil {
			t.Logf("%s: hdt3213 rejects it: %v", name, err)
			continue
		}
		m, err := decodeModel(data, Options{})
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err := compareModels(m, hm); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		compared++
	}
	t.Logf("compared %d of %d fixtures with hdt3213/rdb", compared, len(fx))
	if compared < 40 {
		t.Errorf("only %d fixtures compared", compared)
	}
}

package rdbparse

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Stream item flags (t_stream.c).
const (
	streamItemDeleted    = 1
	streamItemSameFields = 2
)

// decodeStream decodes RDB_TYPE_STREAM_LISTPACKS (15), _2 (19, RDB 10:
// first id, max deleted id, entries added, group entries read), _3 (21,
// RDB 11: consumer active time) and _4 (26, RDB 13).
//
// Layout: a count of listpack nodes, each a 16-byte big-endian master ID
// and a listpack; the length and last ID; (19+) first ID, max deleted ID,
// entries added; groups, each with its PEL (16-byte IDs, 8-byte delivery
// time, delivery count) and consumers (name, seen time, (21+) active
// time, PEL of 16-byte IDs).
func (d *Decoder) decodeStream(t byte) error {
	nodes, err := d.count("stream listpack count")
	if err != nil {
		return err
	}
	if err := d.beginKey("stream", -1); err != nil {
		return err
	}
	for i := uint64(0); i < nodes; i++ {
		off := d.rd.off
		if d.nameBuf, err = d.readString(d.nameBuf, "stream node master ID"); err != nil {
			return err
		}
		if len(d.nameBuf) != 16 {
			return d.corrupt(off, "stream node key of %d bytes (expected a 16-byte ID)", len(d.nameBuf))
		}
		master := StreamID{binary.BigEndian.Uint64(d.nameBuf), binary.BigEndian.Uint64(d.nameBuf[8:])}
		off, err = d.readBlob("stream listpack")
		if err != nil {
			return err
		}
		if err := d.streamNode(master); err != nil {
			return d.corrupt(off, "stream listpack: %v", err)
		}
		if d.handlerErr != nil {
			err, d.handlerErr = d.handlerErr, nil
			return err
		}
	}
	var m StreamMeta
	if m.Length, err = d.readLen("stream length"); err != nil {
		return err
	}
	if m.LastID, err = d.readStreamID("stream last ID"); err != nil {
		return err
	}
	if t >= tStreamLP2 {
		m.HasV2Fields = true
		if m.FirstID, err = d.readStreamID("stream first ID"); err != nil {
			return err
		}
		if m.MaxDeletedID, err = d.readStreamID("stream max deleted ID"); err != nil {
			return err
		}
		if m.EntriesAdded, err = d.readLen("stream entries added"); err != nil {
			return err
		}
	} else {
		m.EntriesAdded = m.Length
	}
	d.ev.Kind = KindStreamMeta
	d.ev.Stream = m
	if err := d.emit(); err != nil {
		return err
	}
	groups, err := d.count("stream group count")
	if err != nil {
		return err
	}
	for i := uint64(0); i < groups; i++ {
		if err := d.streamGroup(t); err != nil {
			return err
		}
	}
	if t >= tStreamLP4 {
		return d.streamIDMP()
	}
	return nil
}

// streamIDMP reads the idempotent-producer (XADD IDMP) state that
// STREAM_LISTPACKS_4 stores after the groups: duration, max entries (one
// KindStreamIDMP), the producers (each an id and its (iid, entry id)
// pairs: one KindStreamIDMPEntry each), then the iids-added and
// iids-duplicates counters, which no command sets (read past; RESTORE of
// the raw value carries them).
func (d *Decoder) streamIDMP() error {
	var st StreamIDMP
	var err error
	if st.Duration, err = d.readLen("stream IDMP duration"); err != nil {
		return err
	}
	if st.MaxSize, err = d.readLen("stream IDMP max entries"); err != nil {
		return err
	}
	d.ev.Kind = KindStreamIDMP
	d.ev.IDMP = st
	if err := d.emit(); err != nil {
		return err
	}
	producers, err := d.count("stream IDMP producer count")
	if err != nil {
		return err
	}
	for i := uint64(0); i < producers; i++ {
		if d.nameBuf, err = d.readString(d.nameBuf, "stream IDMP producer id"); err != nil {
			return err
		}
		n, err := d.count("stream IDMP entry count")
		if err != nil {
			return err
		}
		for j := uint64(0); j < n; j++ {
			if d.valBuf, err = d.readString(d.valBuf, "stream IDMP iid"); err != nil {
				return err
			}
			id, err := d.readStreamID("stream IDMP entry id")
			if err != nil {
				return err
			}
			d.ev.Kind, d.ev.Name, d.ev.Value, d.ev.ID = KindStreamIDMPEntry, d.nameBuf, d.valBuf, id
			if err := d.emit(); err != nil {
				return err
			}
		}
	}
	for _, what := range []string{"stream IDMP iids added", "stream IDMP iids duplicates"} {
		if _, err := d.readLen(what); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) readStreamID(what string) (StreamID, error) {
	ms, err := d.readLen(what)
	if err != nil {
		return StreamID{}, err
	}
	seq, err := d.readLen(what)
	return StreamID{ms, seq}, err
}

func (d *Decoder) readRawStreamID(what string) (StreamID, error) {
	b, err := d.readN(16, what)
	if err != nil {
		return StreamID{}, err
	}
	return StreamID{binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:])}, nil
}

func (d *Decoder) streamGroup(t byte) error {
	var g StreamGroup
	var err error
	if d.nameBuf, err = d.readString(d.nameBuf, "stream group name"); err != nil {
		return err
	}
	g.Name = d.nameBuf
	if g.LastID, err = d.readStreamID("stream group last ID"); err != nil {
		return err
	}
	g.EntriesRead = -1
	if t >= tStreamLP2 {
		v, err := d.readLen("stream group entries read")
		if err != nil {
			return err
		}
		g.EntriesRead, g.HasEntriesRead = int64(v), true
	}
	d.ev.Kind = KindStreamGroup
	d.ev.Group = g
	if err := d.emit(); err != nil {
		return err
	}
	pel, err := d.count("stream group PEL size")
	if err != nil {
		return err
	}
	for i := uint64(0); i < pel; i++ {
		id, err := d.readRawStreamID("stream PEL entry ID")
		if err != nil {
			return err
		}
		dt, err := d.readMillis("stream PEL delivery time")
		if err != nil {
			return err
		}
		dc, err := d.readLen("stream PEL delivery count")
		if err != nil {
			return err
		}
		d.ev.Kind = KindStreamPending
		d.ev.ID, d.ev.DeliveryTime, d.ev.DeliveryCount = id, dt, dc
		if err := d.emit(); err != nil {
			return err
		}
	}
	consumers, err := d.count("stream consumer count")
	if err != nil {
		return err
	}
	for i := uint64(0); i < consumers; i++ {
		var c StreamConsumer
		if d.valBuf, err = d.readString(d.valBuf, "stream consumer name"); err != nil {
			return err
		}
		c.Name = d.valBuf
		if c.SeenTime, err = d.readMillis("stream consumer seen time"); err != nil {
			return err
		}
		c.ActiveTime = -1
		if t >= tStreamLP3 {
			if c.ActiveTime, err = d.readMillis("stream consumer active time"); err != nil {
				return err
			}
		}
		d.ev.Kind = KindStreamConsumer
		d.ev.Consumer = c
		if err := d.emit(); err != nil {
			return err
		}
		n, err := d.count("stream consumer PEL size")
		if err != nil {
			return err
		}
		for j := uint64(0); j < n; j++ {
			id, err := d.readRawStreamID("stream consumer PEL entry ID")
			if err != nil {
				return err
			}
			d.ev.Kind = KindStreamConsumerPending
			d.ev.ID = id
			if err := d.emit(); err != nil {
				return err
			}
		}
	}
	return nil
}

// lpInt reads the next listpack entry as an integer.
func lpInt(it *lpIter, what string) (int64, error) {
	s, iv, isInt, ok, err := it.next()
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("missing %s", what)
	}
	if isInt {
		return iv, nil
	}
	v, ok2 := parseInt(s)
	if !ok2 {
		return 0, fmt.Errorf("%s is %q, not an integer", what, s)
	}
	return v, nil
}

func parseInt(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	var v uint64
	for _, c := range s {
		if c < '0' || c > '9' || v > (math.MaxUint64-9)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// streamNode emits the live entries of one stream listpack (t_stream.c):
// a master entry (count, deleted count, field count, fields, 0) then items
// of flags, ms and seq deltas from the master ID, either the values of the
// master fields (SAMEFIELDS) or a field count and field/value pairs, and the
// item's entry count. Handler errors are kept in d.handlerErr.
func (d *Decoder) streamNode(master StreamID) error {
	it, err := newLPIter(d.blobBuf)
	if err != nil {
		return err
	}
	count, err := lpInt(&it, "master entry count")
	if err != nil {
		return err
	}
	deleted, err := lpInt(&it, "master deleted count")
	if err != nil {
		return err
	}
	nf, err := lpInt(&it, "master field count")
	if err != nil {
		return err
	}
	if nf < 0 || count < 0 || deleted < 0 || nf > int64(len(d.blobBuf)) {
		return fmt.Errorf("bad master entry (count %d, deleted %d, fields %d)", count, deleted, nf)
	}
	d.masterArena = d.masterArena[:0]
	d.master = d.master[:0]
	for i := int64(0); i < nf; i++ {
		s, iv, isInt, ok, err := it.next()
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("missing master field")
		}
		if isInt {
			l := len(d.masterArena)
			d.masterArena = fmt.Appendf(d.masterArena, "%d", iv)
			s = d.masterArena[l:len(d.masterArena):len(d.masterArena)]
		}
		d.master = append(d.master, s)
	}
	if z, err := lpInt(&it, "master entry terminator"); err != nil || z != 0 {
		return fmt.Errorf("master entry does not end with 0")
	}
	var live, dead int64
	for {
		d.arena = d.arena[:0]
		if it.p >= len(it.b) {
			break
		}
		flags, err := lpInt(&it, "entry flags")
		if err != nil {
			return err
		}
		msd, err := lpInt(&it, "entry ms delta")
		if err != nil {
			return err
		}
		seqd, err := lpInt(&it, "entry seq delta")
		if err != nil {
			return err
		}
		d.fields = d.fields[:0]
		lpCount := int64(3)
		if flags&streamItemSameFields != 0 {
			for i := int64(0); i < nf; i++ {
				s, iv, isInt, ok, err := it.next()
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("entry ends before its values")
				}
				d.fields = append(d.fields, d.master[i], d.num(s, iv, isInt))
			}
			lpCount += nf
		} else {
			n, err := lpInt(&it, "entry field count")
			if err != nil {
				return err
			}
			if n < 0 || n > int64(len(d.blobBuf)) {
				return fmt.Errorf("entry field count %d", n)
			}
			for i := int64(0); i < 2*n; i++ {
				s, iv, isInt, ok, err := it.next()
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("entry ends before its fields")
				}
				d.fields = append(d.fields, d.num(s, iv, isInt))
			}
			lpCount += 1 + 2*n
		}
		back, err := lpInt(&it, "entry back count")
		if err != nil {
			return err
		}
		if back != lpCount {
			return fmt.Errorf("entry back count %d, expected %d", back, lpCount)
		}
		d.ev.Kind = KindStreamEntry
		if flags&streamItemDeleted != 0 {
			dead++
			d.ev.Kind = KindStreamDeletedEntry
		} else {
			live++
		}
		d.ev.ID = StreamID{master.Ms + uint64(msd), master.Seq + uint64(seqd)}
		d.ev.Fields = d.fields
		if err := d.emit(); err != nil {
			d.handlerErr = err
			return nil
		}
	}
	if live != count || dead != deleted {
		return fmt.Errorf("master entry counts %d live and %d deleted entries, found %d and %d", count, deleted, live, dead)
	}
	return nil
}

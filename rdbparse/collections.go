package rdbparse

import (
	"math"
	"strconv"
)

// elemIter is the common shape of listpack and ziplist iterators.
type elemIter interface {
	next() (s []byte, iv int64, isInt, ok bool, err error)
}

func (d *Decoder) readBlob(what string) (int64, error) {
	off := d.rd.off
	var err error
	d.blobBuf, err = d.readString(d.blobBuf, what)
	return off, err
}

// decodeZiplistValue decodes a list (per 1), zset or hash (per 2) stored
// as one ziplist.
func (d *Decoder) decodeZiplistValue(enc string, per int, k Kind) error {
	off, err := d.readBlob(enc)
	if err != nil {
		return err
	}
	it, err := newZLIter(d.blobBuf)
	if err != nil {
		return d.corrupt(off, "%v", err)
	}
	n := int64(-1)
	if it.count >= 0 {
		n = int64(it.count / per)
	}
	if err := d.beginKey(enc, n); err != nil {
		return err
	}
	return d.emitElems(&it, off, enc, per, k)
}

func (d *Decoder) decodeListpackValue(enc string, per int, k Kind) error {
	off, err := d.readBlob(enc)
	if err != nil {
		return err
	}
	it, err := newLPIter(d.blobBuf)
	if err != nil {
		return d.corrupt(off, "%v", err)
	}
	n := int64(-1)
	if it.count >= 0 {
		n = int64(it.count / per)
	}
	if err := d.beginKey(enc, n); err != nil {
		return err
	}
	return d.emitElems(&it, off, enc, per, k)
}

// emitElems emits the elements of a compact blob: single values (per 1) or
// member/score, field/value pairs (per 2).
func (d *Decoder) emitElems(it elemIter, off int64, enc string, per int, k Kind) error {
	for {
		d.arena = d.arena[:0]
		s, iv, isInt, ok, err := it.next()
		if err != nil {
			return d.corrupt(off, "%v", err)
		}
		if !ok {
			return nil
		}
		a := d.num(s, iv, isInt)
		if per == 1 {
			if err := d.emitValue(k, a); err != nil {
				return err
			}
			continue
		}
		s, iv, isInt, ok, err = it.next()
		if err != nil {
			return d.corrupt(off, "%v", err)
		}
		if !ok {
			return d.corrupt(off, "%s ends with a lone element (expected pairs)", enc)
		}
		if k == KindZSetMember {
			sc, ok := parseScore(s, iv, isInt)
			if !ok {
				return d.corrupt(off, "%s: bad score %q", enc, s)
			}
			err = d.emitMember(a, sc)
		} else {
			err = d.emitField(a, d.num(s, iv, isInt), 0)
		}
		if err != nil {
			return err
		}
	}
}

func (d *Decoder) decodeLinkedList() error {
	return d.decodeStringElems("list length", "linkedlist", "list element", KindListItem)
}

// decodeStringElems decodes a count then that many strings, each an event
// of kind: the plain list and set encodings.
func (d *Decoder) decodeStringElems(countWhat, encoding, elemWhat string, kind Kind) error {
	n, err := d.count(countWhat)
	if err != nil {
		return err
	}
	if err := d.beginKey(encoding, int64(n)); err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if d.valBuf, err = d.readString(d.valBuf, elemWhat); err != nil {
			return err
		}
		if err := d.emitValue(kind, d.valBuf); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) decodeQuicklist() error {
	n, err := d.count("quicklist node count")
	if err != nil {
		return err
	}
	if err := d.beginKey("quicklist", -1); err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		off, err := d.readBlob("quicklist ziplist node")
		if err != nil {
			return err
		}
		it, err := newZLIter(d.blobBuf)
		if err != nil {
			return d.corrupt(off, "%v", err)
		}
		// An empty node holds nothing: Redis skips it when it loads the
		// snapshot (and the key, when all its nodes are empty).
		if err := d.emitElems(&it, off, "ziplist", 1, KindListItem); err != nil {
			return err
		}
	}
	return nil
}

// Quicklist 2 node containers (quicklist.h).
const (
	qlPlain  = 1
	qlPacked = 2
)

func (d *Decoder) decodeQuicklist2() error {
	n, err := d.count("quicklist node count")
	if err != nil {
		return err
	}
	if n == 0 {
		return d.beginKey("quicklist", 0)
	}
	for i := uint64(0); i < n; i++ {
		coff := d.rd.off
		c, err := d.readLen("quicklist node container")
		if err != nil {
			return err
		}
		if c != qlPlain && c != qlPacked {
			return d.corrupt(coff, "quicklist node container %d (expected 1 plain or 2 packed)", c)
		}
		off, err := d.readBlob("quicklist node")
		if err != nil {
			return err
		}
		if i == 0 {
			// Redis 7.2+ (RDB 11) saves a listpack-encoded list as a
			// quicklist of one node and loads it back as a listpack.
			enc := "quicklist"
			if n == 1 && c == qlPacked && (d.version >= 11 || d.valkey) {
				enc = "listpack"
			}
			if err := d.beginKey(enc, -1); err != nil {
				return err
			}
		}
		if c == qlPlain {
			if err := d.emitValue(KindListItem, d.blobBuf); err != nil {
				return err
			}
			continue
		}
		it, err := newLPIter(d.blobBuf)
		if err != nil {
			return d.corrupt(off, "%v", err)
		}
		// An empty node is skipped, as Redis does.
		if err := d.emitElems(&it, off, "listpack", 1, KindListItem); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) decodeStringSet() error {
	return d.decodeStringElems("set size", "hashtable", "set member", KindSetMember)
}

func (d *Decoder) decodeIntset() error {
	off, err := d.readBlob("intset")
	if err != nil {
		return err
	}
	width, n, err := intsetCheck(d.blobBuf)
	if err != nil {
		return d.corrupt(off, "%v", err)
	}
	if err := d.beginKey("intset", int64(n)); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		d.arena = strconv.AppendInt(d.arena[:0], intsetGet(d.blobBuf, width, i), 10)
		if err := d.emitValue(KindSetMember, d.arena); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) decodeZSet(binary bool) error {
	n, err := d.count("zset size")
	if err != nil {
		return err
	}
	if err := d.beginKey("skiplist", int64(n)); err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if d.valBuf, err = d.readString(d.valBuf, "zset member"); err != nil {
			return err
		}
		var score float64
		if binary {
			score, err = d.readBinaryDouble("zset score")
		} else {
			score, err = d.readDoubleString()
		}
		if err != nil {
			return err
		}
		if err := d.emitMember(d.valBuf, score); err != nil {
			return err
		}
	}
	return nil
}

// readDoubleString reads an old-style score: a length byte (253 NaN, 254
// +inf, 255 -inf) and that many bytes of "%.17g" text.
func (d *Decoder) readDoubleString() (float64, error) {
	off := d.rd.off
	l, err := d.readByte("zset score")
	if err != nil {
		return 0, err
	}
	switch l {
	case 253:
		return nan(), nil
	case 254:
		return inf(1), nil
	case 255:
		return inf(-1), nil
	}
	if d.nameBuf, err = d.readGrow(d.nameBuf, uint64(l), "zset score"); err != nil {
		return 0, err
	}
	f, ok := parseScore(d.nameBuf, 0, false)
	if !ok {
		return 0, d.corrupt(off, "bad zset score %q", d.nameBuf)
	}
	return f, nil
}

func nan() float64      { return math.NaN() }
func inf(s int) float64 { return math.Inf(s) }

func (d *Decoder) decodeHashTable() error {
	n, err := d.count("hash size")
	if err != nil {
		return err
	}
	if err := d.beginKey("hashtable", int64(n)); err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if d.nameBuf, err = d.readString(d.nameBuf, "hash field"); err != nil {
			return err
		}
		if d.valBuf, err = d.readString(d.valBuf, "hash value"); err != nil {
			return err
		}
		if err := d.emitField(d.nameBuf, d.valBuf, 0); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) decodeZipmap() error {
	off, err := d.readBlob("zipmap")
	if err != nil {
		return err
	}
	it, err := newZMIter(d.blobBuf)
	if err != nil {
		return d.corrupt(off, "%v", err)
	}
	if d.blobBuf[1] == 0xff {
		// Unlike other empty collections (skipped), Redis 6.2+ refuses it.
		return d.corrupt(off, "empty zipmap (Redis refuses it too: \"Zipmap integrity check failed\")")
	}
	n := int64(-1)
	if d.blobBuf[0] < 254 {
		n = int64(d.blobBuf[0])
		// Redis 6.2+ checks the stored count against the entries
		// (zipmapValidateIntegrity) and refuses the file when they differ.
		count, err := countZipmap(d.blobBuf)
		if err != nil {
			return d.corrupt(off, "%v", err)
		}
		if count != n {
			return d.corrupt(off, "zipmap stores a count of %d but holds %d entries (Redis refuses it too: \"Zipmap integrity check failed\")", n, count)
		}
	}
	if err := d.beginKey("zipmap", n); err != nil {
		return err
	}
	for {
		f, v, ok, err := it.next()
		if err != nil {
			return d.corrupt(off, "%v", err)
		}
		if !ok {
			return nil
		}
		if err := d.emitField(f, v, 0); err != nil {
			return err
		}
	}
}

// countZipmap counts the entries of a zipmap blob.
func countZipmap(b []byte) (int64, error) {
	it, err := newZMIter(b)
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		_, _, ok, err := it.next()
		if err != nil {
			return 0, err
		}
		if !ok {
			return n, nil
		}
		n++
	}
}

package rdbparse

import (
	"math"
	"strconv"
)

// RDB value type bytes (rdb.h).
const (
	tString          = 0
	tList            = 1
	tSet             = 2
	tZSet            = 3
	tHash            = 4
	tZSet2           = 5
	tModulePreGA     = 6
	tModule2         = 7
	tHashZipmap      = 9
	tListZiplist     = 10
	tSetIntset       = 11
	tZSetZiplist     = 12
	tHashZiplist     = 13
	tListQuicklist   = 14
	tStreamLP        = 15
	tHashListpack    = 16
	tZSetListpack    = 17
	tListQuicklist2  = 18
	tStreamLP2       = 19
	tSetListpack     = 20
	tStreamLP3       = 21
	tHashMetaPreGA   = 22 // Redis 7.4 RC; in VALKEY08x files: Valkey's RDB_TYPE_HASH_2
	tHashLPExPreGA   = 23 // Redis 7.4 RC
	tHashMetadata    = 24
	tHashListpackEx  = 25
	tStreamLP4       = 26 // Redis 8.6 (RDB 13)
	tValkeyHash2     = 22
	tValkeyPathHash  = 23 // VALKEY081 (Valkey 9.2)
	maxKnownTypeByte = 26
)

// minVersion is the first RDB version that writes each type byte: a type
// in an older file is corruption, not an unsupported feature.
var minVersion = [maxKnownTypeByte + 1]int{tZSet2: 8, tModulePreGA: 8, tModule2: 8, tListQuicklist: 7,
	tStreamLP: 9, tHashListpack: 10, tZSetListpack: 10, tListQuicklist2: 10, tStreamLP2: 10,
	tSetListpack: 11, tStreamLP3: 11, tHashMetaPreGA: 12, tHashLPExPreGA: 12, tHashMetadata: 12,
	tHashListpackEx: 12, tStreamLP4: 13}

func valueType(t byte, valkey bool, version int) (ValueType, bool) {
	if valkey && t > tValkeyHash2 && t <= maxKnownTypeByte {
		return 0, false // Valkey gave these numbers other meanings (23: path hash)
	}
	if !valkey && int(t) < len(minVersion) && version < minVersion[t] {
		return 0, false
	}
	switch t {
	case tString:
		return TypeString, true
	case tList, tListZiplist, tListQuicklist, tListQuicklist2:
		return TypeList, true
	case tSet, tSetIntset, tSetListpack:
		return TypeSet, true
	case tZSet, tZSet2, tZSetZiplist, tZSetListpack:
		return TypeZSet, true
	case tHash, tHashZipmap, tHashZiplist, tHashListpack, tHashMetaPreGA, tHashLPExPreGA, tHashMetadata, tHashListpackEx:
		return TypeHash, true
	case tStreamLP, tStreamLP2, tStreamLP3, tStreamLP4:
		return TypeStream, true
	case tModulePreGA, tModule2:
		return TypeModule, true
	}
	return 0, false
}

// decodeKey decodes one key record whose type byte t was just read.
func (d *Decoder) decodeKey(t byte, start, expireAt, idle int64, freq int) error {
	typeOff := d.rd.off - 1
	var err error
	if d.key, err = d.readString(d.key, "key"); err != nil {
		return err
	}
	d.inKey = true
	if d.opt.CaptureRaw > 0 {
		d.rd.raw, d.rd.rawOver, d.rd.rawLimit = true, false, d.opt.CaptureRaw
		d.rd.rawBuf = append(d.rd.rawBuf[:0], t)
	}
	vt, ok := valueType(t, d.valkey, d.version)
	if d.valkey && t == tValkeyPathHash && d.version >= 81 {
		return d.errAt(typeOff, ErrUnsupportedVersion, "Valkey path hash (type %d) is not supported", t)
	}
	if !ok {
		return d.corrupt(typeOff, "unknown value type %d", t)
	}
	d.ev = Event{Kind: KindKey, Offset: start, DB: d.db, Key: d.key, Type: vt, TypeByte: t,
		ExpireAt: expireAt, Idle: idle, Freq: freq, Len: -1}
	d.elems = 0
	switch t {
	case tString:
		err = d.decodeStringValue()
	case tList:
		err = d.decodeLinkedList()
	case tListZiplist:
		err = d.decodeZiplistValue("ziplist", 1, KindListItem)
	case tListQuicklist:
		err = d.decodeQuicklist()
	case tListQuicklist2:
		err = d.decodeQuicklist2()
	case tSet:
		err = d.decodeStringSet()
	case tSetIntset:
		err = d.decodeIntset()
	case tSetListpack:
		err = d.decodeListpackValue("listpack", 1, KindSetMember)
	case tZSet, tZSet2:
		err = d.decodeZSet(t == tZSet2)
	case tZSetZiplist:
		err = d.decodeZiplistValue("ziplist", 2, KindZSetMember)
	case tZSetListpack:
		err = d.decodeListpackValue("listpack", 2, KindZSetMember)
	case tHash:
		err = d.decodeHashTable()
	case tHashZipmap:
		err = d.decodeZipmap()
	case tHashZiplist:
		err = d.decodeZiplistValue("ziplist", 2, KindHashField)
	case tHashListpack:
		err = d.decodeListpackValue("listpack", 2, KindHashField)
	case tHashMetaPreGA, tHashMetadata:
		if d.valkey {
			err = d.decodeValkeyHash2()
		} else {
			err = d.decodeHashMetadata(t == tHashMetadata)
		}
	case tHashLPExPreGA, tHashListpackEx:
		err = d.decodeHashListpackEx(t == tHashListpackEx)
	case tStreamLP, tStreamLP2, tStreamLP3, tStreamLP4:
		err = d.decodeStream(t)
	case tModule2:
		err = d.decodeModuleValue()
	case tModulePreGA: // only in RDB 8 (Redis 4.0 release candidates)
		err = d.errAt(typeOff, ErrUnsupportedVersion, "module value of the pre-GA format (type 6, Redis 4.0 release candidates) cannot be parsed without its module (Redis 4.0 GA and later refuse it too)")
	}
	raw := d.rd.raw && !d.rd.rawOver
	d.rd.raw = false
	if err != nil {
		return err
	}
	d.ev.Kind = KindKeyEnd
	d.ev.Value, d.ev.Name, d.ev.Fields = nil, nil, nil
	d.ev.Empty = d.elems == 0 && (vt == TypeList || vt == TypeSet || vt == TypeZSet || vt == TypeHash)
	if raw {
		d.ev.Raw = d.rd.rawBuf
	}
	err = d.emit()
	d.inKey = false
	return err
}

// beginKey emits the KindKey event once the encoding (and maybe the count)
// is known.
func (d *Decoder) beginKey(enc string, n int64) error {
	d.ev.Kind = KindKey
	d.ev.Encoding = enc
	d.ev.Len = n
	return d.emit()
}

func (d *Decoder) emitValue(k Kind, v []byte) error {
	d.elems++
	d.ev.Kind = k
	d.ev.Value = v
	return d.emit()
}

func (d *Decoder) emitMember(m []byte, score float64) error {
	d.elems++
	d.ev.Kind = KindZSetMember
	d.ev.Value = m
	d.ev.Score = score
	return d.emit()
}

func (d *Decoder) emitField(f, v []byte, expireAt int64) error {
	d.elems++
	d.ev.Kind = KindHashField
	d.ev.Name = f
	d.ev.Value = v
	d.ev.FieldExpireAt = expireAt
	return d.emit()
}

// count converts a stored element count, refusing absurd ones (the loops
// that use it read at least a byte per element, so it only bounds CPU).
func (d *Decoder) count(what string) (uint64, error) {
	off := d.rd.off
	n, err := d.readLen(what)
	if err == nil && n > math.MaxInt64 {
		err = d.corrupt(off, "%s %d out of range", what, n)
	}
	return n, err
}

// num returns s, or the decimal form of iv (kept in the arena) for an
// integer entry of a listpack, ziplist or intset.
func (d *Decoder) num(s []byte, iv int64, isInt bool) []byte {
	if !isInt {
		return s
	}
	l := len(d.arena)
	d.arena = strconv.AppendInt(d.arena, iv, 10)
	return d.arena[l:len(d.arena):len(d.arena)]
}

// score parses a zset score kept as text or integer in a compact encoding.
func parseScore(s []byte, iv int64, isInt bool) (float64, bool) {
	if isInt {
		return float64(iv), true
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
			return 0, false
		}
	}
	return f, true
}

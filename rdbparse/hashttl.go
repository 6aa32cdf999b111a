package rdbparse

// Hashes with field TTLs.
//
// Redis 7.4+ (RDB 12):
//   - HASH_METADATA (24): minExpire (8-byte ms), count, then per field a
//     length-encoded TTL (0: none, else expireAt-minExpire+1), field, value.
//     The 7.4 RC form (22) has no minExpire and stores expireAt itself.
//   - HASH_LISTPACK_EX (25): minExpire (8-byte ms), then a listpack of
//     field, value, expireAt triplets (0: none). The RC form (23) has no
//     minExpire.
//
// Valkey 9 (VALKEY080, RDB_TYPE_HASH_2 = 22): count, then per field the
// field, the value and an 8-byte expireAt (-1: none).

// ebExpireTimeMax bounds a field TTL (Redis' EB_EXPIRE_TIME_MAX, 48 bits).
const ebExpireTimeMax = 1<<48 - 1

func (d *Decoder) decodeHashMetadata(ga bool) error {
	var minExpire int64
	if ga {
		off := d.rd.off
		v, err := d.readMillis("hash min expire")
		if err != nil {
			return err
		}
		if v < 0 || v > ebExpireTimeMax+1 {
			return d.corrupt(off, "hash min expire %d out of range", v)
		}
		minExpire = v
	}
	n, err := d.count("hash size")
	if err != nil {
		return err
	}
	if err := d.beginKey("hashtable", int64(n)); err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		off := d.rd.off
		ttl, err := d.readLen("hash field TTL")
		if err != nil {
			return err
		}
		var at int64
		if ttl != 0 {
			if ga {
				at = int64(ttl) + minExpire - 1
			} else {
				at = int64(ttl)
			}
			if ttl > ebExpireTimeMax || at > ebExpireTimeMax || at < 0 {
				return d.corrupt(off, "hash field expire time %d out of range", at)
			}
		}
		if d.nameBuf, err = d.readString(d.nameBuf, "hash field"); err != nil {
			return err
		}
		if d.valBuf, err = d.readString(d.valBuf, "hash value"); err != nil {
			return err
		}
		if err := d.emitField(d.nameBuf, d.valBuf, at); err != nil {
			return err
		}
	}
	return nil
}

func (d *Decoder) decodeHashListpackEx(ga bool) error {
	if ga {
		if _, err := d.readMillis("hash min expire"); err != nil {
			return err
		}
	}
	off, err := d.readBlob("listpackex")
	if err != nil {
		return err
	}
	it, err := newLPIter(d.blobBuf)
	if err != nil {
		return d.corrupt(off, "%v", err)
	}
	n := int64(-1)
	if it.count >= 0 {
		if it.count%3 != 0 {
			return d.corrupt(off, "listpackex holds %d entries, not field/value/TTL triplets", it.count)
		}
		n = int64(it.count / 3)
	}
	if err := d.beginKey("listpackex", n); err != nil {
		return err
	}
	for {
		d.arena = d.arena[:0]
		var e [3][]byte
		var at int64
		for j := range 3 {
			s, iv, isInt, ok, err := it.next()
			if err != nil {
				return d.corrupt(off, "%v", err)
			}
			if !ok {
				if j == 0 {
					return nil
				}
				return d.corrupt(off, "listpackex ends inside a field/value/TTL triplet")
			}
			if j == 2 {
				if !isInt || iv < 0 || iv > ebExpireTimeMax {
					return d.corrupt(off, "listpackex: bad field TTL %q/%d", s, iv)
				}
				at = iv
				continue
			}
			e[j] = d.num(s, iv, isInt)
		}
		if err := d.emitField(e[0], e[1], at); err != nil {
			return err
		}
	}
}

func (d *Decoder) decodeValkeyHash2() error {
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
		at, err := d.readMillis("hash field expire time")
		if err != nil {
			return err
		}
		if at < 0 {
			at = 0
		}
		if err := d.emitField(d.nameBuf, d.valBuf, at); err != nil {
			return err
		}
	}
	return nil
}

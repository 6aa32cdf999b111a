package server

// Which command forms a server accepts, for the translation of the live
// stream (transform's table): one predicate per form that a newer source
// propagates and an older target refuses. Versions as documented by each
// command's history (COMMAND DOCS) and checked on the servers.

// redisOnlyAtLeast: a Redis of at least major.minor (no Valkey has it).
func (in Info) redisOnlyAtLeast(major, minor int) bool {
	return !in.IsValkey() && in.Version.AtLeast(major, minor)
}

// valkeyAtLeast: a Valkey of at least major.minor.
func (in Info) valkeyAtLeast(major, minor int) bool {
	return in.IsValkey() && in.Version.AtLeast(major, minor)
}

// ExpireConditions: EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT … NX|XX|GT|LT (7.0+).
func (in Info) ExpireConditions() bool { return in.redisAtLeast(7, 0) }

// PopCount: LPOP/RPOP key count (6.2+).
func (in Info) PopCount() bool { return in.redisAtLeast(6, 2) }

// Copy: COPY (6.2+).
func (in Info) Copy() bool { return in.redisAtLeast(6, 2) }

// FlushSync: FLUSHDB/FLUSHALL SYNC (6.2+).
func (in Info) FlushSync() bool { return in.redisAtLeast(6, 2) }

// StreamTrimV2: XADD/XTRIM … MINID, LIMIT, and XADD NOMKSTREAM (6.2+).
func (in Info) StreamTrimV2() bool { return in.redisAtLeast(6, 2) }

// ZSetStore: ZRANGESTORE, ZDIFFSTORE and ZADD GT/LT (6.2+).
func (in Info) ZSetStore() bool { return in.redisAtLeast(6, 2) }

// GeoSearch: GEOSEARCH, GEOSEARCHSTORE (6.2+).
func (in Info) GeoSearch() bool { return in.redisAtLeast(6, 2) }

// GeoPolygon: GEOSEARCHSTORE … BYPOLYGON (Valkey 9.0+).
func (in Info) GeoPolygon() bool { return in.valkeyAtLeast(9, 0) }

// SetIfEq: SET … IFEQ value (Valkey 8.1+, Redis 8.4+).
func (in Info) SetIfEq() bool { return in.valkeyAtLeast(8, 1) || in.redisOnlyAtLeast(8, 4) }

// SetIfDigest: SET … IFNE value, IFDEQ/IFDNE digest (Redis 8.4+).
func (in Info) SetIfDigest() bool { return in.redisOnlyAtLeast(8, 4) }

// MSetEx: MSETEX numkeys key value … [NX|XX] [EX|PX|EXAT|PXAT|KEEPTTL]
// (Redis 8.4+, Valkey 9.1+).
func (in Info) MSetEx() bool { return in.redisOnlyAtLeast(8, 4) || in.valkeyAtLeast(9, 1) }

// HGetDel: HGETDEL (Redis 8.0+, Valkey 9.1+).
func (in Info) HGetDel() bool { return in.redisOnlyAtLeast(8, 0) || in.valkeyAtLeast(9, 1) }

// StreamRefs: XDELEX, XACKDEL, and XADD/XTRIM … KEEPREF|DELREF|ACKED (Redis 8.2+).
func (in Info) StreamRefs() bool { return in.redisOnlyAtLeast(8, 2) }

// StreamIDMP: XADD … IDMP/IDMPAUTO, XCFGSET (Redis 8.6+).
func (in Info) StreamIDMP() bool { return in.redisOnlyAtLeast(8, 6) }

// BitopV2: BITOP DIFF, DIFF1, ANDOR, ONE (Redis 8.2+).
func (in Info) BitopV2() bool { return in.redisOnlyAtLeast(8, 2) }

// VectorSets: VADD, VREM, VSETATTR … (Redis 8.0+).
func (in Info) VectorSets() bool { return in.redisOnlyAtLeast(8, 0) }

// ListMPop: LMPOP, BLMPOP, ZMPOP, BZMPOP (7.0+).
func (in Info) ListMPop() bool { return in.redisAtLeast(7, 0) }

// IDMPRecord: XIDMPRECORD, which records an idempotent producer's id for an
// entry (Redis 8.6.2+).
func (in Info) IDMPRecord() bool {
	return in.StreamIDMP() && (in.Version.AtLeast(8, 7) || in.Version.Patch >= 2)
}

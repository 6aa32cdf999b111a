package server

// What a server can do, by version. Every Valkey speaks the commands of
// Redis 7.2 (its RedisCompat), plus what each Valkey release added.

// redisAtLeast reports whether the server speaks the commands of Redis major.minor.
func (in Info) redisAtLeast(major, minor int) bool { return in.RedisCompat.AtLeast(major, minor) }

// SetPXAT: SET … PXAT/EXAT/GET (6.2+).
func (in Info) SetPXAT() bool { return in.redisAtLeast(6, 2) }

// GetEx: GETEX, GETDEL (6.2+).
func (in Info) GetEx() bool { return in.redisAtLeast(6, 2) }

// LMove: LMOVE, BLMOVE (6.2+).
func (in Info) LMove() bool { return in.redisAtLeast(6, 2) }

// XAutoClaim: XAUTOCLAIM (6.2+).
func (in Info) XAutoClaim() bool { return in.redisAtLeast(6, 2) }

// CreateConsumer: XGROUP CREATECONSUMER (6.2+).
func (in Info) CreateConsumer() bool { return in.redisAtLeast(6, 2) }

// MultiRead: SMISMEMBER, ZMSCORE, exclusive stream ranges (6.2+).
func (in Info) MultiRead() bool { return in.redisAtLeast(6, 2) }

// PauseWrite: CLIENT PAUSE … WRITE (6.2+).
func (in Info) PauseWrite() bool { return in.redisAtLeast(6, 2) }

// Functions: FUNCTION, FCALL (7.0+).
func (in Info) Functions() bool { return in.redisAtLeast(7, 0) }

// StreamV2: XSETID ENTRIESADDED/MAXDELETEDID, XGROUP … ENTRIESREAD, XINFO
// entries-added, max-deleted-entry-id, recorded-first-entry-id (7.0+).
func (in Info) StreamV2() bool { return in.redisAtLeast(7, 0) }

// EntriesReadExact: a group's entries-read counter survives the server's own
// replication. Redis 7.0 does not propagate it with XREADGROUP (its replicas
// end with a different or unknown value); from 7.2 on (every Valkey) it does.
func (in Info) EntriesReadExact() bool { return in.redisAtLeast(7, 2) }

// HashFieldTTL: HEXPIRE, HPEXPIREAT, HPERSIST… (Redis 7.4+, Valkey 9.0+).
func (in Info) HashFieldTTL() bool {
	if in.IsValkey() {
		return in.Version.AtLeast(9, 0)
	}
	return in.Version.AtLeast(7, 4)
}

// HSetEx: HSETEX, HGETEX (Redis 8.0+, Valkey 9.0+).
func (in Info) HSetEx() bool {
	if in.IsValkey() {
		return in.Version.AtLeast(9, 0)
	}
	return in.Version.AtLeast(8, 0)
}

// RDBVersion is the RDB version the server writes, which is also the highest
// DUMP payload version its RESTORE accepts (Valkey 9: 80, with 12–79 refused
// as foreign unless rdb-version-check is relaxed).
func (in Info) RDBVersion() int {
	if in.IsValkey() {
		switch {
		case in.Version.AtLeast(9, 0):
			return 80
		case in.Version.AtLeast(7, 2):
			return 11
		}
	}
	v := in.RedisCompat
	switch {
	case v.AtLeast(8, 6):
		return 13
	case v.AtLeast(7, 4):
		return 12
	case v.AtLeast(7, 2):
		return 11
	case v.AtLeast(7, 0):
		return 10
	case v.AtLeast(5, 0):
		return 9
	case v.AtLeast(4, 0):
		return 8
	case v.AtLeast(3, 2):
		return 7
	default:
		return 6
	}
}

// AcceptsRDB reports whether RESTORE takes a payload of RDB version v.
func (in Info) AcceptsRDB(v int) bool {
	own := in.RDBVersion()
	if own == 80 {
		return v <= 11 || v == 80
	}
	return v <= own
}

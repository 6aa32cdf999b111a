package server

// KeysInSlot reports whether CLUSTER COUNTKEYSINSLOT and GETKEYSINSLOT
// list the keys of db on this server: a cluster node only, and db 0 only
// but on Valkey 9.1+, whose clusters have numbered dbs and answer for the
// SELECTed db (checked on valkey-9.1.2; Redis and Valkey 8 clusters have
// db 0 only).
func (in Info) KeysInSlot(db int) bool {
	return in.ClusterEnabled && (db == 0 || in.valkeyAtLeast(9, 1))
}

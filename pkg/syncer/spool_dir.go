package syncer

import "path/filepath"

// SpoolDir is where a syncer with state directory stateDir keeps its spool
// (New opens it there): for readers of a spool outside the syncer, such as
// the cluster source naming a shard by the replid its spool records.
func SpoolDir(stateDir string) string { return filepath.Join(stateDir, "spool") }

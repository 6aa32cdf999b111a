// Package scan copies a source that refuses replication (managed services
// refuse SYNC/PSYNC) into a target with ordinary commands, and can keep the
// target current from keyspace notifications: `redferry scan`.
//
// A pass SCANs every db of the source. Keys up to Options.BigKeyBytes are
// read with DUMP and PTTL in one transaction and written as RESTORE …
// ABSTTL REPLACE where the target reads the payload's RDB version, or
// decoded (rdbparse) and rebuilt by commands (transform) where it does not;
// bigger keys are read page by page with their type's commands and rebuilt
// the same way, in bounded memory. Writes go in MULTI/EXEC batches with a
// checkpoint (State) holding the SCAN cursor, so a restart continues the
// pass.
//
// Keyspace notifications, subscribed to before the first SCAN, mark keys
// to be read again (coalesced, in a bounded set); what sends none is looked
// for otherwise (FLUSHDB and functions through INFO commandstats, stream
// consumer groups through polled fingerprints). Whenever events may have
// been lost (the link dropped, the set overflowed, a flush) a new pass runs,
// ending with a prune of the keys the source no longer has. The README's
// "Scan mode" says what this cannot guarantee.
//
// Either side may be a cluster. A cluster source's masters (server.
// ClusterMasters) are SCANned one after the other, each key read from the
// master of its slot, notifications received from every master; the
// checkpoint names the masters and which are done, and a master that took
// over slots (a migration, a failover) since it was SCANned is SCANned
// again. A cluster target is written per slot without resends
// (clusterTarget): a batch that fails is dropped and its keys copied again.
package scan

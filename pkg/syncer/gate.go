package syncer

import "context"

// StreamGate sees every command of the replication stream before it is
// applied, for a sync that shares its target with others that must be kept
// in order with it: the shards of a cluster source (pkg/clustersource),
// where a key migrating between masters arrives through one shard's stream
// while the other's still holds its earlier writes.
//
// Every batch of the stream holds the gate shared from its first command
// until the target has applied it; a command admitted Alone is applied in a
// batch of its own while the gate is held exclusively, so no other sync has
// a batch in flight or half-built meanwhile.
type StreamGate interface {
	// Admit says what to do with one command: args as the source sent them,
	// in source db db, ending at stream offset offset.
	Admit(ctx context.Context, args [][]byte, db int, offset int64) (Admission, error)
	// Shared is taken before the first command of a batch; release is called
	// once the target has applied the batch or refused it.
	Shared(ctx context.Context) (release func(), err error)
	// Exclusive is taken for a command admitted Alone, after this sync's own
	// batches have landed; release says whether the target applied it.
	Exclusive(ctx context.Context, a Admission) (release func(applied bool), err error)
}

// Admission is a StreamGate's answer for one command.
type Admission struct {
	// Skip leaves the command out (its effect is already in the target).
	Skip bool
	// Args, when set, replace the command's arguments (e.g. a DEL without
	// the keys that now belong to another shard).
	Args [][]byte
	// Alone applies the command in a batch of its own under the exclusive
	// gate, followed by Extra in the same transaction.
	Alone bool
	Extra [][]string
	// Key and DB name what Alone is about, for the gate's own record.
	Key []byte
	DB  int
}

// SnapshotGate is a StreamGate that is also asked before a snapshot is
// applied: a cluster master added while the sync runs may already hold keys
// moved to it, whose last writes in the other shards' streams must land
// first.
type SnapshotGate interface {
	BeforeSnapshot(ctx context.Context) error
}

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
// batch that holds the gate exclusively (with the commands that follow it
// until the batch is committed), so no other sync has a batch in flight or
// half-built meanwhile.
type StreamGate interface {
	// Admit says what to do with one command: args as the source sent them,
	// in source db db, ending at stream offset offset.
	Admit(ctx context.Context, args [][]byte, db int, offset int64) (Admission, error)
	// Shared is taken before the first command of a batch; release is called
	// once the target has applied the batch or refused it.
	Shared(ctx context.Context) (release func(), err error)
	// Exclusive is taken for a command admitted Alone, after this sync's own
	// shared batches have landed, and held by the batch it starts (further
	// Alone commands join it); release is called once the target has applied
	// the batch, with the Alone admissions it applied (none when it refused).
	Exclusive(ctx context.Context) (release func(applied []Admission), err error)
}

// Admission is a StreamGate's answer for one command.
type Admission struct {
	// Skip leaves the command out (its effect is already in the target).
	Skip bool
	// Args, when set, replace the command's arguments (e.g. a DEL without
	// the keys that now belong to another shard).
	Args [][]byte
	// Alone applies the command in a batch under the exclusive gate,
	// preceded by Before and followed by Extra in the same transaction.
	Alone  bool
	Before [][]string
	Extra  [][]string
	// Keys and DB name what Alone is about, for the gate's own record; Keys
	// must not share the command's buffer (they are used after later
	// commands were read).
	Keys [][]byte
	DB   int
	// Wait, when set, holds the stream back before this command: the batch
	// so far is committed and applied, the gate released (so that the other
	// syncs go on), then Wait runs and the command is admitted again. For a
	// sync that must not pass a point of its stream before another has
	// applied its own (an atomic slot migration's handoff).
	Wait func(ctx context.Context) error
}

// SnapshotGate is a StreamGate that is also asked before a snapshot is
// applied: a cluster master added while the sync runs may already hold keys
// moved to it, whose last writes in the other shards' streams must land
// first.
type SnapshotGate interface {
	BeforeSnapshot(ctx context.Context) error
}

package sink

// Why a writer forgets what LoadCheckpoint read.
//
// A Cluster keeps the per-slot marks it read (cluster_mark.go) and skips,
// command by command, what they cover. They speak of the target as it was
// read and of the snapshot then being applied. When redferry empties the
// target afterwards (flush-target at start-up, on-full-resync = flush, a
// snapshot download that broke off) or starts a new full sync in a run
// that read marks without a checkpoint to resume from (a first batch that
// never got its Done, then flush-target or merge), those marks would cover
// positions of the new snapshot, or the whole of it for a mark of the
// stream, and the keys there would be skipped: missing from the target
// without a word. So every path that empties the target or starts a new
// full sync calls ForgetCheckpoint on the syncer's writer, and the next
// batches are applied as into a target without marks.
//
// A Standalone keeps nothing of what it read: its checkpoint is one key,
// read again by every LoadCheckpoint and decided on by the syncer, so it
// has nothing to forget.

// ForgetCheckpoint drops the marks, the checkpoint and the snapshot intent
// read by the last LoadCheckpoint (see above).
func (c *Cluster) ForgetCheckpoint() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.marks, c.resume = nil, nil
	c.carry = position{}
	c.sent, c.sentRead = -1, -1
}

// ForgetCheckpoint: a Standalone keeps nothing of what it read (see above).
func (s *Standalone) ForgetCheckpoint() {}

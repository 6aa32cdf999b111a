package sink

import "sync/atomic"

// Stats counts what a sink did, for status reports.
type Stats struct {
	Batches    int64 // batches applied
	Applied    int64 // commands applied without error
	Errors     int64 // commands the target answered with an error
	Skipped    int64 // commands the target rejected and Apply left out (OnError "log")
	Reconnects int64
	// Unknown counts batches applied whose replies were lost (resolved by
	// the checkpoint): whether the target rejected a command of them is unknown.
	Unknown int64
}

type stats struct {
	batches, applied, errors, skipped, reconnects, unknown atomic.Int64
}

// Stats returns the counters so far; safe to call concurrently with Apply.
func (s *Standalone) Stats() Stats {
	return Stats{Batches: s.stats.batches.Load(), Applied: s.stats.applied.Load(), Errors: s.stats.errors.Load(),
		Skipped: s.stats.skipped.Load(), Reconnects: s.stats.reconnects.Load(), Unknown: s.stats.unknown.Load()}
}

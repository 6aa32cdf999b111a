package status

// Phases of a `redferry scan` (see also the sync's in tracker.go).
const (
	PhaseScanning Phase = "scanning" // a pass copies the source (or prunes the target), or changed keys are copied before the end
	PhaseLive     Phase = "live"     // the pass is complete; keyspace notifications keep the target current
)

// ScanReport is where a `redferry scan` stands: its passes over the source
// and, with --live, the keys changed since, waiting to be copied again.
type ScanReport struct {
	Pass      int    `json:"pass"`       // the pass running or last run (1: the first)
	PassPhase string `json:"pass_phase"` // copy, prune, live or done (the checkpoint's phase)
	// SourceKeys is the source's key count (INFO keyspace, as DBSIZE summed
	// over the dbs) at the last look: what a pass has to go through.
	SourceKeys int64 `json:"source_keys"`
	// PassKeysCopied counts the keys the current pass copied, over restarts
	// (the checkpoint's count): its progress against SourceKeys.
	PassKeysCopied int64 `json:"pass_keys_copied"`
	KeysScanned    int64 `json:"keys_scanned"` // keys SCAN returned to the passes of this run
	KeysCopied     int64 `json:"keys_copied"`  // keys written to the target by this run (a key copied twice counts twice)
	BigKeysCopied  int64 `json:"big_keys_copied"`
	KeysDeleted    int64 `json:"keys_deleted"` // keys deleted on the target: gone from the source
	// KeysFiltered counts the keys read and left out by the filters (by
	// reason: /status filtered.keys, redferry_filtered_keys_total).
	KeysFiltered int64 `json:"keys_filtered"`
	Events       int64 `json:"events"`     // keyspace notifications received
	DirtyKeys    int   `json:"dirty_keys"` // changed keys waiting to be copied again
	Rescans      int   `json:"rescans"`    // passes started because notifications may have been lost
	// A cluster source: the master whose SCAN runs ("" between them), and
	// the changes of its masters followed (failovers, slot migrations).
	Master          string `json:"master,omitempty"`
	TopologyChanges int    `json:"topology_changes"`
}

// SetScan records where a scan stands; from then on the tracker is a
// scan's: /status shows the report under "scan" and /metrics the
// redferry_scan_* metrics instead of the replication ones.
func (t *Tracker) SetScan(r ScanReport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.scan = &r
}

func (t *Tracker) scanReport() *ScanReport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.scan == nil {
		return nil
	}
	r := *t.scan
	return &r
}

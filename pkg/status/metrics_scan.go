package status

// scanMetricHelp names the metrics of a scan (without the redferry_
// prefix); a scan's tracker exports them instead of the replication ones.
var scanMetricHelp = map[string]string{
	"scan_pass":                  "The pass over the source running or last run (1: the first).",
	"scan_pass_phase":            "1 for the phase of the current pass (copy, prune, live, done), 0 for the others.",
	"scan_source_keys":           "Keys of the source (INFO keyspace, as DBSIZE over all dbs) at the last look.",
	"scan_pass_keys_copied":      "Keys the current pass copied, over restarts (its progress against redferry_scan_source_keys).",
	"scan_keys_scanned_total":    "Keys SCAN returned to the passes of this run.",
	"scan_keys_copied_total":     "Keys written to the target by this run (a key copied twice counts twice).",
	"scan_big_keys_copied_total": "Keys copied page by page (big keys) by this run.",
	"scan_keys_deleted_total":    "Keys deleted on the target because the source no longer has them.",
	"scan_events_total":          "Keyspace notifications received from the source.",
	"scan_dirty_keys":            "Changed keys waiting to be copied again.",
	"scan_rescans_total":         "Passes started because notifications may have been lost.",
	"scan_topology_changes_total": "Changes of a cluster source's masters followed (failovers, slot migrations): " +
		"the masters that took over slots are SCANned again.",
}

var scanPhases = []Phase{PhaseStarting, PhaseScanning, PhaseLive, PhaseStopped}

var scanPassPhases = []string{"copy", "prune", "live", "done"}

// collectScan sends a scan's own metrics.
func (c *collector) collectScan(r *ScanReport, gauge, counter func(name string, v float64, labels ...string)) {
	gauge("scan_pass", float64(r.Pass))
	for _, p := range scanPassPhases {
		v := 0.0
		if p == r.PassPhase {
			v = 1
		}
		gauge("scan_pass_phase", v, p)
	}
	gauge("scan_source_keys", float64(r.SourceKeys))
	gauge("scan_pass_keys_copied", float64(r.PassKeysCopied))
	counter("scan_keys_scanned_total", float64(r.KeysScanned))
	counter("scan_keys_copied_total", float64(r.KeysCopied))
	counter("scan_big_keys_copied_total", float64(r.BigKeysCopied))
	counter("scan_keys_deleted_total", float64(r.KeysDeleted))
	counter("scan_events_total", float64(r.Events))
	gauge("scan_dirty_keys", float64(r.DirtyKeys))
	counter("scan_rescans_total", float64(r.Rescans))
	counter("scan_topology_changes_total", float64(r.TopologyChanges))
}

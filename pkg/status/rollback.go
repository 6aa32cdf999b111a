package status

import "github.com/prometheus/client_golang/prometheus"

// Phases of a rollback-ready migration (redferry cutover --keep-rollback).
const (
	// RollbackForward: the sync copies the source into the target.
	RollbackForward = "forward"
	// RollbackCutover: a rollback-ready cutover is under way.
	RollbackCutover = "cutover"
	// RollbackReverse: the forward sync stopped at the cutover; the reverse
	// link copies the target's writes into the old source.
	RollbackReverse = "reverse"
	// RollbackRolledBack: the old source is current again; clients went back.
	RollbackRolledBack = "rolled-back"
)

// RollbackPhases lists the phases, for /metrics.
var RollbackPhases = []string{RollbackForward, RollbackCutover, RollbackReverse, RollbackRolledBack}

// RollbackReport is the "rollback" part of /status.
type RollbackReport struct {
	Phase string `json:"phase"`
	// Path says how the reverse link started without a full sync
	// (existing-backlog or created-backlog), Cost what that took.
	Path string `json:"path,omitempty"`
	Cost string `json:"cost,omitempty"`
	// The cutover point: the old source's offset the target had applied,
	// and the target's replication id and offset the reverse link starts after.
	SourceReplID string `json:"source_replid,omitempty"`
	SourceOffset int64  `json:"source_offset"`
	TargetReplID string `json:"target_replid,omitempty"`
	TargetOffset int64  `json:"target_offset"`
	// The reverse link (target → old source), in target offsets.
	Reverse *ReverseReport `json:"reverse,omitempty"`
	// RolledBackAt: the target offset the old source was current at when
	// clients switched back, and ResumeOffset the old source's offset the
	// forward sync resumes after (past the reverse link's own writes).
	RolledBackAt int64  `json:"rolled_back_at_target_offset,omitempty"`
	ResumeOffset int64  `json:"forward_resume_offset,omitempty"`
	LastError    string `json:"last_error,omitempty"`
}

// ReverseReport is where the reverse link stands.
type ReverseReport struct {
	Phase          Phase   `json:"phase"`
	OffsetReceived int64   `json:"offset_received"`
	OffsetApplied  int64   `json:"offset_applied"`
	LagBytes       int64   `json:"lag_bytes"`
	LagSeconds     float64 `json:"lag_seconds"`
	Commands       int64   `json:"commands_applied"`
	LastError      string  `json:"last_error,omitempty"`
}

// ReverseOf reports a reverse link's tracker.
func ReverseOf(t *Tracker) *ReverseReport {
	r := t.Report()
	return &ReverseReport{Phase: r.Phase, OffsetReceived: r.OffsetReceived, OffsetApplied: r.OffsetApplied,
		LagBytes: r.LagBytes, LagSeconds: r.LagSeconds, Commands: r.CommandsApplied, LastError: r.LastError}
}

// SetRollback makes /status and /metrics show what report returns (nil:
// nothing, a sync without the rollback controller).
func (t *Tracker) SetRollback(report func() *RollbackReport) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rollback = report
}

func (t *Tracker) rollbackReport() *RollbackReport {
	t.mu.Lock()
	f := t.rollback
	t.mu.Unlock()
	if f == nil {
		return nil
	}
	return f()
}

var rollbackMetricHelp = map[string]string{
	"rollback_phase":                 "1 for the phase of a rollback-ready migration (forward, cutover, reverse, rolled-back), 0 for the others.",
	"cutover_source_offset":          "The old source's offset the target had applied at the rollback-ready cutover.",
	"cutover_target_offset":          "The target's offset at the rollback-ready cutover: the reverse link applies what follows it.",
	"reverse_offset_received":        "Target offset the reverse link (target to old source) received.",
	"reverse_offset_applied":         "Target offset the reverse link applied to the old source (its checkpoint there).",
	"reverse_lag_bytes":              "Bytes of the target's stream received by the reverse link and not yet applied to the old source.",
	"reverse_lag_seconds":            "Age of the oldest byte the reverse link received and did not apply yet, in seconds.",
	"reverse_commands_applied_total": "Commands the reverse link applied to the old source.",
}

func (c *collector) collectRollback(ch chan<- prometheus.Metric, r *RollbackReport) {
	if r == nil {
		return
	}
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	for _, p := range RollbackPhases {
		v := 0.0
		if p == r.Phase {
			v = 1
		}
		gauge("rollback_phase", v, p)
	}
	gauge("cutover_source_offset", float64(r.SourceOffset))
	gauge("cutover_target_offset", float64(r.TargetOffset))
	if rv := r.Reverse; rv != nil {
		gauge("reverse_offset_received", float64(rv.OffsetReceived))
		gauge("reverse_offset_applied", float64(rv.OffsetApplied))
		gauge("reverse_lag_bytes", float64(rv.LagBytes))
		gauge("reverse_lag_seconds", rv.LagSeconds)
		ch <- prometheus.MustNewConstMetric(c.descs["reverse_commands_applied_total"], prometheus.CounterValue, float64(rv.Commands))
	}
}

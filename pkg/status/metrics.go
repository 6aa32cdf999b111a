package status

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// collector exports a Tracker as Prometheus metrics. It reads the tracker
// at scrape time, so the pipeline pays nothing for metrics between scrapes.
type collector struct {
	t     *Tracker
	descs map[string]*prometheus.Desc
}

// metricHelp names every metric (without the redferry_ prefix) and says what it is.
var metricHelp = map[string]string{
	"offset_received":                 "Replication offset received from the source and spooled to disk.",
	"offset_applied":                  "Replication offset applied to the target (the checkpoint).",
	"lag_bytes":                       "Bytes of the command stream received but not yet applied.",
	"lag_seconds":                     "Age of the oldest received byte not yet applied, in seconds.",
	"commands_applied_total":          "Commands of the stream applied to the target, by command name.",
	"keys_applied_total":              "Keys of the snapshot applied to the target.",
	"snapshot_size_bytes":             "Size of the source's snapshot (RDB) being replayed.",
	"snapshot_received_bytes":         "Snapshot bytes received from the source.",
	"snapshot_applied_bytes":          "Snapshot bytes replayed into the target.",
	"target_errors_total":             "Commands the target rejected.",
	"rejected_commands_skipped_total": "Commands the target rejected that were skipped: reason operator (--skip-rejected) or on-target-error (= log).",
	"rejected_commands_retried_total": "Commands the target rejected that were applied again with --retry-rejected.",
	"reconnects_total":                "Reconnections to the source.",
	"spool_bytes":                     "Bytes held in the spool on disk.",
	"phase":                           "1 for the phase the sync is in, 0 for the others.",
	"uptime_seconds":                  "Seconds since the sync started.",
	"up":                              "1 while the daemon runs.",
	"streaming_ready":                 "1 when /readyz answers ready (a sync: streaming, lag below the bound; a scan: live).",
	"commands_applied_all_total":      "Commands of the stream applied to the target, all names together.",
	"filtered_keys_total":             "Keys the filters left out (a sync's snapshot, a scan), by reason (db, key, type).",
	"filtered_commands_total":         "Stream commands the filters left out (action dropped) or sent in part (action narrowed), by reason (db, key, type, command, conflict).",
	"max_ops_per_second":              "The limit of commands per second written to the target (a scan: keys per second read from the source) (0: none).",
	"max_bytes_per_second":            "The limit of bytes per second written to the target (0: none).",
	"throttled_seconds_total":         "Time writes to the target waited for the rate limits.",
	"shard_offset_received":           "Cluster source: replication offset received from each shard's master.",
	"shard_offset_applied":            "Cluster source: replication offset of each shard applied to the target (its checkpoint).",
	"shard_lag_bytes":                 "Cluster source: bytes of each shard's stream received but not yet applied.",
	"shard_lag_seconds":               "Cluster source: age of each shard's oldest received byte not yet applied, in seconds.",
	"shard_phase":                     "Cluster source: 1 for the phase each shard is in, 0 for the others.",
	"shard_reconnects_total":          "Cluster source: reconnections to each shard's master.",
	"unholdable_total":                "Data the target cannot hold that was skipped or converted (on-unholdable-*): snapshot keys, stream commands, function libraries, module aux records; by kind and action.",
}

func newCollector(t *Tracker) *collector {
	c := &collector{t: t, descs: map[string]*prometheus.Desc{}}
	all := make(map[string]string, len(metricHelp)+len(scanMetricHelp)+len(rollbackMetricHelp))
	for name, help := range rollbackMetricHelp {
		all[name] = help
	}
	for name, help := range metricHelp {
		all[name] = help
	}
	for name, help := range scanMetricHelp {
		all[name] = help
	}
	for name, help := range all {
		var labels []string
		switch name {
		case "commands_applied_total":
			labels = []string{"command"}
		case "phase", "scan_pass_phase", "rollback_phase":
			labels = []string{"phase"}
		case "rejected_commands_skipped_total":
			labels = []string{"reason"}
		case "filtered_keys_total":
			labels = []string{"reason"}
		case "filtered_commands_total":
			labels = []string{"reason", "action"}
		case "unholdable_total":
			labels = []string{"kind", "action"}
		case "shard_phase":
			labels = []string{"shard", "phase"}
		case "shard_offset_received", "shard_offset_applied", "shard_lag_bytes", "shard_lag_seconds", "shard_reconnects_total":
			labels = []string{"shard"}
		}
		c.descs[name] = prometheus.NewDesc("redferry_"+name, help, labels, nil)
	}
	return c
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

var allPhases = []Phase{PhaseStarting, PhaseHandshake, PhaseSnapshotDownload, PhaseSnapshotReplay, PhaseStreaming, PhaseStopped}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	r := c.t.Report()
	gauge := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	counter := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.CounterValue, v, labels...)
	}
	phases := allPhases
	if r.Scan != nil {
		phases = scanPhases
		c.collectScan(r.Scan, gauge, counter)
	} else {
		c.collectReplication(r, gauge, counter)
	}
	for kind, byAction := range r.Unholdable {
		for action, n := range byAction {
			counter("unholdable_total", float64(n), kind, action)
		}
	}
	for _, p := range phases {
		v := 0.0
		if p == r.Phase {
			v = 1
		}
		gauge("phase", v, string(p))
	}
	if f := r.Filtered; f != nil {
		for _, reason := range sortedKeys(f.Keys) {
			counter("filtered_keys_total", float64(f.Keys[reason]), reason)
		}
		for _, reason := range sortedKeys(f.Commands) {
			counter("filtered_commands_total", float64(f.Commands[reason]), reason, "dropped")
		}
		for _, reason := range sortedKeys(f.CommandsNarrowed) {
			counter("filtered_commands_total", float64(f.CommandsNarrowed[reason]), reason, "narrowed")
		}
	}
	if l := r.Limits; l != nil {
		gauge("max_ops_per_second", float64(l.MaxOpsPerSecond))
		gauge("max_bytes_per_second", float64(l.MaxBytesPerSecond))
		counter("throttled_seconds_total", l.ThrottledSeconds)
	}
	c.collectRollback(ch, r.Rollback)
	collectShards(r, gauge, counter)
	gauge("uptime_seconds", r.UptimeSeconds)
	gauge("up", 1)
	ready := 0.0
	if ok, _ := c.t.Ready(); ok {
		ready = 1
	}
	gauge("streaming_ready", ready)
}

// collectReplication sends the metrics of a sync's replication: offsets,
// lag, snapshot, stream commands, rejections, spool.
func (c *collector) collectReplication(r Report, gauge, counter func(name string, v float64, labels ...string)) {
	gauge("offset_received", float64(r.OffsetReceived))
	gauge("offset_applied", float64(r.OffsetApplied))
	gauge("lag_bytes", float64(r.LagBytes))
	gauge("lag_seconds", r.LagSeconds)
	for name, n := range c.t.CommandCounts() {
		counter("commands_applied_total", float64(n), name)
	}
	counter("commands_applied_all_total", float64(r.CommandsApplied))
	counter("keys_applied_total", float64(r.KeysApplied))
	gauge("snapshot_size_bytes", float64(r.SnapshotSize))
	gauge("snapshot_received_bytes", float64(r.SnapshotReceived))
	gauge("snapshot_applied_bytes", float64(r.SnapshotApplied))
	counter("target_errors_total", float64(r.TargetErrors))
	counter("rejected_commands_skipped_total", float64(r.RejectedSkippedByOperator), SkippedByOperator)
	counter("rejected_commands_skipped_total", float64(r.RejectedSkippedByLog), SkippedByOnTargetError)
	counter("rejected_commands_retried_total", float64(r.RejectedRetried))
	counter("reconnects_total", float64(r.Reconnects))
	gauge("spool_bytes", float64(r.SpoolBytes))
}

// newRegistry holds the tracker's metrics plus the Go runtime's and the process's.
func newRegistry(t *Tracker) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(t), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

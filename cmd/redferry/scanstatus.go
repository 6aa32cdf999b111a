package main

import (
	"context"
	"fmt"
	"net"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/config"
	"github.com/redferry/redferry/pkg/ratelimit"
	"github.com/redferry/redferry/pkg/scan"
	"github.com/redferry/redferry/pkg/status"
)

// scanLimits are the scan's rate limits: --rate keys per second (else
// max-ops-per-second) and max-bytes-per-second; PUT /limits changes them.
func scanLimits(cfg config.Config, rate int) *ratelimit.Limits {
	ops := int64(rate)
	if ops <= 0 {
		ops = cfg.MaxOpsPerSecond
	}
	return ratelimit.New(ops, cfg.MaxBytesPerSecond)
}

// scanProgress returns the scan.Options.Progress that keeps tr up to date:
// phase scanning while a pass runs (or the keys changed meanwhile are
// copied before the end), live once --live follows notifications.
func scanProgress(tr *status.Tracker) func(scan.Stats) {
	return func(st scan.Stats) {
		tr.SetScan(scanReport(st))
		phase := status.PhaseScanning
		if st.Phase == scan.PhaseLive {
			phase = status.PhaseLive
		}
		tr.SetPhase(phase)
	}
}

func scanReport(st scan.Stats) status.ScanReport {
	return status.ScanReport{Pass: st.Pass, PassPhase: st.Phase, SourceKeys: st.Total, PassKeysCopied: st.PassCopied,
		KeysScanned: st.Scanned, KeysCopied: st.Copied, BigKeysCopied: st.Big, KeysDeleted: st.Deleted, KeysFiltered: st.Filtered,
		Events: st.Events, DirtyKeys: st.Dirty, Rescans: st.Rescans, Master: st.Master, TopologyChanges: st.Topology}
}

// serveScanStatus starts the status server of a scan when status-addr is
// set: the one of `redferry sync` (/status, /metrics, /healthz, /readyz,
// PUT /loglevel, PUT /limits) with the scan's progress. It serves until ctx ends.
func serveScanStatus(ctx context.Context, cfg config.Config, tr *status.Tracker, limits *ratelimit.Limits,
	level *zap.AtomicLevel, log *zap.Logger) error {
	if cfg.StatusAddr == "" {
		return nil
	}
	h := status.NewHandler(tr, status.HandlerOptions{Level: level, Token: cfg.StatusToken, Log: log, Limits: limits})
	addr, err := status.Serve(ctx, cfg.StatusAddr, h, log)
	if err != nil {
		return fmt.Errorf("%w: give the scan a free status-addr (a sync on this machine may hold %s), or an empty one for no status server",
			err, cfg.StatusAddr)
	}
	if ta, ok := addr.(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
		log.Info("the status server listens beyond loopback: /status and /metrics are open to whoever reaches it, PUT /limits and PUT /loglevel need the status token",
			zap.String("addr", addr.String()))
	}
	return nil
}

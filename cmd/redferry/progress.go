package main

import (
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/redferry/redferry/pkg/status"
)

// startProgress draws bars for the snapshot download and replay on a
// terminal (or always/never, as mode says). It returns a func that stops it.
func startProgress(mode string, t *status.Tracker) func() {
	if mode == "never" || mode == "auto" && !term.IsTerminal(int(os.Stderr.Fd())) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var bar *progressbar.ProgressBar
		var barPhase status.Phase
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				if bar != nil {
					_ = bar.Finish()
				}
				return
			case <-tick.C:
			}
			r := t.Report()
			if r.Phase != barPhase {
				if bar != nil {
					_ = bar.Finish()
					bar = nil
				}
				barPhase = r.Phase
				switch r.Phase {
				case status.PhaseSnapshotDownload:
					bar = progressbar.DefaultBytes(-1, "downloading snapshot")
				case status.PhaseSnapshotReplay:
					bar = progressbar.DefaultBytes(r.SnapshotSize, "applying snapshot  ")
				}
			}
			if bar == nil {
				continue
			}
			switch r.Phase {
			case status.PhaseSnapshotDownload:
				_ = bar.Set64(r.SnapshotReceived)
			case status.PhaseSnapshotReplay:
				if r.SnapshotSize > 0 && bar.GetMax64() != r.SnapshotSize {
					bar.ChangeMax64(r.SnapshotSize)
				}
				_ = bar.Set64(r.SnapshotApplied)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

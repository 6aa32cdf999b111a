package main

import (
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/status"
)

// sdNotify sends one message to systemd's NOTIFY_SOCKET (Type=notify). It
// does nothing when not run by systemd.
func sdNotify(msg string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // abstract socket
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(msg))
	return err
}

// startNotify tells systemd the daemon is up (READY=1: started, connected to
// the target, status server bound; the snapshot may take hours, so it does
// not wait for it), keeps a STATUS= line with the phase and lag, and pings
// the watchdog (WATCHDOG=1) at half of WatchdogSec while the tracker's
// phase is not stopped. It returns a func that says STOPPING=1.
func startNotify(t *status.Tracker, log *zap.Logger) func() {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return func() {}
	}
	if err := sdNotify("READY=1\nSTATUS=starting"); err != nil {
		log.Warn("sd_notify READY=1 failed", zap.Error(err))
	}
	every := 5 * time.Second
	watchdog := false
	if us, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64); err == nil && us > 0 {
		watchdog = true
		if half := time.Duration(us) * time.Microsecond / 2; half < every {
			every = half
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			r := t.Report()
			msg := "STATUS=" + string(r.Phase) + ", applied " + strconv.FormatInt(r.OffsetApplied, 10) +
				", lag " + strconv.FormatInt(r.LagBytes, 10) + " bytes"
			msg += rollbackNotify(r.Rollback)
			if watchdog && (r.Phase != status.PhaseStopped || rollbackAlive(r.Rollback)) {
				msg += "\nWATCHDOG=1"
			}
			_ = sdNotify(msg)
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		_ = sdNotify("STOPPING=1")
	}
}

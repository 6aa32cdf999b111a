package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redferry/redferry/internal/redistest"
)

// TestSystemdNotify plays systemd for a Type=notify unit with WatchdogSec:
// redferry says READY=1, pings the watchdog, reports its phase in STATUS=
// and says STOPPING=1 on SIGTERM.
func TestSystemdNotify(t *testing.T) {
	dir, err := os.MkdirTemp("", "sd") // short: a unix socket path has a small limit
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()

	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	dst := redistest.Start(t, redistest.Redis70, redistest.Options{})
	d := startDaemon(t, []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=1000000"},
		"--source", src.URL(), "--target", dst.URL(), "--state-dir", t.TempDir())
	want := []string{"READY=1", "WATCHDOG=1", "STATUS=streaming"}
	var got []string
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case m := <-msgs:
			got = append(got, m)
			for len(want) > 0 && strings.Contains(m, want[0]) {
				want = want[1:]
			}
		case <-deadline:
			t.Fatalf("still waiting for %v; got %q", want, got)
		}
	}
	d.stop(t)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, "STOPPING=1") {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no STOPPING=1 after SIGTERM")
		}
	}
}

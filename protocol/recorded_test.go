package protocol

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

var update = flag.Bool("update", false, "TestRecordedServers: rewrite the .golden transcripts")

// writeRecording stores the bytes a link received, as Go-quoted lines.
func writeRecording(t *testing.T, name, server, diskless string, data []byte) {
	var b strings.Builder
	fmt.Fprintf(&b, "# the bytes a replica received from %s (repl-diskless-sync %s), recorded by\n", server, diskless)
	fmt.Fprintf(&b, "# go test ./protocol -run TestRealServers -record; replayed by TestRecordedServers.\n")
	b.WriteString("password pw\npsync ? -1\n")
	for len(data) > 0 {
		n := min(len(data), 64)
		if i := bytes.IndexByte(data[:n], '\n'); i >= 0 {
			n = i + 1
		}
		b.WriteString(strconv.QuoteToASCII(string(data[:n])) + "\n")
		data = data[n:]
	}
	path := filepath.Join("testdata", "recorded", name+".txt")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readRecording(t *testing.T, path string) (rec recording) {
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in strings.Builder
	for i, line := range strings.Split(strings.TrimSpace(string(text)), "\n") {
		switch f := strings.Fields(line); {
		case line == "" || line[0] == '#':
		case line[0] == '"':
			s, err := strconv.Unquote(line)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, i+1, err)
			}
			in.WriteString(s)
		case len(f) == 2 && f[0] == "password":
			rec.cfg.Password = f[1]
		case len(f) == 3 && f[0] == "psync":
			rec.replid = f[1]
			rec.offset, err = strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, i+1, err)
			}
		default:
			t.Fatalf("%s:%d: bad line %q", path, i+1, line)
		}
	}
	rec.name = filepath.Base(path)
	rec.in = in.String()
	return rec
}

// TestRecordedServers replays the bytes real servers sent, whole, one byte
// per read, and split at every offset, against a golden transcript.
func TestRecordedServers(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "recorded", "*.txt"))
	if len(paths) == 0 {
		t.Skip("no recordings")
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			rec := readRecording(t, path)
			got := transcript(newRecorded(rec, strings.NewReader(rec.in), &bytes.Buffer{}), rec.replid, rec.offset)
			golden := strings.TrimSuffix(path, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Fatalf("got:\n%s\nwant:\n%s", got, want)
			}
			if !strings.Contains(got, "snapshot ") || strings.Contains(got, "error: [ErrProtocol") {
				t.Fatalf("no clean snapshot in the transcript")
			}
			if got := transcript(newRecorded(rec, iotest.OneByteReader(strings.NewReader(rec.in)), &bytes.Buffer{}), rec.replid, rec.offset); got != string(want) {
				t.Fatalf("one byte at a time:\n%s", got)
			}
			for at := 0; at <= len(rec.in); at++ {
				for _, size := range []int{41, 1 << 20} {
					r := &splitReader{data: []byte(rec.in), at: at, size: size}
					if got := transcript(newRecorded(rec, r, &bytes.Buffer{}), rec.replid, rec.offset); got != string(want) {
						t.Fatalf("split at %d, then %d-byte reads:\n%s", at, size, got)
					}
				}
			}
		})
	}
}

// snapshotDesc describes a snapshot: small ones in full, others by length,
// start and hash.
func snapshotDesc(b []byte) string {
	if len(b) <= 200 {
		return fmt.Sprintf("%d %q", len(b), b)
	}
	return fmt.Sprintf("%d %q... sha256:%x", len(b), b[:16], sha256.Sum256(b))
}

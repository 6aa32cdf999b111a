package protocol

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

const (
	testReplID = "8de1b4e5a3a8e4a61c2a5b3e0f8d2c1b9a7e6d5c"
	testMark   = "0123456789abcdef0123456789abcdef01234567"
	// the replies to AUTH, PING, REPLCONF listening-port, REPLCONF capa
	okHandshake = "+OK\r\n+PONG\r\n$0\r\n\r\n+OK\r\n+OK\r\n"
)

// syncStyleRDB is a snapshot as a master sends it to a replica: AUX fields
// with its replication id and offset (one of them integer-encoded, as
// Redis writes small numbers), then the end.
var syncStyleRDB = "REDIS0011" + "\xfa\x09redis-ver\x067.0.15" + "\xfa\x07repl-id\x28" + testReplID +
	"\xfa\x0brepl-offset\xc1\x92\x10" + "\xff" + "\x00\x00\x00\x00\x00\x00\x00\x00"

func cmd(args ...string) string { return string(AppendCommandString(nil, args...)) }

// errDesc names the sentinels an error wraps, then its text.
func errDesc(err error) string {
	var tags []string
	for _, s := range []struct {
		err  error
		name string
	}{{ErrAuth, "ErrAuth"}, {ErrSyncRefused, "ErrSyncRefused"}, {ErrProtocol, "ErrProtocol"},
		{io.ErrUnexpectedEOF, "ErrUnexpectedEOF"}, {io.EOF, "EOF"}} {
		if errors.Is(err, s.err) {
			tags = append(tags, s.name)
		}
	}
	var se ServerError
	if errors.As(err, &se) {
		tags = append(tags, "ServerError="+se.Prefix())
	}
	return fmt.Sprintf("[%s] %v", strings.Join(tags, ","), err)
}

// transcript runs a link over its input to the end and describes what it saw.
func transcript(l *Link, replid string, offset int64) string {
	var b strings.Builder
	ctx := context.Background()
	res, err := l.PSync(ctx, replid, offset)
	if err != nil {
		fmt.Fprintf(&b, "psync error: %s\n", errDesc(err))
		return b.String()
	}
	fmt.Fprintf(&b, "resync full=%v replid=%s offset=%d\n", res.Full, res.ReplID, res.Offset)
	if res.Full {
		var snap bytes.Buffer
		var last int64
		n, err := l.ReadSnapshot(ctx, &snap, func(n int64) { last = n })
		if err != nil {
			fmt.Fprintf(&b, "snapshot error: %s\n", errDesc(err))
			return b.String()
		}
		if last != n || int64(snap.Len()) != n {
			fmt.Fprintf(&b, "snapshot length mismatch: returned %d, progress %d, written %d\n", n, last, snap.Len())
		}
		fmt.Fprintf(&b, "snapshot %s\n", snapshotDesc(snap.Bytes()))
	}
	off := res.Offset
	for {
		c, err := l.ReadCommand()
		if err != nil {
			fmt.Fprintf(&b, "stream error: %s\n", errDesc(err))
			return b.String()
		}
		off += int64(len(c.Raw))
		if off != l.Offset() {
			fmt.Fprintf(&b, "offset mismatch: %d vs %d\n", off, l.Offset())
		}
		if string(AppendCommand(nil, c.Args...)) != string(c.Raw) {
			fmt.Fprintf(&b, "raw %q does not match args\n", c.Raw)
		}
		fmt.Fprintf(&b, "cmd %q offset=%d\n", c.Args, off)
	}
}

// splitReader returns its input in two reads, split at `at`, then in chunks of size.
type splitReader struct {
	data     []byte
	at, size int
	first    bool
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if !r.first {
		r.first = true
		n = min(n, r.at)
		if n == 0 {
			n = min(len(r.data), r.size)
		}
	} else {
		n = min(n, r.size)
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

type recording struct {
	name   string
	cfg    LinkConfig
	replid string
	offset int64
	in     string
	want   string
	sent   string // when set: the exact bytes the link must write
}

var recordings = []recording{
	{
		name: "full disk-based", cfg: LinkConfig{Password: "pw", ListeningPort: 7777}, replid: "?", offset: -1,
		in: okHandshake + "\n\n+FULLRESYNC " + testReplID + " 100\r\n\n\n\n$13\r\nREDIS0011\r\n*1" +
			cmd("SELECT", "0") + cmd("SET", "k", "v") + cmd("PING"),
		want: `resync full=true replid=` + testReplID + ` offset=100
snapshot 13 "REDIS0011\r\n*1"
cmd ["SELECT" "0"] offset=123
cmd ["SET" "k" "v"] offset=150
cmd ["PING"] offset=164
stream error: [EOF] protocol: src:6379: stream at offset 164: EOF
`,
		sent: cmd("AUTH", "pw") + cmd("PING") + cmd("INFO", "server") + cmd("REPLCONF", "listening-port", "7777") +
			cmd("REPLCONF", "capa", "eof", "capa", "psync2") + cmd("PSYNC", "?", "-1"),
	},
	{
		name: "full diskless with partial marks", cfg: LinkConfig{Username: "u", Password: "pw"}, replid: "?", offset: -1,
		in: okHandshake + "+FULLRESYNC " + testReplID + " 0\r\n\n\n$EOF:" + testMark + "\r\n" +
			"VALKEY" + testMark[:39] + "|" + testMark[:1] + testMark[:20] + "end" + testMark[1:] + testMark +
			cmd("REPLCONF", "GETACK", "*") + cmd("SET", "k", testMark),
		want: `resync full=true replid=` + testReplID + ` offset=0
snapshot 109 "VALKEY` + testMark[:39] + "|" + testMark[:1] + testMark[:20] + "end" + testMark[1:] + `"
cmd ["REPLCONF" "GETACK" "*"] offset=37
cmd ["SET" "k" "` + testMark + `"] offset=104
stream error: [EOF] protocol: src:6379: stream at offset 104: EOF
`,
		sent: cmd("AUTH", "u", "pw") + cmd("PING") + cmd("INFO", "server") + cmd("REPLCONF", "listening-port", "0") +
			cmd("REPLCONF", "capa", "eof", "capa", "psync2") + cmd("PSYNC", "?", "-1"),
	},
	{
		name: "diskless empty snapshot", replid: "?", offset: -1,
		in: "+PONG\r\n$0\r\n\r\n+OK\r\n+OK\r\n+FULLRESYNC " + testReplID + " 5\r\n\r\n\n$EOF:" + testMark + "\r\n" + testMark + cmd("PING"),
		want: `resync full=true replid=` + testReplID + ` offset=5
snapshot 0 ""
cmd ["PING"] offset=19
stream error: [EOF] protocol: src:6379: stream at offset 19: EOF
`,
	},
	{
		name: "continue with new replid", replid: testReplID, offset: 1001,
		in: "+PONG\r\n$0\r\n\r\n+OK\r\n+OK\r\n\n+CONTINUE 1111111111111111111111111111111111111111\r\n" + cmd("PING"),
		want: `resync full=false replid=1111111111111111111111111111111111111111 offset=1000
cmd ["PING"] offset=1014
stream error: [EOF] protocol: src:6379: stream at offset 1014: EOF
`,
		sent: cmd("PING") + cmd("INFO", "server") + cmd("REPLCONF", "listening-port", "0") +
			cmd("REPLCONF", "capa", "eof", "capa", "psync2") + cmd("PSYNC", testReplID, "1001"),
	},
	{
		name: "continue without replid", replid: testReplID, offset: 1001,
		in: "+PONG\r\n$0\r\n\r\n+OK\r\n+OK\r\n+CONTINUE\r\n" + cmd("SET", "a", "b"),
		want: `resync full=false replid=` + testReplID + ` offset=1000
cmd ["SET" "a" "b"] offset=1027
stream error: [EOF] protocol: src:6379: stream at offset 1027: EOF
`,
	},
	{
		name: "wrong password", cfg: LinkConfig{Password: "bad"}, replid: "?", offset: -1,
		in:   "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
		want: "psync error: [ErrAuth,ServerError=WRONGPASS] protocol: src:6379: AUTH: " + ErrAuth.Error() + "; the source answered: WRONGPASS invalid username-password pair or user is disabled.\n",
	},
	{
		name: "old server wrong password", cfg: LinkConfig{Password: "bad"}, replid: "?", offset: -1,
		in:   "-ERR invalid password\r\n",
		want: "psync error: [ErrAuth,ServerError=ERR] protocol: src:6379: AUTH: " + ErrAuth.Error() + "; the source answered: ERR invalid password\n",
	},
	{
		name: "password needed", replid: "?", offset: -1,
		in:   "-NOAUTH Authentication required.\r\n",
		want: "psync error: [ErrAuth,ServerError=NOAUTH] protocol: src:6379: PING: " + ErrAuth.Error() + ": the source requires a password and none is configured; the source answered: NOAUTH Authentication required.\n",
	},
	{
		name: "password not needed", cfg: LinkConfig{Password: "pw"}, replid: "?", offset: -1,
		in: "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n" +
			"+PONG\r\n$0\r\n\r\n+OK\r\n+OK\r\n+CONTINUE\r\n",
		want: "psync error: [ErrProtocol] protocol: src:6379: PSYNC: protocol error: \"CONTINUE\" to a request for a full sync\n",
	},
	{
		name: "psync unknown", replid: "?", offset: -1,
		in: "+PONG\r\n$0\r\n\r\n+OK\r\n+OK\r\n-ERR unknown command 'PSYNC', with args beginning with: '?' '-1' \r\n",
		want: "psync error: [ErrSyncRefused,ServerError=ERR] protocol: src:6379: PSYNC: " + ErrSyncRefused.Error() + "; the source does not know PSYNC: " +
			"if it renamed the command (rename-command, as some managed services do), set source-psync-command to the new name; " +
			"the source answered: ERR unknown command 'PSYNC', with args beginning with: '?' '-1' \n",
	},
	{
		name: "renamed psync unknown", cfg: LinkConfig{PSyncCommand: "psync-x"}, replid: "?", offset: -1,
		in: "+PONG\r\n$0\r\n\r\n+OK\r\n+OK\r\n-ERR unknown command 'psync-x', with args beginning with: '?' '-1' \r\n",
		want: "psync error: [ErrSyncRefused,ServerError=ERR] protocol: src:6379: PSYNC: " + ErrSyncRefused.Error() + "; the source does not know the command \"psync-x\" " +
			"that source-psync-command names: check the name the source's rename-command gives PSYNC; the source answered: ERR unknown command 'psync-x', with args beginning with: '?' '-1' \n",
	},
	{
		// Redis and Valkey serve a renamed PSYNC as SYNC: the snapshot at once,
		// its AUX fields telling the replication id and offset.
		name: "renamed psync served as SYNC", cfg: LinkConfig{PSyncCommand: "psync-x"}, replid: "?", offset: -1,
		in: "+PONG\r\n$0\r\n\r\n+OK\r\n+OK\r\n\n\n" + "$" + strconv.Itoa(len(syncStyleRDB)) + "\r\n" + syncStyleRDB +
			cmd("SELECT", "0") + cmd("SET", "k", "v"),
		want: "resync full=true replid=" + testReplID + " offset=4242\nsnapshot " + strconv.Itoa(len(syncStyleRDB)) + " " + strconv.Quote(syncStyleRDB) + "\n" +
			`cmd ["SELECT" "0"] offset=4265` + "\n" + `cmd ["SET" "k" "v"] offset=4292` + "\nstream error: [EOF] protocol: src:6379: stream at offset 4292: EOF\n",
		sent: cmd("PING") + cmd("INFO", "server") + cmd("REPLCONF", "listening-port", "0") + cmd("REPLCONF", "capa", "eof", "capa", "psync2") +
			cmd("psync-x", "?", "-1"),
	},
	{
		name: "replconf noperm", replid: "?", offset: -1,
		in:   "+PONG\r\n$0\r\n\r\n-NOPERM this user has no permissions to run the 'replconf' command\r\n",
		want: "psync error: [ErrSyncRefused,ServerError=NOPERM] protocol: src:6379: REPLCONF: " + ErrSyncRefused.Error() + "; the source answered: NOPERM this user has no permissions to run the 'replconf' command\n",
	},
	{
		name: "replconf option unknown is tolerated", replid: "?", offset: -1,
		in: "+PONG\r\n$0\r\n\r\n+OK\r\n-ERR Unrecognized REPLCONF option: capa\r\n+FULLRESYNC " + testReplID + " 7\r\n$0\r\n",
		want: `resync full=true replid=` + testReplID + ` offset=7
snapshot 0 ""
stream error: [EOF] protocol: src:6379: stream at offset 7: EOF
`,
	},
	{
		name: "loading, then no master link, then ready", replid: "?", offset: -1,
		in: "-LOADING Redis is loading the dataset in memory\r\n" +
			"+PONG\r\n$0\r\n\r\n+OK\r\n+OK\r\n-NOMASTERLINK Can't SYNC while not connected with my master\r\n" +
			"+PONG\r\n$0\r\n\r\n+OK\r\n+OK\r\n-ERR Can't SYNC while not connected with my master\r\n" +
			okHandshake[5:] + "+FULLRESYNC " + testReplID + " 1\r\n$1\r\nR",
		want: `resync full=true replid=` + testReplID + ` offset=1
snapshot 1 "R"
stream error: [EOF] protocol: src:6379: stream at offset 1: EOF
`,
	},
	{
		name: "truncated snapshot", replid: "?", offset: -1,
		in:   okHandshake[5:] + "+FULLRESYNC " + testReplID + " 1\r\n$10\r\nREDIS",
		want: "resync full=true replid=" + testReplID + " offset=1\nsnapshot error: [ErrUnexpectedEOF] protocol: src:6379: snapshot: the connection ended inside the snapshot after 5 of 10 bytes: unexpected EOF\n",
	},
	{
		name: "truncated diskless snapshot", replid: "?", offset: -1,
		in:   okHandshake[5:] + "+FULLRESYNC " + testReplID + " 1\r\n$EOF:" + testMark + "\r\nREDIS" + testMark[:39],
		want: "resync full=true replid=" + testReplID + " offset=1\nsnapshot error: [ErrUnexpectedEOF] protocol: src:6379: snapshot: the connection ended inside the snapshot after 44 bytes, before its end mark: unexpected EOF\n",
	},
	{
		name: "truncated command", replid: testReplID, offset: 11,
		in: okHandshake[5:] + "+CONTINUE\r\n" + cmd("PING") + "*2\r\n$3\r\nDEL\r\n$1\r\n",
		want: `resync full=false replid=` + testReplID + ` offset=10
cmd ["PING"] offset=24
stream error: [ErrUnexpectedEOF] protocol: src:6379: stream at offset 24: unexpected EOF
`,
	},
	{
		name: "inline in the stream", replid: testReplID, offset: 11,
		in: okHandshake[5:] + "+CONTINUE\r\n" + cmd("PING") + "PING\r\n",
		want: `resync full=false replid=` + testReplID + ` offset=10
cmd ["PING"] offset=24
stream error: [ErrProtocol] protocol: src:6379: stream at offset 24: protocol error: expected a multibulk command ('*'), got "PING"
`,
	},
	{
		name: "bad snapshot header", replid: "?", offset: -1,
		in:   okHandshake[5:] + "+FULLRESYNC " + testReplID + " 1\r\n$EOF:short\r\n",
		want: "resync full=true replid=" + testReplID + " offset=1\nsnapshot error: [ErrProtocol] protocol: src:6379: snapshot: protocol error: snapshot header: EOF mark of 5 bytes, want 40\n",
	},
	{
		name: "error instead of the psync answer", replid: "?", offset: -1,
		in:   okHandshake[5:] + ":1\r\n",
		want: "psync error: [ErrProtocol] protocol: src:6379: PSYNC: protocol error: PSYNC answered with a integer\n",
	},
}

func newRecorded(rec recording, r io.Reader, sent *bytes.Buffer) *Link {
	cfg := rec.cfg
	cfg.Addr = "src:6379"
	l := newLink(cfg, r, sent)
	l.sleep = func(context.Context, time.Duration) error { return nil }
	return l
}

// TestRecorded replays recorded byte streams, whole, one byte per read, and
// split at every offset, and wants the same transcript from each.
func TestRecorded(t *testing.T) {
	for _, rec := range recordings {
		t.Run(rec.name, func(t *testing.T) {
			var sent bytes.Buffer
			got := transcript(newRecorded(rec, strings.NewReader(rec.in), &sent), rec.replid, rec.offset)
			if got != rec.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, rec.want)
			}
			if rec.sent != "" && sent.String() != rec.sent {
				t.Fatalf("sent %q\nwant %q", sent.String(), rec.sent)
			}
			if got := transcript(newRecorded(rec, iotest.OneByteReader(strings.NewReader(rec.in)), &bytes.Buffer{}), rec.replid, rec.offset); got != rec.want {
				t.Fatalf("one byte at a time:\n%s", got)
			}
			for _, size := range []int{1, 7, 39, 40, 41, 1 << 20} {
				for at := 0; at <= len(rec.in); at++ {
					r := &splitReader{data: []byte(rec.in), at: at, size: size}
					if got := transcript(newRecorded(rec, r, &bytes.Buffer{}), rec.replid, rec.offset); got != rec.want {
						t.Fatalf("split at %d, then %d-byte reads:\n%s", at, size, got)
					}
				}
			}
		})
	}
}

// The snapshot copy stops at the mark, even with the stream right behind it
// in the same read, and copies large snapshots in chunks.
func TestSnapshotLarge(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456"), 10000) // near-marks everywhere
	for _, diskless := range []bool{false, true} {
		var in []byte
		if diskless {
			in = append(append(append([]byte("$EOF:"+testMark+"\r\n"), body...), testMark...), cmd("PING")...)
		} else {
			in = append(append([]byte(fmt.Sprintf("\n$%d\r\n", len(body))), body...), cmd("PING")...)
		}
		for _, size := range []int{1, 13, 4096, 1 << 20} {
			l := newRecorded(recording{}, &splitReader{data: in, at: 0, size: size}, &bytes.Buffer{})
			l.state = stateSnapshot
			var out bytes.Buffer
			var calls int
			n, err := l.ReadSnapshot(context.Background(), &out, func(int64) { calls++ })
			if err != nil || n != int64(len(body)) || !bytes.Equal(out.Bytes(), body) {
				t.Fatalf("diskless=%v size=%d: n=%d err=%v", diskless, size, n, err)
			}
			if calls == 0 {
				t.Fatal("no progress calls")
			}
			c, err := l.ReadCommand()
			if err != nil || string(c.Raw) != cmd("PING") {
				t.Fatalf("after the snapshot: %q %v", c.Raw, err)
			}
		}
	}
}

// AwaitSnapshot returns once the snapshot starts, leaving it whole for
// ReadSnapshot, and fails when the link ends before it starts.
func TestAwaitSnapshot(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  bool
	}{
		{"snapshot after keep-alives", "\n\r\n\n$3\r\nabc", false},
		{"link closed after keep-alives", "\n\n", true},
		{"link closed at once", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := okHandshake[5:] + "+FULLRESYNC " + testReplID + " 1\r\n" + tc.in
			l := newRecorded(recording{}, iotest.OneByteReader(strings.NewReader(in)), &bytes.Buffer{})
			if _, err := l.PSync(context.Background(), "?", -1); err != nil {
				t.Fatal(err)
			}
			err := l.AwaitSnapshot(context.Background())
			if tc.wantErr {
				if err == nil {
					t.Fatal("AwaitSnapshot on a link that ended: no error")
				}
				if _, err := l.ReadSnapshot(context.Background(), io.Discard, nil); err == nil {
					t.Fatal("ReadSnapshot after a failed AwaitSnapshot")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if n, err := l.ReadSnapshot(context.Background(), &out, nil); err != nil || n != 3 || out.String() != "abc" {
				t.Fatalf("ReadSnapshot after AwaitSnapshot: %d %q %v", n, out.String(), err)
			}
		})
	}
}

func TestLinkMisuse(t *testing.T) {
	l := newRecorded(recording{}, strings.NewReader(""), &bytes.Buffer{})
	if _, err := l.ReadCommand(); err == nil {
		t.Fatal("ReadCommand before PSync")
	}
	if _, err := l.ReadSnapshot(context.Background(), io.Discard, nil); err == nil {
		t.Fatal("ReadSnapshot before PSync")
	}
	if _, err := l.PSync(context.Background(), "", -1); err == nil {
		t.Fatal("empty replid")
	}
	if _, err := Dial(context.Background(), LinkConfig{Addr: "x:1", Username: "u"}); err == nil {
		t.Fatal("user without password")
	}
}

func TestSendAck(t *testing.T) {
	var sent bytes.Buffer
	l := newRecorded(recording{}, strings.NewReader(""), &sent)
	if err := l.SendAck(12345); err != nil {
		t.Fatal(err)
	}
	if sent.String() != cmd("REPLCONF", "ACK", "12345") {
		t.Fatalf("%q", sent.String())
	}
	if allocs := testing.AllocsPerRun(100, func() { sent.Reset(); _ = l.SendAck(99) }); allocs != 0 {
		t.Fatalf("SendAck: %v allocs", allocs)
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after -= len(p); w.after < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// A failing snapshot writer stops the copy and leaves the link unusable.
func TestSnapshotWriterFails(t *testing.T) {
	for _, header := range []string{"$100\r\n", "$EOF:" + testMark + "\r\n"} {
		in := okHandshake[5:] + "+FULLRESYNC " + testReplID + " 1\r\n" + header + strings.Repeat("r", 100) + testMark + cmd("PING")
		l := newRecorded(recording{}, iotest.OneByteReader(strings.NewReader(in)), &bytes.Buffer{})
		if _, err := l.PSync(context.Background(), "?", -1); err != nil {
			t.Fatal(err)
		}
		if _, err := l.ReadSnapshot(context.Background(), &failWriter{after: 10}, nil); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("%q: err %v", header, err)
		}
		if _, err := l.ReadCommand(); err == nil {
			t.Fatal("ReadCommand after a failed snapshot")
		}
	}
}

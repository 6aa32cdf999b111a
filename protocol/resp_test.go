package protocol

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

// describe renders a reply compactly for table tests.
func describe(r Reply) string {
	switch r.Kind {
	case KindInt:
		return fmt.Sprintf(":%d", r.Int)
	case KindArray:
		if r.Null {
			return "*nil"
		}
		parts := make([]string, len(r.Elems))
		for i, e := range r.Elems {
			parts[i] = describe(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	case KindBulk:
		if r.Null {
			return "$nil"
		}
		return fmt.Sprintf("$%q", r.Str)
	}
	return fmt.Sprintf("%c%q", r.Kind, r.Str)
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "+OK\r\n", want: `+"OK"`},
		{in: "+\r\n", want: `+""`},
		{in: ":-42\r\n", want: ":-42"},
		{in: ":9223372036854775807\r\n", want: ":9223372036854775807"},
		{in: ":-9223372036854775808\r\n", want: ":-9223372036854775808"},
		{in: "$3\r\nfoo\r\n", want: `$"foo"`},
		{in: "$0\r\n\r\n", want: `$""`},
		{in: "$4\r\na\r\nb\r\n", want: `$"a\r\nb"`},
		{in: "$-1\r\n", want: "$nil"},
		{in: "*-1\r\n", want: "*nil"},
		{in: "*0\r\n", want: "[]"},
		{in: "*3\r\n:1\r\n*2\r\n$1\r\na\r\n-ERR x\r\n+b\r\n", want: `[:1 [$"a" -"ERR x"] +"b"]`},
		{in: "-ERR unknown command\r\n", want: `-"ERR unknown command"`, err: "ERR unknown command"},
		// strict framing
		{in: "+OK\n", err: "does not end in CRLF"},
		{in: "+OK\r", err: "unexpected EOF"},
		{in: "", err: "EOF"},
		{in: "$3\r\nfoo", err: "unexpected EOF"},
		{in: "$3\r\nfoox\n", err: "not followed by CRLF"},
		{in: "*2\r\n:1\r\n", err: "unexpected EOF"},
		{in: "$-2\r\n", err: "bad bulk length"},
		{in: "$\r\n", err: "bad bulk length"},
		{in: "$+3\r\nfoo\r\n", err: "bad bulk length"},
		{in: "$99999999999999999999\r\n", err: "bad bulk length"},
		{in: ":1x\r\n", err: "bad integer"},
		{in: "*-2\r\n", err: "bad array length"},
		{in: "\r\n", err: "empty reply line"},
		{in: "%1\r\n", err: "unexpected reply type"},
		{in: "$536870913\r\n", err: "over the limit"},
		{in: "*16777217\r\n", err: "over the limit"},
		{in: strings.Repeat("*1\r\n", 17) + ":1\r\n", err: "nested deeper"},
		{in: "+" + strings.Repeat("a", 70000) + "\r\n", err: "longer than"},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			var src io.Reader = strings.NewReader(tt.in)
			if oneByte {
				src = iotest.OneByteReader(src)
			}
			rep, err := NewReader(bufio.NewReaderSize(src, 16), Limits{}).ReadReply()
			name := fmt.Sprintf("%.40q oneByte=%v", tt.in, oneByte)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("%s: err %v, want %q", name, err, tt.err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if got := describe(rep); got != tt.want {
				t.Errorf("%s: got %s, want %s", name, got, tt.want)
			}
		}
	}
}

func TestReadReplyServerError(t *testing.T) {
	_, err := ReadReply(bufio.NewReader(strings.NewReader("-LOADING Redis is loading the dataset in memory\r\n")))
	var se ServerError
	if !errors.As(err, &se) || se.Prefix() != "LOADING" || !se.HasPrefix("LOADING") {
		t.Fatalf("err %v (%T)", err, err)
	}
	if errors.Is(err, ErrProtocol) {
		t.Fatal("a server error is not a protocol error")
	}
	_, err = ReadReply(bufio.NewReader(strings.NewReader("+OK\n")))
	if !errors.Is(err, ErrProtocol) {
		t.Fatalf("err %v, want ErrProtocol", err)
	}
	for _, tt := range []struct {
		in   string
		slot int
		addr string
		ask  bool
		ok   bool
	}{
		{"MOVED 3999 127.0.0.1:6381", 3999, "127.0.0.1:6381", false, true},
		{"ASK 12 [::1]:7000", 12, "[::1]:7000", true, true},
		{"MOVED x 1:2", 0, "", false, false},
		{"ERR MOVED", 0, "", false, false},
	} {
		slot, addr, ask, ok := ServerError(tt.in).Redirect()
		if slot != tt.slot || addr != tt.addr || ask != tt.ask || ok != tt.ok {
			t.Errorf("%q: %d %q %v %v", tt.in, slot, addr, ask, ok)
		}
	}
}

// A Reader returns each reply in its own buffers; nested strings stay intact
// when the string buffer grows in the middle of a reply.
func TestReaderReuse(t *testing.T) {
	big := strings.Repeat("x", 100000)
	in := "*3\r\n$1\r\na\r\n$100000\r\n" + big + "\r\n$1\r\nb\r\n" + "+second\r\n" + "*2\r\n:1\r\n:2\r\n"
	r := NewReader(bufio.NewReader(strings.NewReader(in)), Limits{})
	rep, err := r.ReadReply()
	if err != nil {
		t.Fatal(err)
	}
	if string(rep.Elems[0].Str) != "a" || string(rep.Elems[1].Str) != big || string(rep.Elems[2].Str) != "b" {
		t.Fatalf("bad first reply")
	}
	if rep, err = r.ReadReply(); err != nil || describe(rep) != `+"second"` {
		t.Fatalf("%v %v", describe(rep), err)
	}
	if rep, err = r.ReadReply(); err != nil || describe(rep) != `[:1 :2]` {
		t.Fatalf("%v %v", describe(rep), err)
	}
	if _, err = r.ReadReply(); err != io.EOF {
		t.Fatalf("err %v, want io.EOF", err)
	}
}

// Announced lengths cost nothing until their bytes arrive.
func TestBoundedAllocation(t *testing.T) {
	inputs := []string{
		"$536870000\r\nabc",
		"*16000000\r\n:1\r\n",
		"*1000000\r\n" + strings.Repeat("*1000000\r\n", 15),
	}
	for _, in := range inputs {
		alloc := allocated(func() {
			_, _ = ReadReply(bufio.NewReader(strings.NewReader(in)))
			_, _ = NewCommandReader(bufio.NewReader(strings.NewReader("*2147483647\r\n$536870000\r\nab")), Limits{}).ReadCommand()
		})
		if alloc > 1<<20 {
			t.Errorf("%.30q: allocated %d bytes", in, alloc)
		}
	}
}

func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func TestAppendCommand(t *testing.T) {
	got := AppendCommand([]byte("x"), []byte("SET"), []byte("k"), []byte(""))
	if string(got) != "x*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n" {
		t.Fatalf("%q", got)
	}
	if s := AppendCommandString(nil, "SET", "k", ""); string(s) != string(got[1:]) {
		t.Fatalf("%q", s)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		got = AppendCommandString(got[:0], "REPLCONF", "ACK", "12345")
	}); allocs != 0 {
		t.Fatalf("%v allocs", allocs)
	}
}

func TestCommandReader(t *testing.T) {
	cmds := [][]string{{"PING"}, {"SELECT", "0"}, {"SET", "k", "v\r\n$1\r\n"}, {"DEL", ""}, {strings.Repeat("a", 70000), "b"}}
	var in []byte
	for _, c := range cmds {
		in = AppendCommandString(in, c...)
	}
	for _, oneByte := range []bool{false, true} {
		var src io.Reader = strings.NewReader(string(in))
		if oneByte {
			src = iotest.OneByteReader(src)
		}
		cr := NewCommandReader(bufio.NewReaderSize(src, 16), Limits{})
		var total int
		for i, want := range cmds {
			cmd, err := cr.ReadCommand()
			if err != nil {
				t.Fatal(err)
			}
			if len(cmd.Args) != len(want) {
				t.Fatalf("cmd %d: %d args", i, len(cmd.Args))
			}
			for j := range want {
				if string(cmd.Args[j]) != want[j] {
					t.Fatalf("cmd %d arg %d: %q", i, j, cmd.Args[j])
				}
			}
			if string(cmd.Raw) != string(AppendCommandString(nil, want...)) {
				t.Fatalf("cmd %d raw %q", i, cmd.Raw)
			}
			total += len(cmd.Raw)
		}
		if _, err := cr.ReadCommand(); err != io.EOF {
			t.Fatalf("err %v, want io.EOF", err)
		}
		if cr.Consumed() != int64(total) || total != len(in) {
			t.Fatalf("consumed %d, total %d, len %d", cr.Consumed(), total, len(in))
		}
	}
	for _, tt := range []struct{ in, err string }{
		{"+PING\r\n", "expected a multibulk"},
		{"PING\r\n", "expected a multibulk"},
		{"*0\r\n", "bad multibulk length"},
		{"*1\r\n:1\r\n", "expected a bulk string"},
		{"*1\r\n$4\r\nPIN", "unexpected EOF"},
		{"*2\r\n$4\r\nPING\r\n", "unexpected EOF"},
		{"*1\r\n$4\r\nPINGxx", "not followed by CRLF"},
		{"*1\n", "does not end in CRLF"},
		{"*1\r\n$536870913\r\n", "over the limit"},
		{"*2147483648\r\n", "over the limit"},
	} {
		_, err := NewCommandReader(bufio.NewReader(strings.NewReader(tt.in)), Limits{}).ReadCommand()
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
		}
	}
}

func BenchmarkCommandReader(b *testing.B) {
	one := AppendCommandString(nil, "SET", "key:000000001", strings.Repeat("v", 100))
	in := strings.Repeat(string(one), 1000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	rd := strings.NewReader("")
	br := bufio.NewReaderSize(rd, 64<<10)
	cr := NewCommandReader(br, Limits{})
	for b.Loop() {
		rd.Reset(in)
		br.Reset(rd)
		for range 1000 {
			if _, err := cr.ReadCommand(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

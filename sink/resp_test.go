package sink

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/redferry/redferry/protocol"
)

func TestReplyReader(t *testing.T) {
	tests := []struct {
		in   string
		want reply
		err  bool
	}{
		{"+QUEUED\r\n", reply{Type: '+', Line: []byte("QUEUED")}, false},
		{"-EXECABORT Transaction discarded\r\n", reply{Type: '-', Line: []byte("EXECABORT Transaction discarded")}, false},
		{":-12\r\n", reply{Type: ':', Line: []byte("-12")}, false},
		{"$3\r\na\r\n\r\n", reply{Type: '$', Line: []byte("a\r\n")}, false},
		{"$-1\r\n", reply{Type: '$', Nil: true}, false},
		{"*-1\r\n", reply{Type: '*', Nil: true}, false},
		{"*3\r\n+OK\r\n-WRONGTYPE x\r\n*2\r\n:1\r\n-nested\r\n", reply{Type: '*', N: 3, Errs: map[int]string{1: "WRONGTYPE x"}}, false},
		{"+OK\n", reply{}, true},
		{"$5\r\nab\r\n", reply{}, true},
		{"$3\r\nabcde", reply{}, true},
		{"*1\r\n", reply{}, true},
		{"?x\r\n", reply{}, true},
		{":1x\r\n", reply{}, true},
		{"$99999999999\r\n", reply{}, true},
		{strings.Repeat("*1\r\n", 40) + ":1\r\n", reply{}, true},
	}
	for _, tc := range tests {
		rr := replyReader{br: bufio.NewReaderSize(strings.NewReader(tc.in), 16)}
		got, err := rr.read()
		if (err != nil) != tc.err {
			t.Errorf("%q: err = %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.in, got, tc.want)
		}
	}
	// A line longer than the limit is refused, not buffered without end.
	rr := replyReader{br: bufio.NewReaderSize(strings.NewReader("+"+strings.Repeat("x", maxLineLen+10)+"\r\n"), 16)}
	if _, err := rr.read(); !errors.Is(err, errProtocol) {
		t.Errorf("long line: err = %v", err)
	}
}

func FuzzReplyReader(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n$1\r\na\r\n-ERR x\r\n", "$-1\r\n", ":5\r\n", "*1\r\n*1\r\n*0\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rr := replyReader{br: bufio.NewReaderSize(bytes.NewReader(data), 16)}
		for i := 0; i < 100; i++ {
			if _, err := rr.read(); err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, errProtocol) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
		}
	})
}

func TestBatchCommandRoundTrip(t *testing.T) {
	var b Batch
	b.Add(5, []byte("SET"), []byte("k\r\n"), []byte{})
	b.AddStrings(6, "PING")
	b.AddRaw(7, protocol.AppendCommandString(nil, "DEL", "x", "y"))
	if b.Len() != 3 {
		t.Fatalf("Len = %d", b.Len())
	}
	want := [][][]byte{{[]byte("SET"), []byte("k\r\n"), {}}, {[]byte("PING")}, {[]byte("DEL"), []byte("x"), []byte("y")}}
	for i, w := range want {
		args, off := b.Command(i)
		if !reflect.DeepEqual(args, w) || off != int64(5+i) {
			t.Errorf("Command(%d) = %q, %d", i, args, off)
		}
	}
	nb := b.without(map[int]bool{1: true})
	if nb.Len() != 2 || nb.Offset(1) != 7 {
		t.Errorf("without: %d commands", nb.Len())
	}
	b.Reset()
	if b.Len() != 0 || b.Size() != 0 {
		t.Errorf("Reset left %d commands", b.Len())
	}
}

func FuzzParseCommand(f *testing.F) {
	f.Add(protocol.AppendCommandString(nil, "SET", "a", "b"))
	f.Add([]byte("*1\r\n$-1\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		args, err := parseCommand(data, true)
		if err != nil {
			return
		}
		// What parses re-encodes to a prefix of the input.
		if enc := protocol.AppendCommand(nil, args...); !bytes.HasPrefix(data, enc) {
			t.Fatalf("re-encoding %q gave %q", data, enc)
		}
	})
}

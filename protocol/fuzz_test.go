package protocol

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// allocBound is what one input may allocate: the buffers grow with the bytes
// that arrive, never with the lengths announced.
func allocBound(in []byte) uint64 { return 4<<20 + 64*uint64(len(in)) }

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$3\r\nfoo\r\n", "$-1\r\n", "*-1\r\n",
		"*2\r\n*1\r\n$1\r\na\r\n:5\r\n", "$536870000\r\nab", "*16000000\r\n*16000000\r\n", "+OK\n", "$2\r\nab\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var replies []string
		if a := allocated(func() {
			r := NewReader(bufio.NewReaderSize(bytes.NewReader(in), 16), Limits{})
			for {
				rep, err := r.ReadReply()
				var se ServerError
				if err != nil && !errors.As(err, &se) {
					break
				}
				replies = append(replies, describe(rep))
			}
		}); a > allocBound(in) {
			t.Fatalf("allocated %d bytes for %d bytes of input", a, len(in))
		}
		// The same replies when the input comes one byte at a time.
		r := NewReader(bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(in)), 16), Limits{})
		for i := 0; ; i++ {
			rep, err := r.ReadReply()
			var se ServerError
			if err != nil && !errors.As(err, &se) {
				if i != len(replies) {
					t.Fatalf("%d replies one byte at a time, %d at once", i, len(replies))
				}
				break
			}
			if i >= len(replies) || describe(rep) != replies[i] {
				t.Fatalf("reply %d differs one byte at a time", i)
			}
		}
	})
}

func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{"*1\r\n$4\r\nPING\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", "*0\r\n", "*1\r\n$-1\r\n",
		"*16000000\r\n$536870000\r\nab", "PING\r\n", "*1\r\n$4\r\nPINGxx"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var total int64
		var cr *CommandReader
		if a := allocated(func() {
			cr = NewCommandReader(bufio.NewReaderSize(bytes.NewReader(in), 16), Limits{})
			for {
				c, err := cr.ReadCommand()
				if err != nil {
					break
				}
				// Raw is exactly the canonical encoding of Args.
				if !bytes.Equal(AppendCommand(nil, c.Args...), c.Raw) {
					t.Fatalf("raw %q does not match args %q", c.Raw, c.Args)
				}
				total += int64(len(c.Raw))
			}
		}); a > allocBound(in) {
			t.Fatalf("allocated %d bytes for %d bytes of input", a, len(in))
		}
		if cr.Consumed() != total || total > int64(len(in)) || !bytes.Equal(in[:total], in[:cr.Consumed()]) {
			t.Fatalf("consumed %d, total %d", cr.Consumed(), total)
		}
	})
}

// The snapshot framing gives the same bytes, and leaves the same rest, however
// the input is split.
func FuzzSnapshot(f *testing.F) {
	f.Add([]byte("\n\n$5\r\nREDIS*1\r\n$4\r\nPING\r\n"), uint8(3))
	f.Add([]byte("$EOF:"+testMark+"\r\nVALKEY"+testMark[:39]+testMark+"rest"), uint8(7))
	f.Add([]byte("$EOF:"+testMark+"\r\n"+testMark[:20]), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, size uint8) {
		run := func(r io.Reader) (string, string, string) {
			br := bufio.NewReaderSize(r, 16)
			var out bytes.Buffer
			_, err := readSnapshot(br, &out, nil)
			rest, _ := io.ReadAll(br)
			msg := ""
			if err != nil {
				msg = err.Error()
				rest = nil
			}
			return out.String(), string(rest), msg
		}
		o1, r1, e1 := run(bytes.NewReader(in))
		o2, r2, e2 := run(&splitReader{data: in, at: int(size), size: int(size)%41 + 1})
		if e1 != e2 || (e1 == "" && (o1 != o2 || r1 != r2)) {
			t.Fatalf("whole: %q %q %q\nsplit: %q %q %q", o1, r1, e1, o2, r2, e2)
		}
		if e1 == "" && len(o1)+len(r1) > len(in) {
			t.Fatal("more out than in")
		}
	})
}

package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

const rid = "8371b4fb1155b71f4a04d3e1bc3e18c4a990aeeb"

func valid() State {
	return State{ReplID: rid, Offset: 12345, Phase: PhaseStreaming, UpdatedAt: time.Date(2026, 11, 25, 9, 0, 0, 123, time.UTC)}
}

func TestRoundTrip(t *testing.T) {
	replay := valid()
	replay.Phase, replay.SnapshotPos = PhaseSnapshotReplay, 987654
	zeroOff := valid()
	zeroOff.Offset = 0
	db := valid()
	db.DB = 9
	for name, st := range map[string]State{"streaming": valid(), "snapshot-replay": replay, "offset 0": zeroOff, "db 9": db} {
		t.Run(name, func(t *testing.T) {
			got, err := Unmarshal(st.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if !got.UpdatedAt.Equal(st.UpdatedAt) {
				t.Fatalf("time %v != %v", got.UpdatedAt, st.UpdatedAt)
			}
			got.UpdatedAt = st.UpdatedAt
			if !reflect.DeepEqual(got, st) {
				t.Fatalf("got %+v want %+v", got, st)
			}
		})
	}
}

func TestUnmarshalErrors(t *testing.T) {
	good := string(valid().Marshal())
	tests := []struct {
		name, in string
		want     error
	}{
		{"empty", "", ErrCorrupt},
		{"torn", good[:len(good)/2], ErrCorrupt},
		{"not json", "hello", ErrCorrupt},
		{"no version", `{"replid":"` + rid + `","offset":1,"phase":"streaming"}`, ErrCorrupt},
		{"future version", `{"v":3,"replid":"` + rid + `"}`, ErrUnsupportedVersion},
		{"unknown field", strings.Replace(good, `"v":1`, `"v":1,"x":1`, 1), ErrCorrupt},
		{"trailing", good + `{}`, ErrCorrupt},
		{"bad replid", strings.Replace(good, rid, "zz", 1), ErrInvalid},
		{"negative offset", strings.Replace(good, `"offset":12345`, `"offset":-5`, 1), ErrInvalid},
		{"negative db", strings.Replace(good, `"v":1`, `"v":1,"db":-1`, 1), ErrInvalid},
		{"huge db", strings.Replace(good, `"v":1`, `"v":1,"db":70000`, 1), ErrInvalid},
		{"bad phase", strings.Replace(good, `"streaming"`, `"done"`, 1), ErrInvalid},
		{"pos while streaming", strings.Replace(good, `"v":1`, `"v":1,"snapshot_pos":7`, 1), ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Unmarshal([]byte(tc.in))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !reflect.DeepEqual(st, State{}) {
				t.Fatalf("non-zero state on error: %+v", st)
			}
		})
	}
}

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state")
	fs := NewFileStore(dir)
	if _, ok, err := fs.Load(ctx); ok || err != nil {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	st := valid()
	if err := fs.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	st.Offset = 99999
	if err := fs.Save(ctx, st); err != nil {
		t.Fatal(err)
	}
	got, ok, err := NewFileStore(dir).Load(ctx)
	if err != nil || !ok || got.Offset != 99999 {
		t.Fatalf("load: %+v ok=%v err=%v", got, ok, err)
	}
	if err := fs.Save(ctx, State{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("saving a zero state: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("leftover files: %v", ents)
	}
}

func TestFileStoreCorrupt(t *testing.T) {
	ctx := context.Background()
	good := encodeFile(valid())
	flip := append([]byte(nil), good...)
	flip[20] ^= 1
	tests := map[string][]byte{
		"empty":      {},
		"torn":       good[:len(good)-7],
		"no newline": good[:len(good)-1],
		"bit flip":   flip,
		"bad crc":    append([]byte("zzzzzzzz"), good[8:]...),
		"zeros":      make([]byte, 64),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o644); err != nil {
				t.Fatal(err)
			}
			st, ok, err := NewFileStore(dir).Load(ctx)
			if !errors.Is(err, ErrCorrupt) || ok || !reflect.DeepEqual(st, State{}) {
				t.Fatalf("got %+v ok=%v err=%v; want ErrCorrupt", st, ok, err)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("error does not name the file: %v", err)
			}
		})
	}
}

func TestFileStoreConcurrentSaves(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := NewFileStore(dir), NewFileStore(dir) // two stores, same dir
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			for j := range 20 {
				st := valid()
				st.Offset = int64(i*1000 + j)
				if err := s.Save(ctx, st); err != nil {
					t.Error(err)
					return
				}
				if _, ok, err := s.Load(ctx); !ok || err != nil {
					t.Errorf("load during saves: ok=%v err=%v", ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, ok, err := a.Load(ctx); !ok || err != nil {
		t.Fatalf("final load: ok=%v err=%v", ok, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("leftover files: %d", len(ents))
	}
}

func TestContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fs := NewFileStore(t.TempDir())
	if err := fs.Save(ctx, valid()); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if _, _, err := fs.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func ExampleState_Marshal() {
	fmt.Println(string(valid().Marshal()))
	// Output: {"v":1,"replid":"8371b4fb1155b71f4a04d3e1bc3e18c4a990aeeb","offset":12345,"phase":"streaming","updated_at":"2026-11-25T09:00:00.000000123Z"}
}

package transform

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

// TestDumpPayloadMatchesServer: the payload built from a key's raw RDB
// bytes is byte for byte what the server's own DUMP returns, for every
// encoding the server writes, and HasModules is false without modules.
func TestDumpPayloadMatchesServer(t *testing.T) {
	for _, name := range []string{redistest.Redis60, redistest.Redis80, redistest.Valkey91} {
		t.Run(name, func(t *testing.T) {
			srv := redistest.Start(t, name, redistest.Options{})
			c := srv.Client()
			defer c.Close()
			w := redistest.Workload{Seed: 3, Version: srv.Version, DBs: 1}
			if err := w.Fill(ctx(t), c, 120); err != nil {
				t.Fatal(err)
			}
			if err := c.Save(ctx(t)).Err(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(srv.Dir, "dump.rdb"))
			if err != nil {
				t.Fatal(err)
			}
			var version, n int
			err = rdbparse.NewDecoder(bytes.NewReader(data), rdbparse.Options{CaptureRaw: 1 << 20}).Decode(func(e *rdbparse.Event) error {
				switch e.Kind {
				case rdbparse.KindHeader:
					version = e.Version
				case rdbparse.KindKeyEnd:
					if e.Raw == nil {
						return nil // bigger than the capture limit
					}
					want, err := c.Dump(ctx(t), string(e.Key)).Result()
					if err != nil {
						t.Fatalf("DUMP %q: %v", e.Key, err)
					}
					if got := AppendDumpPayload(nil, e.Raw, version); !bytes.Equal(got, []byte(want)) {
						t.Fatalf("key %q (%s): payload %.64x…, DUMP %.64x…", e.Key, e.Encoding, got, want)
					}
					n++
				}
				return nil
			})
			if err != nil || n == 0 {
				t.Fatalf("%d keys: %v", n, err)
			}
			// A module value no module here knows is refused, and no probe key is left.
			mod := []byte{7, 0x81, 1, 2, 3, 4, 5, 6, 7, 8, 2, 0, 0}
			s := newSink(t, srv, sink.Config{})
			ok, why, err := s.ProbeRestore(ctx(t), AppendDumpPayload(nil, mod, version))
			if err != nil || ok || why == "" {
				t.Fatalf("ProbeRestore = %v, %q, %v", ok, why, err)
			}
			str := []byte{0, 2, 'h', 'i'}
			if name == redistest.Redis60 {
				return // no probe there (see ProbeRestore)
			}
			if ok, why, err = s.ProbeRestore(ctx(t), AppendDumpPayload(nil, str, version)); err != nil || !ok {
				t.Fatalf("ProbeRestore of a string = %v, %q, %v", ok, why, err)
			}
			if n := c.Exists(ctx(t), sink.ProbeKey).Val(); n != 0 {
				t.Fatal("probe key left behind")
			}
		})
	}
}

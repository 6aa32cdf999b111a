package replay_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/replay"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

// moduleRDB is an RDB 9 snapshot with a module value (type 7, module type
// "ReJSON-RL") between two strings.
func moduleRDB() []byte {
	const charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var id uint64
	for _, c := range []byte("ReJSON-RL") {
		id = id<<6 | uint64(strings.IndexByte(charset, c))
	}
	id = id<<10 | 3
	var b bytes.Buffer
	b.WriteString("REDIS0009")
	b.Write([]byte{0xfe, 0})
	b.Write([]byte{0, 1, 'a', 1, '1'})
	b.Write([]byte{7, 3, 'j', 's', 'n', 0x81})
	b.Write(binary.BigEndian.AppendUint64(nil, id))
	b.Write([]byte{5, 2, '{', '}', 0}) // a string opcode, then EOF
	b.Write([]byte{0, 1, 'z', 1, '2'})
	b.WriteByte(0xff)
	b.Write(binary.LittleEndian.AppendUint64(nil, rdbparse.CRC64(0, b.Bytes())))
	return b.Bytes()
}

// TestModuleValueWithoutModule: into a target with no module, a module
// value stops the replay with an error naming the key and the module, or
// with on-unholdable-module = skip is left out while the other keys land.
func TestModuleValueWithoutModule(t *testing.T) {
	data := moduleRDB()
	for _, tc := range []struct{ target, mode string }{
		{redistest.Redis60, transform.ModeAuto}, // 6.0 exits on a RESTORE it cannot load: never sent
		{redistest.Redis70, transform.ModeCommands},
		{redistest.Valkey91, transform.ModeAuto}, // lists a "lua" module, still none for the value
	} {
		mode := tc.mode
		t.Run(tc.target+"/"+mode, func(t *testing.T) {
			dst := redistest.Start(t, tc.target, redistest.Options{})
			ctx := context.Background()
			st, err := sink.NewStandalone(ctx, sink.Config{Addr: dst.Addr})
			must(t, err)
			defer st.Close()
			b := &sink.Batch{}
			noFlush := func(context.Context, *sink.Batch, int64, int) error { return nil }
			_, err = replay.Snapshot(ctx, bytes.NewReader(data), st.Server(),
				replay.SnapshotOptions{Mode: mode, BatchCommands: 100, BatchBytes: 1 << 20, ProbeRestore: st.ProbeRestore}, b, noFlush, nil)
			if !errors.Is(err, transform.ErrUnsupported) || !strings.Contains(err.Error(), `"jsn"`) || !strings.Contains(err.Error(), "ReJSON-RL") ||
				!strings.Contains(err.Error(), "on-unholdable-module") {
				t.Fatalf("error %v: want one naming key jsn and module ReJSON-RL", err)
			}

			stats := loadInto(t, data, dst, replay.SnapshotOptions{Mode: mode, Unholdable: skipModules})
			if stats.SkippedModule != 1 {
				t.Fatalf("stats %+v", stats)
			}
			c := dst.Client()
			if n := c.DBSize(ctx).Val(); n != 2 || c.Get(ctx, "a").Val() != "1" || c.Get(ctx, "z").Val() != "2" {
				t.Fatalf("target holds %d keys, a=%q z=%q", n, c.Get(ctx, "a").Val(), c.Get(ctx, "z").Val())
			}
		})
	}
}

// TestModuleValueRestored: Redis 8's vector sets are module values (module
// type "vectorset"); into another Redis 8 they go by RESTORE and read back
// the same, into a target that cannot hold them they fail with the key
// and module named, or are skipped.
func TestModuleValueRestored(t *testing.T) {
	ctx := context.Background()
	src := redistest.Start(t, redistest.Redis80, redistest.Options{})
	c := src.Client()
	must(t, c.Do(ctx, "VADD", "vs", "VALUES", "3", "1", "2", "3", "a").Err())
	must(t, c.Do(ctx, "VADD", "vs", "VALUES", "3", "4", "5", "6", "b").Err())
	must(t, c.Set(ctx, "plain", "x", 0).Err())
	data := dumpRDB(t, src)

	dst := redistest.Start(t, redistest.Redis806, redistest.Options{})
	stats := loadInto(t, data, dst, replay.SnapshotOptions{Mode: transform.ModeCommands})
	if stats.Restored != 1 {
		t.Fatalf("stats %+v: the module value should go by RESTORE even in commands mode", stats)
	}
	got, err := dst.Client().Do(ctx, "VEMB", "vs", "b").Float64Slice()
	if err != nil || len(got) != 3 || got[0] < 3.9 || got[0] > 4.1 || dst.Client().Do(ctx, "VCARD", "vs").Val() != int64(2) {
		t.Fatalf("VEMB vs b = %v, %v; VCARD %v", got, err, dst.Client().Do(ctx, "VCARD", "vs").Val())
	}

	old := redistest.Start(t, redistest.Valkey91, redistest.Options{})
	st, err := sink.NewStandalone(ctx, sink.Config{Addr: old.Addr})
	must(t, err)
	defer st.Close()
	noFlush := func(context.Context, *sink.Batch, int64, int) error { return nil }
	_, err = replay.Snapshot(ctx, bytes.NewReader(data), st.Server(), replay.SnapshotOptions{BatchCommands: 100, BatchBytes: 1 << 20,
		ProbeRestore: st.ProbeRestore}, &sink.Batch{}, noFlush, nil)
	if !errors.Is(err, transform.ErrUnsupported) || !strings.Contains(err.Error(), `"vs"`) || !strings.Contains(err.Error(), "vectorset") {
		t.Fatalf("error %v: want one naming key vs and module vectorset", err)
	}
	stats = loadInto(t, data, old, replay.SnapshotOptions{Unholdable: skipModules})
	if stats.SkippedModule != 1 || old.Client().Get(ctx, "plain").Val() != "x" || old.Client().Exists(ctx, "vs").Val() != 0 {
		t.Fatalf("skip: stats %+v", stats)
	}
}

var skipModules = transform.Unholdable{Policy: unholdable.Policy{Module: unholdable.Skip}}

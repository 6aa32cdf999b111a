package transform

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
)

// vectorSetCases fill vector sets of each kind the module saves differently:
// quantizations, attributes, a projection matrix (REDUCE), enough elements
// for nodes above layer 0.
var vectorSetCases = []struct {
	name string
	add  func(c *redis.Client, key string, i int, vec []any) error
}{
	{"q8 with attributes", func(c *redis.Client, key string, i int, vec []any) error {
		args := append(append([]any{"VADD", key, "VALUES", len(vec)}, vec...), fmt.Sprint("e", i))
		if i%3 == 0 {
			args = append(args, "SETATTR", fmt.Sprintf(`{"n":%d}`, i))
		}
		return c.Do(context.Background(), args...).Err()
	}},
	{"noquant", func(c *redis.Client, key string, i int, vec []any) error {
		return c.Do(context.Background(), append(append([]any{"VADD", key, "VALUES", len(vec)}, vec...), fmt.Sprint("e", i), "NOQUANT")...).Err()
	}},
	{"bin, reduced", func(c *redis.Client, key string, i int, vec []any) error {
		return c.Do(context.Background(), append(append([]any{"VADD", key, "REDUCE", 4, "VALUES", len(vec)}, vec...), fmt.Sprint(i), "BIN")...).Err()
	}},
}

// TestVectorSetRestoreAcrossRedis8: a vector set's DUMP payload from Redis
// 8.0.6 or 8.6 (HNSW nodes in serialization version 1; 8.6 in RDB 13)
// arrives in every Redis 8 target, as a RESTORE in the stream and as a
// snapshot key, with every element's vector and attributes (pkg/verify)
// and the same HNSW graph (VLINKS) as on the source.
func TestVectorSetRestoreAcrossRedis8(t *testing.T) {
	targets := map[string]*redistest.Server{}
	for _, name := range []string{redistest.Redis80, redistest.Redis806, redistest.Redis86} {
		targets[name] = redistest.Start(t, name, redistest.Options{})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, srcName := range []string{redistest.Redis806, redistest.Redis86} {
		src := redistest.Start(t, srcName, redistest.Options{})
		sc := src.Client()
		defer sc.Close()
		for _, vc := range vectorSetCases {
			for i := range 120 {
				vec := make([]any, 8)
				for j := range vec {
					vec[j] = fmt.Sprintf("%.3f", rng.Float64()*2-1)
				}
				if err := vc.add(sc, vc.name, i, vec); err != nil {
					t.Fatalf("%s: VADD: %v", srcName, err)
				}
			}
		}
		for _, dstName := range []string{redistest.Redis80, redistest.Redis806, redistest.Redis86} {
			for _, path := range []string{"stream", "snapshot"} {
				t.Run(srcName+"_to_"+dstName+"/"+path, func(t *testing.T) {
					dst := targets[dstName]
					s := newSink(t, dst, sink.Config{})
					dc := dst.Client()
					defer dc.Close()
					if err := dc.FlushAll(ctx(t)).Err(); err != nil {
						t.Fatal(err)
					}
					var b sink.Batch
					for _, vc := range vectorSetCases {
						payload, err := sc.Dump(ctx(t), vc.name).Result()
						if err != nil {
							t.Fatal(err)
						}
						if path == "stream" {
							tr := NewTranslator(s.Server(), TranslateOptions{})
							err = tr.Translate([][]byte{[]byte("RESTORE"), []byte(vc.name), []byte("0"), []byte(payload)}, nil, 1, &b)
						} else {
							r := NewRestorer(s.Server(), RebuildOptions{}, RestoreOptions{
								ProbeRestore: func(p []byte) (bool, string, error) { return s.ProbeRestore(ctx(t), p) },
							})
							err = rdbparse.DecodeDump([]byte(vc.name), []byte(payload), rdbparse.Options{CaptureRaw: r.CaptureLimit()},
								func(e *rdbparse.Event) error { return r.Handle(e, &b) })
						}
						if err != nil {
							t.Fatalf("%s: %v", vc.name, err)
						}
					}
					if err := s.Apply(ctx(t), &b); err != nil {
						t.Fatalf("the target refused it: %v", err)
					}
					if diffs := equal(t, &rigNode{c: sc}, &rigNode{c: dc}); len(diffs) > 0 {
						t.Fatalf("the target differs: %v", diffs)
					}
					for _, vc := range vectorSetCases {
						if a, b := vlinks(t, sc, vc.name), vlinks(t, dc, vc.name); a != b {
							t.Errorf("%s: the HNSW graph differs:\nsource %.300s\ntarget %.300s", vc.name, a, b)
						}
					}
				})
			}
		}
	}
}

// vlinks is every element's neighbours on every layer, sorted.
func vlinks(t *testing.T, c *redis.Client, key string) string {
	t.Helper()
	elems, err := c.Do(ctx(t), "VRANDMEMBER", key, 1<<20).StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(elems)
	var sb strings.Builder
	for _, e := range elems {
		layers, err := c.Do(ctx(t), "VLINKS", key, e).Slice()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sb, "%s:", e)
		for _, l := range layers {
			var ns []string
			for _, n := range l.([]any) {
				ns = append(ns, fmt.Sprint(n))
			}
			slices.Sort(ns)
			fmt.Fprintf(&sb, "[%s]", strings.Join(ns, ","))
		}
		sb.WriteString(";")
	}
	return sb.String()
}

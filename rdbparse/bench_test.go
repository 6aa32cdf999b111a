package rdbparse

import (
	"bytes"
	"testing"
)

func BenchmarkDecode(b *testing.B) {
	fx := fixtures(b)
	for _, name := range []string{"server-redis-8.0.2.rdb", "server-valkey-9.1.2.rdb", "hdt/hash.rdb", "hdt/linkedlist.rdb"} {
		data := fx[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			events := 0
			for b.Loop() {
				d := NewDecoder(bytes.NewReader(data), Options{})
				if err := d.Decode(func(*Event) error { events++; return nil }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(events)/float64(b.N), "events/op")
		})
	}
}

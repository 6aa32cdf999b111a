package transform

import (
	"testing"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/sink"
)

// TestTranslateIntoCluster: into a Redis 6.0 cluster, the commands the
// Translator writes as scripts go to the cluster sink in a form it can
// carry out when their keys are in different slots (a and b, d and s are),
// and as the same scripts as into a standalone server when one slot holds
// them (a hash tag). Targets that have the commands take them as they are.
func TestTranslateIntoCluster(t *testing.T) {
	t.Parallel()
	cluster := func(in server.Info) server.Info { in.ClusterEnabled = true; return in }
	c60, c70 := cluster(caps60), cluster(caps70)
	if server.KeySlot([]byte("a")) == server.KeySlot([]byte("b")) || server.KeySlot([]byte("d")) == server.KeySlot([]byte("s")) {
		t.Fatal("the test's keys share a slot")
	}
	store := sink.StoreScript
	tests := []struct {
		caps server.Info
		in   string
		want string
	}{
		{c60, "COPY a b", "COPY a b"},
		{c60, "COPY a b DB 0 REPLACE", "COPY a b DB 0 REPLACE"},
		{c60, "COPY {x}a {x}b REPLACE", "EVAL " + copyScript + " 2 {x}a {x}b  REPLACE"},
		{caps60, "COPY a b REPLACE", "EVAL " + copyScript + " 2 a b  REPLACE"},
		{c70, "COPY a b", "COPY a b"},
		{c60, "LMOVE a b LEFT RIGHT", "LMOVE a b LEFT RIGHT"},
		{c60, "BLMOVE a b LEFT LEFT 0", "BLMOVE a b LEFT LEFT 0"},
		{c60, "LMOVE a b RIGHT LEFT", "RPOPLPUSH a b"},
		{c60, "LMOVE {x}a {x}b LEFT RIGHT", "EVAL " + lmoveScript + " 2 {x}a {x}b LEFT RIGHT"},
		{c60, "ZRANGESTORE d s 0 1", "EVAL " + store(zrangeStoreScript) + " 2 d s 0 1"},
		{c60, "ZRANGESTORE {x}d {x}s 0 1", "EVAL " + zrangeStoreScript + " 2 {x}d {x}s 0 1"},
		{caps60, "ZRANGESTORE d s 0 1", "EVAL " + zrangeStoreScript + " 2 d s 0 1"},
		{c60, "ZDIFFSTORE d 2 s {d}x", "EVAL " + store(zdiffStoreScript) + " 3 d s {d}x"},
		{c60, "ZDIFFSTORE {s}d 2 s {s}x", "EVAL " + zdiffStoreScript + " 3 {s}d s {s}x"},
		{c60, "GEOSEARCHSTORE d s FROMLONLAT 1 2 BYBOX 5 5 km", "EVAL " + store(geoBoxScript) + " 2 d s FROMLONLAT 1 2 BYBOX 5 5 km"},
		{c60, "GEOSEARCHSTORE d s FROMLONLAT 1 2 BYRADIUS 5 km", "GEORADIUS s 1 2 5 km STORE d"},
		{c70, "ZRANGESTORE d s 0 1", "ZRANGESTORE d s 0 1"},
		{c70, "BITOP DIFF d s a", "EVAL " + store(bitopScript) + " 3 d s a DIFF"},
		{c70, "BITOP DIFF {s}d s {s}a", "EVAL " + bitopScript + " 3 {s}d s {s}a DIFF"},
	}
	for _, tt := range tests {
		tr := NewTranslator(tt.caps, TranslateOptions{})
		var b sink.Batch
		if err := tr.Translate(words(tt.in), nil, 1, &b); err != nil {
			t.Errorf("%s into %s: %v", tt.in, tt.caps, err)
			continue
		}
		if got := commands(&b); got != tt.want {
			t.Errorf("%s into %s (cluster %v):\n got %s\nwant %s", tt.in, tt.caps, tt.caps.ClusterEnabled, got, tt.want)
		}
	}
}

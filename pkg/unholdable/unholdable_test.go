package unholdable

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		p       Policy
		wantErr []string // settings named in the error; nil: valid
	}{
		{Policy{}, nil},
		{Policy{Functions: Skip, FieldTTL: Convert, Module: Skip, IDMP: Convert}, nil},
		{Policy{FieldTTL: Skip, IDMP: Skip}, nil},
		{Policy{Functions: Convert}, []string{"on-unholdable-functions"}},
		{Policy{Module: Convert, IDMP: "drop"}, []string{"on-unholdable-module", "on-unholdable-idmp"}},
	}
	for _, tc := range tests {
		err := tc.p.Validate()
		if (err != nil) != (tc.wantErr != nil) {
			t.Errorf("%+v: err = %v", tc.p, err)
			continue
		}
		for _, w := range tc.wantErr {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %v does not name %s", tc.p, err, w)
			}
		}
	}
}

func TestPolicyExpectedAndHint(t *testing.T) {
	p := Policy{FieldTTL: Convert}
	if got := p.Expected(FieldTTL); got != "on-unholdable-field-ttl = convert" {
		t.Errorf("Expected(FieldTTL) = %q", got)
	}
	if got := p.Expected(Functions); got != "" {
		t.Errorf("Expected(Functions) with stop = %q, want none", got)
	}
	if h := FieldTTL.Hint(); !strings.Contains(h, `on-unholdable-field-ttl = "skip"`) || !strings.Contains(h, `"convert"`) {
		t.Errorf("FieldTTL.Hint() = %q", h)
	}
	if h := Functions.Hint(); strings.Contains(h, "convert") {
		t.Errorf("Functions.Hint() = %q offers convert", h)
	}
}

// TestRecorderAggregatesItsLog: every skip or conversion is counted (and
// passed to onCount), but only the first ones and then each power of ten
// are logged, so a million keys write a few dozen lines.
func TestRecorderAggregatesItsLog(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	var counted int
	r := NewRecorder(zap.New(core), func(k Kind, a Action) { counted++ })
	for i := 0; i < 100000; i++ {
		r.Note(FieldTTL, Convert, "hash field TTL", []byte("k"), int64(i))
	}
	r.Note(Module, Skip, "module value", nil, 1)
	if n := r.Count(FieldTTL, Convert); n != 100000 || counted != 100001 || r.Count(Module, Skip) != 1 {
		t.Fatalf("counts %d, %d, onCount %d", n, r.Count(Module, Skip), counted)
	}
	// 10 one by one, then 100, 1000, 10000, 100000; and the module one.
	if n := logs.Len(); n != 10+4+1 {
		t.Errorf("%d log lines, want 15", n)
	}
	r.Summary()
	last := logs.All()[logs.Len()-2]
	if last.ContextMap()["count"] != int64(100000) {
		t.Errorf("summary %v", last.ContextMap())
	}
	var nilRecorder *Recorder
	nilRecorder.Note(IDMP, Skip, "x", nil, 0) // counts nowhere, no panic
}

package unholdable

import (
	"sync"

	"go.uber.org/zap"
)

// logEach is how many skips or conversions of one kind and action are
// logged one by one; after them, one line at each power of ten (100, 1000,
// …) gives the count so far, so a million converted keys write a handful
// of lines. The status page and metrics have the exact counts.
const logEach = 10

// Recorder counts and logs what was skipped or converted. A nil Recorder
// counts and logs nothing. It is safe for concurrent use.
type Recorder struct {
	log     *zap.Logger
	onCount func(Kind, Action)

	mu     sync.Mutex
	counts map[outcome]int64
}

type outcome struct {
	kind   Kind
	action Action
}

// NewRecorder returns a Recorder logging to log (nil: nowhere) and calling
// onCount (nil: nothing) for each skip or conversion, e.g. to count it in
// the status tracker.
func NewRecorder(log *zap.Logger, onCount func(Kind, Action)) *Recorder {
	if log == nil {
		log = zap.NewNop()
	}
	return &Recorder{log: log.With(zap.String("stage", "unholdable")), onCount: onCount, counts: map[outcome]int64{}}
}

// Note records one skip or conversion: what (e.g. "hash field TTL (field
// \"f\")"), of key (nil: none, e.g. a function library) at the source
// offset (stream offset or snapshot byte).
func (r *Recorder) Note(k Kind, a Action, what string, key []byte, offset int64) {
	if r == nil {
		return
	}
	r.mu.Lock()
	o := outcome{k, a}
	r.counts[o]++
	n := r.counts[o]
	r.mu.Unlock()
	if r.onCount != nil {
		r.onCount(k, a)
	}
	switch {
	case n <= logEach:
		fields := []zap.Field{zap.String("kind", string(k)), zap.String("action", string(a)), zap.String("what", what),
			zap.Int64("offset", offset), zap.String("setting", k.Setting()), zap.String("effect", k.Effect(a))}
		if key != nil {
			fields = append(fields, zap.ByteString("key", key))
		}
		if n == logEach {
			fields = append(fields, zap.String("next", "only the count is logged from here on, at 100, 1000, …"))
		}
		r.log.Warn("data the target cannot hold: "+string(a), fields...)
	case isPowerOf10(n):
		r.log.Warn("data the target cannot hold: count so far", zap.String("kind", string(k)), zap.String("action", string(a)),
			zap.Int64("count", n), zap.String("last", what), zap.ByteString("last_key", key), zap.Int64("last_offset", offset))
	}
}

// Count returns how many skips or conversions of kind k by action a were noted.
func (r *Recorder) Count(k Kind, a Action) int64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[outcome{k, a}]
}

// Summary logs every count above zero, once the sync or restore ends.
func (r *Recorder) Summary() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range Kinds {
		for _, a := range k.Actions()[1:] {
			if n := r.counts[outcome{k, a}]; n > 0 {
				r.log.Info("data the target cannot hold, in all", zap.String("kind", string(k)), zap.String("action", string(a)),
					zap.Int64("count", n), zap.String("effect", k.Effect(a)))
			}
		}
	}
}

func isPowerOf10(n int64) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}

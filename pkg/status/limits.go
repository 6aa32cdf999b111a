package status

import (
	"encoding/json"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/ratelimit"
)

// LimitsReport shows the rate limits towards the target (0: none) and the
// time writes waited for them.
type LimitsReport struct {
	MaxOpsPerSecond   int64   `json:"max_ops_per_second"`
	MaxBytesPerSecond int64   `json:"max_bytes_per_second"`
	ThrottledSeconds  float64 `json:"throttled_seconds"`
}

// SetLimits makes the tracker show l (nil: none) in /status and /metrics.
func (t *Tracker) SetLimits(l *ratelimit.Limits) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.limits = l
}

func (t *Tracker) limitsReport() *LimitsReport {
	t.mu.Lock()
	l := t.limits
	t.mu.Unlock()
	if l == nil {
		return nil
	}
	ops, bytes := l.Get()
	return &LimitsReport{MaxOpsPerSecond: ops, MaxBytesPerSecond: bytes, ThrottledSeconds: l.Throttled().Seconds()}
}

// limitsRequest is the body of PUT /limits: the limits given change (0
// lifts one), those left out keep their value.
type limitsRequest struct {
	MaxOpsPerSecond   *int64 `json:"max_ops_per_second"`
	MaxBytesPerSecond *int64 `json:"max_bytes_per_second"`
}

// limitsHandler serves GET /limits and PUT /limits (behind the status
// token, as every request but GET and HEAD).
func limitsHandler(t *Tracker, l *ratelimit.Limits, log *zap.Logger) http.Handler {
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			reply(w, http.StatusOK, t.limitsReport())
			return
		case http.MethodPut:
		default:
			w.Header().Set("Allow", "GET, PUT")
			reply(w, http.StatusMethodNotAllowed, map[string]string{"error": "use GET or PUT"})
			return
		}
		var req limitsRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf(
				`the body must be JSON such as {"max_ops_per_second": 5000, "max_bytes_per_second": 0} (0: no limit; a field left out keeps its value): %v`, err)})
			return
		}
		ops, bytes := int64(-1), int64(-1)
		if req.MaxOpsPerSecond != nil {
			ops = *req.MaxOpsPerSecond
		}
		if req.MaxBytesPerSecond != nil {
			bytes = *req.MaxBytesPerSecond
		}
		if req.MaxOpsPerSecond != nil && ops < 0 || req.MaxBytesPerSecond != nil && bytes < 0 {
			reply(w, http.StatusBadRequest, map[string]string{"error": "limits are >= 0 (0: no limit)"})
			return
		}
		l.Set(ops, bytes)
		rep := t.limitsReport()
		if log != nil {
			log.Info("rate limits changed", zap.Int64("max_ops_per_second", rep.MaxOpsPerSecond),
				zap.Int64("max_bytes_per_second", rep.MaxBytesPerSecond), zap.String("remote", r.RemoteAddr))
		}
		reply(w, http.StatusOK, rep)
	})
}

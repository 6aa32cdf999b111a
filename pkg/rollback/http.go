package rollback

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/redferry/redferry/pkg/cutover"
)

// Handler serves POST /rollback?pause=10s&timeout=60s: it runs a rollback
// and answers its Result as JSON (200), or {"error": ...} with 409 (no
// reverse link runs, or a hand-over is under way), 400 (bad parameters) or
// 504 (the old source did not catch up in time).
func (c *Controller) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pause, timeout := DefaultPause, time.Minute
		q := r.URL.Query()
		for name, d := range map[string]*time.Duration{"pause": &pause, "timeout": &timeout} {
			if v := q.Get(name); v != "" {
				var err error
				if *d, err = time.ParseDuration(v); err != nil {
					writeJSON(w, http.StatusBadRequest, map[string]string{"error": name + ": " + err.Error()})
					return
				}
			}
		}
		res, err := c.Rollback(r.Context(), pause, timeout)
		if err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, cutover.ErrBusy), errors.Is(err, ErrNotReverse):
				code = http.StatusConflict
			case errors.Is(err, cutover.ErrBadInput):
				code = http.StatusBadRequest
			case errors.Is(err, cutover.ErrTimeout):
				code = http.StatusGatewayTimeout
			}
			writeJSON(w, code, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

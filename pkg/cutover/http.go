package cutover

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Handler serves POST /cutover?pause=5s&timeout=60s[&keep-rollback=true]: it runs a cutover and
// answers its Result as JSON (200), or {"error": ...} with 409 (one is
// already running), 400 (bad parameters) or 504 (did not catch up in time).
func (c *Cutover) Handler() http.Handler {
	return handler(func(ctx context.Context, opt Options) (any, error) { return c.Run(ctx, opt) })
}

// handler serves POST /cutover with run (one source or a cluster's masters).
func handler(run func(context.Context, Options) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var opt Options
		var err error
		q := r.URL.Query()
		if v := q.Get("pause"); v != "" {
			if opt.Pause, err = time.ParseDuration(v); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "pause: " + err.Error()})
				return
			}
		}
		if v := q.Get("timeout"); v != "" {
			if opt.Timeout, err = time.ParseDuration(v); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "timeout: " + err.Error()})
				return
			}
		}
		if v := q.Get("keep-rollback"); v != "" {
			if opt.KeepRollback, err = strconv.ParseBool(v); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "keep-rollback: " + err.Error()})
				return
			}
		}
		res, err := run(r.Context(), opt)
		if err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, ErrBusy):
				code = http.StatusConflict
			case errors.Is(err, ErrBadInput):
				code = http.StatusBadRequest
			case errors.Is(err, ErrTimeout):
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

package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/redferry/redferry/pkg/ratelimit"
)

// HandlerOptions add optional endpoints to Handler.
type HandlerOptions struct {
	// Level, when set, is served at GET/PUT /loglevel ({"level":"debug"}),
	// so the log level can change while the sync runs.
	Level *zap.AtomicLevel
	// Routes are more endpoints by ServeMux pattern, e.g. "POST /cutover".
	Routes map[string]http.Handler
	// Token, when set, is required (Authorization: Bearer) by every request
	// but GET and HEAD; when empty, such requests are served on loopback
	// connections only. config.ValidateStatusServer requires a token beyond
	// loopback.
	Token string
	// Log, when set, records the requests refused for want of the token.
	Log *zap.Logger
	// Limits, when set, are served at GET/PUT /limits, so the rate limits
	// towards the target can change while the sync runs.
	Limits *ratelimit.Limits
}

// NewHandler serves GET /status (JSON), /metrics (Prometheus), /healthz (the
// process answers), /readyz (streaming with a lag below the bound) and the
// optional endpoints of opt, those that change state behind opt.Token.
func NewHandler(t *Tracker, opt HandlerOptions) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(t.Report())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := t.Ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = fmt.Fprintln(w, why)
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(newRegistry(t), promhttp.HandlerOpts{}))
	if opt.Level != nil {
		mux.Handle("/loglevel", opt.Level)
	}
	if opt.Limits != nil {
		t.SetLimits(opt.Limits)
		mux.Handle("/limits", limitsHandler(t, opt.Limits, opt.Log))
	}
	for pattern, h := range opt.Routes {
		mux.Handle(pattern, h)
	}
	return guardChanges(opt.Token, opt.Log, mux)
}

// Serve listens on addr and serves h until ctx ends. It returns once the
// listener is bound (so a bad address fails at start), serving in the background.
func Serve(ctx context.Context, addr string, h http.Handler, log *zap.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("status server on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("status server stopped", zap.Error(err))
		}
	}()
	log.Info("status server listening", zap.String("addr", ln.Addr().String()))
	return ln.Addr(), nil
}

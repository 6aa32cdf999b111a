package cutover

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/redferry/redferry/internal/redistest"
	"github.com/redferry/redferry/pkg/status"
)

// TestCutoverEndpointNeedsTheToken: POST /cutover on the status handler
// pauses a real source's writes only with the token (or, when none is set,
// on loopback); a refused request answers 401 and the source's writes go on.
func TestCutoverEndpointNeedsTheToken(t *testing.T) {
	const token = "a-status-token-of-32-characters!"
	src := redistest.Start(t, redistest.Redis70, redistest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := status.NewTracker("src", "dst")
	follow(t, ctx, src, tr, false)
	co := NewWithClient(src.Client(), tr, zaptest.NewLogger(t))
	defer co.Close()
	w := src.Client()
	defer w.Close()

	const pause = 2 * time.Second
	lan := &net.TCPAddr{IP: net.ParseIP("192.168.7.9"), Port: 9470}
	// The rows that pause come last: a pause ends before the next row, as
	// the write that checks it waits for its end.
	for _, tc := range []struct {
		name     string
		token    string   // the daemon's
		local    net.Addr // nil: a real loopback connection; else where the request came in (simulated)
		auth     string
		wantCode int
	}{
		{name: "token set, none sent", token: token, wantCode: 401},
		{name: "token set, wrong one sent", token: token, auth: "Bearer " + strings.ToUpper(token), wantCode: 401},
		{name: "no token set, request from beyond loopback", local: lan, wantCode: 401},
		{name: "token set, right one sent", token: token, auth: "Bearer " + token, wantCode: 200},
		{name: "token set, right one sent from beyond loopback", token: token, local: lan, auth: "Bearer " + token, wantCode: 200},
		{name: "no token set, loopback", wantCode: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := status.NewHandler(tr, status.HandlerOptions{Token: tc.token,
				Routes: map[string]http.Handler{"POST /cutover": co.Handler()}})
			code, authn, body := postCutover(t, h, tc.local, tc.auth, "pause="+pause.String()+"&timeout=10s")
			if code != tc.wantCode {
				t.Fatalf("POST /cutover = %d %s, want %d", code, body, tc.wantCode)
			}
			if code == 401 && (!strings.HasPrefix(authn, "Bearer") || !strings.Contains(body, "token")) {
				t.Fatalf("401 with WWW-Authenticate %q and body %s: want a Bearer challenge and what to do", authn, body)
			}
			// A write now waits for the end of a pause, and only then.
			start := time.Now()
			wctx, wcancel := context.WithTimeout(ctx, 2*pause)
			defer wcancel()
			if err := w.Incr(wctx, "writes").Err(); err != nil {
				t.Fatal(err)
			}
			waited := time.Since(start)
			if paused := waited > pause/2; paused != (tc.wantCode == 200) {
				t.Fatalf("POST /cutover answered %d and a write on the source then waited %s: paused %v", code, waited, paused)
			}
		})
	}
}

// postCutover sends POST /cutover?q over a real loopback connection when
// local is nil, else straight into h as if it had come in on local (the
// tests listen on loopback only).
func postCutover(t *testing.T, h http.Handler, local net.Addr, auth, q string) (code int, authn, body string) {
	t.Helper()
	if local != nil {
		req := httptest.NewRequest(http.MethodPost, "/cutover?"+q, nil)
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, local))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body.String()
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/cutover?"+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(b)
}

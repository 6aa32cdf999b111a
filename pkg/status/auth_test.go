package status

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestChangesNeedTheToken: requests that change state (PUT /loglevel, a
// POST route) are refused with 401 and change nothing unless they carry the
// token; without a token they are served on loopback only; read-only
// endpoints stay open.
func TestChangesNeedTheToken(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	lan := &net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 9470}
	tests := []struct {
		name         string
		token        string   // the daemon's
		lan          net.Addr // nil: a real request over loopback; else the connection's local address
		method, path string   // PUT /loglevel, POST /poke, or GET of a read-only endpoint
		auth         string   // the Authorization header sent
		wantCode     int
		wantAuthn    string // WWW-Authenticate, on 401
		changes      bool   // the level or the POST route changed
	}{
		{name: "loopback, no token configured: open", method: "PUT", path: "/loglevel", wantCode: 200, changes: true},
		{name: "loopback, no token configured: POST route open", method: "POST", path: "/poke", wantCode: 200, changes: true},
		{name: "token configured, none sent", token: token, method: "PUT", path: "/loglevel", wantCode: 401, wantAuthn: `Bearer realm="redferry"`},
		{name: "token configured, none sent to POST", token: token, method: "POST", path: "/poke", wantCode: 401, wantAuthn: `Bearer realm="redferry"`},
		{name: "wrong token", token: token, method: "POST", path: "/poke", auth: "Bearer not-the-token", wantCode: 401, wantAuthn: `Bearer realm="redferry", error="invalid_token"`},
		{name: "token with its last character changed", token: token, method: "PUT", path: "/loglevel", auth: "Bearer " + token[:len(token)-1] + "0", wantCode: 401, wantAuthn: `Bearer realm="redferry", error="invalid_token"`},
		{name: "token as Basic credentials", token: token, method: "PUT", path: "/loglevel", auth: "Basic " + token, wantCode: 401, wantAuthn: `Bearer realm="redferry"`},
		{name: "right token", token: token, method: "PUT", path: "/loglevel", auth: "Bearer " + token, wantCode: 200, changes: true},
		{name: "right token, scheme in lower case", token: token, method: "POST", path: "/poke", auth: "bearer " + token, wantCode: 200, changes: true},
		{name: "beyond loopback, no token configured", lan: lan, method: "PUT", path: "/loglevel", wantCode: 401, wantAuthn: `Bearer realm="redferry"`},
		{name: "beyond loopback, right token", lan: lan, token: token, method: "POST", path: "/poke", auth: "Bearer " + token, wantCode: 200, changes: true},
		{name: "beyond loopback, wrong token", lan: lan, token: token, method: "POST", path: "/poke", auth: "Bearer x" + token, wantCode: 401, wantAuthn: `Bearer realm="redferry", error="invalid_token"`},
		{name: "GET /metrics needs nothing", lan: lan, token: token, method: "GET", path: "/metrics", wantCode: 200},
		{name: "GET /status needs nothing", token: token, method: "GET", path: "/status", wantCode: 200},
		{name: "GET /healthz needs nothing", lan: lan, method: "GET", path: "/healthz", wantCode: 200},
		{name: "GET /loglevel needs nothing", token: token, method: "GET", path: "/loglevel", wantCode: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lvl := zap.NewAtomicLevelAt(zapcore.InfoLevel)
			var pokes atomic.Int32
			core, logs := observer.New(zapcore.DebugLevel)
			h := NewHandler(NewTracker("a", "b"), HandlerOptions{Level: &lvl, Token: tc.token, Log: zap.New(core),
				Routes: map[string]http.Handler{"POST /poke": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { pokes.Add(1) })}})
			body := ""
			if tc.method == "PUT" {
				body = `{"level":"debug"}`
			}
			code, header, answer := send(t, h, tc.lan, tc.method, tc.path, body, tc.auth)
			if code != tc.wantCode {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, code, answer, tc.wantCode)
			}
			changed := lvl.Level() == zapcore.DebugLevel || pokes.Load() > 0
			if changed != tc.changes {
				t.Fatalf("%s %s answered %d and changed state: %v, want %v", tc.method, tc.path, code, changed, tc.changes)
			}
			if got := header.Get("WWW-Authenticate"); got != tc.wantAuthn {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, tc.wantAuthn)
			}
			if code == 401 && (!strings.Contains(answer, "Authorization: Bearer") && !strings.Contains(answer, "status-token")) {
				t.Fatalf("401 body does not say what to do: %s", answer)
			}
			for _, e := range logs.All() {
				if line := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(line, token) {
					t.Fatalf("the token was logged: %s", line)
				}
			}
			if code == 401 && logs.Len() == 0 {
				t.Fatal("a refused request left no log line")
			}
			if strings.Contains(answer, token) {
				t.Fatalf("the answer shows the token: %s", answer)
			}
		})
	}
}

// send makes one request: over a real loopback connection when local is
// nil, else straight into h as if it had come in on local (the tests only
// listen on loopback).
func send(t *testing.T, h http.Handler, local net.Addr, method, path, body, auth string) (int, http.Header, string) {
	t.Helper()
	if local != nil {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, local))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Header(), rec.Body.String()
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
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
	return resp.StatusCode, resp.Header, string(b)
}

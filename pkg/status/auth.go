package status

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// guardChanges lets read-only requests (GET, HEAD) through and asks every
// other one, which may change state (POST /cutover pauses the source's
// writes, PUT /loglevel), for "Authorization: Bearer <token>". Without a
// token, changes are accepted only on a loopback connection (the local
// operator); the config refuses to listen beyond loopback without one.
func guardChanges(token string, log *zap.Logger, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		var why, challenge string
		switch got, ok := bearerToken(r); {
		case token == "" && onLoopback(r):
			next.ServeHTTP(w, r)
			return
		case token == "":
			why = r.Method + " " + r.URL.Path + " changes the sync's state and this status server has no token, so it accepts changes from loopback only: " +
				"set status-token-file or REDFERRY_STATUS_TOKEN for `redferry sync` (or `redferry scan`), then send it as Authorization: Bearer <token>"
			challenge = `Bearer realm="redferry"`
		case !ok:
			why = r.Method + " " + r.URL.Path + " changes the sync's state and needs the status token: send Authorization: Bearer <token> " +
				"(`redferry cutover` sends it when given --status-token-file, REDFERRY_STATUS_TOKEN_FILE or REDFERRY_STATUS_TOKEN)"
			challenge = `Bearer realm="redferry"`
		default:
			// Hashing both sides first makes the comparison's time independent of the lengths too.
			sum := sha256.Sum256([]byte(got))
			if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
				next.ServeHTTP(w, r)
				return
			}
			why = "the bearer token is not this sync's status token: send the token of its status-token-file or REDFERRY_STATUS_TOKEN"
			challenge = `Bearer realm="redferry", error="invalid_token"`
		}
		if log != nil {
			log.Warn("status server refused a request that changes state", zap.String("method", r.Method),
				zap.String("path", r.URL.Path), zap.String("remote", r.RemoteAddr))
		}
		w.Header().Set("WWW-Authenticate", challenge)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": why})
	})
}

// bearerToken is the token of an "Authorization: Bearer <token>" header.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}

// onLoopback tells whether the request came in on a loopback address of
// this machine (its connection's local address, set by net/http).
func onLoopback(r *http.Request) bool {
	addr, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

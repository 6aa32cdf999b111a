package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// SentinelEndpoint is a sentinel-managed deployment: the sentinels to ask
// and the name they monitor the master under.
type SentinelEndpoint struct {
	Addrs      []string // host:port of each sentinel (default port 26379)
	MasterName string
	// Username and Password authenticate to the sentinels, which have
	// their own requirepass/ACL: the URL's user:password is for the data
	// nodes. From the sentinel-user and sentinel-password query parameters
	// or the <side>-sentinel-password settings.
	Username, Password string
}

// Sentinel URL schemes: the data nodes and the sentinels over TCP, or both
// over TLS.
const (
	schemeSentinel      = "redis+sentinel"
	schemeSentinelTLS   = "rediss+sentinel"
	defaultSentinelPort = "26379"
)

// isSentinelURL says whether s names a sentinel-managed deployment.
func isSentinelURL(s string) bool {
	return strings.HasPrefix(s, schemeSentinel+"://") || strings.HasPrefix(s, schemeSentinelTLS+"://")
}

// parseSentinelURL parses
// redis+sentinel://[user:password@]host:port[,host:port...]/master-name[?sentinel-user=u&sentinel-password=p]
// (rediss+sentinel:// for TLS). Several hosts do not fit net/url, so the
// authority is split here.
func parseSentinelURL(s string) (Endpoint, error) {
	const form = "redis+sentinel://[user:password@]host:port[,host:port]/master-name"
	scheme, rest, _ := strings.Cut(s, "://")
	ep := Endpoint{TLS: scheme == schemeSentinelTLS, Sentinel: &SentinelEndpoint{}}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		user, err := url.PathUnescape(authority[:i])
		if err != nil {
			return Endpoint{}, fmt.Errorf("the user:password part of the URL is not %%-escaped correctly: use %s", form)
		}
		authority = authority[i+1:]
		name, pass, hasPass := strings.Cut(user, ":")
		if hasPass {
			ep.Username, ep.Password = name, pass
		} else {
			ep.Password = name // a password alone, as in redis://password@host
		}
	}
	if authority == "" {
		return Endpoint{}, fmt.Errorf("no sentinel address in the URL: use %s", form)
	}
	for _, h := range strings.Split(authority, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			host, port = h, defaultSentinelPort
		}
		if host == "" {
			return Endpoint{}, fmt.Errorf("sentinel address %q has no host: use %s", h, form)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return Endpoint{}, fmt.Errorf("sentinel port %q is not a TCP port", port)
		}
		ep.Sentinel.Addrs = append(ep.Sentinel.Addrs, net.JoinHostPort(host, port))
	}
	name, err := url.PathUnescape(strings.TrimSuffix(path, "/"))
	if err != nil || name == "" || strings.Contains(name, "/") {
		return Endpoint{}, fmt.Errorf("no master name in the URL path: use %s (the name in the sentinels' `sentinel monitor` line)", form)
	}
	ep.Sentinel.MasterName = name
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return Endpoint{}, fmt.Errorf("the query of the URL is not well formed: use ?sentinel-user=...&sentinel-password=...")
	}
	for k, v := range q {
		switch k {
		case "sentinel-user":
			ep.Sentinel.Username = v[len(v)-1]
		case "sentinel-password":
			ep.Sentinel.Password = v[len(v)-1]
		default:
			return Endpoint{}, fmt.Errorf("unknown URL parameter %q: a sentinel URL takes sentinel-user and sentinel-password", k)
		}
	}
	if ep.Sentinel.Username != "" && ep.Sentinel.Password == "" {
		return Endpoint{}, fmt.Errorf("sentinel-user is given without sentinel-password")
	}
	return ep, nil
}

// sentinelString is a sentinel endpoint for logs: never a password.
func (e Endpoint) sentinelString() string {
	scheme := schemeSentinel
	if e.TLS {
		scheme = schemeSentinelTLS
	}
	user := ""
	if e.Username != "" {
		user = e.Username + "@"
	}
	s := scheme + "://" + user + strings.Join(e.Sentinel.Addrs, ",") + "/" + e.Sentinel.MasterName
	if e.Sentinel.Username != "" {
		s += "?sentinel-user=" + url.QueryEscape(e.Sentinel.Username)
	}
	return s
}

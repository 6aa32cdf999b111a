package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
)

// Endpoint is a server to connect to.
type Endpoint struct {
	Addr     string // host:port
	Username string // ACL user; empty: "default"
	Password string
	TLS      bool // rediss://
	DB       int  // the /db path, if any
	// Sentinel, when set, is a sentinel-managed deployment
	// (redis+sentinel://): Addr is empty, the master is asked of the
	// sentinels at each connection, and Username and Password are the data
	// nodes' credentials.
	Sentinel *SentinelEndpoint
}

// String is the endpoint for logs and status: never the password.
func (e Endpoint) String() string {
	if e.Sentinel != nil {
		return e.sentinelString()
	}
	scheme := "redis"
	if e.TLS {
		scheme = "rediss"
	}
	user := ""
	if e.Username != "" {
		user = e.Username + "@"
	}
	return scheme + "://" + user + e.Addr
}

// ParseURL parses redis://[user:password@]host:port[/db] and rediss://,
// and the sentinel form redis+sentinel://[user:password@]host:port[,host:port]/master-name
// (rediss+sentinel://; url_sentinel.go).
func ParseURL(s string) (Endpoint, error) {
	if isSentinelURL(s) {
		return parseSentinelURL(s)
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse echoes the input, password included: say less.
		return Endpoint{}, fmt.Errorf("not a URL of the form redis://[user:password@]host:port")
	}
	var ep Endpoint
	switch u.Scheme {
	case "redis":
	case "rediss":
		ep.TLS = true
	default:
		return Endpoint{}, fmt.Errorf("scheme %q: use redis://, rediss://, redis+sentinel:// or rediss+sentinel://", u.Scheme)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, port = u.Host, "6379"
	}
	if host == "" {
		return Endpoint{}, fmt.Errorf("no host in the URL: use redis://host:port")
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return Endpoint{}, fmt.Errorf("port %q is not a TCP port", port)
	}
	ep.Addr = net.JoinHostPort(host, port)
	if u.User != nil {
		ep.Username = u.User.Username()
		ep.Password, _ = u.User.Password()
		if _, set := u.User.Password(); !set {
			// redis://password@host is a common shorthand for a password alone.
			ep.Password, ep.Username = ep.Username, ""
		}
	}
	if len(u.Path) > 1 {
		db, err := strconv.Atoi(u.Path[1:])
		if err != nil || db < 0 {
			return Endpoint{}, fmt.Errorf("db %q in the URL path is not a number", u.Path[1:])
		}
		ep.DB = db
	}
	return ep, nil
}

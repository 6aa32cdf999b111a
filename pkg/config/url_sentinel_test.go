package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSentinelURL(t *testing.T) {
	tests := []struct {
		in      string
		want    Endpoint
		str     string // String(): never a password
		wantErr string
	}{
		{in: "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster",
			want: Endpoint{Sentinel: &SentinelEndpoint{Addrs: []string{"10.0.0.1:26379", "10.0.0.2:26380"}, MasterName: "mymaster"}},
			str:  "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster"},
		{in: "rediss+sentinel://app:data-pw@s1,s2:5000/my%20master?sentinel-user=mon&sentinel-password=sent-pw",
			want: Endpoint{Username: "app", Password: "data-pw", TLS: true, Sentinel: &SentinelEndpoint{
				Addrs: []string{"s1:26379", "s2:5000"}, MasterName: "my master", Username: "mon", Password: "sent-pw"}},
			str: "rediss+sentinel://app@s1:26379,s2:5000/my master?sentinel-user=mon"},
		{in: "redis+sentinel://only-pw@[::1]:26379/m",
			want: Endpoint{Password: "only-pw", Sentinel: &SentinelEndpoint{Addrs: []string{"[::1]:26379"}, MasterName: "m"}},
			str:  "redis+sentinel://[::1]:26379/m"},
		{in: "redis+sentinel://h:26379", wantErr: "no master name"},
		{in: "redis+sentinel://h:26379/", wantErr: "no master name"},
		{in: "redis+sentinel:///m", wantErr: "no sentinel address"},
		{in: "redis+sentinel://h:0/m", wantErr: "not a TCP port"},
		{in: "redis+sentinel://h,,g/m", wantErr: "has no host"},
		{in: "redis+sentinel://h/m?db=2", wantErr: "unknown URL parameter"},
		{in: "redis+sentinel://h/m?sentinel-user=u", wantErr: "without sentinel-password"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseURL(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseURL(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Errorf("the error shows a password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseURL(%q) = %+v %+v, want %+v %+v", tt.in, got, got.Sentinel, tt.want, tt.want.Sentinel)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
		})
	}
}

// TestSentinelPasswordSettings: the sentinels' password from its setting
// or file overrides the URL's, and stays apart from the data nodes' one;
// the control client asks the sentinels with it.
func TestSentinelPasswordSettings(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sentinel-pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	c.Source = "redis+sentinel://:data@h1,h2/m?sentinel-password=from-url"
	c.Target = "redis+sentinel://h3/n"
	c.SourceSentinelPasswordFile = file
	c.TargetSentinelPassword = "target-sentinels"
	c.TargetPassword = "target-data"
	if err := c.ResolvePasswords(); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	src, err := c.SourceClient()
	if err != nil {
		t.Fatal(err)
	}
	if src.Password != "data" || src.Sentinel == nil || src.Sentinel.Password != "from-file" ||
		!reflect.DeepEqual(src.Sentinel.Addrs, []string{"h1:26379", "h2:26379"}) || src.Sentinel.MasterName != "m" {
		t.Errorf("source client: %+v sentinel %+v", src, src.Sentinel)
	}
	dst, err := c.TargetClient()
	if err != nil {
		t.Fatal(err)
	}
	if dst.Password != "target-data" || dst.Sentinel == nil || dst.Sentinel.Password != "target-sentinels" {
		t.Errorf("target client: %+v sentinel %+v", dst, dst.Sentinel)
	}
	if r := c.Redacted(); strings.Contains(r["source"], "from-url") || r["target-sentinel-password"] != "***" {
		t.Errorf("redacted settings show a sentinel password: source %q, target-sentinel-password %q", r["source"], r["target-sentinel-password"])
	}
}

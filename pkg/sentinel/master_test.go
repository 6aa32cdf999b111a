package sentinel

import (
	"bufio"
	"strings"
	"testing"
)

func TestParseMaster(t *testing.T) {
	tests := []struct {
		name    string
		fields  []string
		want    master
		wantErr string
	}{
		{"fields in any order", []string{"name", "m", "port", "6380", "flags", "master", "ip", "10.0.0.2", "config-epoch", "7"},
			master{addr: "10.0.0.2:6380", epoch: 7}, ""},
		{"no epoch (older sentinels)", []string{"ip", "::1", "port", "6379"}, master{addr: "[::1]:6379"}, ""},
		{"no address", []string{"name", "m"}, master{}, "no ip and port"},
		{"bad epoch", []string{"ip", "h", "port", "1", "config-epoch", "x"}, master{}, "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMaster("s:26379", tt.fields)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestLearnNewestEpochWins: of views that arrive in any order, the newest
// configuration epoch stays, and only a change closes the channel.
func TestLearnNewestEpochWins(t *testing.T) {
	r := NewResolver(Config{MasterName: "m"}, nil)
	steps := []struct {
		view    master
		want    string
		changed bool
	}{
		{master{"a:1", 0}, "a:1", true},
		{master{"a:1", 0}, "a:1", false},
		{master{"b:1", 2}, "b:1", true},  // the failover
		{master{"a:1", 1}, "b:1", false}, // a sentinel that lags behind
		{master{"a:1", 0}, "b:1", false},
		{master{"c:1", 3}, "c:1", true}, // a second failover
	}
	for i, st := range steps {
		_, ch := r.Current()
		got := r.learn(st.view, "test")
		closed := false
		select {
		case <-ch:
			closed = true
		default:
		}
		if got != st.want || closed != st.changed {
			t.Errorf("step %d (%+v): master %s, changed %v; want %s, %v", i, st.view, got, closed, st.want, st.changed)
		}
	}
}

func TestReadReply(t *testing.T) {
	in := "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$-1\r\n" + "-NOAUTH Authentication required.\r\n" + ":5\r\n" + "*-1\r\n"
	br := bufio.NewReader(strings.NewReader(in))
	r, err := readReply(br)
	if err != nil || r.kind != '*' || len(r.elems) != 3 || r.elems[1].str != "+switch-master" || !r.elems[2].null {
		t.Fatalf("array: %+v, %v", r, err)
	}
	_, err = readReply(br)
	if se, ok := err.(serverError); !ok || !se.hasPrefix("NOAUTH") {
		t.Fatalf("error reply: %v", err)
	}
	if r, err := readReply(br); err != nil || r.kind != ':' || r.str != "5" {
		t.Fatalf("integer: %+v, %v", r, err)
	}
	if r, err := readReply(br); err != nil || !r.null {
		t.Fatalf("null array: %+v, %v", r, err)
	}
	if _, err := readReply(bufio.NewReader(strings.NewReader("$5\r\nab"))); err == nil {
		t.Fatal("a truncated bulk string read without error")
	}
	if got := string(appendCommand(nil, "SENTINEL", "MASTER", "m")); got != "*3\r\n$8\r\nSENTINEL\r\n$6\r\nMASTER\r\n$1\r\nm\r\n" {
		t.Fatalf("appendCommand: %q", got)
	}
}

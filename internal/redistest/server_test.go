package redistest

import (
	"context"
	"strings"
	"testing"
)

func TestEveryServerStartsAndAnswers(t *testing.T) {
	for _, name := range All {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, name, Options{})
			c := s.Client()
			defer c.Close()
			info, err := c.Info(context.Background(), "server").Result()
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(info, s.Version) {
				t.Fatalf("%s: INFO server does not name version %s:\n%s", s.Name, s.Version, info)
			}
		})
	}
}

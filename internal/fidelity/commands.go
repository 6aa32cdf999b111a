package fidelity

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"
)

// WriteCommands is what one server declares about its write commands:
// each command and subcommand whose COMMAND flags hold "write", by lower
// case name ("set", "xgroup|create"), with the option tokens of its
// arguments from COMMAND DOCS (upper case; none before Redis 7.0, which has
// no COMMAND DOCS).
type WriteCommands map[string][]string

// Names lists the commands, sorted.
func (w WriteCommands) Names() []string {
	out := make([]string, 0, len(w))
	for n := range w {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ReadWriteCommands asks a server for its write commands (COMMAND) and
// their option tokens (COMMAND DOCS, where the server has it).
func ReadWriteCommands(ctx context.Context, c *redis.Client) (WriteCommands, error) {
	table, err := c.Do(ctx, "COMMAND").Slice()
	if err != nil {
		return nil, fmt.Errorf("COMMAND: %w", err)
	}
	out := WriteCommands{}
	for i, e := range table {
		info, ok := e.([]any)
		if !ok || len(info) < 3 {
			return nil, fmt.Errorf("COMMAND: entry %d is %T, not a command description", i, e)
		}
		name := strings.ToLower(fmt.Sprint(info[0]))
		if hasFlag(info[2], "write") {
			out[name] = nil
		}
		// Redis 7.0+ describes subcommands (container|sub) in the 10th field.
		if len(info) > 9 {
			subs, _ := info[9].([]any)
			for _, s := range subs {
				si, ok := s.([]any)
				if ok && len(si) > 2 && hasFlag(si[2], "write") {
					out[strings.ToLower(fmt.Sprint(si[0]))] = nil
				}
			}
		}
	}
	docs, err := c.Do(ctx, "COMMAND", "DOCS").Slice()
	if err != nil {
		// Redis 6.x has no COMMAND DOCS: names only.
		return out, nil //nolint:nilerr // the server predates COMMAND DOCS
	}
	for i := 0; i+1 < len(docs); i += 2 {
		name := strings.ToLower(fmt.Sprint(docs[i]))
		doc := flatMap(docs[i+1])
		if _, ok := out[name]; ok {
			out[name] = tokens(doc["arguments"])
		}
		subs := flatMap(doc["subcommands"])
		for sub, sd := range subs {
			sub = strings.ToLower(sub)
			if _, ok := out[sub]; ok {
				out[sub] = tokens(flatMap(sd)["arguments"])
			}
		}
	}
	return out, nil
}

func hasFlag(flags any, want string) bool {
	fs, _ := flags.([]any)
	for _, f := range fs {
		if fmt.Sprint(f) == want {
			return true
		}
	}
	return false
}

// flatMap reads a RESP2 key/value array; anything else gives an empty map.
func flatMap(v any) map[string]any {
	arr, _ := v.([]any)
	m := make(map[string]any, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		m[fmt.Sprint(arr[i])] = arr[i+1]
	}
	return m
}

// tokens collects the literal tokens of a COMMAND DOCS argument tree.
func tokens(args any) []string {
	seen := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		list, _ := v.([]any)
		for _, a := range list {
			m := flatMap(a)
			if t, ok := m["token"]; ok {
				seen[strings.ToUpper(fmt.Sprint(t))] = true
			}
			walk(m["arguments"])
		}
	}
	walk(args)
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

package fidelity

import (
	"fmt"
	"strings"
)

// tokenExemptions are option tokens of write commands that need no entry
// of their own, with the reason ("command TOKEN" → why).
func tokenExemptions() map[string]string {
	const readOnly = "a read-only reply option, not allowed with STORE/STOREDIST"
	const likeRestore = "RESTORE-ASKING takes RESTORE's options; the restore.* entries cover them"
	return map[string]string{
		"georadius WITHCOORD":         readOnly,
		"georadius WITHDIST":          readOnly,
		"georadius WITHHASH":          readOnly,
		"georadiusbymember WITHCOORD": readOnly,
		"georadiusbymember WITHDIST":  readOnly,
		"georadiusbymember WITHHASH":  readOnly,
		"restore-asking ABSTTL":       likeRestore,
		"restore-asking FREQ":         likeRestore,
		"restore-asking IDLETIME":     likeRestore,
		"restore-asking REPLACE":      likeRestore,
	}
}

// Uncovered lists what a server declares that no entry of corpus
// exercises: write commands without an entry, and option tokens of a
// replayed command that no entry of it uses. A container command without
// subcommands (XGROUP on Redis 6) is covered by its subcommands' entries.
func Uncovered(corpus []Entry, server string, wc WriteCommands) []string {
	byCommand := map[string][]Entry{}
	for _, e := range corpus {
		byCommand[e.Command] = append(byCommand[e.Command], e)
	}
	exempt := tokenExemptions()
	var out []string
	for _, name := range wc.Names() {
		entries := byCommand[name]
		if len(entries) == 0 && !strings.Contains(name, "|") {
			for c, es := range byCommand {
				if strings.HasPrefix(c, name+"|") {
					entries = append(entries, es...)
				}
			}
		}
		if len(entries) == 0 {
			out = append(out, fmt.Sprintf("%s: write command %q has no corpus entry", server, name))
			continue
		}
		used := map[string]bool{}
		for _, e := range entries {
			if e.NotReplayed != "" {
				used = nil // not replayed: its options need no entries
				break
			}
			for _, c := range e.Run {
				for _, a := range c {
					used[strings.ToUpper(a)] = true
				}
			}
		}
		if used == nil {
			continue
		}
		for _, tok := range wc[name] {
			if !used[tok] && exempt[name+" "+tok] == "" {
				out = append(out, fmt.Sprintf("%s: option %s of %q is used by no corpus entry", server, tok, name))
			}
		}
	}
	return out
}

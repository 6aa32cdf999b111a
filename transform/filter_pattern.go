package transform

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// keyPattern is one entry of an allow or deny list.
type keyPattern struct {
	prefix []byte         // "prefix:"
	re     *regexp.Regexp // "glob:" (translated) and "regex:"
}

func (p keyPattern) match(key []byte) bool {
	if p.re != nil {
		return p.re.Match(key)
	}
	return bytes.HasPrefix(key, p.prefix)
}

var errPatternSyntax = errors.New(`write a key pattern as "prefix:<text>", "glob:<pattern>" or "regex:<expression>"`)

func parseKeyPattern(s string) (keyPattern, error) {
	kind, text, ok := strings.Cut(s, ":")
	if !ok {
		return keyPattern{}, fmt.Errorf("%q: %w", s, errPatternSyntax)
	}
	switch kind {
	case "prefix":
		if text == "" {
			return keyPattern{}, fmt.Errorf("%q: an empty prefix matches every key", s)
		}
		return keyPattern{prefix: []byte(text)}, nil
	case "glob":
		expr, err := globToRegexp(text)
		if err != nil {
			return keyPattern{}, fmt.Errorf("%q: %w", s, err)
		}
		return keyPattern{re: regexp.MustCompile(expr)}, nil
	case "regex":
		re, err := regexp.Compile(text)
		if err != nil {
			return keyPattern{}, fmt.Errorf("%q: %w", s, err)
		}
		return keyPattern{re: re}, nil
	}
	return keyPattern{}, fmt.Errorf("%q: unknown kind %q: %w", s, kind, errPatternSyntax)
}

// globToRegexp translates a glob as KEYS and SCAN MATCH read it: * any
// run, ? one character, [abc] [a-z] [^a] a class, \x the character x; the
// whole key must match.
func globToRegexp(glob string) (string, error) {
	g := []rune(glob)
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '\\':
			if i+1 < len(g) {
				i++
			}
			b.WriteString(regexp.QuoteMeta(string(g[i])))
		case '[':
			end := i + 1
			if end < len(g) && g[end] == '^' {
				end++
			}
			for end < len(g) && g[end] != ']' {
				if g[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(g) {
				return "", fmt.Errorf("glob %q: the [ at %d is not closed", glob, i)
			}
			b.WriteString(classToRegexp(g[i+1 : end]))
			i = end
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`\z`)
	return b.String(), nil
}

// classToRegexp turns the inside of a glob's [...] into a regexp class.
func classToRegexp(c []rune) string {
	var b strings.Builder
	b.WriteByte('[')
	if len(c) > 0 && c[0] == '^' {
		b.WriteByte('^')
		c = c[1:]
	}
	for i := 0; i < len(c); i++ {
		ch := c[i]
		escaped := false
		if ch == '\\' && i+1 < len(c) {
			i++
			ch, escaped = c[i], true
		}
		if ch == '-' && !escaped && i > 0 && i+1 < len(c) {
			b.WriteByte('-') // a range
			continue
		}
		if ch == '-' {
			b.WriteString(`\-`) // QuoteMeta leaves - alone
			continue
		}
		b.WriteString(regexp.QuoteMeta(string(ch)))
	}
	b.WriteByte(']')
	return b.String()
}

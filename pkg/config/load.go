package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"
)

// setting is one field of Config seen through its tag.
type setting struct {
	name   string // toml key and flag name
	help   string
	secret bool
	field  reflect.Value
}

func (c *Config) settings() []setting {
	return appendSettings(nil, reflect.ValueOf(c).Elem())
}

// appendSettings lists the tagged fields of struct v, and those of the
// groups of settings embedded in it (FilterSettings), as TOML reads them.
func appendSettings(out []setting, v reflect.Value) []setting {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			out = appendSettings(out, v.Field(i))
			continue
		}
		if name == "" {
			continue
		}
		out = append(out, setting{name: name, help: f.Tag.Get("help"), secret: f.Tag.Get("secret") == "true", field: v.Field(i)})
	}
	return out
}

// EnvName is the environment variable of a setting: state-dir → REDFERRY_STATE_DIR.
func EnvName(name string) string {
	return "REDFERRY_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// LoadFile reads a TOML file over c. Unknown keys are an error (a typo must
// not silently fall back to a default).
func (c *Config) LoadFile(path string) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		keys := make([]string, len(undec))
		for i, k := range undec {
			keys[i] = k.String()
		}
		return fmt.Errorf("config file %s: unknown settings %s (see configs/redferry.toml)", path, strings.Join(keys, ", "))
	}
	return nil
}

// LoadEnv applies REDFERRY_* variables found by lookup (os.LookupEnv).
func (c *Config) LoadEnv(lookup func(string) (string, bool)) error {
	for _, s := range c.settings() {
		val, ok := lookup(EnvName(s.name))
		if !ok {
			continue
		}
		if err := setValue(s.field, val); err != nil {
			return fmt.Errorf("%s: %w", EnvName(s.name), err)
		}
	}
	return nil
}

// RegisterFlags adds a flag for every setting, with c's values as defaults.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	for _, s := range c.settings() {
		help := s.help + " (env " + EnvName(s.name) + ")"
		switch p := s.field.Addr().Interface().(type) {
		case *string:
			fs.StringVar(p, s.name, *p, help)
		case *bool:
			fs.BoolVar(p, s.name, *p, help)
		case *int:
			fs.IntVar(p, s.name, *p, help)
		case *int64:
			fs.Int64Var(p, s.name, *p, help)
		case *time.Duration:
			fs.DurationVar(p, s.name, *p, help)
		case *[]string:
			fs.StringArrayVar(p, s.name, *p, help)
		case *[]int:
			fs.IntSliceVar(p, s.name, *p, help)
		default:
			panic(fmt.Sprintf("config: setting %s has an unsupported type %T", s.name, p))
		}
	}
}

// Load builds the config in order of precedence: defaults, the file (if any),
// the environment, then the flags the user set, and reads the files that hold
// secrets (passwords, status token). fs must have been registered with
// RegisterFlags on a scratch Config and parsed.
func Load(path string, lookup func(string) (string, bool), fs *pflag.FlagSet) (Config, error) {
	c, err := LoadSettings(path, lookup, fs)
	if err != nil {
		return c, err
	}
	if err := c.ResolvePasswords(); err != nil {
		return c, err
	}
	if err := c.ResolveStatusToken(); err != nil {
		return c, err
	}
	return c, nil
}

// LoadSettings is Load without reading the secret files: for commands that
// use a few of the sync's settings (the status client reads only its token).
// fs may hold flags for some settings only: those the user set apply.
func LoadSettings(path string, lookup func(string) (string, bool), fs *pflag.FlagSet) (Config, error) {
	c := Default()
	if path != "" {
		if err := c.LoadFile(path); err != nil {
			return c, err
		}
	}
	if err := c.LoadEnv(lookup); err != nil {
		return c, err
	}
	if fs != nil {
		for _, s := range c.settings() {
			f := fs.Lookup(s.name)
			if f == nil || !f.Changed {
				continue
			}
			if err := setFlagValue(s.field, f.Value); err != nil {
				return c, fmt.Errorf("--%s: %w", s.name, err)
			}
		}
	}
	return c, nil
}

func setValue(field reflect.Value, val string) error {
	switch p := field.Addr().Interface().(type) {
	case *string:
		*p = val
	case *bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("%q is not true or false", val)
		}
		*p = b
	case *int:
		n, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", val)
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", val)
		}
		*p = n
	case *time.Duration:
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 5s or 1m", val)
		}
		*p = d
	case *[]string:
		list, err := parseList(val)
		if err != nil {
			return err
		}
		*p = list
	case *[]int:
		list, err := parseList(val)
		if err != nil {
			return err
		}
		ns := make([]int, 0, len(list))
		for _, s := range list {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("%q is not a list of whole numbers such as 0,3", val)
			}
			ns = append(ns, n)
		}
		*p = ns
	default:
		return fmt.Errorf("unsupported type %T", p)
	}
	return nil
}

// Redacted lists every setting as name=value for logs, secrets masked.
func (c *Config) Redacted() map[string]string {
	out := map[string]string{}
	for _, s := range c.settings() {
		v := fmt.Sprint(s.field.Interface())
		if s.secret && v != "" {
			v = "***"
		}
		if s.name == "source" || s.name == "target" {
			if ep, err := ParseURL(v); err == nil {
				v = ep.String()
			} else {
				v = "(invalid URL)"
			}
		}
		out[s.name] = v
	}
	return out
}

// setFlagValue sets a field from a flag the user gave; list flags hand
// over their items as given (a key pattern may hold a comma).
func setFlagValue(field reflect.Value, v pflag.Value) error {
	if sv, ok := v.(pflag.SliceValue); ok {
		if p, ok := field.Addr().Interface().(*[]string); ok {
			*p = append([]string(nil), sv.GetSlice()...)
			return nil
		}
		return setValue(field, strings.Join(sv.GetSlice(), ","))
	}
	return setValue(field, v.String())
}

// parseList reads a list from an environment variable: a TOML array
// (["prefix:a", "regex:^b{1,3}$"]) or comma-separated items.
func parseList(val string) ([]string, error) {
	val = strings.TrimSpace(val)
	if val == "" {
		return nil, nil
	}
	if strings.HasPrefix(val, "[") {
		var doc struct{ V []any }
		if _, err := toml.Decode("V = "+val, &doc); err != nil {
			return nil, fmt.Errorf("%q is not a TOML array: %w", val, err)
		}
		out := make([]string, 0, len(doc.V))
		for _, item := range doc.V {
			out = append(out, fmt.Sprint(item))
		}
		return out, nil
	}
	parts := strings.Split(val, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, nil
}

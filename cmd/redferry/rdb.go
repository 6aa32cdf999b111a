package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/redferry/redferry/pkg/server"
	"github.com/redferry/redferry/pkg/unholdable"
	"github.com/redferry/redferry/rdbparse"
	"github.com/redferry/redferry/sink"
	"github.com/redferry/redferry/transform"
)

func newRDBCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rdb",
		Short: "Look into RDB snapshot files",
	}
	cmd.AddCommand(newRDBInspectCommand())
	return cmd
}

func newRDBInspectCommand() *cobra.Command {
	var format, forTarget string
	cmd := &cobra.Command{
		Use:   "inspect FILE.rdb|-",
		Short: "List the keys of an RDB file (db, type, encoding, size, expiry), or the commands that rebuild them",
		Long: "inspect decodes an RDB file (RDB 1–13, VALKEY080) without loading it anywhere.\n" +
			"--format text: one tab-separated line per key: db, type, encoding, size (bytes for a\n" +
			"  string or module value, elements otherwise), expiry (UTC, or -), key.\n" +
			"--format json: one JSON object per key and line (the key as key_base64 when not UTF-8).\n" +
			"--format resp: the commands that rebuild every key, for `redis-cli --pipe` (module values\n" +
			"  as RESTORE); --for names the server they are meant for (e.g. redis-6.0, valkey-9.1;\n" +
			"  default redis-8.0).",
		Example: "  redferry rdb inspect dump.rdb | sort -t$'\\t' -k4 -n | tail\n" +
			"  redferry rdb inspect --format resp dump.rdb | redis-cli -h 10.0.0.2 --pipe",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, _, err := openSnapshot(args[0])
			if err != nil {
				return err
			}
			defer in.Close()
			out := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<20)
			switch format {
			case "text", "json":
				err = inspectKeys(in, out, format == "json")
			case "resp":
				var caps server.Info
				if caps, err = capsFor(forTarget); err == nil {
					err = inspectRESP(in, out, caps)
				}
			default:
				err = fmt.Errorf("--format %q: use text, json or resp", format)
			}
			if ferr := out.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text, json or resp")
	cmd.Flags().StringVar(&forTarget, "for", "redis-8.0", "with --format resp: the server the commands are for, as redis-X.Y or valkey-X.Y")
	return cmd
}

// capsFor parses "redis-7.0" or "valkey-9.1".
func capsFor(s string) (server.Info, error) {
	in, err := server.Named(s)
	if err != nil {
		return server.Info{}, fmt.Errorf("--for %q: give redis-X.Y or valkey-X.Y", s)
	}
	return in, nil
}

// keyLine is one key of inspect's output.
type keyLine struct {
	DB        int    `json:"db"`
	Key       string `json:"key,omitempty"`
	KeyBase64 string `json:"key_base64,omitempty"`
	Type      string `json:"type"`
	Encoding  string `json:"encoding"`
	Size      int64  `json:"size"`
	ExpireAt  int64  `json:"expire_at_ms,omitempty"`
}

func inspectKeys(in io.Reader, out io.Writer, asJSON bool) error {
	var (
		line keyLine
		enc  = json.NewEncoder(out)
	)
	if !asJSON {
		fmt.Fprintln(out, "db\ttype\tencoding\tsize\texpire_at\tkey")
	}
	return rdbparse.NewDecoder(in, rdbparse.Options{}).Decode(func(e *rdbparse.Event) error {
		switch e.Kind {
		case rdbparse.KindKey:
			line = keyLine{DB: e.DB, Type: e.Type.String(), Encoding: e.Encoding, ExpireAt: e.ExpireAt}
		case rdbparse.KindString, rdbparse.KindModuleValue:
			line.Size += int64(len(e.Value))
		case rdbparse.KindListItem, rdbparse.KindSetMember, rdbparse.KindZSetMember, rdbparse.KindHashField, rdbparse.KindStreamEntry:
			line.Size++
		case rdbparse.KindKeyEnd:
			if !asJSON {
				exp := "-"
				if e.ExpireAt > 0 {
					exp = time.UnixMilli(e.ExpireAt).UTC().Format("2006-01-02T15:04:05.000Z")
				}
				_, err := fmt.Fprintf(out, "%d\t%s\t%s\t%d\t%s\t%q\n", line.DB, line.Type, line.Encoding, line.Size, exp, e.Key)
				return err
			}
			if utf8.Valid(e.Key) {
				line.Key = string(e.Key)
			} else {
				line.KeyBase64 = base64.StdEncoding.EncodeToString(e.Key)
			}
			return enc.Encode(line)
		}
		return nil
	})
}

// inspectRESP writes the commands that rebuild every key, as RESP. Module
// values, which no command rebuilds, come as RESTORE: the server they are
// piped into judges whether it has the module.
func inspectRESP(in io.Reader, out io.Writer, caps server.Info) error {
	// Module aux data has no command form: left out.
	rb := transform.NewRestorer(caps, transform.RebuildOptions{}, transform.RestoreOptions{Mode: transform.ModeCommands,
		Unholdable: transform.Unholdable{Policy: unholdable.Policy{Module: unholdable.Skip}}, ProbeRestore: func([]byte) (bool, string, error) { return true, "", nil }})
	b := &sink.Batch{}
	return rdbparse.NewDecoder(in, rdbparse.Options{}).Decode(func(e *rdbparse.Event) error {
		if err := rb.Handle(e, b); err != nil {
			return err
		}
		if b.Size() >= 1<<20 || e.Kind == rdbparse.KindEOF {
			if _, err := out.Write(b.Bytes()); err != nil {
				return err
			}
			b.Reset()
		}
		return nil
	})
}

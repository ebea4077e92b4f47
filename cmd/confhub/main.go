// Command confhub is the conferencing connector service: the HTTP API and its
// operator commands, in one binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "confhub:", err)
		os.Exit(1)
	}
}

// usageError means the command line was wrong; the flag package already
// printed why.
type usageError struct{ error }

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the HTTP API (applies pending migrations first)", cmdServe},
		{"migrate", "apply pending database migrations and exit", cmdMigrate},
		{"apps create", "create an application and print its id and API key (shown only once)", cmdAppsCreate},
		{"keys rotate", "re-encrypt every stored secret with the active encryption key", cmdKeysRotate},
		{"zoomsim", "run the Zoom simulator (OAuth, REST API, webhooks, control API under /_sim/)", cmdZoomsim},
		{"bench", "measure event creation with Zoom autocreate against the bare-Temporal floor (what `make bench` runs)", cmdBench},
		{"dev", "run everything locally: a private PostgreSQL, a demo application, the API (what `make run` runs)", cmdDev},
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	rest := args[1:]
	if len(rest) == 0 || rest[0] == "-h" || rest[0] == "--help" || rest[0] == "help" {
		printUsage(stderr)
		if len(rest) == 0 {
			return usageError{errors.New("no command")}
		}
		return nil
	}
	for _, c := range commands() {
		words := splitWords(c.name)
		if len(rest) >= len(words) && equalWords(rest[:len(words)], words) {
			err := c.run(ctx, rest[len(words):], getenv, stdout, stderr)
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	fmt.Fprintf(stderr, "confhub: unknown command %q\n\n", rest[0])
	printUsage(stderr)
	return usageError{fmt.Errorf("unknown command %q", rest[0])}
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: confhub <command> [flags]  (confhub <command> --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEnvironment:")
	fmt.Fprintln(w, "  DATABASE_URL             PostgreSQL URL (required)")
	fmt.Fprintln(w, "  CONFHUB_ENCRYPTION_KEYS  keyid:base64-32-bytes[,...]; the first encrypts, all decrypt (required)")
	fmt.Fprintln(w, "  CONFHUB_HTTP_ADDR        listen address (default :8080)")
	fmt.Fprintln(w, "  CONFHUB_PUBLIC_URL       externally visible base URL (default http://localhost:<port>)")
	fmt.Fprintln(w, "  CONFHUB_LOG_LEVEL        debug|info|warn|error (default info)")
	fmt.Fprintln(w, "  ZOOM_OAUTH_URL           Zoom's OAuth base URL (default https://zoom.us)")
	fmt.Fprintln(w, "  ZOOM_API_URL             Zoom's REST base URL (default https://api.zoom.us/v2)")
}

// newFlags makes a subcommand's flag set with a --help that describes it.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: confhub %s\n\n%s\n", name, synopsis)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return nil
}

func splitWords(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ' ' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}

func equalWords(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

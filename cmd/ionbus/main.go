// Command ionbus is the ionbus broker binary: `ionbus serve` runs a node,
// `ionbus emit` publishes to a cluster through Redis, `ionbus token`
// mints a development JWT, `ionbus bench` generates load, `ionbus
// version` prints the build, `ionbus healthcheck` probes a node's
// /healthz (container images have no curl). This package only wires: configuration sources, package
// configurations, listeners and signals; the logic lives in the packages.
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

	"github.com/ionbus/ionbus/cmd/ionbus/bench"
)

// stdio is what a subcommand may touch of the process.
type stdio struct {
	out, err io.Writer
	getenv   func(string) (string, bool)
}

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, io stdio) error
}

// commands lists the subcommands; adding one is one line.
var commands = []command{
	{"serve", "run a broker node (Socket.IO server + HTTP API)", runServe},
	{"emit", "publish to a cluster through Redis (as @socket.io/redis-emitter)", runEmit},
	{"token", "mint a development HS256 JWT", runToken},
	{"hash-password", "print the bcrypt hash of a password for admin_ui.password_hash", runHashPassword},
	{"version", "print the version", runVersion},
	{"healthcheck", "exit 0 when a node's /healthz answers 200 (container HEALTHCHECK)", runHealthcheck},
	{"bench", "load generator for any Socket.IO v4 server", withExitCode(bench.Main)},
}

// withExitCode adapts a subcommand package's Main (which reports its own
// errors and returns an exit code) to the command table.
func withExitCode(mainFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) int) func(context.Context, []string, stdio) error {
	return func(ctx context.Context, args []string, io stdio) error {
		if code := mainFunc(ctx, args, io.out, io.err); code != 0 {
			return exitError(code)
		}
		return nil
	}
}

// exitError is an exit code whose reason was already reported.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process at once
	}()
	os.Exit(run(ctx, os.Args[1:], stdio{out: os.Stdout, err: os.Stderr, getenv: os.LookupEnv}))
}

// run dispatches to a subcommand and returns the exit code: 0 success,
// 1 failure, 2 usage error.
func run(ctx context.Context, args []string, io stdio) int {
	switch {
	case len(args) == 2 && args[0] == "help":
		// `ionbus help serve` is `ionbus serve -h`.
		args = []string{args[1], "-h"}
	case len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		usage(io.err)
		if len(args) == 0 || len(args) > 1 {
			return 2
		}
		return 0
	case len(args) == 1 && (args[0] == "--version" || args[0] == "-version"):
		args = []string{"version"}
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], io)
		var code exitError
		var reported reportedUsage
		switch {
		case err == nil:
			return 0
		case errors.As(err, &code):
			return int(code)
		case errors.As(err, &reported):
			return 2 // the flag package printed it, with the usage
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(io.err, "ionbus %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(io.err, "ionbus %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(io.err, "ionbus: unknown command %q\n\n", args[0])
	usage(io.err)
	return 2
}

// errUsage marks errors in the command line itself.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ionbus <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'ionbus <command> -h' or 'ionbus help <command>' for the flags of a command;\n'ionbus --version' prints the version.")
}

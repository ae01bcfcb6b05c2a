package main

import (
	"errors"
	"flag"
)

// reportedUsage is a command-line error the flag package has already
// printed, with the command's usage: run exits 2 and prints nothing more,
// so the error appears once. Its text is the flag package's.
type reportedUsage struct{ err error }

func (e reportedUsage) Error() string { return e.err.Error() }
func (e reportedUsage) Unwrap() error { return e.err }

// parseFlags parses args with fs (whose output is the command's stderr):
// flag.ErrHelp as is (exit 0), any other error as reportedUsage (exit 2).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return reportedUsage{err}
}

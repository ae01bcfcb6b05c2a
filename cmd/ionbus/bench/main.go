package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Exit statuses of Main.
const (
	ExitOK       = 0
	ExitExpect   = 1 // an --expect threshold failed
	ExitUsage    = 2
	ExitRunError = 3 // nothing could be measured (no socket connected, report not written)
)

// Main runs `ionbus bench <mode> [flags]` and returns the exit status.
// ctx cancellation (the caller's SIGINT handling) ends the run early; a
// report is still printed. stdout gets the summary (and the progress line
// when it is a terminal); stderr gets errors and usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, usageText)
		return ExitOK
	}
	if err != nil {
		if msg := err.Error(); msg != errUsage.Error() {
			// The error and one line of help, not the whole usage.
			fmt.Fprintf(stderr, "ionbus bench: %s\nRun 'ionbus bench -h' for the modes and their flags.\n", msg)
		} else { // no mode at all: the usage is the answer
			fmt.Fprint(stderr, usageText)
		}
		return ExitUsage
	}
	if cfg.Mode == modeMerge {
		return runMerge(cfg, stdout, stderr)
	}
	r, err := newRunner(cfg, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "ionbus bench: %v\n", err)
		return ExitUsage
	}
	probe, err := newServerProbe(cfg.ServerPID)
	if err != nil {
		fmt.Fprintf(stderr, "ionbus bench: %v\n", err)
		return ExitUsage
	}
	showProgress := cfg.progress == "on" || cfg.progress == "auto" && isTerminal(stdout)
	prog := func(line func() string) *progress { return startProgress(stdout, showProgress, line) }

	var rep *Report
	switch cfg.Mode {
	case modeIdle:
		rep = runIdle(ctx, r, probe, prog)
	case modeFanout:
		rep = runFanout(ctx, r, probe, prog)
	case modeEcho:
		rep = runEcho(ctx, r, probe, prog)
	case modeChurn:
		rep = runChurn(ctx, r, probe, prog)
	}
	rep.Client.CPUPercent = r.selfCPU
	rep.FinishedAt = time.Now().UTC()
	rep.ElapsedS = rep.FinishedAt.Sub(rep.StartedAt).Seconds()
	rep.finish(cfg.expect)
	return emit(rep, cfg, stdout, stderr)
}

// emit writes the summary and the JSON report and picks the exit status.
func emit(rep *Report, cfg *config, stdout, stderr io.Writer) int {
	summaryTo := stdout
	if cfg.jsonPath == "-" {
		summaryTo = stderr
	}
	writeSummary(summaryTo, rep)
	if cfg.jsonPath != "" {
		if err := writeReportFile(cfg.jsonPath, rep, stdout); err != nil {
			fmt.Fprintf(stderr, "ionbus bench: --json: %v\n", err)
			return ExitRunError
		}
	}
	if rep.Sockets.Connected == 0 && rep.Mode != modeMerge {
		fmt.Fprintln(stderr, "ionbus bench: no socket connected")
		return ExitRunError
	}
	if rep.Fanout != nil && rep.Fanout.Receivers == 0 {
		fmt.Fprintln(stderr, "ionbus bench: no receiver joined (see failures)")
		return ExitRunError
	}
	if !rep.Passed {
		return ExitExpect
	}
	return ExitOK
}

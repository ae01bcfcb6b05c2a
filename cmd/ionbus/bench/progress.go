package bench

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether w is a terminal (a progress line on a pipe or
// file would only clutter logs).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progress redraws one status line every second until stopped.
type progress struct {
	w    io.Writer
	line func() string
	stop chan struct{}
	done sync.WaitGroup
}

func startProgress(w io.Writer, enabled bool, line func() string) *progress {
	p := &progress{w: w, line: line, stop: make(chan struct{})}
	if !enabled {
		return p
	}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(p.w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprintf(p.w, "\r\033[K%s", p.line())
			}
		}
	}()
	return p
}

// close stops the redraw loop and clears the line. Idempotent is not needed:
// every caller closes exactly once.
func (p *progress) close() {
	close(p.stop)
	p.done.Wait()
}

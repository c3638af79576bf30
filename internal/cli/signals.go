package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// cleanupGrace bounds the work done after an interrupt or a failure to
// settle what is in flight: looking up a create whose reply was lost,
// deleting a connection that failed verification.
const cleanupGrace = 15 * time.Second

// abandonGrace is how long a second interrupt waits for the command to
// return before the process exits without it.
const abandonGrace = 2 * time.Second

// Session is what a command needs beyond its context to end well: Cleanup
// outlives the command's context, which an interrupt ends, so that remote
// work in flight can still be finished or undone; a second interrupt ends
// Cleanup too.
type Session struct {
	Cleanup context.Context
}

// cleanupContext bounds one clean-up step by cleanupGrace.
func (s *Session) cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.Cleanup, cleanupGrace)
}

// MainWithSignals runs flowpg like Main, with SIGINT and SIGTERM handled
// alike. The first stops new work: the command's context ends, and what is
// in flight at Adobe is finished or undone within a grace period, the
// command saying what was done. A second abandons that clean-up, and ends
// the process if the command has not returned within abandonGrace. The exit
// code is then 130 for SIGINT and 143 for SIGTERM, as a shell reports a
// process the signal ended.
func MainWithSignals(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	cleanup, abandon := context.WithCancel(context.Background())
	defer abandon()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	var first atomic.Value // os.Signal
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case s := <-sigs:
			first.Store(s)
			fmt.Fprintf(stderr, "\nflowpg: %s: stopping; what is in flight is finished or undone first (%s again abandons that)\n", signalName(s), signalName(s))
			stop()
		case <-done:
			return
		}
		var again os.Signal
		select {
		case again = <-sigs:
			fmt.Fprintf(stderr, "flowpg: %s again: abandoning the clean-up\n", signalName(again))
			abandon()
		case <-done:
			return
		}
		// Whatever still holds the command (a read that watches no
		// context) does not outlast the user's second word.
		select {
		case <-done:
		case <-time.After(abandonGrace):
			fmt.Fprintf(stderr, "flowpg: not stopped %s after %s again: exiting now\n", abandonGrace, signalName(again))
			os.Exit(128 + signalNumber(first.Load().(os.Signal)))
		}
	}()
	code := run(ctx, args, &IO{Stdin: stdin, Stdout: stdout, Stderr: stderr}, &Session{Cleanup: cleanup})
	if s, ok := first.Load().(os.Signal); ok {
		return 128 + signalNumber(s)
	}
	return code
}

func signalName(s os.Signal) string {
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

func signalNumber(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return int(n)
	}
	return int(syscall.SIGINT)
}

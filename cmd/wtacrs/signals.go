package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/wtacrs/wtacrs/internal/outdir"
)

// interrupted is the cause of a context cancelled by a signal.
type interrupted struct{ sig os.Signal }

func (e interrupted) Error() string { return "interrupted by " + signalName(e.sig) }

func (e interrupted) number() int {
	if s, ok := e.sig.(syscall.Signal); ok {
		return int(s)
	}
	return int(syscall.SIGINT)
}

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT (Ctrl-C)"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	}
	return s.String()
}

// exitNow ends the process at once; tests replace it.
var exitNow = os.Exit

// signalContext returns a context cancelled, with an [interrupted] cause, by the first SIGINT,
// SIGTERM or SIGHUP: the command then stops at its next safe point (between training steps,
// and before its results replace earlier ones), removes its temporary files and leaves earlier
// outputs as they were. A second such signal, or a SIGQUIT, removes the staging directories and
// locks of the process ([outdir.Abort]) and exits at once with status 128 + the signal's
// number. stop releases the signals.
func signalContext(stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	quit := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	signal.Notify(quit, syscall.SIGQUIT)
	done := make(chan struct{})
	now := func(s os.Signal, why string) {
		fmt.Fprintf(stderr, "wtacrs: %s%s: quitting now\n", signalName(s), why)
		outdir.Abort()
		exitNow(exitSignal + interrupted{s}.number())
	}
	go func() {
		select {
		case s := <-ch:
			fmt.Fprintf(stderr, "\nwtacrs: %s: stopping at the next safe point; send it again to quit at once\n", signalName(s))
			cancel(interrupted{s})
		case s := <-quit:
			now(s, "")
		case <-done:
			return
		}
		select {
		case s := <-ch:
			now(s, " again")
		case s := <-quit:
			now(s, "")
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		signal.Stop(quit)
		close(done)
		cancel(nil)
	}
}

// interruptedErr returns err, or, when ctx was cancelled by a signal, an error that carries
// the signal (for the exit status) and says what was kept.
func interruptedErr(ctx context.Context, err error, kept string) error {
	if err == nil {
		return nil
	}
	var sig interrupted
	if cause := context.Cause(ctx); cause != nil && errors.As(cause, &sig) {
		if kept != "" {
			return fmt.Errorf("%w; %s: %w", sig, kept, err)
		}
		return fmt.Errorf("%w: %w", sig, err)
	}
	return err
}

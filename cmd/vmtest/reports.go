package main

import (
	"context"
	"io"
	"os"

	"github.com/vmtest/vmtest/host/formats"
	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/progress"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// reporter is what every result directory gets besides result.json: the
// CI formats (junit.xml, kcidb.json, the nested results.ktap, report.html,
// summary.md), with the kernel's build manifest when vmtest built it.
func (f *runFlags) reporter(build *kbuild.Manifest) formats.Reporter {
	return formats.Reporter{Options: formats.Options{Origin: f.kcidbOrigin, Build: build}}
}

// checkReports refuses a bad --kcidb-origin before anything runs, not
// after the boot when the report is written.
func (f *runFlags) checkReports() error {
	if err := f.reporter(nil).Options.Check(); err != nil {
		return inputerr.New("kcidb origin", f.kcidbOrigin, err)
	}
	return nil
}

// liveProgress puts a live progress line on stderr when it is a terminal
// (plain lines otherwise); stop ends it before the command prints its
// table.
func liveProgress(ctx context.Context, stderr io.Writer) (w io.Writer, stop func()) {
	f, ok := stderr.(*os.File)
	if !ok || !progress.IsTerminal(f.Fd()) {
		return stderr, func() {}
	}
	pw := progress.New(f)
	ctx, cancel := context.WithCancel(ctx)
	go pw.Run(ctx)
	return pw, func() { cancel(); pw.Close() }
}

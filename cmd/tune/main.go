// Command tune is the autotuning service, its runner and its command-line
// client in one binary.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand().ExecuteContext(ctx)
	stop()
	if err != nil {
		// One clear line, no stack trace: cobra's own usage errors and ours
		// alike.
		fmt.Fprintln(os.Stderr, "tune:", err)
		var ec exitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}

// exitCoder lets an error choose the process's exit status.
type exitCoder interface{ ExitCode() int }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "tune",
		Short: "Autotuning for machine-learning training",
		Long: `tune proposes training configurations with Goptuna's TPE, leases them to
runners that train and report learning curves, and keeps every study in an
embedded database (~/.tune) or in Postgres.

New here? 'tune demo' tunes an MNIST model on this machine in about two
minutes.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every command resolves its settings here, before it runs: flag,
		// else TUNE_* variable, else default (config.go).
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd)
		},
	}
	root.AddCommand(newServeCommand(), newMigrateCommand(), newRunnerCommand(), newDemoCommand(), newWorkloadsCommand())
	addClientCommands(root)
	return root
}

package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tune-dev/tune/sql/postgres"
)

func newMigrateCommand() *cobra.Command {
	var databaseURL string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if databaseURL == "" {
				return errors.New("no database: pass --database-url or set TUNE_DATABASE_URL")
			}
			store, err := postgres.Open(cmd.Context(), databaseURL)
			if err != nil {
				return fmt.Errorf("opening the database: %w", err)
			}
			defer store.Close()
			if err := store.Migrate(cmd.Context()); err != nil {
				return fmt.Errorf("migrating the database: %w", err)
			}
			cur, latest, err := store.SchemaVersion(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "schema at version %d of %d\n", cur, latest)
			return nil
		},
	}
	cmd.Flags().StringVar(&databaseURL, "database-url", os.Getenv("TUNE_DATABASE_URL"), "Postgres URL (env TUNE_DATABASE_URL)")
	return cmd
}

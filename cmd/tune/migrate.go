package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newMigrateCommand() *cobra.Command {
	var databaseURL, dataDir string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations and exit",
		Long: `Apply pending schema migrations to the Postgres database at --database-url
or, without one, to the embedded database file in --data-dir, and exit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, where, err := openStore(cmd.Context(), databaseURL, dataDir, true)
			if err != nil {
				return err
			}
			defer store.Close()
			v, ok := store.(versioned)
			if !ok {
				return fmt.Errorf("%s: the store has no schema version", where)
			}
			cur, latest, err := v.SchemaVersion(cmd.Context())
			if err != nil {
				return fmt.Errorf("%s: reading the schema version: %w", where, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: schema at version %d of %d\n", where, cur, latest)
			return nil
		},
	}
	bind(cmd.Flags(), "database-url", &databaseURL)
	bind(cmd.Flags(), "data-dir", &dataDir)
	return cmd
}

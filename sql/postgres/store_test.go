package postgres_test

import (
	"context"
	"testing"

	"github.com/tune-dev/tune/sql/postgres"
	"github.com/tune-dev/tune/sql/postgres/pgtest"
	"github.com/tune-dev/tune/sql/storetest"
)

// TestConformance runs the Store conformance suite, which every store
// passes alike, on fresh PostgreSQL databases.
func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) storetest.Store { return pgtest.New(t) },
		func(t *testing.T) (storetest.Store, storetest.Store) { return twoStores(t) })
}

// twoStores returns two stores, as two service replicas would have, on one
// fresh database.
func twoStores(t *testing.T) (*postgres.Store, *postgres.Store) {
	t.Helper()
	url := pgtest.URL(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	return open(), open()
}

func TestSchemaVersion(t *testing.T) {
	s := pgtest.New(t)
	current, latest, err := s.SchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if current != latest || latest < 1 {
		t.Errorf("SchemaVersion = %d, %d; want the latest (>= 1) twice", current, latest)
	}
	// Migrating a current database is a no-op.
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

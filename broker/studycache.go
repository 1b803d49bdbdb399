package broker

import (
	"context"
	"strconv"
	"sync"

	"github.com/tune-dev/tune/trials"
)

// studyCache keeps studies' configuration by id. A study's objective,
// search space, sampler and pruner never change and ids are never reused,
// so entries cannot go stale; only State changes, and nothing read from the
// cache relies on it (the store checks state itself). Names are always
// resolved through the store: another replica may delete a study and create
// a new one under the same name.
type studyCache struct {
	store trials.Store
	m     sync.Map // int64 -> *trials.Study
}

func (c *studyCache) get(ctx context.Context, id int64) (*trials.Study, error) {
	if s, ok := c.m.Load(id); ok {
		return s.(*trials.Study), nil
	}
	s, err := c.store.GetStudy(ctx, id)
	if err != nil {
		return nil, err
	}
	c.m.Store(id, s)
	return s, nil
}

func (c *studyCache) forget(id int64) { c.m.Delete(id) }

// resolve finds a study by numeric id or by name, always asking the store so
// that the returned state is current.
func (c *studyCache) resolve(ctx context.Context, ref string) (*trials.Study, error) {
	var (
		s   *trials.Study
		err error
	)
	if id, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
		s, err = c.store.GetStudy(ctx, id)
	} else {
		s, err = c.store.GetStudyByName(ctx, ref)
	}
	if err != nil {
		return nil, err
	}
	c.m.Store(s.ID, s)
	return s, nil
}

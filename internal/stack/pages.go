package stack

import (
	"context"

	"github.com/google/uuid"

	"github.com/confhub/confhub/api"
	"github.com/confhub/confhub/events/scheduler"
	"github.com/confhub/confhub/internal/apperr"
)

// pages serves the hosted booking pages' lookups from the scheduler.
type pages struct{ s *scheduler.Service }

func pageOf(c scheduler.Configuration, err error) (api.SchedulerPage, error) {
	if err != nil {
		return api.SchedulerPage{}, err
	}
	p := api.SchedulerPage{ApplicationID: c.ApplicationID, ConfigurationID: c.ID, RequiresSession: c.RequiresSessionAuth}
	if c.Slug != nil {
		p.Slug = *c.Slug
	}
	return p, nil
}

func (p pages) PageBySlug(ctx context.Context, slug, clientID string) (api.SchedulerPage, error) {
	return pageOf(p.s.PageConfiguration(ctx, slug, clientID))
}

func (p pages) PageByConfiguration(ctx context.Context, id string) (api.SchedulerPage, error) {
	cid, err := uuid.Parse(id)
	if err != nil {
		return api.SchedulerPage{}, apperr.NotFoundf("configuration not found")
	}
	return pageOf(p.s.ConfigurationByID(ctx, cid))
}

func (p pages) PageByBookingRef(ctx context.Context, ref string) (api.SchedulerPage, error) {
	return pageOf(p.s.RefConfiguration(ctx, ref))
}

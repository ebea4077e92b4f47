package workflows

import (
	"context"
	"errors"
	"fmt"
	"time"

	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Grant health: Zoom refresh tokens die after 90 days unused, and a user who
// removed the app should show as invalid before anyone needs the grant. A
// Temporal Schedule runs GrantHealth every hour; each run refreshes Zoom
// grants idle for a week, in bounded batches that walk an index, and turns
// those Zoom refuses invalid. One schedule serves any number of workers
// (every worker ensures it exists; creating it again changes nothing), runs
// never overlap (SKIP), and a refresh is serialised on the grant's row anyway.
const (
	grantHealthEvery      = time.Hour
	grantHealthIdleAfter  = 7 * 24 * time.Hour
	grantHealthBatchSize  = 100
	grantHealthMaxBatches = 20 // at most 2000 grants a run; the next run continues
)

// GrantHealthScheduleID is the schedule's id for a task queue (tests run
// several on one server).
func GrantHealthScheduleID(taskQueue string) string { return "grant-health-" + taskQueue }

// GrantHealth sweeps idle Zoom grants once, batch by batch, up to
// MaxBatches.
func GrantHealth(ctx workflow.Context, in GrantHealthInput) (GrantHealthResult, error) {
	var a *Activities
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A batch refreshes serially, each refresh bounded at 20 s.
		StartToCloseTimeout: 10 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, MaximumAttempts: 3},
	})
	out := GrantHealthResult{V: ContractVersion}
	req := RefreshIdleInput{IdleAfter: in.IdleAfter, Limit: in.BatchSize}
	for out.Batches < in.MaxBatches {
		var res RefreshIdleResult
		if err := workflow.ExecuteActivity(ctx, a.RefreshIdleGrants, req).Get(ctx, &res); err != nil {
			return out, err
		}
		out.Batches++
		out.Refreshed += res.Batch.Refreshed
		out.Invalidated += res.Batch.Invalidated
		out.Failed += res.Batch.Failed
		if res.Batch.Next == nil {
			return out, nil
		}
		req.Cutoff, req.After = res.Cutoff, res.Batch.Next
	}
	out.More = true
	return out, nil
}

// defaultGrantHealth is what each scheduled run is asked to do.
func defaultGrantHealth() GrantHealthInput {
	return GrantHealthInput{V: ContractVersion, IdleAfter: grantHealthIdleAfter, BatchSize: grantHealthBatchSize, MaxBatches: grantHealthMaxBatches}
}

// EnsureGrantHealthSchedule creates the grant-health schedule for the task
// queue, or brings an existing one up to this code's spec, action and
// policies (a pause set by an operator stays). Every worker calls it at
// start; concurrent calls settle on the same content.
func EnsureGrantHealthSchedule(ctx context.Context, c client.Client, taskQueue string) (client.ScheduleHandle, error) {
	id := GrantHealthScheduleID(taskQueue)
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: grantHealthEvery}}}
	action := &client.ScheduleWorkflowAction{ID: id, Workflow: GrantHealth, Args: []any{defaultGrantHealth()},
		TaskQueue: taskQueue, WorkflowExecutionTimeout: grantHealthEvery}
	h, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: id, Spec: spec, Action: action,
		Overlap: enums.SCHEDULE_OVERLAP_POLICY_SKIP,
		// After an outage, one catch-up run is enough (not a year of them).
		CatchupWindow: grantHealthEvery,
		Note:          "Refreshes Zoom grants idle for a week and marks those Zoom refuses invalid (confhub).",
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		// Temporal refuses a second schedule with the id without comparing
		// it: update what this code defines.
		h = c.ScheduleClient().GetHandle(ctx, id)
		err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec, s.Action = &spec, action
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap, s.Policy.CatchupWindow = enums.SCHEDULE_OVERLAP_POLICY_SKIP, grantHealthEvery
			return &client.ScheduleUpdate{Schedule: &s}, nil
		}})
	}
	if err != nil {
		return nil, fmt.Errorf("ensuring the grant-health schedule: %w", err)
	}
	return h, nil
}

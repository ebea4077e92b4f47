package workflows

import (
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// NewWorker registers confhub's workflows and activities on the task queue.
func NewWorker(c client.Client, taskQueue string, a *Activities) worker.Worker {
	// Enough pollers to cover every partition of the task queue (Temporal's
	// default is 4; the SDK's default of 2 workflow pollers alternates
	// between the sticky and the normal queue, leaving one for 4 partitions):
	// otherwise a workflow task that lands in a partition nobody polls (a
	// retry after a worker died, a workflow started without eager dispatch)
	// waits for a long poll to come round, up to a minute.
	w := worker.New(c, taskQueue, worker.Options{MaxConcurrentWorkflowTaskPollers: 8, MaxConcurrentActivityTaskPollers: 4})
	RegisterWorkflows(w)
	w.RegisterActivity(a)
	return w
}

// RegisterWorkflows registers every workflow on a worker, or on the
// replayer of the replay test.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(CreateEvent)
	r.RegisterWorkflow(UpdateEvent)
	r.RegisterWorkflow(DeleteMeeting)
	r.RegisterWorkflow(GrantHealth)
	r.RegisterWorkflow(Sweeper)
	r.RegisterWorkflow(RepairMeeting)
	r.RegisterWorkflow(WebhookDeliveries)
	r.RegisterWorkflow(FollowMeeting)
}

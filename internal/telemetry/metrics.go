package telemetry

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds confhub's metrics, served on /metrics.
var Registry = prometheus.NewRegistry()

var (
	// HTTPRequests is the API's latency by route template and status.
	HTTPRequests = register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "confhub_http_request_duration_seconds", Help: "API request latency by method, route template and status.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"method", "route", "status"}))
	// ZoomCalls counts calls to Zoom by endpoint and outcome (the HTTP
	// status, or "transport" when no answer came).
	ZoomCalls = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "confhub_zoom_calls_total", Help: "Zoom API and OAuth calls by endpoint and outcome.",
	}, []string{"endpoint", "outcome"}))
	// ZoomCallDuration is Zoom's latency as we see it.
	ZoomCallDuration = register(prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "confhub_zoom_call_duration_seconds", Help: "Zoom call latency by endpoint.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"endpoint"}))
	// TokenRefreshes counts Zoom token refreshes by result: ok, invalid
	// (the grant needs the user again) or error (transient).
	TokenRefreshes = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "confhub_zoom_token_refreshes_total", Help: "Zoom access-token refreshes by result.",
	}, []string{"result"}))
	// WorkflowOutcomes counts finished event operations by workflow and outcome.
	WorkflowOutcomes = register(prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "confhub_workflow_outcomes_total", Help: "Event workflows by type and outcome (ok, or the error type the API answered).",
	}, []string{"workflow", "outcome"}))
	// OrphanedMeetings counts meetings recorded as impossible to delete.
	OrphanedMeetings = register(prometheus.NewCounter(prometheus.CounterOpts{
		Name: "confhub_orphaned_meetings_total", Help: "Zoom meetings that could not be deleted and were recorded as orphans.",
	}))
)

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

func register[C prometheus.Collector](c C) C {
	Registry.MustRegister(c)
	return c
}

// MetricsHandler serves the registry in Prometheus' text format.
func MetricsHandler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}

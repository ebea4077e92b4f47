package api

import (
	"context"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/confhub/confhub/internal/webhooks"
)

// Webhooks is what the webhook routes need (webhooks.Store).
type Webhooks interface {
	Create(ctx context.Context, appID uuid.UUID, in webhooks.Input) (webhooks.Webhook, string, error)
	List(ctx context.Context, appID uuid.UUID) ([]webhooks.Webhook, error)
	Get(ctx context.Context, appID uuid.UUID, id string) (webhooks.Webhook, error)
	Update(ctx context.Context, appID uuid.UUID, id string, in webhooks.Input) (webhooks.Webhook, error)
	Delete(ctx context.Context, appID uuid.UUID, id string) error
	RotateSecret(ctx context.Context, appID uuid.UUID, id string) (webhooks.Webhook, string, error)
}

type webhookJSON struct {
	ID                         string   `json:"id"`
	Description                string   `json:"description"`
	TriggerTypes               []string `json:"trigger_types"`
	WebhookURL                 string   `json:"webhook_url"`
	WebhookSecret              string   `json:"webhook_secret,omitempty"`
	Status                     string   `json:"status"`
	NotificationEmailAddresses []string `json:"notification_email_addresses"`
	StatusUpdatedAt            int64    `json:"status_updated_at"`
	CreatedAt                  int64    `json:"created_at"`
	UpdatedAt                  int64    `json:"updated_at"`
}

// toWebhookJSON renders a destination; secret is set only by create and
// rotate, the two answers that show it.
func toWebhookJSON(w webhooks.Webhook, secret string) webhookJSON {
	return webhookJSON{ID: w.ID.String(), Description: w.Description, TriggerTypes: w.TriggerTypes, WebhookURL: w.WebhookURL,
		WebhookSecret: secret, Status: w.Status, NotificationEmailAddresses: w.NotificationEmailAddresses,
		StatusUpdatedAt: w.StatusUpdatedAt.Unix(), CreatedAt: w.CreatedAt.Unix(), UpdatedAt: w.UpdatedAt.Unix()}
}

func (s *Server) createWebhook(c echo.Context) error {
	var in webhooks.Input
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	w, secret, err := s.deps.Webhooks.Create(c.Request().Context(), applicationID(c), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toWebhookJSON(w, secret))
}

func (s *Server) listWebhooks(c echo.Context) error {
	ws, err := s.deps.Webhooks.List(c.Request().Context(), applicationID(c))
	if err != nil {
		return err
	}
	out := make([]webhookJSON, len(ws))
	for i, w := range ws {
		out[i] = toWebhookJSON(w, "")
	}
	return ok(c, http.StatusOK, out)
}

func (s *Server) getWebhook(c echo.Context) error {
	w, err := s.deps.Webhooks.Get(c.Request().Context(), applicationID(c), c.Param("id"))
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toWebhookJSON(w, ""))
}

func (s *Server) updateWebhook(c echo.Context) error {
	var in webhooks.Input
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	w, err := s.deps.Webhooks.Update(c.Request().Context(), applicationID(c), c.Param("id"), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toWebhookJSON(w, ""))
}

func (s *Server) deleteWebhook(c echo.Context) error {
	if err := s.deps.Webhooks.Delete(c.Request().Context(), applicationID(c), c.Param("id")); err != nil {
		return err
	}
	return ok(c, http.StatusOK, map[string]string{"status": "success"})
}

// rotateWebhookSecret serves both forms the SDKs use: POST
// /v3/webhooks/rotate-secret/{id} (Node) and PUT /v3/webhooks/{id}/rotate-secret (Python).
func (s *Server) rotateWebhookSecret(c echo.Context) error {
	w, secret, err := s.deps.Webhooks.RotateSecret(c.Request().Context(), applicationID(c), c.Param("id"))
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toWebhookJSON(w, secret))
}

func webhookRoutes(s *Server) []Route {
	return []Route{
		{Method: http.MethodPost, Path: "/v3/webhooks", Handler: s.createWebhook},
		{Method: http.MethodGet, Path: "/v3/webhooks", Handler: s.listWebhooks},
		{Method: http.MethodGet, Path: "/v3/webhooks/:id", Handler: s.getWebhook},
		{Method: http.MethodPut, Path: "/v3/webhooks/:id", Handler: s.updateWebhook},
		{Method: http.MethodDelete, Path: "/v3/webhooks/:id", Handler: s.deleteWebhook},
		{Method: http.MethodPost, Path: "/v3/webhooks/rotate-secret/:id", Handler: s.rotateWebhookSecret},
		{Method: http.MethodPut, Path: "/v3/webhooks/:id/rotate-secret", Handler: s.rotateWebhookSecret},
	}
}

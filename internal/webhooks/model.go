// Package webhooks tells applications what changed: their webhook
// destinations (created, listed, updated, paused, deleted over the API, each
// with a sealed secret), the notifications recorded for them in the same
// transaction as the change they describe, and the delivery of those
// notifications, signed, at least once. The Temporal layer drives delivery
// (workflows.WebhookDeliveries); this package does the storage and the HTTP.
//
// It owns the tables webhooks and webhook_deliveries.
package webhooks

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/confhub/confhub/internal/vault"
)

// Statuses of a destination, as Nylas names them.
const (
	StatusActive  = "active"
	StatusPause   = "pause"
	StatusFailing = "failing"
	StatusFailed  = "failed"
)

// The triggers confhub sends. Nylas' others (message.*, calendar.*, ...)
// describe things confhub does not have, so asking for them is refused.
const (
	GrantCreated          = "grant.created"
	GrantUpdated          = "grant.updated"
	GrantDeleted          = "grant.deleted"
	GrantExpired          = "grant.expired"
	EventCreated          = "event.created"
	EventUpdated          = "event.updated"
	EventDeleted          = "event.deleted"
	BookingCreated        = "booking.created"
	BookingPending        = "booking.pending"
	BookingRescheduled    = "booking.rescheduled"
	BookingCancelled      = "booking.cancelled"
	ConferencingOrphaned  = "conferencing.orphaned"
	maxTriggerTypes       = 32
	maxDescriptionLength  = 1024
	maxNotificationEmails = 10
)

// Triggers lists every trigger type a destination may ask for.
var Triggers = []string{GrantCreated, GrantUpdated, GrantDeleted, GrantExpired, EventCreated, EventUpdated, EventDeleted,
	BookingCreated, BookingPending, BookingRescheduled, BookingCancelled, ConferencingOrphaned}

// Webhook is a destination. Its secret is never part of it: it is shown
// once, by Create and RotateSecret.
type Webhook struct {
	ID                         uuid.UUID
	ApplicationID              uuid.UUID
	Description                string
	TriggerTypes               []string
	WebhookURL                 string
	NotificationEmailAddresses []string
	Status                     string
	StatusUpdatedAt            time.Time
	CreatedAt                  time.Time
	UpdatedAt                  time.Time
}

// Input is the body of POST and PUT /v3/webhooks (PUT is partial; status
// only there).
type Input struct {
	TriggerTypes               *[]string `json:"trigger_types"`
	WebhookURL                 *string   `json:"webhook_url"`
	Description                *string   `json:"description"`
	NotificationEmailAddresses *[]string `json:"notification_email_addresses"`
	Status                     *string   `json:"status"`
}

// Notification is one change to tell an application's destinations of.
// Object is what the notification's data.object carries.
type Notification struct {
	ApplicationID uuid.UUID
	Type          string
	Object        any
}

// Envelope is a delivery's body, as Nylas sends it.
type Envelope struct {
	SpecVersion            string `json:"specversion"`
	Type                   string `json:"type"`
	Source                 string `json:"source"`
	ID                     string `json:"id"`
	Time                   int64  `json:"time"`
	WebhookDeliveryAttempt int    `json:"webhook_delivery_attempt"`
	Data                   struct {
		ApplicationID string          `json:"application_id"`
		Object        json.RawMessage `json:"object"`
	} `json:"data"`
}

// EncryptedColumns are this package's sealed columns, for key rotation.
var EncryptedColumns = []vault.Column{{Table: "webhooks", Column: "secret_enc"}}

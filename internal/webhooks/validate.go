package webhooks

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/applications"
	"github.com/confhub/confhub/internal/strictjson"
)

// validated is an Input checked and with defaults filled in.
type validated struct {
	triggers    []string
	url         string
	description string
	emails      []string
	status      string
}

// validate checks a create (every required field) or an update (the fields
// present, over the stored destination cur).
func validate(in Input, cur *Webhook) (validated, error) {
	var v validated
	if cur != nil {
		v = validated{triggers: cur.TriggerTypes, url: cur.WebhookURL, description: cur.Description,
			emails: cur.NotificationEmailAddresses, status: cur.Status}
	} else {
		v.status = StatusActive
		v.emails = []string{}
		if in.TriggerTypes == nil {
			return v, apperr.InvalidField("trigger_types", "is required")
		}
		if in.WebhookURL == nil {
			return v, apperr.InvalidField("webhook_url", "is required")
		}
		if in.Status != nil {
			return v, apperr.InvalidField("status", "cannot be set on create: a destination starts active")
		}
	}
	if in.TriggerTypes != nil {
		t, err := validTriggers(*in.TriggerTypes)
		if err != nil {
			return v, err
		}
		v.triggers = t
	}
	if in.WebhookURL != nil {
		if err := applications.ValidateRedirectURL("webhook_url", *in.WebhookURL); err != nil {
			return v, err
		}
		v.url = *in.WebhookURL
	}
	if in.Description != nil {
		d := *in.Description
		if utf8.RuneCountInString(d) > maxDescriptionLength || strings.IndexFunc(d, func(r rune) bool {
			return unicode.IsControl(r) && r != '\n' && r != '\t'
		}) >= 0 {
			return v, apperr.InvalidField("description", "must be at most %d characters, without control characters", maxDescriptionLength)
		}
		v.description = d
	}
	if in.NotificationEmailAddresses != nil {
		es := *in.NotificationEmailAddresses
		if len(es) > maxNotificationEmails {
			return v, apperr.InvalidField("notification_email_addresses", "must list at most %d addresses", maxNotificationEmails)
		}
		for i, e := range es {
			if !strictjson.IsEmail(e) {
				return v, apperr.InvalidField("notification_email_addresses", "entry %d is not an email address", i)
			}
		}
		v.emails = slices.Clone(es)
	}
	if in.Status != nil {
		switch *in.Status {
		case StatusActive, StatusPause:
			v.status = *in.Status
		default:
			return v, apperr.InvalidField("status", "must be \"active\" or \"pause\" (failing and failed are set by delivery)")
		}
	}
	return v, nil
}

func validTriggers(ts []string) ([]string, error) {
	if len(ts) == 0 {
		return nil, apperr.InvalidField("trigger_types", "must name at least one trigger")
	}
	if len(ts) > maxTriggerTypes {
		return nil, apperr.InvalidField("trigger_types", "must name at most %d triggers", maxTriggerTypes)
	}
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		if !slices.Contains(Triggers, t) {
			return nil, apperr.InvalidField("trigger_types", "%q is not a trigger this service sends (it sends: %s)",
				truncate(t, 64), strings.Join(Triggers, ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

package events

// The event as the API shows it: in answers, and as the object of the
// event.created and event.updated notifications, which must show the same.

// ConferencingJSON is an event's conferencing as shown.
type ConferencingJSON struct {
	Provider string   `json:"provider"`
	Details  *Details `json:"details,omitempty"`
}

// EventJSON is an event as shown.
type EventJSON struct {
	ID           string            `json:"id"`
	GrantID      string            `json:"grant_id"`
	CalendarID   string            `json:"calendar_id"`
	Object       string            `json:"object"`
	Title        string            `json:"title"`
	Description  string            `json:"description"`
	Location     string            `json:"location"`
	Busy         bool              `json:"busy"`
	Status       string            `json:"status"`
	Visibility   string            `json:"visibility"`
	Participants []Participant     `json:"participants"`
	When         When              `json:"when"`
	Conferencing *ConferencingJSON `json:"conferencing,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	CreatedAt    int64             `json:"created_at"`
	UpdatedAt    int64             `json:"updated_at"`
}

// Wire is e as shown.
func Wire(e Event) EventJSON {
	out := EventJSON{ID: e.ID.String(), GrantID: e.GrantID.String(), CalendarID: e.CalendarID.String(), Object: "event",
		Title: e.Title, Description: RenderDescription(e.Description, e.Conferencing), Location: e.Location,
		Busy: e.Busy, Status: e.Status, Visibility: e.Visibility, Participants: e.Participants, When: e.When,
		Metadata: e.Metadata, CreatedAt: e.CreatedAt.Unix(), UpdatedAt: e.UpdatedAt.Unix()}
	if out.Participants == nil {
		out.Participants = []Participant{}
	}
	if c := e.Conferencing; c != nil {
		out.Conferencing = &ConferencingJSON{Provider: c.Provider, Details: c.Details}
	}
	return out
}

// DeletedJSON is the object of event.deleted.
type DeletedJSON struct {
	ID         string `json:"id"`
	GrantID    string `json:"grant_id"`
	CalendarID string `json:"calendar_id"`
	Object     string `json:"object"`
}

package zoom

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// User is GET /users/me (the fields we use).
type User struct {
	ID          string `json:"id"`
	AccountID   string `json:"account_id"`
	Email       string `json:"email"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
	DisplayName string `json:"display_name"`
	Type        int    `json:"type"` // 1 = Basic (free), 2 = Licensed
	Timezone    string `json:"timezone"`
	PMI         int64  `json:"pmi"`
}

// Meeting types.
const (
	MeetingInstant                = 1
	MeetingScheduled              = 2
	MeetingRecurringNoFixedTime   = 3
	MeetingRecurringWithFixedTime = 8
)

// MeetingSettings are the settings we type; others pass through Extra.
type MeetingSettings struct {
	JoinBeforeHost        *bool    `json:"join_before_host,omitempty"`
	WaitingRoom           *bool    `json:"waiting_room,omitempty"`
	MuteUponEntry         *bool    `json:"mute_upon_entry,omitempty"`
	AutoRecording         string   `json:"auto_recording,omitempty"` // local, cloud, none
	HostVideo             *bool    `json:"host_video,omitempty"`
	ParticipantVideo      *bool    `json:"participant_video,omitempty"`
	ApprovalType          *int     `json:"approval_type,omitempty"`
	Audio                 string   `json:"audio,omitempty"`
	AlternativeHosts      string   `json:"alternative_hosts,omitempty"`
	MeetingAuthentication *bool    `json:"meeting_authentication,omitempty"`
	GlobalDialInCountries []string `json:"global_dial_in_countries,omitempty"`
	GlobalDialInNumbers   []DialIn `json:"global_dial_in_numbers,omitempty"`
}

// DialIn is one phone number of a meeting.
type DialIn struct {
	Country     string `json:"country"`
	CountryName string `json:"country_name"`
	City        string `json:"city,omitempty"`
	Number      string `json:"number"`
	Type        string `json:"type"`
}

// MeetingRequest is the body of create (POST) and update (PATCH). Zero
// values are omitted, so an update sends only what is set. Extra carries
// further top-level fields (tracking_fields, recurrence, ...) through as is;
// a typed field wins over an Extra key of the same name.
type MeetingRequest struct {
	Topic     string                     `json:"topic,omitempty"`
	Type      int                        `json:"type,omitempty"`
	StartTime string                     `json:"start_time,omitempty"` // 2006-01-02T15:04:05Z, or local time with Timezone
	Duration  int                        `json:"duration,omitempty"`   // minutes
	Timezone  string                     `json:"timezone,omitempty"`
	Agenda    string                     `json:"agenda,omitempty"`
	Password  string                     `json:"password,omitempty"`
	Settings  *MeetingSettings           `json:"settings,omitempty"`
	Extra     map[string]json.RawMessage `json:"-"`
}

// MarshalJSON merges Extra under the typed fields.
func (m MeetingRequest) MarshalJSON() ([]byte, error) {
	type plain MeetingRequest
	typed, err := json.Marshal(plain(m))
	if err != nil || len(m.Extra) == 0 {
		return typed, err
	}
	merged := map[string]json.RawMessage{}
	for k, v := range m.Extra {
		merged[k] = v
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(typed, &fields); err != nil {
		return nil, err
	}
	for k, v := range fields {
		merged[k] = v
	}
	return json.Marshal(merged)
}

// Meeting is a meeting as Zoom returns it. ID is an int64: some meeting ids
// do not survive a float64.
type Meeting struct {
	ID                int64           `json:"id"`
	UUID              string          `json:"uuid"`
	HostID            string          `json:"host_id"`
	HostEmail         string          `json:"host_email"`
	Topic             string          `json:"topic"`
	Type              int             `json:"type"`
	Status            string          `json:"status"`
	StartTime         string          `json:"start_time"`
	Duration          int             `json:"duration"`
	Timezone          string          `json:"timezone"`
	Agenda            string          `json:"agenda"`
	CreatedAt         string          `json:"created_at"`
	JoinURL           string          `json:"join_url"`
	StartURL          string          `json:"start_url"` // expires after about 2 hours: GET for a fresh one
	Password          string          `json:"password"`
	EncryptedPassword string          `json:"encrypted_password"`
	H323Password      string          `json:"h323_password"`
	PSTNPassword      string          `json:"pstn_password"`
	Settings          MeetingSettings `json:"settings"`
}

// MeetingList is one page of GET /users/{id}/meetings.
type MeetingList struct {
	PageSize      int       `json:"page_size"`
	TotalRecords  int       `json:"total_records"`
	NextPageToken string    `json:"next_page_token"`
	Meetings      []Meeting `json:"meetings"`
}

// ListOptions filter GET /users/{id}/meetings.
type ListOptions struct {
	Type          string // scheduled (default), upcoming, live, ...
	PageSize      int    // Zoom's default 30, max 300
	NextPageToken string
}

// DeleteOptions are DELETE /meetings/{id}'s reminder flags.
type DeleteOptions struct {
	ScheduleForReminder   bool // email the host (and alternative hosts)
	CancelMeetingReminder bool // email the registrants
}

// Me returns the token's user.
func (c *Client) Me(ctx context.Context, token string) (User, error) {
	var u User
	err := c.api(ctx, "users_me", http.MethodGet, "/users/me", token, nil, &u)
	return u, err
}

// User reads a user of the token's account by id or email (an account
// token, or an admin's): 404 code 1001 when the account has no such user.
func (c *Client) User(ctx context.Context, token, idOrEmail string) (User, error) {
	var u User
	err := c.api(ctx, "users_me", http.MethodGet, "/users/"+url.PathEscape(idOrEmail), token, nil, &u)
	return u, err
}

// CreateMeeting creates a meeting for userID ("me" with a user token). Zoom
// has no idempotency key: on an error whose MaybeCommitted is set, the
// meeting may exist, and a blind retry can make a second one.
func (c *Client) CreateMeeting(ctx context.Context, token, userID string, req MeetingRequest) (Meeting, error) {
	var m Meeting
	err := c.api(ctx, "create_meeting", http.MethodPost, "/users/"+url.PathEscape(userID)+"/meetings", token, req, &m)
	return m, err
}

// GetMeeting returns a meeting.
func (c *Client) GetMeeting(ctx context.Context, token string, id int64) (Meeting, error) {
	var m Meeting
	err := c.api(ctx, "get_meeting", http.MethodGet, "/meetings/"+strconv.FormatInt(id, 10), token, nil, &m)
	return m, err
}

// UpdateMeeting changes a meeting. Zoom answers 204 without a body: GET the
// meeting for its new state.
func (c *Client) UpdateMeeting(ctx context.Context, token string, id int64, req MeetingRequest) error {
	return c.api(ctx, "update_meeting", http.MethodPatch, "/meetings/"+strconv.FormatInt(id, 10), token, req, nil)
}

// DeleteMeeting deletes a meeting (204). A 3001 (not found) is returned as an
// error; IsNotFound tells it apart for compensations, where it means success.
func (c *Client) DeleteMeeting(ctx context.Context, token string, id int64, opts DeleteOptions) error {
	q := url.Values{}
	q.Set("schedule_for_reminder", strconv.FormatBool(opts.ScheduleForReminder))
	q.Set("cancel_meeting_reminder", strconv.FormatBool(opts.CancelMeetingReminder))
	return c.api(ctx, "delete_meeting", http.MethodDelete, "/meetings/"+strconv.FormatInt(id, 10)+"?"+q.Encode(), token, nil, nil)
}

// ListMeetings returns one page of a user's meetings.
func (c *Client) ListMeetings(ctx context.Context, token, userID string, opts ListOptions) (MeetingList, error) {
	q := url.Values{}
	if opts.Type != "" {
		q.Set("type", opts.Type)
	}
	if opts.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(opts.PageSize))
	}
	if opts.NextPageToken != "" {
		q.Set("next_page_token", opts.NextPageToken)
	}
	path := "/users/" + url.PathEscape(userID) + "/meetings"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var l MeetingList
	err := c.api(ctx, "list_meetings", http.MethodGet, path, token, nil, &l)
	return l, err
}

// String renders a meeting id as Zoom shows it (for meeting_code).
func (m Meeting) String() string { return fmt.Sprintf("%d", m.ID) }

package api

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/confhub/confhub/events/scheduler"
	"github.com/confhub/confhub/events/scheduler/slots"
	"github.com/confhub/confhub/internal/apperr"
	"github.com/confhub/confhub/internal/strictjson"
)

// Scheduler is what the Scheduler routes read and keep directly
// (scheduler.Service).
type Scheduler interface {
	CreateConfiguration(ctx context.Context, appID uuid.UUID, grantID string, in scheduler.ConfigurationInput) (scheduler.Configuration, error)
	ListConfigurations(ctx context.Context, appID uuid.UUID, grantID string, limit int, pageToken string) ([]scheduler.Configuration, string, error)
	GetConfiguration(ctx context.Context, appID uuid.UUID, grantID, id string) (scheduler.Configuration, error)
	UpdateConfiguration(ctx context.Context, appID uuid.UUID, grantID, id string, in scheduler.ConfigurationInput) (scheduler.Configuration, error)
	DeleteConfiguration(ctx context.Context, appID uuid.UUID, grantID, id string) error
	CreateSession(ctx context.Context, appID uuid.UUID, in scheduler.SessionInput) (scheduler.Session, error)
	DeleteSession(ctx context.Context, appID uuid.UUID, id string) error
	Open(ctx context.Context, cr scheduler.Credentials) (scheduler.Configuration, error)
	OpenBooking(ctx context.Context, cr scheduler.Credentials, bookingID string) (scheduler.Configuration, scheduler.Booking, error)
	Availability(ctx context.Context, c scheduler.Configuration, start, end int64, bookingID string) (slots.Result, error)
	Booking(ctx context.Context, c scheduler.Configuration, id string) (scheduler.Booking, error)
}

// Bookings make, move and remove bookings' events through the workflows
// (workflows.Scheduling).
type Bookings interface {
	Book(ctx context.Context, c scheduler.Configuration, in scheduler.BookingInput) (scheduler.Booking, error)
	Reschedule(ctx context.Context, c scheduler.Configuration, b scheduler.Booking, in scheduler.RescheduleInput) (scheduler.Booking, error)
	Cancel(ctx context.Context, c scheduler.Configuration, b scheduler.Booking, in scheduler.CancelInput) (scheduler.Booking, error)
	Decide(ctx context.Context, c scheduler.Configuration, b scheduler.Booking, in scheduler.ConfirmInput) (scheduler.Booking, error)
}

type configurationJSON struct {
	ID                  string  `json:"id"`
	Slug                *string `json:"slug"`
	RequiresSessionAuth bool    `json:"requires_session_auth"`
	scheduler.Body
}

func toConfigurationJSON(c scheduler.Configuration) configurationJSON {
	b := c.Body
	if b.Participants == nil {
		b.Participants = []scheduler.Participant{}
	}
	return configurationJSON{ID: c.ID.String(), Slug: c.Slug, RequiresSessionAuth: c.RequiresSessionAuth, Body: b}
}

func (s *Server) createConfiguration(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	var in scheduler.ConfigurationInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	cfg, err := s.deps.Scheduler.CreateConfiguration(c.Request().Context(), applicationID(c), id, in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toConfigurationJSON(cfg))
}

func (s *Server) listConfigurations(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	limit, err := cursorLimit(c)
	if err != nil {
		return err
	}
	list, next, err := s.deps.Scheduler.ListConfigurations(c.Request().Context(), applicationID(c), id, limit, c.QueryParam("page_token"))
	if err != nil {
		return err
	}
	out := make([]configurationJSON, 0, len(list))
	for _, x := range list {
		out = append(out, toConfigurationJSON(x))
	}
	var cursor *string
	if next != "" {
		cursor = &next
	}
	return c.JSON(http.StatusOK, cursorList{RequestID: requestIDOf(c), Data: out, NextCursor: cursor})
}

func (s *Server) getConfiguration(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	cfg, err := s.deps.Scheduler.GetConfiguration(c.Request().Context(), applicationID(c), id, c.Param("configuration_id"))
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toConfigurationJSON(cfg))
}

func (s *Server) updateConfiguration(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	var in scheduler.ConfigurationInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	cfg, err := s.deps.Scheduler.UpdateConfiguration(c.Request().Context(), applicationID(c), id, c.Param("configuration_id"), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toConfigurationJSON(cfg))
}

func (s *Server) deleteConfiguration(c echo.Context) error {
	id, err := grantParam(c)
	if err != nil {
		return err
	}
	if err := s.deps.Scheduler.DeleteConfiguration(c.Request().Context(), applicationID(c), id, c.Param("configuration_id")); err != nil {
		return err
	}
	return okDeleted(c)
}

type sessionJSON struct {
	SessionID string `json:"session_id"`
}

func (s *Server) createSession(c echo.Context) error {
	var in scheduler.SessionInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	ss, err := s.deps.Scheduler.CreateSession(c.Request().Context(), applicationID(c), in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, sessionJSON{SessionID: ss.ID})
}

func (s *Server) deleteSession(c echo.Context) error {
	if err := s.deps.Scheduler.DeleteSession(c.Request().Context(), applicationID(c), c.Param("session_id")); err != nil {
		return err
	}
	return okDeleted(c)
}

// schedulingCredentials reads how a Scheduler page call names its
// configuration. Authorization carries the application's API key (the
// SDKs) or a session id (private pages); public pages send none.
func (s *Server) schedulingCredentials(c echo.Context) (scheduler.Credentials, error) {
	q := c.QueryParams()
	cr := scheduler.Credentials{ConfigurationID: q.Get("configuration_id"), Slug: q.Get("slug"), ClientID: q.Get("client_id")}
	token, sent, ok := bearer(c)
	if !sent {
		return cr, nil
	}
	if !ok {
		return cr, apperr.Unauthorizedf("Authorization header must be: Bearer <session id or api key>")
	}
	if _, err := uuid.Parse(token); err == nil {
		cr.SessionID = token // session ids are UUIDs; API keys are not
		return cr, nil
	}
	app, err := s.deps.Auth.Authenticate(c.Request().Context(), token)
	if err != nil {
		return cr, err
	}
	cr.AppID = &app
	return cr, nil
}

// openConfiguration resolves the configuration a page call is for.
func (s *Server) openConfiguration(c echo.Context) (scheduler.Configuration, error) {
	cr, err := s.schedulingCredentials(c)
	if err != nil {
		return scheduler.Configuration{}, err
	}
	return s.deps.Scheduler.Open(c.Request().Context(), cr)
}

// openBooking resolves the booking of the path and its configuration.
func (s *Server) openBooking(c echo.Context) (scheduler.Configuration, scheduler.Booking, error) {
	cr, err := s.schedulingCredentials(c)
	if err != nil {
		return scheduler.Configuration{}, scheduler.Booking{}, err
	}
	return s.deps.Scheduler.OpenBooking(c.Request().Context(), cr, c.Param("booking_id"))
}

type timeSlotJSON struct {
	Emails    []string `json:"emails"`
	StartTime int64    `json:"start_time"`
	EndTime   int64    `json:"end_time"`
}

type availabilityJSON struct {
	Order     []string       `json:"order,omitempty"`
	TimeSlots []timeSlotJSON `json:"time_slots"`
}

// unixParam reads a required unix-seconds query parameter.
func unixParam(c echo.Context, name string) (int64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, apperr.InvalidField(name, "is required (unix seconds)")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 253402300799 {
		return 0, apperr.InvalidField(name, "must be unix seconds")
	}
	return n, nil
}

func (s *Server) availability(c echo.Context) error {
	start, err := unixParam(c, "start_time")
	if err != nil {
		return err
	}
	end, err := unixParam(c, "end_time")
	if err != nil {
		return err
	}
	cfg, err := s.openConfiguration(c)
	if err != nil {
		return err
	}
	res, err := s.deps.Scheduler.Availability(c.Request().Context(), cfg, start, end, c.QueryParam("booking_id"))
	if err != nil {
		return err
	}
	out := availabilityJSON{Order: res.Order, TimeSlots: make([]timeSlotJSON, 0, len(res.Slots))}
	for _, x := range res.Slots {
		emails := x.Emails
		if emails == nil {
			emails = []string{}
		}
		out.TimeSlots = append(out.TimeSlots, timeSlotJSON{Emails: emails, StartTime: x.Start.Unix(), EndTime: x.End.Unix()})
	}
	return ok(c, http.StatusOK, out)
}

type uiSchedulerJSON struct {
	AvailableDaysInFuture    int                                  `json:"available_days_in_future"`
	MinBookingNotice         int                                  `json:"min_booking_notice"`
	MinCancellationNotice    int                                  `json:"min_cancellation_notice"`
	CancellationPolicy       string                               `json:"cancellation_policy,omitempty"`
	ReschedulingURL          string                               `json:"rescheduling_url,omitempty"`
	CancellationURL          string                               `json:"cancellation_url,omitempty"`
	OrganizerConfirmationURL string                               `json:"organizer_confirmation_url,omitempty"`
	ConfirmationRedirectURL  string                               `json:"confirmation_redirect_url,omitempty"`
	HideReschedulingOptions  bool                                 `json:"hide_rescheduling_options"`
	HideCancellationOptions  bool                                 `json:"hide_cancellation_options"`
	HideAdditionalGuests     bool                                 `json:"hide_additional_guests"`
	AdditionalFields         map[string]scheduler.AdditionalField `json:"additional_fields"`
}

type uiBookingJSON struct {
	Guest            scheduler.Person   `json:"guest"`
	AdditionalGuests []scheduler.Person `json:"additional_guests"`
	AdditionalFields map[string]string  `json:"additional_fields"`
	EventData        uiEventDataJSON    `json:"event_data"`
}

type uiEventDataJSON struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	StartTime   int64  `json:"start_time"`
	EndTime     int64  `json:"end_time"`
}

type uiSettingsJSON struct {
	ConfigurationID         string                               `json:"configuration_id"`
	AppClientID             string                               `json:"app_client_id"`
	BookingType             string                               `json:"booking_type"`
	Name                    string                               `json:"name"`
	Slug                    *string                              `json:"slug"`
	Organizer               scheduler.Person                     `json:"organizer"`
	Appearance              map[string]string                    `json:"appearance"`
	HideParticipants        bool                                 `json:"hide_participants"`
	ConfirmationRedirectURL string                               `json:"confirmation_redirect_url,omitempty"`
	HideReschedulingOptions bool                                 `json:"hide_rescheduling_options"`
	HideCancellationOptions bool                                 `json:"hide_cancellation_options"`
	HideAdditionalGuests    bool                                 `json:"hide_additional_guests"`
	AdditionalFields        map[string]scheduler.AdditionalField `json:"additional_fields"`
	Scheduler               uiSchedulerJSON                      `json:"scheduler"`
	Booking                 *uiBookingJSON                       `json:"booking,omitempty"`
}

func (s *Server) uiSettings(c echo.Context) error {
	cfg, err := s.openConfiguration(c)
	if err != nil {
		return err
	}
	b, st := cfg.Body, cfg.Body.Scheduler
	org := b.Organizer()
	fields := st.AdditionalFields
	if fields == nil {
		fields = map[string]scheduler.AdditionalField{}
	}
	appearance := b.Appearance
	if appearance == nil {
		appearance = map[string]string{}
	}
	out := uiSettingsJSON{ConfigurationID: cfg.ID.String(), AppClientID: cfg.ApplicationID.String(), BookingType: b.EventBooking.BookingType,
		Name: b.Name, Slug: cfg.Slug, Organizer: scheduler.Person{Name: org.Name, Email: org.Email}, Appearance: appearance,
		HideParticipants: b.EventBooking.HideParticipants, ConfirmationRedirectURL: st.ConfirmationRedirectURL,
		HideReschedulingOptions: st.HideReschedulingOptions, HideCancellationOptions: st.HideCancellationOptions,
		HideAdditionalGuests: st.HideAdditionalGuests, AdditionalFields: fields,
		Scheduler: uiSchedulerJSON{AvailableDaysInFuture: st.AvailableDaysInFuture, MinBookingNotice: st.MinBookingNotice,
			MinCancellationNotice: st.MinCancellationNotice, CancellationPolicy: st.CancellationPolicy, ReschedulingURL: st.ReschedulingURL,
			CancellationURL: st.CancellationURL, OrganizerConfirmationURL: st.OrganizerConfirmationURL,
			ConfirmationRedirectURL: st.ConfirmationRedirectURL, HideReschedulingOptions: st.HideReschedulingOptions,
			HideCancellationOptions: st.HideCancellationOptions, HideAdditionalGuests: st.HideAdditionalGuests, AdditionalFields: fields}}
	if id := c.QueryParam("booking_id"); id != "" {
		bk, err := s.deps.Scheduler.Booking(c.Request().Context(), cfg, id)
		if err != nil {
			return err
		}
		d := bk.Details
		guests := d.AdditionalGuests
		if guests == nil {
			guests = []scheduler.Person{}
		}
		af := d.AdditionalFields
		if af == nil {
			af = map[string]string{}
		}
		out.Booking = &uiBookingJSON{Guest: d.Guest, AdditionalGuests: guests, AdditionalFields: af,
			EventData: uiEventDataJSON{Title: d.Title, Description: d.Description, StartTime: bk.Start.Unix(), EndTime: bk.End.Unix()}}
	}
	return ok(c, http.StatusOK, out)
}

type bookingJSON struct {
	BookingID          string             `json:"booking_id"`
	BookingRef         string             `json:"booking_ref"`
	EventID            string             `json:"event_id"`
	Title              string             `json:"title"`
	Description        string             `json:"description"`
	Organizer          scheduler.Person   `json:"organizer"`
	Status             string             `json:"status"`
	StartTime          int64              `json:"start_time"`
	EndTime            int64              `json:"end_time"`
	Guest              scheduler.Person   `json:"guest"`
	AdditionalGuests   []scheduler.Person `json:"additional_guests"`
	AdditionalFields   map[string]string  `json:"additional_fields"`
	CancellationReason string             `json:"cancellation_reason,omitempty"`
}

func toBookingJSON(b scheduler.Booking) bookingJSON {
	d := b.Details
	out := bookingJSON{BookingID: b.ID.String(), BookingRef: b.Ref(), EventID: b.EventID.String(), Title: d.Title, Description: d.Description,
		Organizer: d.Organizer, Status: b.Status, StartTime: b.Start.Unix(), EndTime: b.End.Unix(), Guest: d.Guest,
		AdditionalGuests: d.AdditionalGuests, AdditionalFields: d.AdditionalFields, CancellationReason: d.CancellationReason}
	if out.AdditionalGuests == nil {
		out.AdditionalGuests = []scheduler.Person{}
	}
	if out.AdditionalFields == nil {
		out.AdditionalFields = map[string]string{}
	}
	return out
}

func (s *Server) createBooking(c echo.Context) error {
	var in scheduler.BookingInput
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	cfg, err := s.openConfiguration(c)
	if err != nil {
		return err
	}
	b, err := s.deps.Bookings.Book(c.Request().Context(), cfg, in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toBookingJSON(b))
}

func (s *Server) getBooking(c echo.Context) error {
	_, b, err := s.openBooking(c)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toBookingJSON(b))
}

func (s *Server) rescheduleBooking(c echo.Context) error {
	return changeBooking(s, c, s.deps.Bookings.Reschedule)
}

func (s *Server) decideBooking(c echo.Context) error {
	return changeBooking(s, c, s.deps.Bookings.Decide)
}

// changeBooking decodes a booking change (a reschedule, the organizer's
// decision), applies it to the path's booking and answers the booking.
func changeBooking[In any](s *Server, c echo.Context, change func(context.Context, scheduler.Configuration, scheduler.Booking, In) (scheduler.Booking, error)) error {
	var in In
	if err := decodeBody(c, &in); err != nil {
		return err
	}
	cfg, b, err := s.openBooking(c)
	if err != nil {
		return err
	}
	out, err := change(c.Request().Context(), cfg, b, in)
	if err != nil {
		return err
	}
	return ok(c, http.StatusOK, toBookingJSON(out))
}

// cancelBooking takes an optional JSON body: the SDKs send none, the web
// component {action, cancellation_reason}.
func (s *Server) cancelBooking(c echo.Context) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return apperr.Invalidf("request body is larger than %d bytes", MaxBodyBytes)
	}
	var in scheduler.CancelInput
	if len(bytes.TrimSpace(body)) > 0 {
		if err := strictjson.Decode(body, &in, ""); err != nil {
			return err
		}
	}
	cfg, b, err := s.openBooking(c)
	if err != nil {
		return err
	}
	if _, err := s.deps.Bookings.Cancel(c.Request().Context(), cfg, b, in); err != nil {
		return err
	}
	return okDeleted(c)
}

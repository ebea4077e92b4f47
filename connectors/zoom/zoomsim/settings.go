package zoomsim

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Zoom types every field of a meeting: the simulator keeps only the fields
// of Zoom's published Create/Update meeting descriptions (the rivet-javascript
// SDK's generated MeetingsCreateMeetingRequestBody and
// MeetingsUpdateMeetingRequestBody; enums from Zoom's field descriptions),
// refuses a value of the wrong type or outside its enum with 400 code 300
// naming the field, and drops anything else without echoing it.

type kind int

const (
	kBool    kind = iota
	kInt          // a JSON integer
	kString       // a JSON string
	kStrings      // an array of strings
	kObject       // an object of fields
	kObjects      // an array of objects of fields
)

// Which requests describe a field.
const (
	onBoth = iota
	onCreate
	onUpdate
)

type fieldSpec struct {
	kind   kind
	ints   []int                // allowed integers; nil: any
	strs   []string             // allowed strings; nil: any
	fields map[string]fieldSpec // of an object, or of each array element
	on     int
}

func boolean() fieldSpec                       { return fieldSpec{kind: kBool} }
func integer(allowed ...int) fieldSpec         { return fieldSpec{kind: kInt, ints: allowed} }
func str(allowed ...string) fieldSpec          { return fieldSpec{kind: kString, strs: allowed} }
func strs() fieldSpec                          { return fieldSpec{kind: kStrings} }
func object(f map[string]fieldSpec) fieldSpec  { return fieldSpec{kind: kObject, fields: f} }
func objects(f map[string]fieldSpec) fieldSpec { return fieldSpec{kind: kObjects, fields: f} }
func only(on int, f fieldSpec) fieldSpec {
	f.on = on
	return f
}

var interpreters = map[string]fieldSpec{"email": str(), "languages": str()}

// meetingSettings are the settings Zoom takes on create and update.
// global_dial_in_numbers is read-only: Zoom ignores it on input.
var meetingSettings = map[string]fieldSpec{
	"additional_data_center_regions":       only(onCreate, strs()),
	"allow_multiple_devices":               boolean(),
	"alternative_hosts":                    str(),
	"alternative_hosts_email_notification": boolean(),
	"alternative_host_update_polls":        boolean(),
	"approval_type":                        integer(0, 1, 2),
	"approved_or_denied_countries_or_regions": object(map[string]fieldSpec{
		"approved_list": strs(), "denied_list": strs(), "enable": boolean(), "method": str("approve", "deny"),
	}),
	"audio":                             str("both", "telephony", "voip", "thirdParty"),
	"audio_conference_info":             str(),
	"authentication_domains":            str(),
	"authentication_exception":          objects(map[string]fieldSpec{"email": str(), "name": str()}),
	"authentication_option":             str(),
	"auto_recording":                    str("local", "cloud", "none"),
	"auto_start_ai_companion_questions": boolean(),
	"auto_start_meeting_summary":        boolean(),
	"breakout_room": object(map[string]fieldSpec{
		"enable": boolean(), "rooms": objects(map[string]fieldSpec{"name": str(), "participants": strs()}),
	}),
	"calendar_type":      integer(1, 2),
	"close_registration": boolean(),
	"cn_meeting":         boolean(),
	"contact_email":      str(),
	"contact_name":       str(),
	"continuous_meeting_chat": object(map[string]fieldSpec{
		"enable": boolean(), "auto_add_invited_external_users": boolean(), "auto_add_meeting_participants": boolean(),
	}),
	"custom_keys":                    only(onUpdate, objects(map[string]fieldSpec{"key": str(), "value": str()})),
	"device_testing":                 boolean(),
	"email_notification":             boolean(),
	"encryption_type":                str("enhanced_encryption", "e2ee"),
	"enforce_login":                  only(onUpdate, boolean()),
	"enforce_login_domains":          only(onUpdate, str()),
	"focus_mode":                     boolean(),
	"global_dial_in_countries":       strs(),
	"host_save_video_order":          boolean(),
	"host_video":                     boolean(),
	"in_meeting":                     boolean(),
	"internal_meeting":               boolean(),
	"jbh_time":                       integer(0, 5, 10),
	"join_before_host":               boolean(),
	"language_interpretation":        object(map[string]fieldSpec{"enable": boolean(), "interpreters": objects(interpreters)}),
	"meeting_authentication":         boolean(),
	"meeting_invitees":               objects(map[string]fieldSpec{"email": str()}),
	"mute_upon_entry":                boolean(),
	"participant_focused_meeting":    boolean(),
	"participant_video":              boolean(),
	"private_meeting":                boolean(),
	"push_change_to_calendar":        only(onCreate, boolean()),
	"registrants_confirmation_email": boolean(),
	"registrants_email_notification": boolean(),
	"registration_type":              integer(1, 2, 3),
	"resources": objects(map[string]fieldSpec{
		"resource_type": str(), "resource_id": str(), "permission_level": str(),
	}),
	"show_share_button": boolean(),
	"sign_language_interpretation": object(map[string]fieldSpec{
		"enable": boolean(), "interpreters": objects(map[string]fieldSpec{"email": str(), "sign_language": str()}),
	}),
	"use_pmi":      boolean(),
	"waiting_room": boolean(),
	"watermark":    boolean(),
}

// The other typed top-level fields that the simulator keeps as given.
var (
	trackingFieldsSpec = objects(map[string]fieldSpec{"field": str(), "value": str()})
	recurrenceSpec     = object(map[string]fieldSpec{
		"type": integer(1, 2, 3), "repeat_interval": integer(), "weekly_days": str(), "monthly_day": integer(),
		"monthly_week": integer(-1, 1, 2, 3, 4), "monthly_week_day": integer(1, 2, 3, 4, 5, 6, 7),
		"end_times": integer(), "end_date_time": str(),
	})
)

func (f fieldSpec) known(creating bool) bool {
	return f.on == onBoth || (f.on == onCreate) == creating
}

func (f fieldSpec) describe() string {
	switch f.kind {
	case kBool:
		return "Must be a boolean."
	case kInt:
		if f.ints == nil {
			return "Must be an integer."
		}
		vals := make([]string, len(f.ints))
		for i, n := range f.ints {
			vals[i] = strconv.Itoa(n)
		}
		return "Must be one of the integers " + strings.Join(vals, ", ") + "."
	case kString:
		if f.strs == nil {
			return "Must be a string."
		}
		return "Must be one of: " + strings.Join(f.strs, ", ") + "."
	case kStrings:
		return "Must be an array of strings."
	case kObject:
		return "Must be an object."
	}
	return "Must be an array of objects."
}

// clean checks v against f and rebuilds it from the known fields only
// (nulls inside objects count as absent). Every problem goes to bad, named
// by its path; ok is false if there was one.
func (f fieldSpec) clean(path string, v any, creating bool, bad func(field, msg string)) (out any, ok bool) {
	wrong := func(p string, spec fieldSpec) (any, bool) {
		bad(p, spec.describe())
		return nil, false
	}
	switch f.kind {
	case kBool:
		if _, isBool := v.(bool); !isBool {
			return wrong(path, f)
		}
		return v, true
	case kInt:
		n, isInt := intOf(v)
		if !isInt || (f.ints != nil && !slices.Contains(f.ints, n)) {
			return wrong(path, f)
		}
		return v, true
	case kString:
		s, isStr := v.(string)
		if !isStr || (f.strs != nil && !slices.Contains(f.strs, s)) {
			return wrong(path, f)
		}
		return s, true
	case kStrings:
		arr, isArr := v.([]any)
		if !isArr {
			return wrong(path, f)
		}
		clean := make([]any, len(arr))
		for i, e := range arr {
			s, isStr := e.(string)
			if !isStr {
				bad(fmt.Sprintf("%s[%d]", path, i), "Must be a string.")
				return nil, false
			}
			clean[i] = s
		}
		return clean, true
	case kObject:
		obj, isObj := v.(map[string]any)
		if !isObj {
			return wrong(path, f)
		}
		return cleanObject(path, f.fields, obj, creating, bad)
	default: // kObjects
		arr, isArr := v.([]any)
		if !isArr {
			return wrong(path, f)
		}
		clean, ok := make([]any, len(arr)), true
		for i, e := range arr {
			p := fmt.Sprintf("%s[%d]", path, i)
			obj, isObj := e.(map[string]any)
			if !isObj {
				bad(p, "Must be an object.")
				ok = false
				continue
			}
			c, good := cleanObject(p, f.fields, obj, creating, bad)
			clean[i], ok = c, ok && good
		}
		return clean, ok
	}
}

// cleanObject keeps the known, non-null fields of obj, checked, in a new map.
func cleanObject(path string, fields map[string]fieldSpec, obj map[string]any, creating bool, bad func(field, msg string)) (map[string]any, bool) {
	out, ok := map[string]any{}, true
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		spec, known := fields[k]
		if !known || !spec.known(creating) || obj[k] == nil {
			continue
		}
		c, good := spec.clean(path+"."+k, obj[k], creating, bad)
		if good {
			out[k] = c
		}
		ok = ok && good
	}
	return out, ok
}

// mergeSetting is an update of a setting: objects are updated field by field
// (as the settings object itself is), anything else is replaced. It builds
// new maps: the old meeting may share the old ones.
func mergeSetting(old, update any) any {
	o, oldObj := old.(map[string]any)
	u, updObj := update.(map[string]any)
	if !oldObj || !updObj {
		return update
	}
	out := maps.Clone(o)
	for k, v := range u {
		out[k] = mergeSetting(o[k], v)
	}
	return out
}

// Package events will own calendars and events with Zoom autocreate. See issue #5.
package events

// Package workflows will hold the Temporal workflows and activities that
// create, update and delete Zoom meetings with events. See issue #5.
package workflows

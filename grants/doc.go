// Package grants will own conferencing grants: hosted OAuth with Zoom,
// bring-your-own refresh tokens, and the token lifecycle (single-flight
// refresh across processes). See issue #4.
package grants

package online

import "github.com/ionbus/ionbus/broker/access"

// Error codes, in the `error` event's error_code, the ack's error.code and
// the HTTP body's error.code. Values are stable: clients branch on them.
const (
	// CodeInvalidPayload: the request is not an object, a field has the
	// wrong type, or a required field is missing (400 over HTTP).
	CodeInvalidPayload = access.CodeInvalidPayload
	// CodeForbidden: the socket may not see this room: it is not in it and
	// no NamespaceRules.Visible pattern allows it.
	CodeForbidden = access.CodePresenceForbidden
	// CodeNotTracked: presence is not recorded for this room (or, for room
	// "", for this namespace), so there is nothing to read or update.
	CodeNotTracked = access.CodeRoomNotTracked
	// CodeMetaTooLarge: meta is larger than presence.Config.MaxMetaBytes
	// (compacted JSON).
	CodeMetaTooLarge = access.CodeMetaTooLarge
	// CodeNotMember: presence:update for a room where the user has no
	// connection (yet).
	CodeNotMember = access.CodePresenceNotMember
	// CodeUnavailable: the presence store failed or timed out; the only
	// code with retry_possible true (503 over HTTP).
	CodeUnavailable = access.CodePresenceUnavailable

	// HTTP only.
	CodeBadRequest        = "BAD_REQUEST"         // 400: bad query parameter
	CodeNamespaceNotFound = "NAMESPACE_NOT_FOUND" // 404: namespace has no presence configuration
	CodeNotFound          = "NOT_FOUND"           // 404: unknown path
	CodeMethodNotAllowed  = "METHOD_NOT_ALLOWED"  // 405
)

// Client events handled in every configured namespace.
const (
	EventList   = "presence:list"
	EventCount  = "presence:count"
	EventUpdate = "presence:update"
	// EventError is the standard error event sent to a socket whose
	// request was refused.
	EventError = "error"
)

// ErrorEvent is the payload of the `error` event, the one error shape of
// package access:
//
//	{"error_code":"PRESENCE_FORBIDDEN","error_message":"…","error_details":{"original_event":"presence:list","event":"presence:list","room":"x"},
//	 "retry_possible":false,"timestamp":"2025-11-25T01:20:00.123Z","code":"PRESENCE_FORBIDDEN","message":"…"}
type ErrorEvent = access.ErrorEvent

// AckError is the ack sent to a refused request that asked for one: the
// ErrorEvent plus {"success":false,"error":{"code":"…","message":"…"}}.
type AckError = access.ErrorAck

// ErrorBody is {code, message}, in acks and HTTP error bodies.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

package online

// Error codes, in the `error` event's error_code, the ack's error.code and
// the HTTP body's error.code. Values are stable: clients branch on them.
const (
	// CodeInvalidPayload: the request is not an object, a field has the
	// wrong type, or a required field is missing (400 over HTTP).
	CodeInvalidPayload = "INVALID_PAYLOAD"
	// CodeForbidden: the socket may not see this room: it is not in it and
	// no NamespaceRules.Visible pattern allows it.
	CodeForbidden = "PRESENCE_FORBIDDEN"
	// CodeNotTracked: presence is not recorded for this room (or, for room
	// "", for this namespace), so there is nothing to read or update.
	CodeNotTracked = "ROOM_NOT_TRACKED"
	// CodeMetaTooLarge: meta is larger than presence.Config.MaxMetaBytes
	// (compacted JSON).
	CodeMetaTooLarge = "META_TOO_LARGE"
	// CodeNotMember: presence:update for a room where the user has no
	// connection (yet).
	CodeNotMember = "PRESENCE_NOT_MEMBER"
	// CodeUnavailable: the presence store failed or timed out; the only
	// code with retry_possible true (503 over HTTP).
	CodeUnavailable = "PRESENCE_UNAVAILABLE"

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

// ErrorEvent is the payload of the `error` event:
//
//	{"error_code":"PRESENCE_FORBIDDEN","error_message":"…","error_details":{"event":"presence:list","room":"x"},"retry_possible":false,"timestamp":1764033600123}
type ErrorEvent struct {
	Code    string         `json:"error_code"`
	Message string         `json:"error_message"`
	Details map[string]any `json:"error_details"`
	Retry   bool           `json:"retry_possible"`
	// Timestamp is milliseconds since the Unix epoch.
	Timestamp int64 `json:"timestamp"`
}

// AckError is the ack sent to a refused request that asked for one:
// {"success":false,"error":{"code":"…","message":"…"}}.
type AckError struct {
	Success bool      `json:"success"`
	Error   ErrorBody `json:"error"`
}

// ErrorBody is {code, message}, in acks and HTTP error bodies.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

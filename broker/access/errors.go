package access

import (
	"slices"
	"time"

	"github.com/ionbus/ionbus/broker"
)

// Client-visible codes: the error_code (and code) of the standard error
// event, of error acks and of CONNECT_ERROR data. Values are stable:
// clients branch on them; a namespace may rename them on the wire
// (Rules.ErrorCodes). README.md lists when each is sent.
const (
	CodeAuthRequired           = "AUTH_REQUIRED"
	CodeAuthInvalidSession     = "AUTH_INVALID_SESSION"
	CodeInsufficientPrivileges = "AUTH_INSUFFICIENT_PRIVILEGES"
	CodeCSRFInvalid            = "CSRF_TOKEN_INVALID"
	CodeAuthUnavailable        = "AUTH_SERVICE_UNAVAILABLE"
	CodeConnectionLimit        = "CONNECTION_LIMIT_EXCEEDED"
	CodeRateLimit              = "RATE_LIMIT_EXCEEDED"
	CodeMessageTooLarge        = "MESSAGE_TOO_LARGE"
	CodeOriginNotAllowed       = "CORS_ORIGIN_NOT_ALLOWED"
	// CodeNamespaceLimit: the CONNECT would create a dynamic namespace
	// beyond dynamic_namespaces.max on its node. retry_possible.
	CodeNamespaceLimit  = broker.CodeNamespaceLimit
	CodeInvalidRoomName = "INVALID_ROOM_NAME"
	CodeRoomNotAllowed  = "ROOM_NOT_ALLOWED"
	CodeRoomLimit       = "ROOM_LIMIT_EXCEEDED"
	CodeInvalidPayload  = "INVALID_PAYLOAD"
	// CodeBackendUnavailable: the application backend (the connect hook,
	// a forwarded event, the event stream) did not give a usable answer:
	// down, too slow, overloaded or answering garbage. retry_possible.
	CodeBackendUnavailable = "BACKEND_UNAVAILABLE"
	// CodeBackendBusy: a socket has too many events on their way to the
	// backend. retry_possible.
	CodeBackendBusy = "BACKEND_BUSY"
	// CodeEventNotHandled: an acked event that no handler and no backend
	// rule takes.
	CodeEventNotHandled = "EVENT_NOT_HANDLED"
	// Presence requests (package broker/online).
	CodePresenceForbidden   = "PRESENCE_FORBIDDEN"
	CodeRoomNotTracked      = "ROOM_NOT_TRACKED"
	CodeMetaTooLarge        = "META_TOO_LARGE"
	CodePresenceNotMember   = "PRESENCE_NOT_MEMBER"
	CodePresenceUnavailable = "PRESENCE_UNAVAILABLE"
)

// Codes lists every client-visible code, the keys Rules.ErrorCodes may
// rename.
var Codes = []string{
	CodeAuthRequired, CodeAuthInvalidSession, CodeInsufficientPrivileges, CodeCSRFInvalid,
	CodeAuthUnavailable, CodeConnectionLimit, CodeRateLimit, CodeMessageTooLarge,
	CodeOriginNotAllowed, CodeNamespaceLimit, CodeInvalidRoomName, CodeRoomNotAllowed, CodeRoomLimit,
	CodeInvalidPayload, CodeBackendUnavailable, CodeBackendBusy, CodeEventNotHandled,
	CodePresenceForbidden, CodeRoomNotTracked, CodeMetaTooLarge, CodePresenceNotMember,
	CodePresenceUnavailable,
}

// KnownCode reports whether code is one of Codes.
func KnownCode(code string) bool { return slices.Contains(Codes, code) }

// EventRateLimited is the compatibility event a rate refusal also emits
// in namespaces with CompatEvents (beside the error event).
const EventRateLimited = "rate_limit_exceeded"

// Timestamp formats t the way clients see every server timestamp: ISO
// 8601 in UTC with milliseconds, "2025-01-15T10:30:00.000Z".
func Timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// ErrorEvent is the one error shape clients see: the standard "error"
// event, error acks (ErrorAck), the auth compatibility events and the
// data of CONNECT_ERROR packets:
//
//	{"error_code":"RATE_LIMIT_EXCEEDED","error_message":"rate limit exceeded",
//	 "error_details":{"original_event":"chat","limit":100,"remaining":0,"reset_time":"2025-01-15T10:31:00.000Z"},
//	 "retry_possible":true,"timestamp":"2025-01-15T10:30:00.000Z",
//	 "code":"RATE_LIMIT_EXCEEDED","message":"rate limit exceeded",
//	 "limit":100,"remaining":0,"reset_time":"2025-01-15T10:31:00.000Z"}
//
// code and message repeat error_code and error_message, for clients
// written either way. limit, remaining and reset_time are set on rate
// and size refusals (reset_time on rate refusals only).
type ErrorEvent struct {
	Code      string         `json:"error_code"`
	Message   string         `json:"error_message"`
	Details   map[string]any `json:"error_details"`
	Retry     bool           `json:"retry_possible"`
	Timestamp string         `json:"timestamp"`
	// AliasCode and AliasMessage carry Code and Message again.
	AliasCode    string `json:"code"`
	AliasMessage string `json:"message"`
	Limit        *int   `json:"limit,omitempty"`
	Remaining    *int   `json:"remaining,omitempty"`
	ResetTime    string `json:"reset_time,omitempty"`
}

// ErrorPayload builds the error payload of code, stamped at. details may
// be nil (an empty object on the wire).
func ErrorPayload(code, msg string, details map[string]any, retry bool, at time.Time) ErrorEvent {
	if details == nil {
		details = map[string]any{}
	}
	return ErrorEvent{Code: code, Message: msg, Details: details, Retry: retry, Timestamp: Timestamp(at),
		AliasCode: code, AliasMessage: msg}
}

// EventErrorPayload is ErrorPayload for a refused client event: details
// also name it, as original_event (and event, as before).
func EventErrorPayload(e *broker.Event, code, msg string, details map[string]any, retry bool, at time.Time) ErrorEvent {
	d := make(map[string]any, len(details)+2)
	for k, v := range details {
		d[k] = v
	}
	d["original_event"], d["event"] = e.Name, e.Name
	return ErrorPayload(code, msg, d, retry, at)
}

// ForSocket renames the code for the socket's namespace
// (Rules.ErrorCodes); unchanged where no alias applies.
func (p ErrorEvent) ForSocket(s *broker.Socket) ErrorEvent {
	p.Code = WireCode(s, p.Code)
	p.AliasCode = p.Code
	return p
}

// WireCode is code as the socket's namespace names it on the wire.
func WireCode(s *broker.Socket, code string) string {
	if st := state(s); st != nil {
		if alias, ok := st.codes[code]; ok {
			return alias
		}
	}
	return code
}

// ErrorAck is the acknowledgement of a refused event that asked for one:
// the ErrorEvent, plus success false and error {code, message}, the ack
// shape of earlier versions.
type ErrorAck struct {
	ErrorEvent
	Success bool      `json:"success"`
	Error   ErrorBody `json:"error"`
}

// ErrorBody is {code, message}.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// SendError emits p, renamed for s, as the standard error event.
func SendError(s *broker.Socket, p ErrorEvent) {
	_ = s.Emit("error", p.ForSocket(s))
}

// RefuseEvent answers a refused client event: the error event, and the
// ErrorAck when the client asked for an acknowledgement.
func RefuseEvent(e *broker.Event, p ErrorEvent) {
	SendError(e.Socket, p)
	AckError(e, p)
}

// AckError acknowledges e, when the client asked, with the ErrorAck of p
// (renamed for the socket).
func AckError(e *broker.Event, p ErrorEvent) {
	if e.WantsAck() {
		p = p.ForSocket(e.Socket)
		_ = e.Ack(ErrorAck{ErrorEvent: p, Error: ErrorBody{Code: p.Code, Message: p.Message}})
	}
}

// ConnectErrorData is the data of the CONNECT_ERROR packets the guard
// sends: the ErrorEvent, plus the limit that refused (reason) and the
// backend's own refusal data (details), when there are.
type ConnectErrorData struct {
	ErrorEvent
	Reason string `json:"reason,omitempty"`
	Data   any    `json:"details,omitempty"`
}

// forSocket renames the code for the socket's namespace.
func (d ConnectErrorData) forSocket(s *broker.Socket) ConnectErrorData {
	d.ErrorEvent = d.ErrorEvent.ForSocket(s)
	return d
}

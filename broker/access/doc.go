// Package access guards a broker.Server the way the APIs ionbus serves
// describe: a JWT (package auth) proves who the user is, each namespace
// has an access level, limits (package limits) cap connections and
// messages per user and per IP across the cluster, and clients manage
// their own rooms through the built-in join_room / leave_room events.
//
// Rules.Authenticate chooses how a namespace identifies its sockets:
// AuthJWT (the default), AuthBackend (Config.Authenticator, e.g. package
// bridge asking the application backend with the session cookie) or
// AuthJWTOrBackend (a valid JWT wins, otherwise the Authenticator). The
// identity an Authenticator returns is stored exactly like a JWT's, so
// everything below applies to it unchanged; its refusals carry their own
// code (BACKEND_UNAVAILABLE when it could not answer) and refuse even in
// public namespaces.
//
// Package node builds one Guard from its configuration, sets
// Guard.AllowRequest on the Engine.IO config before broker.New, then calls
// Attach for every configured namespace. Embedders do the same.
//
// What a client sees (every refusal is also counted in Stats and logged
// at debug without the token):
//
//   - CONNECT_ERROR "Authentication failed" with data.code AUTH_REQUIRED,
//     AUTH_INVALID_SESSION, AUTH_INSUFFICIENT_PRIVILEGES,
//     CSRF_TOKEN_INVALID, AUTH_SERVICE_UNAVAILABLE, BACKEND_UNAVAILABLE
//     (data.retry_possible true) or an Authenticator's own code (with
//     data.message and data.details);
//   - CONNECT_ERROR "Connection limit exceeded" with data.code
//     CONNECTION_LIMIT_EXCEEDED (concurrent per user or IP, or attempts
//     per IP per window: data.reason says which);
//   - an HTTP 403 handshake answer with context.code
//     CORS_ORIGIN_NOT_ALLOWED for a foreign Origin;
//   - an "error" event {code:"RATE_LIMIT_EXCEEDED", limit, remaining,
//     reset_time} for a dropped message, MESSAGE_TOO_LARGE for an
//     oversized one; repeated abuse disconnects the socket;
//   - "user:session" {event:"token_expired", timestamp} then a disconnect
//     when the token expires; "auth:refresh" renews it;
//   - for join_room / leave_room: room_joined / room_left, or the standard
//     "error" event {error_code, error_message, error_details,
//     retry_possible, timestamp} (ErrorPayload builds it, for other
//     packages that answer in the same shape).
//
// Timestamps in payloads are milliseconds since the Unix epoch.
//
// Connection slots are held per Engine.IO session (not per namespace):
// three namespaces multiplexed on one connection use one slot. The guard
// middleware acquires the slot, so it must run after any other middleware
// that may refuse the socket: Attach it last.
//
// All methods are safe for concurrent use.
package access

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
// Guard.OriginRefused as the Engine.IO config's CORS.Refused (the engine
// checks cors.origins on every request) before broker.New, then calls
// Attach for every configured namespace. Embedders do the same.
//
// What a client sees (every refusal is also counted in Stats and logged
// at debug without the token). Every refusal has one shape, ErrorEvent
// (errors.go): {error_code, error_message, error_details
// {original_event, …}, retry_possible, timestamp, code, message} plus
// limit/remaining/reset_time on rate refusals; timestamps are ISO 8601
// UTC with milliseconds (Timestamp). Rules.ErrorCodes renames codes on
// the wire (WireCode, ErrorEvent.ForSocket); Stats keep ionbus's names.
// Other packages answer in the same shape with SendError, RefuseEvent
// and AckError.
//
//   - CONNECT_ERROR "Authentication failed" whose data (ConnectErrorData)
//     has the code AUTH_REQUIRED, AUTH_INVALID_SESSION,
//     AUTH_INSUFFICIENT_PRIVILEGES, CSRF_TOKEN_INVALID,
//     AUTH_SERVICE_UNAVAILABLE, BACKEND_UNAVAILABLE or an Authenticator's
//     own code (its data under details);
//   - CONNECT_ERROR "Connection limit exceeded", CONNECTION_LIMIT_EXCEEDED
//     (concurrent per user or IP, or attempts per IP per window: reason
//     says which). Every CONNECT counts as an attempt, refused or not,
//     before authentication;
//   - with Rules.CompatEvents, instead of the authentication
//     CONNECT_ERRORs: auth_required / auth_error (the same fields plus
//     redirect_url) and a disconnect; and rate refusals also emit
//     rate_limit_exceeded;
//   - an HTTP 403 answer {"code":4,"message":"Forbidden","context":
//     {"code":"CORS_ORIGIN_NOT_ALLOWED","origin":…}} to any Engine.IO
//     request (preflight, polling, websocket) from a foreign Origin;
//   - the "error" event (and the ErrorAck when an ack was asked) for a
//     dropped message: RATE_LIMIT_EXCEEDED, MESSAGE_TOO_LARGE; repeated
//     abuse disconnects the socket; for join_room / leave_room refusals;
//   - "user:session" {event:"token_expired", timestamp} then a disconnect
//     when the token expires; "auth:refresh" renews it.
//
// Connection slots are held per Engine.IO session (not per namespace):
// three namespaces multiplexed on one connection use one slot. The guard
// middleware acquires the slot, so it must run after any other middleware
// that may refuse the socket: Attach it last.
//
// All methods are safe for concurrent use.
package access

package online

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ionbus/ionbus/presence"
)

// HTTP routes served by Handler.
const (
	PathList  = "/api/v1/presence"
	PathCount = "/api/v1/presence/count"
)

// List pages through the members of room ("" = namespace presence) in
// namespace, cluster-wide, ordered by user id, starting after cursor (""
// = first page). limit 0 means presence.Config.PageSize; it must not pass
// MaxPageSize (ErrInvalidLimit). next is "" on the last page. No
// visibility rule applies: this is the embedder's (trusted) API.
func (o *Online) List(ctx context.Context, namespace, room, cursor string, limit int) (members []presence.Member, next string, err error) {
	namespace = normalizeNamespace(namespace)
	if _, ok := o.rulesNamed(namespace); !ok {
		return nil, "", fmt.Errorf("%w: %q", ErrUnknownNamespace, namespace)
	}
	if limit < 0 || limit > o.cfg.Presence.MaxPageSize {
		return nil, "", fmt.Errorf("%w: %d (max %d)", ErrInvalidLimit, limit, o.cfg.Presence.MaxPageSize)
	}
	return o.tracker.List(ctx, namespace, room, cursor, limit)
}

// Count returns the number of members (users, not connections) of room in
// namespace, cluster-wide.
func (o *Online) Count(ctx context.Context, namespace, room string) (int, error) {
	namespace = normalizeNamespace(namespace)
	if _, ok := o.rulesNamed(namespace); !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownNamespace, namespace)
	}
	return o.tracker.Count(ctx, namespace, room)
}

// Handler serves, as JSON:
//
//	GET /api/v1/presence?namespace=/chat&room=lobby&cursor=…&limit=100  -> ListResponse
//	GET /api/v1/presence/count?namespace=/chat&room=lobby               -> CountResponse
//
// namespace defaults to "/", an absent room means namespace presence,
// limit is 1..MaxPageSize (default PageSize). Errors are
// {"error":{"code","message"}}: 400 BAD_REQUEST, 404 NAMESPACE_NOT_FOUND
// or NOT_FOUND, 405, 503 PRESENCE_UNAVAILABLE. It performs no
// authentication: mount it behind the API server's bearer key. Paths are
// matched exactly, so mount it without stripping the prefix.
func (o *Online) Handler() http.Handler { return httpHandler{o} }

type httpHandler struct{ o *Online }

func (h httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != PathList && r.URL.Path != PathCount {
		writeError(w, http.StatusNotFound, CodeNotFound, "no route "+r.URL.Path)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use GET")
		return
	}
	q := r.URL.Query()
	for name, vs := range q {
		if len(vs) > 1 {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("parameter %q is repeated", name))
			return
		}
	}
	nsp := normalizeNamespace(q.Get("namespace"))
	if _, ok := h.o.rulesNamed(nsp); !ok {
		writeError(w, http.StatusNotFound, CodeNamespaceNotFound, fmt.Sprintf("namespace %q has no presence", nsp))
		return
	}
	room := q.Get("room")
	if len(room) > presence.MaxIDBytes {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "room is too long")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.o.cfg.CallTimeout)
	defer cancel()
	if r.URL.Path == PathCount {
		n, err := h.o.Count(ctx, nsp, room)
		if err != nil {
			h.storeFailed(w, err)
			return
		}
		writeJSON(w, http.StatusOK, CountResponse{Success: true, Namespace: nsp, Room: room, Count: n})
		return
	}
	limit := 0
	if s := q.Get("limit"); s != "" || q.Has("limit") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > h.o.cfg.Presence.MaxPageSize {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("limit must be an integer between 1 and %d", h.o.cfg.Presence.MaxPageSize))
			return
		}
		limit = n
	}
	ms, next, err := h.o.List(ctx, nsp, room, q.Get("cursor"), limit)
	if err != nil {
		h.storeFailed(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ListResponse{Success: true, Namespace: nsp, Room: room, Members: membersJSON(ms), NextCursor: next})
}

func (h httpHandler) storeFailed(w http.ResponseWriter, err error) {
	if errors.Is(err, presence.ErrInvalidEntry) {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "invalid room or cursor")
		return
	}
	h.o.log.Warn().Err(err).Msg("presence http query failed")
	writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "presence is temporarily unavailable")
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, struct {
		Error ErrorBody `json:"error"`
	}{ErrorBody{Code: code, Message: message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		data = []byte(`{"error":{"code":"INTERNAL","message":"cannot encode the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

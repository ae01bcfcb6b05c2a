package system

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// PathServices is the route of the backend-supplied services on the
// HTTP API (package node serves it behind api.key).
const PathServices = "/api/v1/services"

// ServiceRequest is the body of POST /api/v1/services.
type ServiceRequest struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// TTLMS is how long the entry lives, in milliseconds (1000 to
	// 86400000); 0 means DefaultServiceTTL. Post again to keep it.
	TTLMS int64 `json:"ttl_ms"`
}

// serviceView is a Service in the API's answers.
type serviceView struct {
	Name      string `json:"name"`
	Status    string `json:"status"`
	ExpiresAt string `json:"expires_at"`
}

func view(s Service) serviceView {
	return serviceView{Name: s.Name, Status: s.Status, ExpiresAt: timestamp(s.ExpiresAt)}
}

// Handler serves PathServices: GET lists the services, POST records one
// (ServiceRequest), DELETE ?name= forgets one. It performs no
// authentication: the caller mounts it behind the API key. Errors have
// broker/api's shape and codes.
func (s *System) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			list, err := s.Services(r.Context())
			if err != nil {
				writeError(w, http.StatusBadGateway, "CLUSTER_ERROR", "services unavailable: "+err.Error())
				return
			}
			out := make([]serviceView, 0, len(list))
			for _, svc := range list {
				out = append(out, view(svc))
			}
			writeJSON(w, http.StatusOK, map[string]any{"services": out})
		case http.MethodPost:
			var req ServiceRequest
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", "invalid JSON body: "+err.Error())
				return
			}
			if _, err := dec.Token(); err != io.EOF {
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", "invalid JSON body: unexpected data after the JSON object")
				return
			}
			ttl := DefaultServiceTTL
			if req.TTLMS != 0 {
				ttl = time.Duration(req.TTLMS) * time.Millisecond
			}
			svc, err := s.SetService(r.Context(), req.Name, req.Status, ttl)
			switch {
			case errors.Is(err, ErrBadService):
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
			case errors.Is(err, ErrTooManyServices):
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", "at most 100 services; delete some or let them expire")
			case err != nil:
				writeError(w, http.StatusBadGateway, "CLUSTER_ERROR", "services unavailable: "+err.Error())
			default:
				writeJSON(w, http.StatusOK, map[string]any{"ok": true, "service": view(svc)})
			}
		case http.MethodDelete:
			name := r.URL.Query().Get("name")
			if name == "" {
				writeError(w, http.StatusBadRequest, "BAD_REQUEST", `"name" is required`)
				return
			}
			if err := s.RemoveService(r.Context(), name); err != nil {
				writeError(w, http.StatusBadGateway, "CLUSTER_ERROR", "services unavailable: "+err.Error())
				return
			}
			writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use GET, POST or DELETE")
		}
	})
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(data, '\n'))
}

package node

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSystemEventsValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		events []SystemEventConfig
		want   string
	}{
		"unknown kind":              {[]SystemEventConfig{{Event: "e", Kind: "weather"}}, "system_events[0].kind"},
		"short interval":            {[]SystemEventConfig{{Event: "e", Kind: "health", Interval: Duration(time.Millisecond)}}, "system_events[0].interval"},
		"long interval":             {[]SystemEventConfig{{Event: "e", Kind: "health", Interval: Duration(48 * time.Hour)}}, "system_events[0].interval"},
		"unknown namespace":         {[]SystemEventConfig{{Namespace: "/nope", Event: "e", Kind: "health"}}, `"/nope" is not a configured namespace`},
		"pattern namespace":         {[]SystemEventConfig{{Namespace: "/tenant-*", Event: "e", Kind: "health"}}, "is not a configured namespace"},
		"no event":                  {[]SystemEventConfig{{Kind: "health"}}, "system_events[0].event: required"},
		"reserved event":            {[]SystemEventConfig{{Event: "disconnect", Kind: "health"}}, "reserved"},
		"component on a non-status": {[]SystemEventConfig{{Event: "e", Kind: "metrics", Component: "x"}}, "component: only for kind status"},
		"twice":                     {[]SystemEventConfig{{Event: "e", Kind: "health"}, {Namespace: "/", Event: "e", Kind: "status"}}, "twice"},
	} {
		c := Default()
		c.Namespaces = append(c.Namespaces, NamespaceConfig{Name: "/tenant-*"}, NamespaceConfig{Name: "/system"})
		c.SystemEvents = tc.events
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	c := Default()
	c.Namespaces = append(c.Namespaces, NamespaceConfig{Name: "/system"})
	c.SystemEvents = []SystemEventConfig{
		{Event: "system:health", Kind: "health"},
		{Namespace: "/system", Event: "system:metrics", Kind: "metrics", Interval: Duration(time.Second), Room: "admins"},
		{Event: "system_status_update", Kind: "status", Component: "websocket_server"},
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid events refused: %v", err)
	}
	if ev := systemEvents(c.SystemEvents); ev[0].Interval != defaultSystemInterval || ev[1].Interval != time.Second || ev[1].Room != "admins" {
		t.Fatalf("mapped %+v", ev)
	}
}

// TestServicesRoute: /api/v1/services exists only with system events,
// behind the key.
func TestServicesRoute(t *testing.T) {
	get := func(n *Node, key string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+n.APIAddr().String()+"/api/v1/services", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		res, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	cfg := Default()
	cfg.Listen, cfg.API = "127.0.0.1:0", APIConfig{Listen: "127.0.0.1:0", Key: "k"}
	off := startNode(t, cfg, nil)
	if code := get(off, "k"); code != http.StatusNotFound {
		t.Errorf("without system events: %d, want 404", code)
	}
	cfg.SystemEvents = []SystemEventConfig{{Event: "system:health", Kind: "health", Interval: Duration(time.Second)}}
	on := startNode(t, cfg, nil)
	if code := get(on, ""); code != http.StatusUnauthorized {
		t.Errorf("without the key: %d", code)
	}
	if code := get(on, "k"); code != http.StatusOK {
		t.Errorf("with the key: %d", code)
	}
}

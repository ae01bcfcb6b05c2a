package redisadapter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ionbus/ionbus/adapter"
	"github.com/ionbus/ionbus/internal/wire"
)

// Request types of @socket.io/redis-adapter (classic mode). Wire values.
const (
	reqSockets              = 0
	reqAllRooms             = 1
	reqRemoteJoin           = 2
	reqRemoteLeave          = 3
	reqRemoteDisconnect     = 4
	reqRemoteFetch          = 5
	reqServerSideEmit       = 6
	reqBroadcast            = 7
	reqBroadcastClientCount = 8
	reqBroadcastAck         = 9
)

// Message types of socket.io-adapter's ClusterAdapter (sharded mode).
const (
	msgInitialHeartbeat       = 1
	msgHeartbeat              = 2
	msgBroadcast              = 3
	msgSocketsJoin            = 4
	msgSocketsLeave           = 5
	msgDisconnectSockets      = 6
	msgFetchSockets           = 7
	msgFetchSocketsResponse   = 8
	msgServerSideEmit         = 9
	msgServerSideEmitResponse = 10
	msgBroadcastClientCount   = 11
	msgBroadcastAck           = 12
	msgAdapterClose           = 13
)

var errMalformed = errors.New("redisadapter: malformed message")

// decodePayload parses a JSON (first byte '{') or msgpack payload.
func decodePayload(p string) (wire.Value, error) {
	if len(p) == 0 {
		return wire.Value{}, errMalformed
	}
	if p[0] == '{' {
		return wire.ParseJSON([]byte(p), nil)
	}
	return wire.DecodeMsgpack([]byte(p))
}

// dataValue turns broker JSON (placeholders + attachments) into the value
// Node would hold (Buffers in place).
func dataValue(data json.RawMessage, att [][]byte) (wire.Value, error) {
	if len(data) == 0 {
		return wire.A(), nil
	}
	if att == nil {
		att = [][]byte{}
	}
	v, err := wire.ParseJSON(data, att)
	if err != nil {
		return wire.Value{}, fmt.Errorf("redisadapter: packet data: %w", err)
	}
	return v, nil
}

// packetValue is the Socket.IO packet object as Node's adapters put it
// on the wire: {type, data, nsp} (classic) or {type, data} (sharded: the
// ClusterAdapter does not add nsp; ns == ""). Binary packet types travel
// as their plain type; the receiver re-detects binary values.
func packetValue(p adapter.Packet, ns string) (wire.Value, error) {
	data, err := dataValue(p.Data, p.Attachments)
	if err != nil {
		return wire.Value{}, err
	}
	t := p.Type
	switch t {
	case 5:
		t = 2
	case 6:
		t = 3
	}
	v := wire.M(wire.F("type", wire.N(float64(t))), wire.F("data", data))
	if ns != "" {
		v.Fields = append(v.Fields, wire.F("nsp", wire.S(ns)))
	}
	return v, nil
}

func flagsValue(o adapter.BroadcastOptions) wire.Value {
	var fs []wire.Field
	if o.Volatile {
		fs = append(fs, wire.F("volatile", wire.B(true)))
	}
	if o.Compress {
		fs = append(fs, wire.F("compress", wire.B(true)))
	}
	return wire.Value{Type: wire.Map, Fields: fs}
}

func strs(s []string) wire.Value {
	if s == nil {
		s = []string{}
	}
	return wire.Strings(s)
}

// optsValue is {rooms, except, flags} (flags omitted when withFlags is false).
func optsValue(o adapter.BroadcastOptions, withFlags bool) wire.Value {
	v := wire.M(wire.F("rooms", strs(o.Rooms)), wire.F("except", strs(o.Except)))
	if withFlags {
		v.Fields = append(v.Fields, wire.F("flags", flagsValue(o)))
	}
	return v
}

func decodeOpts(v wire.Value) adapter.BroadcastOptions {
	o := adapter.BroadcastOptions{}
	if r, ok := v.Get("rooms"); ok {
		o.Rooms = r.StringSlice()
	}
	if e, ok := v.Get("except"); ok {
		o.Except = e.StringSlice()
	}
	if f, ok := v.Get("flags"); ok && f.Type == wire.Map {
		vol, _ := f.Get("volatile")
		cmp, _ := f.Get("compress")
		o.Volatile, o.Compress = vol.Truthy(), cmp.Truthy()
	}
	return o
}

// decodePacket converts a wire packet object; the namespace defaults to "/".
func decodePacket(v wire.Value) (adapter.Packet, string, error) {
	if v.Type != wire.Map {
		return adapter.Packet{}, "", errMalformed
	}
	p := adapter.Packet{ID: -1}
	t, _ := v.Get("type")
	p.Type = uint8(t.Int())
	d, _ := v.Get("data")
	p.Data, p.Attachments = d.JSONWithPlaceholders()
	if id, ok := v.Get("id"); ok && id.Type == wire.Number {
		p.ID = id.Int()
	}
	ns := "/"
	if n, ok := v.Get("nsp"); ok && n.Type == wire.String {
		ns = n.Str
	}
	return p, ns, nil
}

// argsValue turns a reply's JSON array of ack arguments into the single
// value Node's adapters carry (they pass the first argument only).
func firstArg(data json.RawMessage, att [][]byte) (wire.Value, bool) {
	if len(data) == 0 {
		return wire.Value{}, false
	}
	v, err := dataValue(data, att)
	if err != nil || v.Type != wire.Array || len(v.Arr) == 0 {
		return wire.Value{}, false
	}
	return v.Arr[0], true
}

// argReply is the Reply.Data form of one ack argument.
func argReply(v wire.Value, present bool) (json.RawMessage, [][]byte) {
	if !present {
		return json.RawMessage(`[]`), nil
	}
	return wire.A(v).JSONWithPlaceholders()
}

func rawValue(raw json.RawMessage) (wire.Value, bool) {
	if len(raw) == 0 {
		return wire.Value{}, false
	}
	v, err := wire.ParseJSON(raw, nil)
	if err != nil {
		return wire.Value{}, false
	}
	return v, true
}

func stringMap(m map[string]string) wire.Value {
	v := wire.Value{Type: wire.Map}
	for k, s := range m {
		v.Fields = append(v.Fields, wire.F(k, wire.S(s)))
	}
	return v
}

// socketValue is a RemoteSocket's details as Node publishes them.
func socketValue(s adapter.SocketInfo) wire.Value {
	h := s.Handshake
	auth, ok := rawValue(h.Auth)
	if !ok {
		auth = wire.M()
	}
	hs := wire.M(
		wire.F("headers", stringMap(h.Headers)),
		wire.F("time", wire.S(h.Time)),
		wire.F("address", wire.S(h.Address)),
		wire.F("xdomain", wire.B(h.XDomain)),
		wire.F("secure", wire.B(h.Secure)),
		wire.F("issued", wire.N(float64(h.Issued))),
		wire.F("url", wire.S(h.URL)),
		wire.F("query", stringMap(h.Query)),
		wire.F("auth", auth),
	)
	v := wire.M(wire.F("id", wire.S(s.ID)), wire.F("handshake", hs), wire.F("rooms", strs(s.Rooms)))
	if d, ok := rawValue(s.Data); ok {
		v.Fields = append(v.Fields, wire.F("data", d))
	}
	return v
}

func flatStringMap(v wire.Value) map[string]string {
	if v.Type != wire.Map {
		return nil
	}
	m := make(map[string]string, len(v.Fields))
	for _, f := range v.Fields {
		if f.Val.Type == wire.Array {
			m[f.Key] = strings.Join(f.Val.StringSlice(), ", ")
		} else {
			m[f.Key] = f.Val.JSString()
		}
	}
	return m
}

func decodeSocket(v wire.Value) adapter.SocketInfo {
	if v.Type == wire.String { // legacy SOCKETS response: ids only
		return adapter.SocketInfo{ID: v.Str, Data: json.RawMessage("null")}
	}
	s := adapter.SocketInfo{Data: json.RawMessage("null")}
	id, _ := v.Get("id")
	s.ID = id.JSString()
	r, _ := v.Get("rooms")
	s.Rooms = r.StringSlice()
	if d, ok := v.Get("data"); ok {
		s.Data = d.JSON()
	}
	if h, ok := v.Get("handshake"); ok && h.Type == wire.Map {
		get := func(k string) wire.Value { x, _ := h.Get(k); return x }
		s.Handshake = adapter.Handshake{
			Headers: flatStringMap(get("headers")),
			Time:    get("time").Str,
			Address: get("address").Str,
			XDomain: get("xdomain").Truthy(),
			Secure:  get("secure").Truthy(),
			Issued:  get("issued").Int(),
			URL:     get("url").Str,
			Query:   flatStringMap(get("query")),
		}
		if au, ok := h.Get("auth"); ok {
			s.Handshake.Auth = au.JSON()
		}
	}
	return s
}

// hasBinary reports whether v holds a Buffer (sharded mode then uses msgpack).
func hasBinary(v wire.Value) bool {
	switch v.Type {
	case wire.Binary:
		return true
	case wire.Array:
		for _, e := range v.Arr {
			if hasBinary(e) {
				return true
			}
		}
	case wire.Map:
		for _, f := range v.Fields {
			if hasBinary(f.Val) {
				return true
			}
		}
	}
	return false
}

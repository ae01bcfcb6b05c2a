package emitter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/redis/go-redis/v9"

	"github.com/ionbus/ionbus/internal/wire"
)

// UID is the node id the emitter uses on the wire.
const UID = "emitter"

// Request types of the classic protocol used by the emitter.
const (
	reqRemoteJoin       = 2
	reqRemoteLeave      = 3
	reqRemoteDisconnect = 4
	reqServerSideEmit   = 6
	packetEvent         = 2
)

// ErrReservedEvent is returned by Emit for the events socket.io reserves.
var ErrReservedEvent = errors.New("emitter: reserved event name")

var reserved = map[string]bool{
	"connect": true, "connect_error": true, "disconnect": true,
	"disconnecting": true, "newListener": true, "removeListener": true,
}

// Options configures an Emitter.
type Options struct {
	// Key is the channel prefix; default "socket.io".
	Key string
}

// Emitter publishes to one namespace ("/" unless derived with Of).
type Emitter struct {
	client redis.UniversalClient
	key    string
	nsp    string
}

// New returns an emitter for the "/" namespace.
func New(client redis.UniversalClient, opts Options) *Emitter {
	if opts.Key == "" {
		opts.Key = "socket.io"
	}
	return &Emitter{client: client, key: opts.Key, nsp: "/"}
}

// Of returns an emitter for namespace nsp (a leading "/" is added if missing).
func (e *Emitter) Of(nsp string) *Emitter {
	if len(nsp) == 0 || nsp[0] != '/' {
		nsp = "/" + nsp
	}
	return &Emitter{client: e.client, key: e.key, nsp: nsp}
}

func (e *Emitter) op() *BroadcastOperator { return &BroadcastOperator{e: e} }

// To targets rooms.
func (e *Emitter) To(rooms ...string) *BroadcastOperator { return e.op().To(rooms...) }

// In is To.
func (e *Emitter) In(rooms ...string) *BroadcastOperator { return e.op().To(rooms...) }

// Except excludes rooms.
func (e *Emitter) Except(rooms ...string) *BroadcastOperator { return e.op().Except(rooms...) }

// Volatile marks the event as droppable for congested clients.
func (e *Emitter) Volatile() *BroadcastOperator { return e.op().Volatile() }

// Compress sets the compress flag.
func (e *Emitter) Compress(c bool) *BroadcastOperator { return e.op().Compress(c) }

// Emit sends event to every client of the namespace.
func (e *Emitter) Emit(ctx context.Context, event string, args ...any) error {
	return e.op().Emit(ctx, event, args...)
}

// SocketsJoin makes every socket of the namespace join rooms.
func (e *Emitter) SocketsJoin(ctx context.Context, rooms ...string) error {
	return e.op().SocketsJoin(ctx, rooms...)
}

// SocketsLeave makes every socket of the namespace leave rooms.
func (e *Emitter) SocketsLeave(ctx context.Context, rooms ...string) error {
	return e.op().SocketsLeave(ctx, rooms...)
}

// DisconnectSockets disconnects every socket of the namespace; close also
// closes the underlying connections.
func (e *Emitter) DisconnectSockets(ctx context.Context, close bool) error {
	return e.op().DisconnectSockets(ctx, close)
}

// ServerSideEmit sends an event to the servers of the namespace (their
// serverSideEmit listeners). Acknowledgements are not supported, as in
// the Node emitter; args[0] is the event name.
func (e *Emitter) ServerSideEmit(ctx context.Context, args ...any) error {
	data, err := toValue(args)
	if err != nil {
		return err
	}
	v := wire.M(wire.F("uid", wire.S(UID)), wire.F("type", wire.N(reqServerSideEmit)), wire.F("data", data))
	return e.publish(ctx, wire.Channel(wire.ChanRequest, e.key, e.nsp, ""), v.JSON())
}

func (e *Emitter) publish(ctx context.Context, channel string, payload []byte) error {
	if err := e.client.Publish(ctx, channel, payload).Err(); err != nil {
		return fmt.Errorf("emitter: publish %s: %w", channel, err)
	}
	return nil
}

// BroadcastOperator is an emitter with room and flag selections. Each
// method returns a new operator; the receiver is never modified.
type BroadcastOperator struct {
	e      *Emitter
	rooms  []string
	except []string
	flags  []wire.Field // insertion order, as Object.assign keeps it
}

func addUnique(set []string, add []string) []string {
	out := append([]string(nil), set...)
	for _, r := range add {
		dup := false
		for _, x := range out {
			if x == r {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, r)
		}
	}
	return out
}

func (b *BroadcastOperator) clone() *BroadcastOperator {
	c := *b
	c.flags = append([]wire.Field(nil), b.flags...)
	return &c
}

func (b *BroadcastOperator) setFlag(key string, v bool) *BroadcastOperator {
	c := b.clone()
	for i := range c.flags {
		if c.flags[i].Key == key {
			c.flags[i].Val = wire.B(v)
			return c
		}
	}
	c.flags = append(c.flags, wire.F(key, wire.B(v)))
	return c
}

// To adds rooms to the target set.
func (b *BroadcastOperator) To(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.rooms = addUnique(b.rooms, rooms)
	return c
}

// In is To.
func (b *BroadcastOperator) In(rooms ...string) *BroadcastOperator { return b.To(rooms...) }

// Except adds rooms to the excluded set.
func (b *BroadcastOperator) Except(rooms ...string) *BroadcastOperator {
	c := b.clone()
	c.except = addUnique(b.except, rooms)
	return c
}

// Volatile sets the volatile flag.
func (b *BroadcastOperator) Volatile() *BroadcastOperator { return b.setFlag("volatile", true) }

// Compress sets the compress flag.
func (b *BroadcastOperator) Compress(c bool) *BroadcastOperator { return b.setFlag("compress", c) }

func strs(s []string) wire.Value {
	if s == nil {
		s = []string{}
	}
	return wire.Strings(s)
}

// Emit publishes event with args to the selected clients. []byte values
// (at any depth of []any / map[string]any) travel as binary.
func (b *BroadcastOperator) Emit(ctx context.Context, event string, args ...any) error {
	if reserved[event] {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	data, err := toValue(append([]any{event}, args...))
	if err != nil {
		return err
	}
	e := b.e
	packet := wire.M(wire.F("type", wire.N(packetEvent)), wire.F("data", data), wire.F("nsp", wire.S(e.nsp)))
	opts := wire.M(wire.F("rooms", strs(b.rooms)), wire.F("flags", wire.Value{Type: wire.Map, Fields: b.flags}), wire.F("except", strs(b.except)))
	ch := wire.Channel(wire.ChanBroadcast, e.key, e.nsp, "")
	if len(b.rooms) == 1 {
		ch = wire.Channel(wire.ChanRoom, e.key, e.nsp, b.rooms[0])
	}
	return e.publish(ctx, ch, wire.A(wire.S(UID), packet, opts).Msgpack())
}

func (b *BroadcastOperator) roomsRequest(ctx context.Context, t int, rooms []string) error {
	opts := wire.M(wire.F("rooms", strs(b.rooms)), wire.F("except", strs(b.except)))
	v := wire.M(wire.F("type", wire.N(float64(t))), wire.F("opts", opts), wire.F("rooms", strs(rooms)))
	return b.e.publish(ctx, wire.Channel(wire.ChanRequest, b.e.key, b.e.nsp, ""), v.JSON())
}

// SocketsJoin makes the selected sockets join rooms.
func (b *BroadcastOperator) SocketsJoin(ctx context.Context, rooms ...string) error {
	return b.roomsRequest(ctx, reqRemoteJoin, rooms)
}

// SocketsLeave makes the selected sockets leave rooms.
func (b *BroadcastOperator) SocketsLeave(ctx context.Context, rooms ...string) error {
	return b.roomsRequest(ctx, reqRemoteLeave, rooms)
}

// DisconnectSockets disconnects the selected sockets.
func (b *BroadcastOperator) DisconnectSockets(ctx context.Context, close bool) error {
	opts := wire.M(wire.F("rooms", strs(b.rooms)), wire.F("except", strs(b.except)))
	v := wire.M(wire.F("type", wire.N(reqRemoteDisconnect)), wire.F("opts", opts), wire.F("close", wire.B(close)))
	return b.e.publish(ctx, wire.Channel(wire.ChanRequest, b.e.key, b.e.nsp, ""), v.JSON())
}

// toValue converts a Go value to the JavaScript value the Node packages
// would encode: nil, bool, numbers, string, []byte (binary), json.RawMessage,
// []any, []string, map[string]any (keys sorted, Go maps have no order);
// anything else goes through encoding/json (struct field order is kept,
// but []byte inside it becomes base64 text as JSON defines).
func toValue(x any) (wire.Value, error) {
	switch v := x.(type) {
	case nil:
		return wire.Value{}, nil
	case bool:
		return wire.B(v), nil
	case string:
		return wire.S(v), nil
	case []byte:
		return wire.Bytes(v), nil
	case json.RawMessage:
		return wire.ParseJSON(v, nil)
	case []string:
		return wire.Strings(v), nil
	case []any:
		arr := make([]wire.Value, len(v))
		for i, e := range v {
			ev, err := toValue(e)
			if err != nil {
				return wire.Value{}, err
			}
			arr[i] = ev
		}
		return wire.A(arr...), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		m := wire.M()
		for _, k := range keys {
			ev, err := toValue(v[k])
			if err != nil {
				return wire.Value{}, err
			}
			m.Fields = append(m.Fields, wire.F(k, ev))
		}
		return m, nil
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return wire.N(float64(rv.Int())), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return wire.N(float64(rv.Uint())), nil
	case reflect.Float32, reflect.Float64:
		return wire.N(rv.Float()), nil
	}
	b, err := json.Marshal(x)
	if err != nil {
		return wire.Value{}, fmt.Errorf("emitter: argument: %w", err)
	}
	return wire.ParseJSON(b, nil)
}

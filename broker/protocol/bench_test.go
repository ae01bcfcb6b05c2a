package protocol

import (
	"encoding/json"
	"testing"
)

// A typical chat event with an ack id in a custom namespace.
var benchWire = []byte(`2/chat,42["message",{"room":"general","user":"alice","text":"hello everyone, how are you today?","ts":1732500000123,"tags":["a","b"]}]`)

func BenchmarkEncode(b *testing.B) {
	p := &Packet{Type: PacketEvent, Namespace: "/chat", ID: 42,
		Data: json.RawMessage(benchWire[len(`2/chat,42`):])}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchWire)))
	for b.Loop() {
		_ = Encode(p)
	}
}

func BenchmarkAppendEncode(b *testing.B) {
	p := &Packet{Type: PacketEvent, Namespace: "/chat", ID: 42,
		Data: json.RawMessage(benchWire[len(`2/chat,42`):])}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchWire)))
	for b.Loop() {
		buf = AppendEncode(buf[:0], p)
	}
}

func BenchmarkAddText(b *testing.B) {
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(benchWire)))
	for b.Loop() {
		if _, err := d.AddText(benchWire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddTextBinary(b *testing.B) {
	var d Decoder
	text := []byte(`51-/chat,7["upload",{"name":"a.png","data":{"_placeholder":true,"num":0}}]`)
	att := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.AddText(text); err != nil {
			b.Fatal(err)
		}
		if p, err := d.AddBinary(att); err != nil || p == nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeArgs(b *testing.B) {
	data := json.RawMessage(benchWire[len(`2/chat,42`):])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeArgs(data, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeArgs(b *testing.B) {
	args := []any{"message", map[string]any{"room": "general", "user": "alice", "text": "hello everyone",
		"ts": json.Number("1732500000123"), "tags": []any{"a", "b"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := EncodeArgs(args); err != nil {
			b.Fatal(err)
		}
	}
}

// The same chat event through the msgpack parser: encoded once per
// broadcast, decoded once per inbound message.
func BenchmarkEncodeMsgpack(b *testing.B) {
	p := &Packet{Type: PacketEvent, Namespace: "/chat", ID: 42,
		Data: json.RawMessage(benchWire[len(`2/chat,42`):])}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchWire)))
	for b.Loop() {
		if _, err := EncodeMsgpack(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddMsgpack(b *testing.B) {
	p := &Packet{Type: PacketEvent, Namespace: "/chat", ID: 42,
		Data: json.RawMessage(benchWire[len(`2/chat,42`):])}
	msg, err := EncodeMsgpack(p)
	if err != nil {
		b.Fatal(err)
	}
	var d Decoder
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := d.AddMsgpack(msg); err != nil {
			b.Fatal(err)
		}
	}
}

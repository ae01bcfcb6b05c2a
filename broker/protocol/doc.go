// Package protocol is the Socket.IO v5 packet codec (the protocol spoken by Socket.IO v3/v4
// clients and servers; see https://github.com/socketio/socket.io-protocol).
//
// It owns the text form of a packet, <type>[<n>-][<nsp>,][<id>][<data>], the binary
// attachment scheme ({"_placeholder":true,"num":N} in the JSON plus one Engine.IO binary
// message per attachment) and the payload validation rules of the reference parser
// (socket.io-parser isPayloadValid). It does not own the Engine.IO framing around it, nor
// Socket.IO semantics such as reserved event names, namespaces authorisation or acks: those
// belong to broker.
//
// Callers:
//   - broker decodes each inbound Engine.IO message of a connection with that connection's
//     Decoder (AddText for text messages, AddBinary for binary ones), and encodes outbound
//     packets once per broadcast with Encode/AppendEncode, sharing the bytes with every
//     recipient.
//   - broker and tests use DecodeArgs/EncodeArgs to go between Data/Attachments and Go values;
//     the hot relay path never needs them, since Data is kept verbatim.
//
// Goroutine safety: Decoder is not safe for concurrent use (one per connection, driven by the
// connection's single reader). Encode, AppendEncode, DecodeArgs, EncodeArgs, HasBinary and
// ValidJSON are pure functions, safe for concurrent use on values nobody mutates meanwhile.
// There are no locks in this package.
//
// Buffer ownership: Decoder copies everything it keeps, so inputs may be reused once AddText or
// AddBinary returns. Encode never retains its input. DecodeArgs and EncodeArgs do not copy
// attachments: the returned values alias the []byte slices passed in.
//
// Limits: Decoder.MaxAttachments (default 10, like the reference) and Decoder.MaxDepth (default
// 32) bound what one packet can make the broker hold or recurse into; the message size itself
// is limited by the connection layer before a message reaches the Decoder. JSON payloads are
// checked with a small allocation-free scanner (ValidJSON), which also rejects invalid UTF-8
// because payloads are relayed verbatim in WebSocket text frames.
package protocol

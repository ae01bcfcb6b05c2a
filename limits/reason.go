package limits

// Reason names why a check refused. The values and strings are stable:
// they are metric labels and may appear in client-facing error data.
type Reason uint8

const (
	ReasonNone            Reason = 0
	ReasonUserConnections Reason = 1 // too many concurrent connections of one user
	ReasonIPConnections   Reason = 2 // too many concurrent connections from one IP
	ReasonConnectRate     Reason = 3 // too many connection attempts from one IP
	ReasonMessageRate     Reason = 4 // too many messages from one user
	ReasonMessageSize     Reason = 5 // message larger than MaxMessageBytes
	ReasonRooms           Reason = 6 // socket already in MaxRoomsPerSocket rooms

	reasonCount = 7
)

// MarshalText is String, so JSON (map keys included, as in
// /api/v1/stats) names the reason instead of numbering it.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

func (r Reason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonUserConnections:
		return "user_connections"
	case ReasonIPConnections:
		return "ip_connections"
	case ReasonConnectRate:
		return "connect_rate"
	case ReasonMessageRate:
		return "message_rate"
	case ReasonMessageSize:
		return "message_size"
	case ReasonRooms:
		return "rooms"
	}
	return "unknown"
}

package broker

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/ionbus/ionbus/broker/protocol"
)

// recovery keeps what connection state recovery needs on this node: the
// sessions of sockets that dropped for a recoverable reason, and a log of
// the event packets broadcast meanwhile. It mirrors the reference's
// SessionAwareAdapter: each logged EVENT carries its offset as its last
// argument, the client reports the last offset it saw, and a returning
// client receives the logged packets after that offset that match its
// rooms.
type recovery struct {
	cfg    RecoveryConfig
	now    func() time.Time
	prefix string

	mu       sync.Mutex
	seq      uint64
	sessions map[string]session // by namespace+"\x00"+pid
	packets  []loggedPacket     // oldest first
	index    map[string]int     // offset -> absolute position (base + i)
	base     int                // absolute position of packets[0]
}

type session struct {
	sid, pid string
	rooms    []string
	data     any
	lostAt   time.Time
}

type loggedPacket struct {
	nsp         string
	offset      string
	rooms       []string
	except      []string
	data        json.RawMessage
	attachments [][]byte
	at          time.Time
}

func newRecovery(cfg RecoveryConfig, now func() time.Time) *recovery {
	return &recovery{
		cfg:      cfg,
		now:      now,
		prefix:   randomID(6) + "-",
		sessions: make(map[string]session),
		index:    make(map[string]int),
	}
}

func (r *recovery) close() {}

// log assigns p an offset, appends it to the data array, and keeps the
// packet. It returns the packet to send.
func (r *recovery) log(nsp string, p *protocol.Packet, o deliveryOpts) *protocol.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	offset := r.prefix + strconv.FormatUint(r.seq, 36)
	data := appendJSONString(p.Data, offset)
	now := r.now()
	r.expireLocked(now)
	r.index[offset] = r.base + len(r.packets)
	r.packets = append(r.packets, loggedPacket{
		nsp: nsp, offset: offset, rooms: o.rooms, except: o.except,
		data: data, attachments: p.Attachments, at: now,
	})
	if len(r.packets) > r.cfg.MaxPackets {
		r.dropLocked(len(r.packets) - r.cfg.MaxPackets)
	}
	out := *p
	out.Data = data
	return &out
}

func (r *recovery) persist(nsp string, s session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.lostAt = r.now()
	r.sessions[nsp+"\x00"+s.pid] = s
	r.expireLocked(s.lostAt)
}

// restore returns the session with pid and the packets it missed after
// offset, removing the session. ok is false when the session or the
// offset is unknown or expired (the client then gets a fresh socket).
func (r *recovery) restore(nsp, pid, offset string) (session, []loggedPacket, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.expireLocked(now)
	key := nsp + "\x00" + pid
	s, ok := r.sessions[key]
	if !ok {
		return session{}, nil, false
	}
	pos, ok := r.index[offset]
	if !ok {
		return session{}, nil, false
	}
	delete(r.sessions, key)
	var missed []loggedPacket
	for _, p := range r.packets[pos-r.base+1:] {
		if p.nsp == nsp && includes(s.rooms, p.rooms, p.except) {
			missed = append(missed, p)
		}
	}
	return s, missed, true
}

// includes is the reference's shouldIncludePacket.
func includes(sessionRooms, rooms, except []string) bool {
	in := len(rooms) == 0
	for _, sr := range sessionRooms {
		for _, r := range rooms {
			if sr == r {
				in = true
			}
		}
		for _, e := range except {
			if sr == e {
				return false
			}
		}
	}
	return in
}

func (r *recovery) expireLocked(now time.Time) {
	threshold := now.Add(-r.cfg.MaxDisconnection)
	for k, s := range r.sessions {
		if s.lostAt.Before(threshold) {
			delete(r.sessions, k)
		}
	}
	n := 0
	for n < len(r.packets) && r.packets[n].at.Before(threshold) {
		n++
	}
	if n > 0 {
		r.dropLocked(n)
	}
}

func (r *recovery) dropLocked(n int) {
	for _, p := range r.packets[:n] {
		delete(r.index, p.offset)
	}
	r.packets = append(r.packets[:0:0], r.packets[n:]...)
	r.base += n
}

// appendJSONString appends s as the last element of the JSON array data.
func appendJSONString(data json.RawMessage, s string) json.RawMessage {
	trimmed := bytes.TrimRight(data, " \t\r\n")
	if len(trimmed) < 2 || trimmed[len(trimmed)-1] != ']' {
		return data
	}
	body := bytes.TrimRight(trimmed[:len(trimmed)-1], " \t\r\n")
	enc, _ := json.Marshal(s)
	out := make([]byte, 0, len(body)+len(enc)+2)
	out = append(out, body...)
	if len(body) > 1 { // not "["
		out = append(out, ',')
	}
	out = append(out, enc...)
	return append(out, ']')
}

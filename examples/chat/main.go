// Command chat embeds ionbus in a Go program: a /chat namespace where
// clients join rooms and talk in them, plus the HTTP API for backends.
//
//	go run ./examples/chat            # Socket.IO on :4000, API on 127.0.0.1:4001
//
// A client (Node or browser):
//
//	const socket = io("http://localhost:4000/chat");
//	socket.emit("join_room", "lobby", (res) => console.log(res)); // {ok: true, room: "lobby"}
//	socket.emit("say", "lobby", "hello");
//	socket.on("said", (msg) => console.log(msg)); // {from, room, text}
package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/ionbus/ionbus/broker"
	"github.com/ionbus/ionbus/broker/api"
)

func main() {
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv, err := broker.New(broker.Config{Logger: &log})
	if err != nil {
		log.Fatal().Err(err).Msg("broker")
	}
	chat := registerChat(srv, log)
	if err := srv.Start(ctx); err != nil {
		log.Fatal().Err(err).Msg("start")
	}

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	public := &http.Server{Addr: ":4000", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// The HTTP API lets a backend publish: POST /api/v1/emit
	// {"namespace":"/chat","event":"said","rooms":["lobby"],"data":[{"text":"hi"}]}
	apiSrv := &http.Server{Addr: "127.0.0.1:4001", ReadHeaderTimeout: 10 * time.Second,
		Handler: api.New(api.Config{Key: os.Getenv("CHAT_API_KEY"), Insecure: os.Getenv("CHAT_API_KEY") == "", Logger: &log}, srv)}

	// A server-side announcement every minute to the lobby.
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				_ = chat.To("lobby").Emit("said", map[string]string{"from": "server", "room": "lobby", "text": now.Format(time.Kitchen)})
			}
		}
	}()

	for _, s := range []*http.Server{public, apiSrv} {
		go func() {
			if err := s.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Str("addr", s.Addr).Msg("listen")
				stop()
			}
		}()
	}
	log.Info().Msg("chat on :4000 (namespace /chat), API on 127.0.0.1:4001")
	<-ctx.Done()

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = public.Shutdown(shutdownCtx) }()
	go func() { _ = apiSrv.Shutdown(shutdownCtx) }()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn().Err(err).Msg("shutdown")
	}
}

// registerChat installs the /chat handlers on srv and returns the namespace.
func registerChat(srv *broker.Server, log zerolog.Logger) *broker.Namespace {
	chat := srv.Of("/chat")
	chat.OnConnection(func(s *broker.Socket) {
		log.Info().Str("socket", s.ID()).Msg("connected")

		// join_room(room, ack?) puts the socket in a room and tells the
		// room's other members.
		s.On("join_room", func(e *broker.Event) {
			room, ok := firstString(e)
			if !ok {
				_ = e.Ack(map[string]any{"ok": false, "error": "room name required"})
				return
			}
			s.Join(room)
			_ = s.To(room).Emit("joined", map[string]string{"socket": s.ID(), "room": room})
			_ = e.Ack(map[string]any{"ok": true, "room": room})
		})

		// say(room, text) broadcasts to every member of a room the socket
		// is in, on every node of the cluster.
		s.On("say", func(e *broker.Event) {
			args, err := e.Args()
			if err != nil || len(args) < 2 {
				return
			}
			room, _ := args[0].(string)
			text, _ := args[1].(string)
			if room == "" || !s.InRoom(room) {
				return
			}
			_ = chat.To(room).Emit("said", map[string]string{"from": s.ID(), "room": room, "text": text})
		})

		s.OnDisconnect(func(s *broker.Socket, reason string) {
			log.Info().Str("socket", s.ID()).Str("reason", reason).Msg("disconnected")
		})
	})
	return chat
}

func firstString(e *broker.Event) (string, bool) {
	args, err := e.Args()
	if err != nil || len(args) == 0 {
		return "", false
	}
	s, ok := args[0].(string)
	s = strings.TrimSpace(s)
	return s, ok && s != ""
}

package adminui

import (
	"context"
	"crypto/subtle"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ionbus/ionbus/broker"
)

// authenticate is the admin namespace's middleware (blocking: bcrypt
// costs tens of milliseconds, and the session store may be Redis). The
// CONNECT auth payload is {sessionId} from an earlier login, or
// {username, password} from the UI's form; a valid pair gets a new
// session id, sent as the "session" event once connected. Anything else
// is refused with "invalid credentials", upstream's message, which the
// UI answers with its login form.
func (a *AdminUI) authenticate(s *broker.Socket) error {
	auth := s.Handshake().Auth
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.LoginTimeout)
	defer cancel()
	if sid, _ := auth["sessionId"].(string); sid != "" {
		ok, err := a.sessions.exists(ctx, sid)
		if err != nil {
			a.log.Warn().Err(err).Msg("admin ui: session store")
		}
		if ok {
			return nil
		}
	}
	user, _ := auth["username"].(string)
	password, _ := auth["password"].(string)
	if user == "" && password == "" {
		return &broker.ConnectError{Message: MessageInvalidCredentials}
	}
	if !a.checkPassword(ctx, user, password) {
		a.log.Info().Str("addr", s.Handshake().Address).Msg("admin ui: login refused")
		return &broker.ConnectError{Message: MessageInvalidCredentials}
	}
	sid := newSessionID()
	if err := a.sessions.save(ctx, sid, a.cfg.SessionTTL); err != nil {
		// The login stands; the UI will have to log in again next time.
		a.log.Warn().Err(err).Msg("admin ui: session store")
	} else {
		s.Set(sessionKey{}, sid)
	}
	a.log.Info().Str("addr", s.Handshake().Address).Msg("admin ui: login")
	return nil
}

// checkPassword compares in constant time (the username) and with
// bcrypt (the password), at most MaxConcurrentLogins at once: a flood of
// logins queues here instead of taking every core.
func (a *AdminUI) checkPassword(ctx context.Context, user, password string) bool {
	select {
	case a.logins <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-a.logins }()
	start := time.Now()
	// Always pay for the hash, so a wrong username takes as long as a
	// wrong password.
	hashErr := bcrypt.CompareHashAndPassword([]byte(a.cfg.PasswordHash), []byte(password))
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.cfg.Username)) == 1
	a.log.Debug().Dur("took", time.Since(start)).Msg("admin ui: bcrypt")
	return userOK && hashErr == nil
}

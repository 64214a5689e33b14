package fake

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/assocsync/associate-operator/internal/superoffice"
)

// signer is one of the fake's JWT signing keys.
type signer struct {
	kid string
	key *rsa.PrivateKey
}

func newSigner() (*signer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating a JWT signing key: %w", err)
	}
	return &signer{kid: "fake-" + randomHex(6), key: key}, nil
}

// signedTokenMaxSkew is how far the signed token's minute may be from the fake's clock.
const signedTokenMaxSkew = 5 * time.Minute

func (s *SuperOffice) handleAuthenticate(w http.ResponseWriter, r *http.Request) {
	var req superoffice.AuthenticateRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "SoBadRequestException", "expected the Authenticate JSON")
		return
	}
	fail := func(msg string) {
		writeJSON(w, http.StatusOK, superoffice.AuthenticateResponse{IsSuccessful: false, ErrorMessage: &msg})
	}
	switch {
	case req.ApplicationToken != s.opts.ApplicationToken:
		fail("unknown ApplicationToken")
		return
	case req.ContextIdentifier != s.opts.Tenant:
		fail("unknown ContextIdentifier " + req.ContextIdentifier)
		return
	case req.ReturnTokenType != "JWT":
		fail("ReturnTokenType must be JWT")
		return
	}
	if msg := s.verifySignedSystemToken(req.SignedSystemToken); msg != "" {
		fail(msg)
		return
	}
	token, err := s.issueJWT(s.IssueTicket(), s.baseURL(r))
	if err != nil {
		writeError(w, http.StatusInternalServerError, "SoException", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, superoffice.AuthenticateResponse{IsSuccessful: true, Token: token})
}

// verifySignedSystemToken checks "<token>.<yyyyMMddHHmm>.<base64 signature>"; "" means valid.
func (s *SuperOffice) verifySignedSystemToken(signed string) string {
	lastDot := strings.LastIndexByte(signed, '.')
	if lastDot < 0 {
		return "SignedSystemToken: expected token.time.signature"
	}
	message, sigB64 := signed[:lastDot], signed[lastDot+1:]
	timeDot := strings.LastIndexByte(message, '.')
	if timeDot < 0 {
		return "SignedSystemToken: expected token.time.signature"
	}
	token, stamp := message[:timeDot], message[timeDot+1:]
	if token != s.opts.SystemUserToken {
		return "unknown system user token"
	}
	at, err := time.Parse(superoffice.SignedTokenTimeLayout, stamp)
	if err != nil {
		return "SignedSystemToken: expected a yyyyMMddHHmm time"
	}
	if skew := s.opts.Now().UTC().Sub(at); skew > signedTokenMaxSkew || skew < -signedTokenMaxSkew {
		return "SignedSystemToken: the time is too far from now"
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		return "SignedSystemToken: expected a base64 signature"
	}
	digest := sha256.Sum256([]byte(message))
	if rsa.VerifyPKCS1v15(&s.opts.ClientKey.PublicKey, crypto.SHA256, digest[:], sig) != nil {
		return "SignedSystemToken: the signature does not match the application's key"
	}
	return ""
}

// issueJWT signs the ticket into an RS256 JWT with the current key, or, when forging, with
// a key that is not published under the same kid.
func (s *SuperOffice) issueJWT(ticket, base string) (string, error) {
	s.mu.Lock()
	sg, forge, tokenContext := s.signers[0], s.forgeTokens, s.tokenContext
	s.mu.Unlock()
	if tokenContext == "" {
		tokenContext = s.opts.Tenant
	}
	key := sg.key
	if forge {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return "", err
		}
	}
	now := s.opts.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss":                        superoffice.JWTIssuer,
		"aud":                        "spn:" + s.opts.ApplicationToken[:min(8, len(s.opts.ApplicationToken))],
		"iat":                        now.Unix(),
		"nbf":                        now.Unix(),
		"exp":                        now.Add(time.Hour).Unix(),
		superoffice.ClaimTicket:      ticket,
		superoffice.ClaimContext:     tokenContext,
		superoffice.ClaimAssociateID: "5",
		superoffice.ClaimWebAPIURL:   s.APIURL(base),
		superoffice.ClaimPrefix + "netserver_url": base + "/" + s.opts.Tenant + "/Remote/Services88",
	})
	tok.Header["kid"] = sg.kid
	return tok.SignedString(key)
}

func (s *SuperOffice) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	set := jose.JSONWebKeySet{}
	for _, sg := range s.signers {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &sg.key.PublicKey, KeyID: sg.kid, Algorithm: "RS256", Use: "sig"})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

// IssueTicket makes a ticket valid for TicketLifetime, as a ticket-mode credential.
func (s *SuperOffice) IssueTicket() string {
	ticket := "7T:" + base64.StdEncoding.EncodeToString([]byte(randomHex(12)))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tickets[ticket] = s.opts.Now().Add(s.opts.TicketLifetime)
	return ticket
}

// ExpireTickets ends every ticket issued so far: the next call with one gets 401.
func (s *SuperOffice) ExpireTickets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tickets)
}

// TicketsIssued is how many tickets are currently valid.
func (s *SuperOffice) TicketsIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tickets)
}

// RotateSigningKey signs new JWTs with a new key under a new kid; both keys stay published.
func (s *SuperOffice) RotateSigningKey() error {
	sg, err := newSigner()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signers = append([]*signer{sg}, s.signers...)
	return nil
}

// SetForgeTokens makes Authenticate return JWTs signed by an unpublished key.
func (s *SuperOffice) SetForgeTokens(forge bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgeTokens = forge
}

// SetTokenContext makes Authenticate return validly signed JWTs whose ctx claim is ctx
// (another tenant's ticket) instead of the tenant asked for; "" restores it.
func (s *SuperOffice) SetTokenContext(ctx string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenContext = ctx
}

// checkTicket wants "Authorization: SOTicket <live ticket>" and the right SO-AppToken.
func (s *SuperOffice) checkTicket(r *http.Request) (string, bool) {
	ticket, ok := strings.CutPrefix(r.Header.Get("Authorization"), "SOTicket ")
	if !ok {
		return "expected Authorization: SOTicket", false
	}
	// A ready ticket may come alone (SPEC: `ticket` alone); a token that is sent must match.
	if app := r.Header.Get("SO-AppToken"); app != "" && app != s.opts.ApplicationToken {
		return "expected the application's SO-AppToken", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	expiry, known := s.tickets[ticket]
	if !known || !s.opts.Now().Before(expiry) {
		return "the ticket is unknown or expired", false
	}
	// Tickets slide with use, as SuperOffice's do.
	s.tickets[ticket] = s.opts.Now().Add(s.opts.TicketLifetime)
	return "", true
}

package superoffice

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Claims and issuer of SuperOffice's system-user JWT.
const (
	JWTIssuer        = "SuperOffice AS"
	ClaimPrefix      = "http://schemes.superoffice.net/identity/"
	ClaimTicket      = ClaimPrefix + "ticket"
	ClaimWebAPIURL   = ClaimPrefix + "webapi_url"
	ClaimContext     = ClaimPrefix + "ctx"
	ClaimAssociateID = ClaimPrefix + "associateid"

	authenticatePath = "/Login/api/PartnerSystemUser/Authenticate"
	jwksPath         = "/login/.well-known/jwks"
	// SignedTokenTimeLayout is yyyyMMddHHmm, in UTC.
	SignedTokenTimeLayout = "200601021504"
)

// Ticket is a cached SOTicket with what the JWT said about it.
type Ticket struct {
	value     string
	WebAPIURL string
	Obtained  time.Time
}

// ParsePrivateKey reads an RSA private key from PEM, PKCS#1 or PKCS#8. Errors never quote the key.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("privateKey: expected a PEM block, found none")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("privateKey: expected a PKCS#1 RSA key: %w", err)
		}
		return key, nil
	case "PRIVATE KEY":
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("privateKey: expected a PKCS#8 key: %w", err)
		}
		rsaKey, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("privateKey: expected an RSA key, got %T", key)
		}
		return rsaKey, nil
	default:
		return nil, fmt.Errorf("privateKey: expected PEM type RSA PRIVATE KEY or PRIVATE KEY, got %q", block.Type)
	}
}

// SignSystemUserToken makes "<token>.<yyyyMMddHHmm>.<base64 RSA-SHA256 signature>".
func SignSystemUserToken(key *rsa.PrivateKey, systemUserToken string, now time.Time) (string, error) {
	signed := systemUserToken + "." + now.UTC().Format(SignedTokenTimeLayout)
	digest := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing the system user token: %w", err)
	}
	return signed + "." + base64.StdEncoding.EncodeToString(sig), nil
}

// AuthenticateRequest and AuthenticateResponse are the documented Authenticate shapes.
type AuthenticateRequest struct {
	SignedSystemToken string `json:"SignedSystemToken"`
	ApplicationToken  string `json:"ApplicationToken"`
	ContextIdentifier string `json:"ContextIdentifier"`
	ReturnTokenType   string `json:"ReturnTokenType"`
}

type AuthenticateResponse struct {
	IsSuccessful bool    `json:"IsSuccessful"`
	ErrorMessage *string `json:"ErrorMessage"`
	Token        string  `json:"Token"`
}

// currentTicket is the static ticket, or the cached one while younger than TicketMaxAge,
// or a new one from the system-user flow.
func (c *Client) currentTicket(ctx context.Context) (string, error) {
	if c.staticTicket != "" {
		return c.staticTicket, nil
	}
	if t := c.cachedTicket(); t != nil {
		return t.value, nil
	}
	c.authMu.Lock()
	defer c.authMu.Unlock()
	if t := c.cachedTicket(); t != nil { // another call authenticated while we waited
		return t.value, nil
	}
	t, err := c.authenticate(ctx)
	if err != nil {
		return "", err
	}
	c.tickMu.Lock()
	c.ticket = t
	c.tickMu.Unlock()
	return t.value, nil
}

func (c *Client) cachedTicket() *Ticket {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	if c.ticket != nil && c.now().Sub(c.ticket.Obtained) < c.ticketMaxAge {
		return c.ticket
	}
	return nil
}

// forgetTicket drops the cached ticket if it is still the one SuperOffice refused.
func (c *Client) forgetTicket(refused string) {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	if c.ticket != nil && c.ticket.value == refused {
		c.ticket = nil
	}
}

// WebAPIURL is the webapi_url claim of the current ticket's JWT, if any.
func (c *Client) WebAPIURL() string {
	if t := c.cachedTicket(); t != nil {
		return t.WebAPIURL
	}
	return ""
}

// authenticate runs the system-user flow and validates the JWT it returns.
func (c *Client) authenticate(ctx context.Context) (*Ticket, error) {
	const call = "authenticate system user"
	now := c.now()
	signed, err := SignSystemUserToken(c.privateKey, c.sysUserToken, now)
	if err != nil {
		return nil, fmt.Errorf("superoffice tenant %s: %s: %w", c.tenant, call, err)
	}
	payload, err := json.Marshal(AuthenticateRequest{
		SignedSystemToken: signed,
		ApplicationToken:  c.appToken,
		ContextIdentifier: c.tenant,
		ReturnTokenType:   "JWT",
	})
	if err != nil {
		return nil, err
	}
	status, body, err := c.send(ctx, call, http.MethodPost, c.envURL+authenticatePath, payload, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, c.newAPIError(call, status, body)
	}
	var resp AuthenticateResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("superoffice tenant %s: %s: expected the Authenticate JSON, got an undecodable answer: %w", c.tenant, call, err)
	}
	if !resp.IsSuccessful || resp.Token == "" {
		msg := "no token"
		if resp.ErrorMessage != nil && *resp.ErrorMessage != "" {
			msg = truncate(*resp.ErrorMessage, 300)
		}
		return nil, fmt.Errorf("superoffice tenant %s: %s: expected IsSuccessful with a token, got: %s", c.tenant, call, msg)
	}
	claims, err := c.validateJWT(ctx, resp.Token)
	if err != nil {
		return nil, fmt.Errorf("superoffice tenant %s: %s: the returned JWT is not valid: %w", c.tenant, call, err)
	}
	// A valid JWT for another tenant (a shared system user, a confused environment) would
	// make every later call act on that tenant's associates.
	if got, _ := claims[ClaimContext].(string); !strings.EqualFold(got, c.tenant) {
		return nil, fmt.Errorf("superoffice tenant %s: %s: expected claim %s %q in the JWT, got %q", c.tenant, call, ClaimContext, c.tenant, truncate(got, 64))
	}
	ticket, _ := claims[ClaimTicket].(string)
	if ticket == "" {
		return nil, fmt.Errorf("superoffice tenant %s: %s: expected claim %s in the JWT, got none", c.tenant, call, ClaimTicket)
	}
	webAPI, _ := claims[ClaimWebAPIURL].(string)
	return &Ticket{value: ticket, WebAPIURL: webAPI, Obtained: now}, nil
}

// validateJWT checks RS256, the issuer, the expiry and the signature against the JWKS;
// authenticate checks the ctx claim against the tenant.
func (c *Client) validateJWT(ctx context.Context, token string) (jwt.MapClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		return c.verificationKeys(ctx, kid)
	},
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithIssuer(JWTIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(c.now),
		jwt.WithLeeway(time.Minute),
	)
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// jwksCache keeps SuperOffice's signing keys. An unknown kid refetches them at once,
// but a kid the last fetch already lacked waits defaultJWKSMinRefetch, so forged
// tokens cannot make us hammer the endpoint.
type jwksCache struct {
	set     *jose.JSONWebKeySet
	fetched time.Time
	missing map[string]time.Time // kid -> when a fetch did not have it
}

func (c *Client) verificationKeys(ctx context.Context, kid string) (jwt.VerificationKeySet, error) {
	c.jwksMu.Lock()
	defer c.jwksMu.Unlock()
	keys := rsaKeys(c.jwks.set, kid)
	if len(keys) == 0 {
		missedAt, missedBefore := c.jwks.missing[kid]
		if c.jwks.set == nil || !missedBefore || c.now().Sub(missedAt) >= defaultJWKSMinRefetch {
			set, err := c.fetchJWKS(ctx)
			if err != nil {
				return jwt.VerificationKeySet{}, err
			}
			c.jwks.set, c.jwks.fetched = set, c.now()
			keys = rsaKeys(set, kid)
		}
	}
	if len(keys) == 0 {
		if c.jwks.missing == nil || len(c.jwks.missing) > 64 {
			c.jwks.missing = map[string]time.Time{}
		}
		if _, seen := c.jwks.missing[kid]; !seen || c.jwks.fetched.After(c.jwks.missing[kid]) {
			c.jwks.missing[kid] = c.jwks.fetched
		}
		return jwt.VerificationKeySet{}, fmt.Errorf("expected an RSA key with kid %q in the JWKS at %s, found none", kid, jwksPath)
	}
	delete(c.jwks.missing, kid)
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// rsaKeys are the RSA public keys for kid; with no kid, every RSA key (tried in turn).
func rsaKeys(set *jose.JSONWebKeySet, kid string) []jwt.VerificationKey {
	if set == nil {
		return nil
	}
	candidates := set.Keys
	if kid != "" {
		candidates = set.Key(kid)
	}
	var keys []jwt.VerificationKey
	for _, k := range candidates {
		if pub, ok := k.Key.(*rsa.PublicKey); ok {
			keys = append(keys, pub)
		}
	}
	return keys
}

func (c *Client) fetchJWKS(ctx context.Context) (*jose.JSONWebKeySet, error) {
	const call = "fetch JWKS"
	status, body, err := c.send(ctx, call, http.MethodGet, c.envURL+jwksPath, nil, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, c.newAPIError(call, status, body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("%s: expected a JSON Web Key Set, got an undecodable answer: %w", call, err)
	}
	return &set, nil
}
